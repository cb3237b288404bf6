//! The machine: root, the packages, the work folder.

use super::*;

// ---------------------------------------------------------------------------
// The machine: root, packages, the work folder
// ---------------------------------------------------------------------------

pub(super) fn require_root() -> Result<(), String> {
    let uid = run_bounded("id", &["-u"], Duration::from_secs(5))?;
    if uid.trim() == "0" {
        Ok(())
    } else {
        Err("needs root: it installs exim4 with apt-get, runs exim and \
             update-ca-certificates (sudo -E cargo xtask mta)"
            .to_owned())
    }
}

/// Installs what is missing: exim (never started by the package), openssl
/// and sqlite3.
pub(super) fn ensure_programs() -> Result<(), String> {
    let mut packages = Vec::new();
    for (program, package) in [
        (EXIM, EXIM_PACKAGE),
        ("/usr/bin/openssl", "openssl"),
        ("/usr/bin/sqlite3", "sqlite3"),
    ] {
        if !Path::new(program).exists() {
            packages.push(package);
        }
    }
    if packages.is_empty() {
        return Ok(());
    }
    eprintln!(
        "\n==> apt-get update -q && apt-get install -y -q --no-install-recommends {}",
        packages.join(" ")
    );
    apt_get(&["update", "-q"])?;
    // invoke-rc.d asks policy-rc.d whether a package may start its service:
    // 101 says no, so exim's own daemon never listens on port 25.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let own_policy = !policy.exists();
    if own_policy {
        write_policy(policy)?;
    }
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(&packages);
    let installed = apt_get(&install);
    if own_policy {
        let _ = fs::remove_file(policy);
    }
    installed?;
    if packages.contains(&EXIM_PACKAGE) {
        // Not at boot either: the machine keeps no MTA it did not have.
        let disable = if Path::new("/run/systemd/system").exists() {
            run_bounded(
                "systemctl",
                &["disable", "--now", "exim4.service"],
                Duration::from_secs(60),
            )
        } else {
            run_bounded(
                "update-rc.d",
                &["exim4", "disable"],
                Duration::from_secs(60),
            )
        };
        if let Err(message) = disable {
            eprintln!("xtask mta: could not disable exim4's own service: {message}");
        }
    }
    if Path::new(EXIM).exists() {
        Ok(())
    } else {
        Err(format!(
            "{EXIM} is still missing after installing {EXIM_PACKAGE}"
        ))
    }
}

pub(super) fn write_policy(policy: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::write(
        policy,
        "#!/bin/sh\n# cargo xtask mta: no service starts during its install\nexit 101\n",
    )
    .and_then(|()| fs::set_permissions(policy, fs::Permissions::from_mode(0o755)))
    .map_err(|e| format!("{}: {e}", policy.display()))
}

pub(super) fn apt_get(args: &[&str]) -> Result<(), String> {
    let status = Command::new("timeout")
        .args(["--kill-after=10", "600", "apt-get"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("could not run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`apt-get {}` failed ({status})", args.join(" ")))
    }
}

/// `Exim version 4.96 #2 built …`, the first line of `exim4 -bV`.
pub(super) fn exim_version() -> Result<String, String> {
    let output = run_bounded(EXIM, &["-bV"], Duration::from_secs(10))?;
    Ok(output.lines().next().unwrap_or_default().to_owned())
}

/// `TMP/portal-mta-PID`, removed with everything in it when dropped.
#[derive(Debug)]
pub(super) struct WorkDir(PathBuf);

impl WorkDir {
    pub(super) fn create() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("portal-mta-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self(dir))
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/// Runs `program` under coreutils' `timeout`: its standard output, or an
/// error with its standard error.
pub(super) fn run_bounded(program: &str, args: &[&str], limit: Duration) -> Result<String, String> {
    let output = Command::new("timeout")
        .args(["--kill-after=5", &limit.as_secs().to_string(), program])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Polls `done` every 100 ms until it holds or `limit` passes.
pub(super) fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = now();
    loop {
        if done() {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "xtask bounds waits and reports its run time; no domain logic reads the clock here"
)]
pub(super) fn now() -> Instant {
    Instant::now()
}

/// The first header `name` of a message, unfolded.
pub(super) fn header(message: &str, name: &str) -> Option<String> {
    let head = message
        .split("\r\n\r\n")
        .next()
        .and_then(|head| head.split("\n\n").next())
        .unwrap_or_default();
    let mut found: Option<String> = None;
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(value) = found.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((key, value)) = line.split_once(':')
            && key.eq_ignore_ascii_case(name)
        {
            found = Some(value.trim().to_owned());
        }
    }
    found
}

/// The token of the first link `…{marker}TOKEN` in a message's text,
/// undoing quoted-printable soft line breaks and `=3D`.
pub(super) fn link_token(message: &str, marker: &str) -> Option<String> {
    let text = message
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let at = text.find(marker)? + marker.len();
    let token: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (token.len() == 43).then_some(token)
}

/// `Sun, 06 Dec 2026 14:22:23 +0000`: a day, a month name, a year, a time
/// and a zone, as RFC 5322 writes them.
pub(super) fn is_rfc5322_date(value: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = value.split_whitespace().collect();
    let parts = match parts.first() {
        Some(day) if day.ends_with(',') => &parts[1..],
        _ => &parts[..],
    };
    match parts {
        [day, month, year, time, zone] => {
            day.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
                && MONTHS.contains(month)
                && year.len() == 4
                && year.parse::<u16>().is_ok()
                && time.split(':').count() == 3
                && (zone.starts_with('+') || zone.starts_with('-'))
                && zone.len() == 5
        }
        _ => false,
    }
}

/// Standard base64 with padding: the form AUTH PLAIN sends credentials in.
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn reads_headers_links_and_dates() {
        let message = "Received: from [127.0.0.1] (helo=portal.test.example)\r\n\
                       \tby relay-a.mta.test\r\n\
                       Subject: Activate Your Provider Portal Account\r\n\
                       Date: Sun, 06 Dec 2026 14:22:23 +0000\r\n\
                       \r\n\
                       Subject: not a header\r\n\
                       http://x/activate?token=3DAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\nAAA\r\n";
        assert_eq!(
            header(message, "received").as_deref(),
            Some("from [127.0.0.1] (helo=portal.test.example) by relay-a.mta.test")
        );
        assert_eq!(
            header(message, "Subject").as_deref(),
            Some("Activate Your Provider Portal Account")
        );
        assert_eq!(header(message, "Message-ID"), None);
        assert_eq!(
            link_token(message, "activate?token=").as_deref(),
            Some("A".repeat(43).as_str())
        );
        assert!(is_rfc5322_date("Sun, 06 Dec 2026 14:22:23 +0000"));
        assert!(is_rfc5322_date("6 Dec 2026 14:22:23 -0500"));
        assert!(!is_rfc5322_date("2026-12-06T14:22:23Z"));
    }

    #[test]
    pub(super) fn encodes_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
    }

    #[test]
    pub(super) fn exim_configs_differ_in_tls_and_auth() {
        let files = (
            PathBuf::from("/w/server.crt"),
            PathBuf::from("/w/server.key"),
        );
        let a = exim_config(Path::new("/w/a"), "relay-a", Some(&files));
        assert!(a.contains("tls_certificate = /w/server.crt"));
        assert!(a.contains(
            "server_condition = ${if and {{eq{$auth2}{relay-submitter}}{eq{$auth3}{Pw-7ux3-relay-only}}}}"
        ));
        assert!(a.contains("server_advertise_condition = ${if def:tls_in_cipher}"));
        let b = exim_config(Path::new("/w/b"), "relay-b", None);
        assert!(b.contains("tls_advertise_hosts =\n"));
        assert!(!b.contains("authenticators"));
    }
}

//! A throw-away `portal-http serve` for the abuse commands (`schemathesis`,
//! `timing`, `attack`): the release build on a fresh SQLite file in a temporary folder,
//! the file mailer, a free loopback port, the example roster imported, and
//! the rate limit off. Also a minimal HTTP/1.1 client over `std::net`, so
//! that xtask needs no HTTP crate and a measured request is just a socket
//! round trip.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{cargo, workspace_root};

/// Registration bodies of practitioners of `docs/roster-example.csv`, each
/// of which can hold one account.
pub const PROVIDERS: [&str; 2] = [
    r#"{"provider_type":"practitioner","provider_id":"P1001","tax_id":"123456789","zip":"45202","first_name":"Jane","last_name":"Doe"}"#,
    r#"{"provider_type":"practitioner","provider_id":"P3001","tax_id":"987654321","zip":"10001","first_name":"María José","last_name":"O'Brien, Jr."}"#,
];

/// The release binary, relative to the workspace root.
const BINARY: &str = "target/release/portal-http";

/// A running service; stopped and its folder removed when dropped.
pub struct Service {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
    /// The `DATABASE_URL` the service runs on.
    database_url: String,
}

impl Service {
    /// Builds the release binary, migrates a fresh database, imports
    /// `docs/roster-example.csv` into it and starts `serve` with `env` on top of the defaults
    /// described in the module docs. Waits until `/healthz` answers.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Result<Self, String> {
        let root = workspace_root();
        build_release()?;
        let dir = std::env::temp_dir().join(format!("portal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let database_url = format!("sqlite:{}", dir.join("portal.db").display());
        let mut vars: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database_url.clone()),
            ("PORTAL_LISTEN".into(), addr.to_string()),
            ("PORTAL_PUBLIC_URL".into(), format!("http://{addr}")),
            (
                "PORTAL_MAIL_DIR".into(),
                dir.join("mail").display().to_string(),
            ),
            ("PORTAL_RATE_LIMIT_PER_MINUTE".into(), "0".into()),
            ("PORTAL_LOG_FORMAT".into(), "json".into()),
            ("RUST_LOG".into(), "warn,portal::mail=info".into()),
        ];
        for (key, value) in env {
            vars.retain(|(k, _)| k != key);
            vars.push(((*key).to_owned(), (*value).to_owned()));
        }
        let binary = root.join(BINARY);
        // Commands other than `migrate` and `serve` refuse a database
        // without the schema (SPEC §9): migrate before importing.
        for args in [
            &["migrate"][..],
            &["roster", "import", "docs/roster-example.csv"],
        ] {
            let status = Command::new(&binary)
                .args(args)
                .envs(vars.iter().map(|(k, v)| (k, v)))
                .current_dir(root)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("could not run {BINARY} {}: {e}", args.join(" ")))?;
            if !status.success() {
                return Err(format!("{} failed: {status}", args.join(" ")));
            }
        }
        let log = fs::File::create(dir.join("server.log"))
            .map_err(|e| format!("creating the server log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("the server log: {e}"))?;
        let child = Command::new(&binary)
            .arg("serve")
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .current_dir(&dir)
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("could not start {BINARY} serve: {e}"))?;
        let service = Self {
            child,
            addr,
            dir,
            database_url,
        };
        for _ in 0..100 {
            if matches!(service.request("GET", "/healthz", None), Ok((200, _))) {
                return Ok(service);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "the service did not answer /healthz; its log:\n{}",
            service.log()
        ))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The service's log so far (JSON lines).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The folder holding the database, the mail and the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id of the running `serve`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs another subcommand of the same binary (`audit list`, …) against
    /// the service's database: its standard output.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(workspace_root().join(BINARY))
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("PORTAL_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .current_dir(&self.dir)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("could not run {BINARY} {}: {e}", args.join(" ")))?;
        if !output.status.success() {
            return Err(format!("{} failed: {}", args.join(" "), output.status));
        }
        String::from_utf8(output.stdout)
            .map_err(|e| format!("{}: output is not UTF-8: {e}", args.join(" ")))
    }

    /// One request on a fresh connection: the status and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> Result<(u16, String), String> {
        request(self.addr, method, path, json)
    }

    /// Registers and activates an account for `provider` (one of
    /// [`PROVIDERS`]), reading the activation link from the file mailer's
    /// log line as `xtask/bench-http.sh` does.
    pub fn register_account(
        &self,
        provider: &str,
        username: &str,
        password: &str,
    ) -> Result<(), String> {
        let links_before = activation_tokens(&self.log()).len();
        self.register_pending(provider, username, password)?;
        let mut token = None;
        for _ in 0..100 {
            // This account's link is the first one logged after its creation.
            token = activation_tokens(&self.log()).into_iter().nth(links_before);
            if token.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let token = token.ok_or("no activation link in the service's log")?;
        let (status, answer) = self.request(
            "POST",
            "/api/v1/activations",
            Some(&format!(r#"{{"token":"{token}"}}"#)),
        )?;
        if status != 200 {
            return Err(format!("activation: expected 200, got {status} {answer}"));
        }
        Ok(())
    }

    /// Registers `username` for `provider` through the API up to the
    /// account step: the account waits for its activation.
    pub fn register_pending(
        &self,
        provider: &str,
        username: &str,
        password: &str,
    ) -> Result<(), String> {
        let expect = |step: &str, want: u16, got: (u16, String)| {
            if got.0 == want {
                Ok(got.1)
            } else {
                Err(format!("{step}: expected {want}, got {} {}", got.0, got.1))
            }
        };
        let started = expect(
            "registration",
            201,
            self.request("POST", "/api/v1/registrations", Some(provider))?,
        )?;
        let id = json_string(&started, "registration_id")
            .ok_or_else(|| format!("no registration_id in {started}"))?;
        expect(
            "agreement",
            200,
            self.request(
                "POST",
                &format!("/api/v1/registrations/{id}/agreement"),
                Some(r#"{"accepted":true,"agreement_version":"1"}"#),
            )?,
        )?;
        let account = format!(
            r#"{{"username":"{username}","password":"{password}","email":"{username}@clinic.example.org","security_question_id":1,"security_answer":"Fluffy"}}"#
        );
        expect(
            "account",
            201,
            self.request(
                "POST",
                &format!("/api/v1/registrations/{id}/account"),
                Some(&account),
            )?,
        )?;
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nobody listens on right now.
/// Builds the release `portal-http` (`target/release/portal-http`).
pub fn build_release() -> Result<(), String> {
    eprintln!("xtask: cargo build --release -p portal-http");
    let status = Command::new(cargo())
        .args(["build", "--release", "-q", "-p", "portal-http", "--bin"])
        .arg("portal-http")
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not run cargo build: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build failed: {status}"))
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// One HTTP/1.1 request with `Connection: close`: the status and the body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("{method} {path}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let body = json.unwrap_or("");
    let content_type = if json.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{method} {path}: not an HTTP response"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, body))
}

/// The value of a string member `"name":"value"` in a flat JSON object.
pub fn json_string(json: &str, name: &str) -> Option<String> {
    let start = json.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let len = json[start..].find('"')?;
    Some(json[start..start + len].to_owned())
}

/// The tokens of the activation links in a log, in order.
fn activation_tokens(log: &str) -> Vec<String> {
    const LINK: &str = "activate?token=";
    log.match_indices(LINK)
        .map(|(at, _)| {
            log[at + LINK.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        })
        .filter(|token| token.len() == 43)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{activation_tokens, json_string};

    #[test]
    fn reads_members_and_links() {
        let body = r#"{"registration_id":"ab12","state":"verified"}"#;
        assert_eq!(
            json_string(body, "registration_id").as_deref(),
            Some("ab12")
        );
        assert_eq!(json_string(body, "missing"), None);
        let (first, second) = ("A".repeat(43), "b".repeat(43));
        let log = format!(
            "{{\"link\":\"http://x/activate?token={first}\"}}\n\
             activate?token=short\n{{\"link\":\"http://x/activate?token={second}\"}}"
        );
        assert_eq!(activation_tokens(&log), vec![first, second]);
        assert!(activation_tokens("no links").is_empty());
    }
}

//! The browser test's prerequisites: `cargo xtask test` makes sure Debian's
//! `chromium` and `chromium-driver` are installed before the test suite
//! runs, installing them with `apt-get` when they are missing, since the
//! test `browser::register_activate_lock_out_and_reset_in_chromium` of
//! `portal-http` fails without them (it never skips).

use std::path::PathBuf;
use std::process::Command;

/// The programs the browser test starts.
const PROGRAMS: [&str; 2] = ["chromium", "chromedriver"];
/// The Debian packages that provide them.
const PACKAGES: [&str; 2] = ["chromium", "chromium-driver"];

/// A program on `PATH`, if any.
pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn missing() -> Vec<&'static str> {
    PROGRAMS
        .into_iter()
        .filter(|program| on_path(program).is_none())
        .collect()
}

/// Succeeds when `chromium` and `chromedriver` are on `PATH`, installing
/// the packages first when one is missing.
pub fn require_chromium() -> Result<(), String> {
    let absent = missing();
    if absent.is_empty() {
        eprintln!("xtask: chromium and chromedriver found (for the browser test)");
        return Ok(());
    }
    let install = ["install", "-y", "-q", PACKAGES[0], PACKAGES[1]];
    eprintln!(
        "\n==> [chromium] {} not on PATH (the browser test needs it); running:\n    \
         apt-get update -q && apt-get {}",
        absent.join(" and "),
        install.join(" ")
    );
    let how = format!(
        "Install them by hand (Debian: `apt-get install -y {}`) and make sure \
         `chromium` and `chromedriver` are on PATH.",
        PACKAGES.join(" ")
    );
    apt_get(&["update", "-q"]).map_err(|why| format!("{why}\n{how}"))?;
    apt_get(&install).map_err(|why| format!("{why}\n{how}"))?;
    let absent = missing();
    if absent.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} still not on PATH after installing {}.\n{how}",
            absent.join(" and "),
            PACKAGES.join(" ")
        ))
    }
}

pub(crate) fn apt_get(args: &[&str]) -> Result<(), String> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|error| format!("could not run apt-get: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`apt-get {}` failed ({status}); it needs root.",
            args.join(" ")
        ))
    }
}

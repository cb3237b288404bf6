//! What the test suite needs besides Rust and PostgreSQL: `cargo xtask test`
//! makes sure these programs are on `PATH` before nextest runs, installing
//! their Debian packages with `apt-get` when one is missing, because the
//! tests that use them fail without them (they never skip):
//!
//! - `chromium` and `chromedriver` for `portal-http`'s browser test
//!   (`browser::the_seeds_instructions_walked_in_chromium`);
//! - `pg_dump`, `pg_restore` and `sqlite3` for the runbook test
//!   (`runbook::every_command_of_the_operations_runbook_works_on_*`), which runs
//!   the back-up commands of `docs/OPERATIONS.md`.

use std::path::PathBuf;
use std::process::Command;

/// Each program the tests start, the Debian package that provides it, and
/// the test that needs it.
const PROGRAMS: [(&str, &str, &str); 5] = [
    ("chromium", "chromium", "the browser test"),
    ("chromedriver", "chromium-driver", "the browser test"),
    ("pg_dump", "postgresql-client", "the runbook test"),
    ("pg_restore", "postgresql-client", "the runbook test"),
    ("sqlite3", "sqlite3", "the runbook test"),
];

/// A program on `PATH`, if any.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The programs not on `PATH`.
fn missing() -> Vec<(&'static str, &'static str, &'static str)> {
    PROGRAMS
        .into_iter()
        .filter(|(program, _, _)| on_path(program).is_none())
        .collect()
}

/// Succeeds when every program is on `PATH`, installing the packages of the
/// missing ones first.
pub fn require() -> Result<(), String> {
    let absent = missing();
    if absent.is_empty() {
        eprintln!("xtask: chromium, chromedriver, pg_dump, pg_restore and sqlite3 found");
        return Ok(());
    }
    let mut packages: Vec<&str> = absent.iter().map(|(_, package, _)| *package).collect();
    packages.dedup();
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(&packages);
    for (program, _, needed_by) in &absent {
        eprintln!("xtask: {program} is not on PATH ({needed_by} needs it)");
    }
    eprintln!(
        "\n==> [prerequisites] apt-get update -q && apt-get {}",
        install.join(" ")
    );
    let how = format!(
        "Install them by hand (Debian: `apt-get install -y --no-install-recommends {}`) and make sure the \
         programs are on PATH.",
        packages.join(" ")
    );
    apt_get(&["update", "-q"]).map_err(|why| format!("{why}\n{how}"))?;
    apt_get(&install).map_err(|why| format!("{why}\n{how}"))?;
    let still: Vec<&str> = missing().iter().map(|(program, _, _)| *program).collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} still not on PATH after installing {}.\n{how}",
            still.join(", "),
            packages.join(" ")
        ))
    }
}

fn apt_get(args: &[&str]) -> Result<(), String> {
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

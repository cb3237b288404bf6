//! The runbook test's prerequisites: `cargo xtask test` makes sure Debian's
//! `postgresql-client` (`pg_dump`, `pg_restore`) and `sqlite3` are
//! installed before the test suite runs, installing them with `apt-get`
//! when one is missing, since the test
//! `runbook::every_command_of_the_operations_runbook_works` of
//! `portal-http` runs the back-up commands of `docs/OPERATIONS.md` and
//! fails without them (it never skips).

use crate::browser::{apt_get, on_path};

/// The programs the runbook runs, and the Debian package of each.
const PROGRAMS: [(&str, &str); 3] = [
    ("pg_dump", "postgresql-client"),
    ("pg_restore", "postgresql-client"),
    ("sqlite3", "sqlite3"),
];

/// The packages of the programs not on `PATH`, without repeats.
fn missing() -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = PROGRAMS
        .into_iter()
        .filter(|(program, _)| on_path(program).is_none())
        .map(|(_, package)| package)
        .collect();
    packages.dedup();
    packages
}

/// Succeeds when `pg_dump`, `pg_restore` and `sqlite3` are on `PATH`,
/// installing their packages first when one is missing.
pub fn require_backup_tools() -> Result<(), String> {
    let absent = missing();
    if absent.is_empty() {
        eprintln!("xtask: pg_dump, pg_restore and sqlite3 found (for the runbook test)");
        return Ok(());
    }
    let mut install = vec!["install", "-y", "-q"];
    install.extend(&absent);
    eprintln!(
        "\n==> [runbook] {} missing (the runbook test needs it); running:\n    \
         apt-get update -q && apt-get {}",
        absent.join(" and "),
        install.join(" ")
    );
    let how = format!(
        "Install them by hand (Debian: `apt-get install -y {}`) and make sure \
         `pg_dump`, `pg_restore` and `sqlite3` are on PATH.",
        absent.join(" ")
    );
    apt_get(&["update", "-q"]).map_err(|why| format!("{why}\n{how}"))?;
    apt_get(&install).map_err(|why| format!("{why}\n{how}"))?;
    let still = missing();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} still missing after apt-get install.\n{how}",
            still.join(" and ")
        ))
    }
}

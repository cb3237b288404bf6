//! `cargo xtask deny`, also a step of `cargo xtask test`: cargo-deny checks
//! the dependency tree against `deny.toml` — RustSec advisories
//! (vulnerable, unsound, unmaintained or yanked crates), licences, banned
//! crates and duplicates, and sources (crates.io only) — without the network.
//!
//! The advisory database is never fetched: the step clones a snapshot of the
//! RustSec database, `../shared/vendor/rustsec-advisory-db.bundle` beside the
//! workspace (or the git bundle or repository `PORTAL_ADVISORY_DB` names),
//! afresh into the folder `deny.toml` names, then runs cargo-deny with
//! `--offline`. It installs cargo-deny when it is missing, and fails, never
//! skips, when the snapshot is missing or cargo-deny cannot run.
//! docs/SECURITY.md (Supply chain) names the snapshot's date.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{cargo, workspace_root};

/// The cargo-deny release installed when none (or an older one) is found:
/// pinned, because its CLI and the layout of its database folder change
/// between releases (0.20 replaced `--disable-fetch` with `--offline`).
const INSTALL_VERSION: &str = "0.20.2";

/// The oldest cargo-deny accepted as already installed.
const MIN_VERSION: (u64, u64) = (0, 20);

/// Names the git bundle or repository to clone the advisory database from.
const SOURCE_ENV: &str = "PORTAL_ADVISORY_DB";

/// The snapshot's place relative to the workspace root.
const DEFAULT_SOURCE: &str = "../shared/vendor/rustsec-advisory-db.bundle";

/// The branch the snapshot (and the upstream repository) holds.
const BRANCH: &str = "main";

/// Where cargo-deny opens the database of `db-urls` under `db-path` (both in
/// `deny.toml`): the URL's last segment and cargo-deny's hash of the URL.
/// A wrong folder fails the check ("failed to find expected `crates`
/// directory"); it cannot pass without advisories.
const DB_DIR: &str = "target/advisory-dbs/advisory-db-3157b0e258782691";

/// Arguments of `cargo` for the check itself (the step `cargo xtask test`
/// runs after [`prepare`]).
pub const CHECK_ARGS: &[&str] = &[
    "deny",
    "--all-features",
    "--offline",
    "--locked",
    "check",
    // Keeps the log readable: the duplicate-version warnings would each print
    // a tree; `cargo deny --offline check` shows them.
    "--hide-inclusion-graph",
    "advisories",
    "licenses",
    "bans",
    "sources",
];

/// Everything the check needs: cargo-deny, the crates it reads offline, and a
/// fresh copy of the advisory snapshot.
pub fn prepare() -> Result<(), String> {
    let root = workspace_root();
    // The snapshot first: without it there is no point installing anything.
    let source = advisory_source(root, env::var_os(SOURCE_ENV))?;
    ensure_cargo_deny()?;
    // cargo-deny runs offline, so the crates it reads must be here already.
    run(Command::new(cargo())
        .args(["fetch", "--locked", "--quiet"])
        .current_dir(root))?;
    let described = clone_database(&source, &root.join(DB_DIR))?;
    eprintln!(
        "xtask: advisory database from {}: {described}",
        source.display()
    );
    Ok(())
}

/// The bundle or repository to clone: `PORTAL_ADVISORY_DB` when set, else
/// the snapshot beside the workspace. Missing is an error, never a skip.
fn advisory_source(root: &Path, from_env: Option<OsString>) -> Result<PathBuf, String> {
    let (source, how) = match from_env {
        Some(value) if !value.is_empty() => {
            let path = std::path::absolute(PathBuf::from(value))
                .map_err(|error| format!("{SOURCE_ENV}: {error}"))?;
            (path, format!("named by {SOURCE_ENV}"))
        }
        _ => (
            root.join(DEFAULT_SOURCE),
            format!("{DEFAULT_SOURCE} beside the workspace"),
        ),
    };
    if source.exists() {
        Ok(source)
    } else {
        Err(format!(
            "the advisory database snapshot {} ({how}) is missing, so `cargo deny check \
             advisories` cannot run (it never fetches the database).\n\
             Put the RustSec snapshot there, or set {SOURCE_ENV} to a git bundle or clone of \
             https://github.com/rustsec/advisory-db (docs/SECURITY.md, Supply chain).",
            source.display()
        ))
    }
}

/// Replaces `dir` with a clone of `source`'s main branch, and describes the
/// commit cloned (for the snapshot, its subject names the upstream commit
/// and date).
fn clone_database(source: &Path, dir: &Path) -> Result<String, String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|error| format!("removing {}: {error}", dir.display()))?;
    }
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)
            .map_err(|error| format!("creating {}: {error}", parent.display()))?;
    }
    run(Command::new("git")
        .args(["clone", "--quiet", "--branch", BRANCH])
        .arg(source)
        .arg(dir))?;
    let output =
        run(Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["log", "-1", "--format=%h %cs %s"]))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Installs cargo-deny [`INSTALL_VERSION`] unless [`MIN_VERSION`] or newer
/// answers `cargo deny --version`.
fn ensure_cargo_deny() -> Result<(), String> {
    match installed_version() {
        Some(version) if version >= MIN_VERSION => return Ok(()),
        Some(version) => eprintln!(
            "xtask: cargo-deny {}.{} is older than {}.{}",
            version.0, version.1, MIN_VERSION.0, MIN_VERSION.1
        ),
        None => eprintln!("xtask: cargo-deny is not installed"),
    }
    let install = format!("cargo-deny@{INSTALL_VERSION}");
    eprintln!("xtask: installing it (cargo install --locked {install}; a few minutes)");
    let status = Command::new(cargo())
        .args(["install", "--locked", &install])
        .status()
        .map_err(|error| format!("could not run cargo install: {error}"))?;
    if !status.success() {
        return Err(format!(
            "`cargo install --locked {install}` failed ({status}); install cargo-deny \
             {INSTALL_VERSION} yourself"
        ));
    }
    match installed_version() {
        Some(version) if version >= MIN_VERSION => Ok(()),
        _ => Err(format!(
            "`cargo deny --version` still fails after installing {install}; is ~/.cargo/bin \
             on PATH?"
        )),
    }
}

/// The `(major, minor)` version `cargo deny --version` prints, if it runs.
fn installed_version() -> Option<(u64, u64)> {
    let output = Command::new(cargo())
        .args(["deny", "--version"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_version(&String::from_utf8_lossy(&output.stdout))
}

/// `(major, minor)` of `cargo-deny 0.20.2`.
fn parse_version(text: &str) -> Option<(u64, u64)> {
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Runs `command`, its standard error passed through; its output on success.
fn run(command: &mut Command) -> Result<Output, String> {
    let shown = format!("{command:?}");
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("could not run {shown}: {error}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!("{shown} failed: {}", output.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of its own under the system's temporary folder.
    fn scratch(name: &str) -> PathBuf {
        let dir = env::temp_dir().join(format!("xtask-deny-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_snapshot_is_an_error_not_a_skip() {
        let root = scratch("missing").join("workspace");
        fs::create_dir_all(&root).unwrap();
        let error = advisory_source(&root, None).unwrap_err();
        assert!(error.contains("is missing"), "{error}");
        assert!(error.contains(SOURCE_ENV), "{error}");

        let named = root.join("nowhere.bundle");
        let error = advisory_source(&root, Some(named.clone().into())).unwrap_err();
        assert!(error.contains(&named.display().to_string()), "{error}");
    }

    #[test]
    fn the_snapshot_is_found_beside_the_workspace_or_where_the_variable_says() {
        let dir = scratch("found");
        let root = dir.join("main");
        let bundle = dir.join("shared/vendor/rustsec-advisory-db.bundle");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(bundle.parent().unwrap()).unwrap();
        fs::write(&bundle, "").unwrap();
        assert_eq!(
            advisory_source(&root, None).unwrap(),
            root.join(DEFAULT_SOURCE)
        );
        // An empty variable counts as unset.
        assert!(advisory_source(&root, Some(OsString::new())).is_ok());
        let other = dir.join("other.bundle");
        fs::write(&other, "").unwrap();
        assert_eq!(
            advisory_source(&root, Some(other.clone().into())).unwrap(),
            other
        );
    }

    #[test]
    fn versions_are_read_from_cargo_deny_version() {
        assert_eq!(parse_version("cargo-deny 0.20.2\n"), Some((0, 20)));
        assert_eq!(parse_version("cargo-deny 1.2.3-rc.1"), Some((1, 2)));
        assert_eq!(parse_version("cargo-deny"), None);
        assert_eq!(parse_version("error: no such command: `deny`"), None);
        assert!(Some((0, 19)) < Some(MIN_VERSION));
    }

    /// `cargo deny` with the check's flags and `config`, for one `check`.
    fn deny_with(config: &Path, check: &str) -> Output {
        assert!(
            installed_version().is_some(),
            "cargo-deny is not installed: run `cargo xtask deny` (it installs it)"
        );
        Command::new(cargo())
            .args([
                "deny",
                "--all-features",
                "--offline",
                "--locked",
                "--config",
            ])
            .arg(config)
            .args(["check", check])
            .current_dir(workspace_root())
            .output()
            .unwrap()
    }

    /// The check fails on an advisory: a database of one made-up advisory
    /// against tokio, in the folder `DB_DIR` names, fails it; the advisory's id
    /// in the report shows the database was the one read.
    #[test]
    fn an_advisory_against_a_crate_of_the_tree_fails_the_check() {
        let dir = scratch("advisory");
        let db_dir = dir.join(Path::new(DB_DIR).strip_prefix("target").unwrap());
        let db = db_dir.parent().unwrap();
        fs::create_dir_all(db_dir.join(".git")).unwrap();
        // cargo-deny takes the database's age from this file.
        fs::write(db_dir.join(".git/FETCH_HEAD"), "").unwrap();
        fs::create_dir_all(db_dir.join("crates/tokio")).unwrap();
        fs::write(
            db_dir.join("crates/tokio/RUSTSEC-2099-0001.md"),
            "```toml\n[advisory]\nid = \"RUSTSEC-2099-0001\"\npackage = \"tokio\"\n\
             date = \"2099-01-01\"\n\n[versions]\npatched = []\n```\n\n\
             # Made up for a test\n\nEvery version is affected.\n",
        )
        .unwrap();
        let config = dir.join("deny.toml");
        fs::write(
            &config,
            format!(
                "[advisories]\ndb-path = {:?}\ndb-urls = [\"https://github.com/rustsec/advisory-db\"]\n",
                db.display().to_string()
            ),
        )
        .unwrap();
        let output = deny_with(&config, "advisories");
        let report = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{report}");
        assert!(report.contains("RUSTSEC-2099-0001"), "{report}");
        fs::remove_dir_all(dir).unwrap();
    }

    /// The check fails on a licence the policy does not allow: the tree
    /// uses more than MIT.
    #[test]
    fn a_licence_outside_the_allow_list_fails_the_check() {
        let dir = scratch("licence");
        let config = dir.join("deny.toml");
        fs::write(
            &config,
            "[licenses]\nallow = [\"MIT\"]\nprivate = { ignore = true }\n",
        )
        .unwrap();
        let output = deny_with(&config, "licenses");
        let report = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{report}");
        assert!(report.contains("rejected"), "{report}");
        fs::remove_dir_all(dir).unwrap();
    }
}

//! The operator runbook cannot rot: this test reads `docs/OPERATIONS.md`
//! and runs every command of its `sh` code blocks with `sh`, in document
//! order, in a fresh directory, twice: on the embedded default (SQLite,
//! `portal.db` in that directory) and on a fresh PostgreSQL database, and
//! checks what each command is said to do. Each walk skips the other
//! database's "Start on …" section and back-up commands. The runbook's prose claims
//! that no command shows (the metrics worth alerting on, the variables it
//! names, the example configuration error) are checked against the real
//! binary.
//!
//! What differs from what an operator types is listed in [`SUBSTITUTIONS`]
//! and the notes beside it, and nowhere else. A command the test has no
//! check for fails the test, and so does a check that no command used: an
//! edit to the runbook changes what is run here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use portal_adapters_smtp::testing::{Mode, SmtpSink};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::time::Instant;

use crate::helpers::{
    ACTIVATION, ANSWER, Mail, PASSWORD, account, drop_postgres_database, email_of,
    fresh_postgres_database, practitioner,
};

mod parse;
mod steps;

use parse::*;

/// The runbook, read when the test runs (not compiled in), so that the
/// test always runs the checked-out text.
const RUNBOOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/OPERATIONS.md");
/// The roster an operator imports: `roster.csv` is a copy of this file.
const ROSTER_EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/roster-example.csv");
/// The binary cargo built for this test: `portal-http` in the commands.
const BINARY: &str = env!("CARGO_BIN_EXE_portal-http");

/// The substitution table. An exported variable named here gets the test's
/// value instead of the runbook's example (which must start as shown, so
/// the runbook keeps meaning the same kind of thing); every other export
/// is kept as written. Besides these:
/// - `portal-http` is [`BINARY`], first on `PATH`, and
///   `export PATH="$PWD/target/release:$PATH"` keeps that `PATH`;
/// - the commands run in a fresh temporary directory, where `roster.csv`
///   is a copy of `docs/roster-example.csv` and every other file the
///   commands name is made;
/// - `PORTAL_LISTEN` is a free port (the default 8080 may be taken);
/// - `cargo build --release -p portal-http` is compared with the
///   workspace's build command rather than run (this test already runs
///   the binary it builds, and a release build takes minutes).
const SUBSTITUTIONS: &[(&str, &str, Target)] = &[
    ("DATABASE_URL", "postgres://", Target::Database),
    ("RESTORE_URL", "postgres://", Target::RestoreDatabase),
    ("PORTAL_SMTP_URL", "smtp://", Target::SmtpSink),
];

/// What a substituted variable becomes.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// A fresh database of this test on the server of `DATABASE_URL`.
    Database,
    /// A second fresh database, empty, to restore into.
    RestoreDatabase,
    /// The test's SMTP server, [`SmtpSink`], which records every email.
    SmtpSink,
}

/// The programs besides `portal-http` that the commands run, and the
/// Debian package of each (`cargo xtask test` installs them).
const PROGRAMS: &[(&str, &str)] = &[
    ("pg_dump", "postgresql-client"),
    ("pg_restore", "postgresql-client"),
    ("sqlite3", "sqlite3"),
];

/// One run of a command.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn assert_code(&self, expected: i32, what: &str) {
        assert_eq!(self.code, Some(expected), "{what}: {self:#?}");
    }
}

/// Which database a walk runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// No `DATABASE_URL`: `portal.db` in the walk's directory.
    Sqlite,
    Postgres,
}

impl Backend {
    /// Whether the walk runs this section: each skips the other's start.
    fn runs_section(self, heading: &str) -> bool {
        match self {
            Self::Sqlite => heading != "Start on PostgreSQL",
            Self::Postgres => !heading.starts_with("Start on SQLite"),
        }
    }

    /// Whether the walk runs this command: PostgreSQL's back-up and
    /// restore are not for an SQLite walk (the SQLite back-up runs on
    /// both: the PostgreSQL walk makes a `portal.db` for it).
    fn runs_command(self, command: &str) -> bool {
        self == Self::Postgres
            || !(matches!(kind(command), Kind::PgDump | Kind::PgRestore)
                || command.contains("RESTORE_URL"))
    }

    /// The checks a walk must use.
    fn kinds(self) -> Vec<Kind> {
        KINDS
            .into_iter()
            .filter(|k| self == Self::Postgres || !matches!(k, Kind::PgDump | Kind::PgRestore))
            .collect()
    }
}

/// The state of one walk through the runbook.
struct Runbook {
    backend: Backend,
    dir: PathBuf,
    /// The environment of every command: `PATH`, `PORTAL_LISTEN` and the
    /// runbook's exports (substituted).
    env: BTreeMap<String, String>,
    /// The exports as the runbook writes them.
    written: BTreeMap<String, String>,
    database: String,
    restore: String,
    sink: SmtpSink,
    base: String,
    http: reqwest::Client,
    server: Option<Child>,
    username: String,
    session: Option<String>,
    registered: bool,
    seen: BTreeSet<Kind>,
}

impl Drop for Runbook {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let databases: Vec<String> = [self.database.clone(), self.restore.clone()]
            .into_iter()
            .filter(|url| url.starts_with("postgres"))
            .collect();
        // Dropping needs a runtime of its own: this may run while the
        // test's runtime unwinds.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                for database in &databases {
                    drop_postgres_database(database).await;
                }
            });
        })
        .join();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

impl Runbook {
    async fn new(username: String, backend: Backend) -> Self {
        let id = std::process::id();
        let dir = std::env::temp_dir().join(format!("portal-runbook-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::os::unix::fs::symlink(BINARY, dir.join("bin/portal-http")).unwrap();
        std::fs::copy(ROSTER_EXAMPLE, dir.join("roster.csv")).unwrap();
        let path = std::env::join_paths(
            std::iter::once(dir.join("bin"))
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let port = free_port();
        let env = BTreeMap::from([
            ("PATH".to_owned(), path.to_string_lossy().into_owned()),
            ("PORTAL_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
        ]);
        let (database, restore) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}/portal.db", dir.display()),
                String::new(),
            ),
            Backend::Postgres => (
                fresh_postgres_database(&format!("runbook_{id}")).await,
                fresh_postgres_database(&format!("runbook_{id}_restored")).await,
            ),
        };
        Self {
            backend,
            dir,
            env,
            written: BTreeMap::new(),
            database,
            restore,
            sink: SmtpSink::start().await,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            server: None,
            username,
            session: None,
            registered: false,
            seen: BTreeSet::new(),
        }
    }

    /// Runs `command` with `sh -c` in the directory, with the environment
    /// changed by `changes` (`None` removes a variable).
    async fn sh_with(&self, command: &str, changes: &[(&str, Option<&str>)]) -> Run {
        let mut env = self.env.clone();
        for (name, value) in changes {
            match value {
                Some(value) => env.insert((*name).to_owned(), (*value).to_owned()),
                None => env.remove(*name),
            };
        }
        let (dir, command) = (self.dir.clone(), command.to_owned());
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .current_dir(dir)
                .env_clear()
                .envs(env)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    async fn sh(&self, command: &str) -> Run {
        self.sh_with(command, &[]).await
    }

    async fn count(&self, database: &str, sql: &'static str) -> i64 {
        if database.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(database).await.unwrap();
            let count = sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            let _ = conn.close().await;
            return count;
        }
        let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
        let count = sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        count
    }

    /// The roster's rows, or `None` before the schema exists.
    async fn roster_rows_if_migrated(&self) -> Option<i64> {
        let tables = match self.backend {
            Backend::Sqlite if !self.dir.join("portal.db").is_file() => 0,
            Backend::Sqlite => {
                self.count(
                    &self.database,
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
                     AND name = 'roster_entries'",
                )
                .await
            }
            Backend::Postgres => {
                self.count(
                    &self.database,
                    "SELECT count(*) FROM pg_tables WHERE tablename = 'roster_entries'",
                )
                .await
            }
        };
        if tables == 0 {
            None
        } else {
            Some(self.roster_rows().await)
        }
    }

    async fn roster_rows(&self) -> i64 {
        self.count(&self.database, "SELECT count(*) FROM roster_entries")
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, password: &str) -> (u16, Value) {
        self.post(
            "/api/v1/sessions",
            &json!({"username": self.username, "password": password}),
        )
        .await
    }

    async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }
}

fn roster_example_rows() -> i64 {
    let rows = std::fs::read_to_string(ROSTER_EXAMPLE)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    i64::try_from(rows).unwrap()
}

/// Every `PORTAL_…` the runbook names is a variable of the service
/// (`PORTAL_X_*` names a family of them).
fn variables_are_real(doc: &str) {
    let mut rest = doc;
    let mut checked = 0;
    while let Some(at) = rest.find("PORTAL_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let family = tail[end..].starts_with('*');
        // PORTAL_CONFIG_FILE names the file that holds the others.
        let known = name == "PORTAL_CONFIG_FILE"
            || portal_http::config::VARIABLES.iter().any(|v| {
                if family {
                    v.starts_with(name)
                } else {
                    *v == name
                }
            });
        assert!(
            known,
            "the runbook names {name}, which the service does not read"
        );
        checked += 1;
        rest = &tail[end..];
    }
    assert!(checked > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_operations_runbook_works_on_sqlite() {
    walk(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_operations_runbook_works_on_postgresql() {
    walk(Backend::Postgres).await;
}

async fn walk(backend: Backend) {
    let doc = std::fs::read_to_string(RUNBOOK).unwrap();
    variables_are_real(&doc);
    let sections = parse(&doc);
    let username = sections
        .iter()
        .flat_map(|s| &s.lines)
        .find_map(|l| flag(&l.command, "--username"))
        .expect("the runbook acts on an account")
        .to_owned();
    let mut runbook = Runbook::new(username, backend).await;
    for section in sections.iter().filter(|s| backend.runs_section(&s.heading)) {
        for line in section
            .lines
            .iter()
            .filter(|l| backend.runs_command(&l.command))
        {
            runbook.step(line).await;
        }
        runbook.prose(section).await;
    }
    if backend == Backend::Sqlite {
        assert!(
            runbook.dir.join("portal.db").is_file(),
            "the walk ran on portal.db"
        );
    }
    assert!(runbook.server.is_some(), "the runbook starts the service");
    runbook.stop().await;
    let log = runbook.log();
    assert!(!log.contains(PASSWORD) && !log.contains(ANSWER), "{log}");
    let missing: Vec<Kind> = backend
        .kinds()
        .into_iter()
        .filter(|k| !runbook.seen.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "checks no runbook command used (remove them with the command): {missing:?}"
    );
}

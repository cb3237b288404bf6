//! The operator runbook cannot rot: this test reads `docs/OPERATIONS.md`
//! and runs every command of its `sh` code blocks with `sh`, in document
//! order, in a fresh directory against a fresh PostgreSQL database, and
//! checks what each command is said to do. The runbook's prose claims
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
/// - `portal-http` is [`BINARY`], first on `PATH`;
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

/// A command of a `sh` code block.
#[derive(Debug, Clone)]
struct Line {
    /// The command without its comment, continuation lines joined.
    command: String,
    /// Its `# comment`, with the comment-only lines that follow it.
    comment: String,
}

/// A `## ` section of the runbook.
#[derive(Debug)]
struct Section {
    heading: String,
    prose: String,
    lines: Vec<Line>,
}

/// The runbook's sections, with the commands of their `sh` code blocks.
fn parse(doc: &str) -> Vec<Section> {
    let mut sections = vec![Section {
        heading: String::new(),
        prose: String::new(),
        lines: Vec::new(),
    }];
    let mut in_block = false;
    let mut pending = String::new();
    for (number, raw) in doc.lines().enumerate() {
        let section = sections.last_mut().unwrap();
        if let Some(fence) = raw.trim_start().strip_prefix("```") {
            if in_block {
                assert!(pending.is_empty(), "line {number}: a block ends in `\\`");
                in_block = false;
            } else {
                assert_eq!(
                    fence.trim(),
                    "sh",
                    "line {}: every code block of the runbook is `sh`, so that it is run",
                    number + 1
                );
                in_block = true;
            }
            continue;
        }
        if !in_block {
            if let Some(heading) = raw.strip_prefix("## ") {
                sections.push(Section {
                    heading: heading.trim().to_owned(),
                    prose: String::new(),
                    lines: Vec::new(),
                });
            } else {
                section.prose.push_str(raw);
                section.prose.push('\n');
            }
            continue;
        }
        let (code, comment) = split_comment(raw);
        if let Some(start) = code.trim_end().strip_suffix('\\') {
            pending.push_str(start.trim());
            pending.push(' ');
            continue;
        }
        let command = format!("{pending}{}", code.trim()).trim().to_owned();
        pending.clear();
        if command.is_empty() {
            if let (Some(previous), false) = (section.lines.last_mut(), comment.is_empty()) {
                previous.comment = format!("{} {comment}", previous.comment).trim().to_owned();
            }
            continue;
        }
        section.lines.push(Line {
            command,
            comment: comment.to_owned(),
        });
    }
    assert!(!in_block, "the runbook ends inside a code block");
    sections
}

/// A shell line's code and its `# comment` (a `#` outside quotes, at the
/// start or after a blank).
fn split_comment(line: &str) -> (&str, &str) {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => {
                return (&line[..at], line[at + 1..].trim());
            }
            _ => {}
        }
        previous = c;
    }
    (line, "")
}

/// What a command is, which decides how it is run and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Build,
    Export,
    Migrate,
    Serve,
    RosterDryRun,
    RosterImport,
    RosterReplace,
    AccountShow,
    AccountUnlock,
    AccountDisable,
    AccountEnable,
    VerifyAnswer,
    AuditList,
    PgDump,
    PgRestore,
    SqliteBackup,
}

const KINDS: [Kind; 16] = [
    Kind::Build,
    Kind::Export,
    Kind::Migrate,
    Kind::Serve,
    Kind::RosterDryRun,
    Kind::RosterImport,
    Kind::RosterReplace,
    Kind::AccountShow,
    Kind::AccountUnlock,
    Kind::AccountDisable,
    Kind::AccountEnable,
    Kind::VerifyAnswer,
    Kind::AuditList,
    Kind::PgDump,
    Kind::PgRestore,
    Kind::SqliteBackup,
];

fn kind(command: &str) -> Kind {
    // Leading `NAME=value` assignments and an `echo … |` feeding the
    // command do not change what it is.
    let program_part = command.rsplit('|').next().unwrap_or(command);
    let words: Vec<&str> = program_part
        .split_whitespace()
        .skip_while(|w| is_assignment(w))
        .collect();
    let has = |flag: &str| words.contains(&flag);
    match words.as_slice() {
        ["cargo", "build", ..] => Kind::Build,
        ["export", ..] => Kind::Export,
        ["portal-http", "migrate", ..] => Kind::Migrate,
        ["portal-http", "serve", ..] | ["portal-http"] => Kind::Serve,
        ["portal-http", "roster", "import", ..] if has("--dry-run") => Kind::RosterDryRun,
        ["portal-http", "roster", "import", ..] if has("--replace") => Kind::RosterReplace,
        ["portal-http", "roster", "import", ..] => Kind::RosterImport,
        ["portal-http", "account", "show", ..] => Kind::AccountShow,
        ["portal-http", "account", "unlock", ..] => Kind::AccountUnlock,
        ["portal-http", "account", "disable", ..] => Kind::AccountDisable,
        ["portal-http", "account", "enable", ..] => Kind::AccountEnable,
        ["portal-http", "support", "verify-answer", ..] => Kind::VerifyAnswer,
        ["portal-http", "audit", "list", ..] => Kind::AuditList,
        ["pg_dump", ..] => Kind::PgDump,
        ["pg_restore", ..] => Kind::PgRestore,
        ["sqlite3", ..] => Kind::SqliteBackup,
        _ => panic!(
            "the runbook has a command tests/api/runbook.rs has no check for; add one: {command}"
        ),
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The value after `--flag` in a command.
fn flag<'a>(command: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = command.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next()
}

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

/// The state of one walk through the runbook.
struct Runbook {
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
        let databases = [self.database.clone(), self.restore.clone()];
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
    async fn new(username: String) -> Self {
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
        Self {
            dir,
            env,
            written: BTreeMap::new(),
            database: fresh_postgres_database(&format!("runbook_{id}")).await,
            restore: fresh_postgres_database(&format!("runbook_{id}_restored")).await,
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
        let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
        let count = sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        count
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

    /// Walks through one command: what comes before it, the command, and
    /// the check of what it did.
    async fn step(&mut self, line: &Line) {
        let command = line.command.as_str();
        let kind = kind(command);
        self.seen.insert(kind);
        for (program, package) in PROGRAMS {
            assert!(
                !command.starts_with(program) || on_path(program),
                "`{program}` is not installed: the runbook uses it (Debian: apt-get install {package})"
            );
        }
        match kind {
            Kind::Build => self.build(line),
            Kind::Export => self.export(command),
            Kind::Migrate => {
                let run = self.sh(command).await;
                run.assert_code(0, command);
                assert!(run.stdout.contains("migrations applied"), "{run:#?}");
                assert_eq!(self.roster_rows().await, 0, "migrated, still empty");
            }
            Kind::Serve => self.serve(command).await,
            Kind::RosterDryRun => {
                let before = self.roster_rows().await;
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let rows = roster_example_rows();
                assert!(run.stdout.contains(&format!("{rows} added")), "{run:#?}");
                assert!(run.stdout.contains("nothing was written"), "{run:#?}");
                assert_eq!(self.roster_rows().await, before, "--dry-run wrote rows");
            }
            Kind::RosterImport => {
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let rows = roster_example_rows();
                assert!(run.stdout.contains(&format!("{rows} added")), "{run:#?}");
                assert_eq!(self.roster_rows().await, rows);
                // Idempotent: the same file again changes nothing.
                let again = self.sh(command).await;
                again.assert_code(0, command);
                assert!(
                    again.stdout.contains(&format!("{rows} unchanged")),
                    "{again:#?}"
                );
            }
            Kind::RosterReplace => self.roster_replace(command).await,
            Kind::AccountShow => {
                self.ensure_account().await;
                let run = self.sh(command).await;
                run.assert_code(0, command);
                assert!(
                    run.stdout.lines().any(|l| l.starts_with("state:")
                        && l.split_whitespace().nth(1) == Some("active")),
                    "{run:#?}"
                );
                assert!(run.stdout.contains("P1001"), "the provider: {run:#?}");
                assert!(run.stdout.contains("last login:"), "{run:#?}");
                assert!(run.stdout.contains("pending emails:"), "{run:#?}");
                for secret in ["$argon2", PASSWORD, ANSWER] {
                    assert!(!run.stdout.contains(secret), "{run:#?}");
                }
                let unknown = self.sh(&command.replace(&self.username, "dr.nobody")).await;
                assert_ne!(unknown.code, Some(0), "an unknown username: {unknown:#?}");
                assert!(unknown.stderr.contains("dr.nobody"), "{unknown:#?}");
            }
            Kind::AccountUnlock => {
                self.ensure_account().await;
                self.lock_out().await;
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let (status, body) = self.login(PASSWORD).await;
                assert_eq!(status, 201, "unlocked: {body}");
                self.session = body["token"].as_str().map(str::to_owned);
            }
            Kind::AccountDisable => {
                let session = self
                    .session
                    .clone()
                    .expect("a session, from the unlock step");
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let (status, body) = self.login(PASSWORD).await;
                assert_eq!((status, &body["code"]), (403, &json!("account_disabled")));
                let me = self
                    .http
                    .get(format!("{}/api/v1/me", self.base))
                    .bearer_auth(session)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(me.status().as_u16(), 401, "the sessions were revoked");
            }
            Kind::AccountEnable => {
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let (status, body) = self.login(PASSWORD).await;
                assert_eq!(status, 201, "enabled: {body}");
            }
            Kind::VerifyAnswer => self.verify_answer(line).await,
            Kind::AuditList => self.audit_list(command).await,
            Kind::PgDump => {
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let dump = std::fs::read(self.dir.join("portal.dump")).unwrap();
                assert!(dump.starts_with(b"PGDMP"), "a custom-format dump");
            }
            Kind::PgRestore => {
                assert_eq!(
                    self.count(
                        &self.restore,
                        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                    )
                    .await,
                    0,
                    "restored into an empty database"
                );
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let sql = "SELECT count(*) FROM roster_entries";
                assert_eq!(
                    self.count(&self.restore, sql).await,
                    self.count(&self.database, sql).await
                );
                let mut conn = sqlx::PgConnection::connect(&self.restore).await.unwrap();
                let accounts: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM accounts WHERE username = $1")
                        .bind(&self.username)
                        .fetch_one(&mut conn)
                        .await
                        .unwrap();
                let _ = conn.close().await;
                assert_eq!(accounts, 1, "the account was restored");
            }
            Kind::SqliteBackup => {
                // A live SQLite portal.db: the service's default
                // DATABASE_URL (sqlite:portal.db), migrated and loaded.
                let sqlite = [("DATABASE_URL", None)];
                for setup in [
                    "portal-http migrate",
                    "portal-http roster import roster.csv",
                ] {
                    self.sh_with(setup, &sqlite).await.assert_code(0, setup);
                }
                assert!(self.dir.join("portal.db").is_file(), "sqlite:portal.db");
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let check = self
                    .sh("sqlite3 portal-backup.db 'SELECT count(*) FROM roster_entries'")
                    .await;
                check.assert_code(0, "reading the backup");
                assert_eq!(
                    check.stdout.trim(),
                    roster_example_rows().to_string(),
                    "{check:#?}"
                );
            }
        }
    }

    /// Not run: compared with the workspace's build command and where
    /// cargo puts its binary.
    fn build(&self, line: &Line) {
        let words: Vec<&str> = line.command.split_whitespace().collect();
        assert_eq!(
            words,
            ["cargo", "build", "--release", "-p", env!("CARGO_PKG_NAME")]
        );
        let binary = Path::new(BINARY).file_name().unwrap().to_string_lossy();
        assert_eq!(line.comment, format!("target/release/{binary}"));
    }

    fn export(&mut self, command: &str) {
        let assignment = command.strip_prefix("export ").unwrap().trim();
        let (name, value) = assignment.split_once('=').unwrap();
        let value = unquote(value);
        self.written.insert(name.to_owned(), value.to_owned());
        let value = match SUBSTITUTIONS.iter().find(|(n, _, _)| *n == name) {
            Some((_, prefix, target)) => {
                assert!(
                    value.starts_with(prefix),
                    "{name} is expected to start with {prefix}: {value}"
                );
                match target {
                    Target::Database => self.database.clone(),
                    Target::RestoreDatabase => self.restore.clone(),
                    Target::SmtpSink => self.sink.url(),
                }
            }
            None => value.to_owned(),
        };
        self.env.insert(name.to_owned(), value);
    }

    /// `serve` in the background until the end, ready when `/readyz` is.
    async fn serve(&mut self, command: &str) {
        // The settings as the runbook writes them are valid too.
        let written: BTreeMap<String, String> = self.written.clone();
        portal_http::config::Config::load(&written, |path| std::fs::read_to_string(path))
            .unwrap_or_else(|e| panic!("the runbook's settings: {e}"));
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words[0], "portal-http");
        let log = std::fs::File::create(self.dir.join("serve.log")).unwrap();
        let child = std::process::Command::new(BINARY)
            .args(&words[1..])
            .current_dir(&self.dir)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.server.as_mut().unwrap().try_wait().unwrap() {
                panic!("serve stopped ({status}): {}", self.log());
            }
            let ready = self
                .http
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 200);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "never ready: {}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(self.get("/healthz").await.status().as_u16(), 200);
    }

    /// SIGTERM: the service drains and exits 0.
    async fn stop(&mut self) {
        let mut server = self.server.take().expect("serve was started");
        let kill = format!("kill -TERM {}", server.id());
        self.sh(&kill).await.assert_code(0, &kill);
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = server.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = server.kill();
                panic!("serve did not stop within 15 s of SIGTERM: {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status.code(), Some(0), "graceful shutdown: {}", self.log());
    }

    async fn roster_replace(&mut self, command: &str) {
        // The roster has an entry that roster.csv lacks, put there by the
        // operator's own command; --replace must deactivate it.
        let header = std::fs::read_to_string(ROSTER_EXAMPLE).unwrap();
        let header = header.lines().next().unwrap();
        std::fs::write(
            self.dir.join("extra.csv"),
            format!(
                "{header}\nP9001,555555555,practitioner,Ada,Byron,,30301,individual,medicaid\n"
            ),
        )
        .unwrap();
        let extra = "portal-http roster import extra.csv";
        self.sh(extra).await.assert_code(0, extra);
        let rows = roster_example_rows();
        assert_eq!(self.roster_rows().await, rows + 1);

        let run = self.sh(command).await;
        run.assert_code(0, command);
        assert!(run.stdout.contains("1 deactivated"), "{run:#?}");
        assert_eq!(self.roster_rows().await, rows + 1, "never deleted");
        let inactive = self
            .count(
                &self.database,
                "SELECT count(*) FROM roster_entries WHERE inactive_since IS NOT NULL \
                 AND provider_id = 'P9001'",
            )
            .await;
        assert_eq!(inactive, 1, "the missing entry is inactive");
        let active = self
            .count(
                &self.database,
                "SELECT count(*) FROM roster_entries WHERE inactive_since IS NULL",
            )
            .await;
        assert_eq!(active, rows, "the file's entries stay active");
    }

    /// The runbook's username, registered and activated through the
    /// running service: the three steps, then the emailed link.
    async fn ensure_account(&mut self) {
        if self.registered {
            return;
        }
        assert!(
            self.server.is_some(),
            "accounts are made over HTTP: serve first"
        );
        let (status, started) = self.post("/api/v1/registrations", &practitioner()).await;
        assert_eq!(status, 201, "{started}");
        let id = started["registration_id"].as_str().unwrap().to_owned();
        let (status, body) = self
            .post(
                &format!("/api/v1/registrations/{id}/agreement"),
                &json!({"accepted": true, "agreement_version": started["agreement_version"]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .post(
                &format!("/api/v1/registrations/{id}/account"),
                &account(&self.username, PASSWORD),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let mail = self.wait_for_mail(ACTIVATION).await;
        assert!(
            mail.links()
                .iter()
                .any(|l| l.starts_with(&self.env["PORTAL_PUBLIC_URL"])),
            "links use PORTAL_PUBLIC_URL"
        );
        let token = mail.token().unwrap();
        let (status, body) = self
            .post("/api/v1/activations", &json!({"token": token}))
            .await;
        assert_eq!(status, 200, "{body}");
        self.registered = true;
    }

    async fn wait_for_mail(&self, subject: &str) -> Mail {
        let to = email_of(&self.username);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self
                .sink
                .received()
                .into_iter()
                .filter(|r| r.rcpt_to.iter().any(|a| a.eq_ignore_ascii_case(&to)))
                .map(|r| Mail::parse(&r.data))
                .find(|m| m.subject == subject);
            if let Some(mail) = found {
                return mail;
            }
            assert!(Instant::now() < deadline, "no {subject:?} to {to}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wrong passwords over HTTP until the account is locked.
    async fn lock_out(&self) {
        let mut locked = false;
        for _ in 0..20 {
            let (status, body) = self.login("Wrong-Password-123!").await;
            assert_ne!(status, 201);
            if body["code"] == "account_locked" {
                locked = true;
                break;
            }
        }
        assert!(locked, "wrong passwords never locked the account");
        let (_, body) = self.login(PASSWORD).await;
        assert_eq!(body["code"], "account_locked", "even the right password");
    }

    /// The command as written must match; its comment lists the other
    /// exit codes, checked with a wrong answer and an unknown username.
    async fn verify_answer(&self, line: &Line) {
        let command = line.command.as_str();
        let codes = exit_codes(&line.comment);
        let expect = |meaning: &str| -> i32 {
            *codes.get(meaning).unwrap_or_else(|| {
                panic!(
                    "the comment gives no exit code for {meaning:?}: {}",
                    line.comment
                )
            })
        };
        let run = self.sh(command).await;
        run.assert_code(expect("match"), command);
        assert_eq!(run.stdout.trim(), "match", "{run:#?}");

        let answer = command
            .split_once("echo '")
            .and_then(|(_, rest)| rest.split_once('\''))
            .map(|(answer, _)| answer)
            .expect("echo 'ANSWER' | …");
        let wrong = command.replacen(&format!("'{answer}'"), "'Rex'", 1);
        let run = self.sh(&wrong).await;
        run.assert_code(expect("no match"), &wrong);
        assert_eq!(run.stdout.trim(), "no match", "{run:#?}");

        let unknown = command.replace(&self.username, "dr.nobody");
        let run = self.sh(&unknown).await;
        run.assert_code(expect("refused"), &unknown);
    }

    async fn audit_list(&self, command: &str) {
        let run = self.sh(command).await;
        run.assert_code(0, command);
        let prose = "time, event, username, client_addr, outcome";
        let mut previous = String::new();
        let mut events = BTreeSet::new();
        for line in run.stdout.lines() {
            let event: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            for key in prose.split(", ") {
                assert!(event.get(key).is_some(), "{key} missing: {line}");
            }
            let time = event["time"].as_str().unwrap().to_owned();
            assert!(time >= previous, "oldest first: {}", run.stdout);
            previous = time;
            assert!(
                event["username"]
                    .as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(&self.username)),
                "{line}"
            );
            events.insert(event["event"].as_str().unwrap().to_owned());
        }
        for expected in [
            "account_activated",
            "login_failed",
            "account_locked",
            "account_shown",
            "account_unlocked",
            "account_disabled",
            "account_enabled",
            "support_check",
        ] {
            assert!(
                events.contains(expected),
                "{expected} missing: {}",
                run.stdout
            );
        }
        assert!(!run.stdout.contains(PASSWORD), "{run:#?}");
    }

    /// The checks of a section's prose, after its commands.
    async fn prose(&mut self, section: &Section) {
        let heading = section.heading.as_str();
        if heading.starts_with("Install and start") {
            self.configuration_error_example(&section.prose).await;
        } else if heading.starts_with("Metrics worth alerting on") {
            self.alerting_metrics(&section.prose).await;
        } else if heading.starts_with("Two instances behind a proxy") {
            // Cookies `Secure` and HSTS come with an https PORTAL_PUBLIC_URL.
            assert!(self.env["PORTAL_PUBLIC_URL"].starts_with("https://"));
            let answer = self.get("/healthz").await;
            assert!(
                answer.headers().contains_key("strict-transport-security"),
                "HSTS with an https PORTAL_PUBLIC_URL"
            );
            assert!(section.prose.contains("PORTAL_TRUSTED_PROXIES"));
            let run = self
                .sh_with(
                    "portal-http migrate",
                    &[("PORTAL_TRUSTED_PROXIES", Some("the-proxy"))],
                )
                .await;
            run.assert_code(2, "a bad PORTAL_TRUSTED_PROXIES");
            assert!(run.stderr.contains("PORTAL_TRUSTED_PROXIES"), "{run:#?}");
        }
    }

    /// "A bad value stops start-up with a message naming the variable,
    /// e.g. `…`": exactly that message, and exit code 2.
    async fn configuration_error_example(&self, prose: &str) {
        let joined = prose.split_whitespace().collect::<Vec<_>>().join(" ");
        let message = joined
            .split('`')
            .find(|span| span.starts_with("portal-http: configuration error:"))
            .expect("the runbook shows a configuration error");
        let rest = message
            .strip_prefix("portal-http: configuration error: ")
            .unwrap();
        let (variable, _) = rest.split_once(':').unwrap();
        let value = message.rsplit('"').nth(1).unwrap();
        let run = self
            .sh_with("portal-http migrate", &[(variable, Some(value))])
            .await;
        run.assert_code(2, message);
        assert_eq!(run.stderr.trim(), message);
    }

    /// Each metric the section names is in `GET /metrics`, with the label
    /// values it names (email failures are provoked at the SMTP server);
    /// a `=~` pattern must fit the form of the values the label takes.
    async fn alerting_metrics(&mut self, prose: &str) {
        let joined = prose.split_whitespace().collect::<Vec<_>>().join(" ");
        // `name`, `name{label="value"}`, and a bare `label="value"` that
        // applies to the metric named before it.
        let mut named: Vec<String> = Vec::new();
        let mut current = None;
        for span in joined.split('`').skip(1).step_by(2) {
            if span.starts_with("portal_") {
                current = Some(span.split('{').next().unwrap());
                named.push(span.to_owned());
            } else if let (Some(metric), Some((key, _))) = (current, span.split_once('='))
                && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && span.ends_with('"')
            {
                named.push(format!("{metric}{{{span}}}"));
            }
        }
        assert!(!named.is_empty(), "the section names metrics");

        self.sink.set_mode(Mode::Defer);
        self.reset_email_until("outcome=\"transient_failure\"")
            .await;
        self.sink.set_mode(Mode::Reject);
        self.reset_email_until("outcome=\"rejected\"").await;
        self.sink.set_mode(Mode::Accept);

        let metrics = self.metrics().await;
        for span in &named {
            let (name, matcher) = match span.split_once('{') {
                Some((name, matcher)) => (name, matcher.strip_suffix('}')),
                None => (span.as_str(), None),
            };
            let samples: Vec<&str> = metrics
                .lines()
                .filter(|l| {
                    l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{"))
                })
                .collect();
            assert!(!samples.is_empty(), "{name} is not in /metrics:\n{metrics}");
            let Some(matcher) = matcher else { continue };
            if let Some((key, value)) = matcher.split_once("=~") {
                let pattern = value.trim_matches('"');
                let values: Vec<&str> = samples
                    .iter()
                    .filter_map(|s| s.split_once(&format!("{key}=\"")))
                    .filter_map(|(_, rest)| rest.split_once('"'))
                    .map(|(value, _)| value)
                    .collect();
                assert!(!values.is_empty(), "{name} has no label {key}");
                assert!(
                    values.iter().any(|value| fits(pattern, value)),
                    "{span}: {key} takes values such as {values:?}"
                );
            } else {
                let (key, value) = matcher.split_once('=').unwrap();
                let wanted = format!("{key}={value}");
                assert!(
                    samples.iter().any(|s| s.contains(&wanted)),
                    "{span} is not in /metrics:\n{}",
                    samples.join("\n")
                );
            }
        }
        assert_eq!(self.get("/readyz").await.status().as_u16(), 200);
    }

    /// Asks for a password reset until `/metrics` shows the email's
    /// `outcome` (delivery is attempted in the background).
    async fn reset_email_until(&self, outcome: &str) {
        let (status, body) = self
            .post(
                "/api/v1/password-resets",
                &json!({"username": self.username}),
            )
            .await;
        assert!(status < 300, "{status} {body}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self
            .metrics()
            .await
            .lines()
            .any(|l| l.starts_with("portal_emails_total{") && l.contains(outcome))
        {
            assert!(Instant::now() < deadline, "no email {outcome} in /metrics");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A PromQL-style anchored pattern of literal characters and `.`, checked
/// against the form of a value: same length, and each literal of the same
/// kind (digit, letter, other) as the value's character there.
fn fits(pattern: &str, value: &str) -> bool {
    let class = |c: char| (c.is_ascii_digit(), c.is_alphabetic());
    assert!(
        pattern.chars().all(|c| c == '.' || c.is_alphanumeric()),
        "only literals and `.` are understood here: {pattern}"
    );
    pattern.chars().count() == value.chars().count()
        && pattern
            .chars()
            .zip(value.chars())
            .all(|(p, v)| p == '.' || class(p) == class(v))
}

/// `exit 0 match, 1 no match, 2 refused` → meaning → code.
fn exit_codes(comment: &str) -> BTreeMap<String, i32> {
    comment
        .strip_prefix("exit ")
        .unwrap_or_else(|| panic!("expected `# exit N meaning, …`: {comment}"))
        .split(',')
        .map(|part| {
            let (code, meaning) = part.trim().split_once(' ').unwrap();
            (meaning.trim().to_owned(), code.parse().unwrap())
        })
        .collect()
}

fn unquote(value: &str) -> &str {
    for quote in ['\'', '"'] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
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
async fn every_command_of_the_operations_runbook_works() {
    let doc = std::fs::read_to_string(RUNBOOK).unwrap();
    variables_are_real(&doc);
    let sections = parse(&doc);
    let username = sections
        .iter()
        .flat_map(|s| &s.lines)
        .find_map(|l| flag(&l.command, "--username"))
        .expect("the runbook acts on an account")
        .to_owned();
    let mut runbook = Runbook::new(username).await;
    for section in &sections {
        for line in &section.lines {
            runbook.step(line).await;
        }
        runbook.prose(section).await;
    }
    assert!(runbook.server.is_some(), "the runbook starts the service");
    runbook.stop().await;
    let log = runbook.log();
    assert!(!log.contains(PASSWORD) && !log.contains(ANSWER), "{log}");
    let missing: Vec<Kind> = KINDS
        .into_iter()
        .filter(|k| !runbook.seen.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "checks no runbook command used (remove them with the command): {missing:?}"
    );
}

//! Who migrates (SPEC §9), with the real binary as processes on real
//! databases: `migrate` run several times at once succeeds every time;
//! `serve` migrates a new database itself; on a schema behind or ahead of
//! the binary, or with a migration that failed halfway, every other
//! command refuses with exit code 2 and a message naming `migrate` and both
//! versions, and changes nothing. `support verify-answer` exits 2, never 1
//! ("no match"), when the database cannot be opened.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portal_domain::schema::SchemaState;
use portal_http::config::Config;
use portal_http::state::Database;
use tokio::time::Instant;

use crate::helpers::{Db, both, drop_postgres_database, fresh_database};

/// The binary cargo built for this test.
const BINARY: &str = env!("CARGO_BIN_EXE_portal-http");
const ROSTER_EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/roster-example.csv");

/// Every command but `migrate`, as an operator types it after `portal-http`.
fn commands() -> Vec<String> {
    vec![
        "serve".to_owned(),
        format!("roster import {ROSTER_EXAMPLE}"),
        "support verify-answer --username dr.doe".to_owned(),
        "account show --username dr.doe".to_owned(),
        "account unlock --username dr.doe".to_owned(),
        "account disable --username dr.doe".to_owned(),
        "account enable --username dr.doe".to_owned(),
        "audit list".to_owned(),
    ]
}

/// One finished run of the binary.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A running `portal-http`, its output going to files (a pipe nobody
/// reads could stall it).
struct Running {
    child: Child,
    args: String,
    stdout: PathBuf,
    stderr: PathBuf,
    /// Its `PORTAL_LISTEN`.
    listen: String,
}

impl Running {
    /// Waits for the end; a process still running after 30 s (a `serve`
    /// that did not refuse) fails the test.
    async fn finish(mut self) -> Run {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "`portal-http {}` was still running: {}",
                    self.args,
                    std::fs::read_to_string(&self.stderr).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Run {
            code: self.child.wait().unwrap().code(),
            stdout: std::fs::read_to_string(&self.stdout).unwrap(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap(),
        }
    }
}

/// A scratch folder (the working directory, the file mailer's folder, the
/// output of each run) and the database of one test, removed at the end.
struct Scratch {
    db: Db,
    dir: PathBuf,
    database_url: String,
    runs: AtomicUsize,
}

impl Scratch {
    async fn new(db: Db) -> Self {
        let database_url = fresh_database(db).await;
        let name = database_url.rsplit(['/', ':']).next().unwrap().to_owned();
        let dir = std::env::temp_dir().join(format!("portal-migrations-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            db,
            dir,
            database_url,
            runs: AtomicUsize::new(0),
        }
    }

    /// Starts `portal-http ARGS` on this database: only our `PORTAL_*`
    /// settings, a free port, the answer `Rex` on standard input.
    fn start(&self, args: &str) -> Running {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let stdout = self.dir.join(format!("run-{run}.out"));
        let stderr = self.dir.join(format!("run-{run}.err"));
        let mut command = Command::new(BINARY);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PORTAL_") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .args(args.split_whitespace())
            .current_dir(&self.dir)
            .env("DATABASE_URL", &self.database_url)
            .env("PORTAL_LISTEN", &listen)
            .env("PORTAL_MAIL_DIR", self.dir.join("mail"))
            .env("PORTAL_LOG_FORMAT", "json")
            .env("PORTAL_ARGON2_M_KIB", "8")
            .env("PORTAL_ARGON2_T", "1")
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        // Dropped at once: standard input ends after the answer.
        let _ = child.stdin.take().unwrap().write_all(b"Rex\n");
        Running {
            child,
            args: args.to_owned(),
            stdout,
            stderr,
            listen,
        }
    }

    /// Runs `portal-http ARGS` to its end.
    async fn run(&self, args: &str) -> Run {
        self.start(args).finish().await
    }

    async fn database(&self) -> Database {
        let env = BTreeMap::from([("DATABASE_URL".to_owned(), self.database_url.clone())]);
        let config = Config::load(&env, |path| std::fs::read_to_string(path)).unwrap();
        Database::connect(&config.database).await.unwrap()
    }

    async fn execute(&self, sql: String) {
        let sql = sqlx::AssertSqlSafe(sql);
        match self.database().await {
            Database::Sqlite(store) => sqlx::query(sql).execute(store.pool()).await.map(drop),
            Database::Postgres(store) => sqlx::query(sql).execute(store.pool()).await.map(drop),
        }
        .unwrap();
    }

    /// What a command could change: the recorded migrations, the tables,
    /// the roster and the audit trail.
    async fn snapshot(&self) -> (Vec<(i64, bool)>, Vec<String>, i64, i64) {
        const MIGRATIONS: &str = "SELECT version, success FROM _sqlx_migrations ORDER BY version";
        const ROSTER: &str = "SELECT count(*) FROM roster_entries";
        const AUDIT: &str = "SELECT count(*) FROM audit_events";
        match self.database().await {
            Database::Sqlite(store) => {
                let pool = store.pool();
                (
                    sqlx::query_as(MIGRATIONS).fetch_all(pool).await.unwrap(),
                    sqlx::query_scalar(
                        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                    )
                    .fetch_all(pool)
                    .await
                    .unwrap(),
                    sqlx::query_scalar(ROSTER).fetch_one(pool).await.unwrap(),
                    sqlx::query_scalar(AUDIT).fetch_one(pool).await.unwrap(),
                )
            }
            Database::Postgres(store) => {
                let pool = store.pool();
                (
                    sqlx::query_as(MIGRATIONS).fetch_all(pool).await.unwrap(),
                    sqlx::query_scalar(
                        "SELECT tablename::text FROM pg_tables \
                         WHERE schemaname = current_schema() ORDER BY 1",
                    )
                    .fetch_all(pool)
                    .await
                    .unwrap(),
                    sqlx::query_scalar(ROSTER).fetch_one(pool).await.unwrap(),
                    sqlx::query_scalar(AUDIT).fetch_one(pool).await.unwrap(),
                )
            }
        }
    }

    /// Every command but `migrate` (and `serve --demo` unless `with_demo`)
    /// exits 2 with a message that names `migrate`, the database's version,
    /// the binary's and `words`, and changes nothing.
    async fn every_command_refuses(&self, database_version: &str, words: &str, with_demo: bool) {
        let before = self.snapshot().await;
        let binary_version = binary_version().to_string();
        let mut commands = commands();
        if with_demo {
            commands.push("serve --demo".to_owned());
        }
        for args in commands {
            let run = self.run(&args).await;
            assert_eq!(run.code, Some(2), "{args}: {run:#?}");
            for expected in [
                "`portal-http migrate`",
                &format!("at version {database_version}"),
                &binary_version,
                words,
            ] {
                assert!(
                    run.stderr.contains(expected),
                    "{args}: {expected}: {run:#?}"
                );
            }
            assert!(run.stdout.is_empty(), "{args}: {run:#?}");
            assert_eq!(self.snapshot().await, before, "{args} changed the database");
        }
    }

    async fn state(&self) -> SchemaState {
        self.database().await.schema().await.unwrap().state
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.database_url.starts_with("postgres") {
            let url = self.database_url.clone();
            // Dropping needs a runtime of its own: this may run while the
            // test's runtime unwinds.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(drop_postgres_database(&url));
            })
            .join();
        }
    }
}

/// The newest migration the binary embeds (the same on both databases).
fn binary_version() -> i64 {
    let sqlite = portal_adapters_sqlite::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max();
    let postgres = portal_adapters_postgres::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max();
    assert_eq!(sqlite, postgres, "both databases have the same migrations");
    sqlite.unwrap()
}

both!(two_migrate_at_once_both_succeed);
async fn two_migrate_at_once_both_succeed(db: Db) {
    let scratch = Scratch::new(db).await;
    // More than two, to give a race every chance; on a database that
    // does not exist yet (SQLite: not even the file).
    let running: Vec<Running> = (0..4).map(|_| scratch.start("migrate")).collect();
    for running in running {
        let run = running.finish().await;
        assert_eq!(run.code, Some(0), "{run:#?}");
        assert!(run.stdout.contains("migrations applied"), "{run:#?}");
        assert!(
            run.stdout.contains(&binary_version().to_string()),
            "{run:#?}"
        );
    }
    assert_eq!(scratch.state().await, SchemaState::Current);
    let (migrations, ..) = scratch.snapshot().await;
    assert_eq!(
        migrations.len(),
        portal_adapters_sqlite::MIGRATOR.iter().count(),
        "each migration applied once: {migrations:?}"
    );
}

both!(serve_migrates_a_new_database_itself);
async fn serve_migrates_a_new_database_itself(db: Db) {
    let scratch = Scratch::new(db).await;
    assert_eq!(scratch.state().await, SchemaState::Empty);
    let mut serve = scratch.start("serve");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            serve.child.try_wait().unwrap().is_none(),
            "serve stopped: {}",
            std::fs::read_to_string(&serve.stderr).unwrap()
        );
        let ready = http
            .get(format!("http://{}/readyz", serve.listen))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200);
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "serve never got ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(scratch.state().await, SchemaState::Current);
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    // The other commands run on it now.
    let run = scratch.run("audit list").await;
    assert_eq!(run.code, Some(0), "{run:#?}");
}

both!(a_schema_behind_is_refused_and_left_alone);
async fn a_schema_behind_is_refused_and_left_alone(db: Db) {
    let scratch = Scratch::new(db).await;
    assert_eq!(scratch.run("migrate").await.code, Some(0));
    // As an older release left it: without the newest migration's record.
    let newest = binary_version();
    scratch
        .execute(format!(
            "DELETE FROM _sqlx_migrations WHERE version = {newest}"
        ))
        .await;
    assert_eq!(scratch.state().await, SchemaState::Behind);
    let older = portal_adapters_sqlite::MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| *v < newest)
        .max()
        .map_or_else(|| "none".to_owned(), |v| v.to_string());
    // `serve --demo` would migrate it.
    scratch
        .every_command_refuses(&older, "this binary needs", false)
        .await;
}

both!(a_schema_ahead_is_refused_and_left_alone);
async fn a_schema_ahead_is_refused_and_left_alone(db: Db) {
    let scratch = Scratch::new(db).await;
    assert_eq!(scratch.run("migrate").await.code, Some(0));
    // As a newer release leaves it: one migration this binary lacks.
    let newer = binary_version() + 1;
    let checksum = match scratch.db {
        Db::Sqlite => "X'00'",
        Db::Postgres => "'\\x00'::bytea",
    };
    scratch
        .execute(format!(
            "INSERT INTO _sqlx_migrations \
             (version, description, success, checksum, execution_time) \
             VALUES ({newer}, 'from a newer release', TRUE, {checksum}, 1)"
        ))
        .await;
    assert_eq!(scratch.state().await, SchemaState::Ahead);
    scratch
        .every_command_refuses(&newer.to_string(), "newer", true)
        .await;
    // This binary's `migrate` cannot handle it either, and says so.
    let before = scratch.snapshot().await;
    let run = scratch.run("migrate").await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains(&newer.to_string()), "{run:#?}");
    assert_eq!(scratch.snapshot().await, before);
}

both!(a_migration_failed_halfway_is_refused);
async fn a_migration_failed_halfway_is_refused(db: Db) {
    let scratch = Scratch::new(db).await;
    assert_eq!(scratch.run("migrate").await.code, Some(0));
    let newest = binary_version();
    scratch
        .execute(format!(
            "UPDATE _sqlx_migrations SET success = FALSE WHERE version = {newest}"
        ))
        .await;
    assert_eq!(
        scratch.state().await,
        SchemaState::Failed { version: newest }
    );
    let older = portal_adapters_sqlite::MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| *v < newest)
        .max()
        .map_or_else(|| "none".to_owned(), |v| v.to_string());
    scratch
        .every_command_refuses(&older, "failed halfway", true)
        .await;
}

both!(verify_answer_exits_2_when_the_database_cannot_be_opened);
async fn verify_answer_exits_2_when_the_database_cannot_be_opened(db: Db) {
    let mut scratch = Scratch::new(db).await;
    let unreachable = match db {
        Db::Sqlite => format!("sqlite:{}/no/such/folder/portal.db", scratch.dir.display()),
        // A database the server does not have.
        Db::Postgres => {
            let mut url = url::Url::parse(&scratch.database_url).unwrap();
            url.set_path("/portal_no_such_database");
            url.to_string()
        }
    };
    let database_url = std::mem::replace(&mut scratch.database_url, unreachable);
    let run = scratch.run("support verify-answer --username dr.doe").await;
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("DATABASE_URL"), "{run:#?}");
    assert!(
        run.stdout.is_empty(),
        "neither match nor no match: {run:#?}"
    );
    // The other commands have no "no match": they exit 1.
    let run = scratch.run("account show --username dr.doe").await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    scratch.database_url = database_url;
}

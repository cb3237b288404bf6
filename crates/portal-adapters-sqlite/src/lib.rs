//! SQLite adapters of the Provider Portal ports, the embedded default:
//! [`SqliteStore`] implements
//! [`UserStore`](portal_domain::ports::UserStore),
//! [`OutboxStore`](portal_domain::ports::OutboxStore) and
//! [`ProviderRoster`](portal_domain::ports::ProviderRoster) over one file.
//!
//! The database is in WAL mode with a busy timeout, so several processes on
//! one machine may share the file. Every write that reads first runs in a
//! `BEGIN IMMEDIATE` transaction, which takes SQLite's write lock at once:
//! the read and the write see no other writer in between, and no deferred
//! transaction dies upgrading its lock. Counters change in one `UPDATE`,
//! tokens are redeemed by a conditional `UPDATE … RETURNING`, uniqueness is
//! enforced by unique indexes whose names are turned into domain errors.
//!
//! Migrations are serialised across processes by an exclusive lock on a
//! file beside the database (`portal.db.migrate-lock`), since sqlx's own
//! migration lock does nothing on SQLite.

mod dialect;
mod error;
/// The Rust both database adapters run, written once in
/// `portal-adapters-sql/src/shared/`, compiled here against SQLite's
/// `dialect.rs`.
#[path = "../../portal-adapters-sql/src/shared/mod.rs"]
mod shared;
mod ts;

use std::fs::File;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use portal_adapters_sql::schema as sql;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use error::ConnectError;

/// The embedded migrations (`migrations/`), applied by [`SqliteStore::migrate`].
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The SQLite store: every storage port over one database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database that `url` names:
    /// `sqlite:PATH`, `sqlite://PATH` or `sqlite:///ABSOLUTE/PATH`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        let options = SqliteConnectOptions::from_str(url).map_err(ConnectError::Connect)?;
        Self::connect_with(options, max_connections).await
    }

    /// Opens (creating if missing) the database file at `path`.
    pub async fn open(path: &std::path::Path, max_connections: u32) -> Result<Self, ConnectError> {
        Self::connect_with(SqliteConnectOptions::new().filename(path), max_connections).await
    }

    async fn connect_with(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<Self, ConnectError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL makes NORMAL durable against application crashes; only
            // an OS crash can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // Processes opening one new file at once race to switch it to WAL:
        // SQLite answers the loser SQLITE_BUSY (5) at once, without waiting
        // out the busy timeout (its lock upgrade could deadlock), so the
        // connection is tried again within that same budget.
        let mut attempts = 0;
        loop {
            let connected = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.clone())
                .await;
            match connected {
                Ok(pool) => return Ok(Self { pool }),
                Err(sqlx::Error::Database(e))
                    if e.code().as_deref() == Some("5") && attempts < 50 =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(ConnectError::Connect(e)),
            }
        }
    }

    /// Applies the embedded migrations that have not run yet. Several
    /// processes may call it at once on one file: they take turns, and the
    /// later ones find nothing left to apply.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let _turn = self.lock_migrations().await?;
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(ConnectError::Migrate)
    }

    /// Waits for an exclusive lock on `FILE.migrate-lock` beside the
    /// database file, held until the returned file is dropped. The lock is
    /// the file's, not the database's: SQLite's own locks are POSIX record
    /// locks, which closing any other handle on the database file would
    /// release. An in-memory database has no other process and no lock.
    async fn lock_migrations(&self) -> Result<Option<File>, ConnectError> {
        let database: String = sqlx::query_scalar(sql::DATABASE_FILE)
            .fetch_one(&self.pool)
            .await
            .map_err(ConnectError::Connect)?;
        if database.is_empty() {
            return Ok(None);
        }
        let path = PathBuf::from(format!("{database}.migrate-lock"));
        let waiting = path.clone();
        let locked = tokio::task::spawn_blocking(move || {
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&waiting)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .unwrap_or_else(|join| Err(std::io::Error::other(join)));
        locked
            .map(Some)
            .map_err(|source| ConnectError::MigrationLock { path, source })
    }
}

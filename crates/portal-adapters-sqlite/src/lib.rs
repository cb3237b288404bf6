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

mod error;
mod outbox;
mod roster;
mod rows;
mod store;
mod ts;

use std::str::FromStr;
use std::time::Duration;

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
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(ConnectError::Connect)?;
        Ok(Self { pool })
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(ConnectError::Migrate)
    }

    /// True when the database answers a trivial query.
    pub async fn is_ready(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

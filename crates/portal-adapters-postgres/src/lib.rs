//! PostgreSQL adapters of the Provider Portal ports: [`PgStore`] implements
//! [`UserStore`](portal_domain::ports::UserStore),
//! [`OutboxStore`](portal_domain::ports::OutboxStore) and
//! [`ProviderRoster`](portal_domain::ports::ProviderRoster) over one sqlx
//! pool.
//!
//! Atomicity and concurrency are the database's: counters change in one
//! `UPDATE`, tokens are redeemed by a conditional `UPDATE … RETURNING`,
//! uniqueness is enforced by unique indexes whose names are turned into
//! domain errors here, and outbox claims use `FOR UPDATE SKIP LOCKED`.
//! Queries are built at run time (no `query!` macros), so the crate builds
//! without a database.

mod dialect;
mod error;
/// The Rust both database adapters run, written once in
/// `portal-adapters-sql/src/shared/`, compiled here against PostgreSQL's
/// `dialect.rs`.
#[path = "../../portal-adapters-sql/src/shared/mod.rs"]
mod shared;

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, PgPool};

pub use error::ConnectError;

/// The embedded migrations (`migrations/`), applied by [`PgStore::migrate`].
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The PostgreSQL store: every storage port over one connection pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// How long a pooled connection may sit idle before it is pinged again
/// when handed out.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

impl PgStore {
    /// Connects to `url` (`postgres://…`). The pool waits at most 5 s for a
    /// connection, so an outage surfaces as `StoreError::Unavailable`
    /// instead of a hung request.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // sqlx pings every connection it hands out: a round trip before
            // each query, on the request's path. A busy connection was just
            // checked when it came back to the pool (sqlx pings on release),
            // so only one that sat idle for a while is pinged again.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await
            .map_err(ConnectError::Connect)?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool (e.g. one made by `#[sqlx::test]`).
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies the embedded migrations that have not run yet. Several
    /// processes may call it at once: sqlx's migrator holds an advisory
    /// lock on the database while it runs, so they take turns.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(ConnectError::Migrate)
    }
}

//! The service's shared state, and how it is built from [`Config`].

use std::sync::Arc;

use portal_adapters_postgres::PgStore;
use portal_adapters_sqlite::SqliteStore;
use portal_domain::hashing::Argon2Hasher;
use portal_domain::ports::Storage;
use portal_domain::schema::SchemaCheck;
use portal_domain::service::Portal;
use portal_domain::system::{OsTokenSource, SystemClock};
use secrecy::ExposeSecret;

use crate::config::{Config, DatabaseConfig};
use crate::hashpool::HashPool;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

/// The use cases as the service runs them: the store chosen at run time,
/// hashing on the bounded pool.
pub type PortalService = Portal<dyn Storage, dyn Storage, HashPool, SystemClock, OsTokenSource>;

/// The database the service runs on.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(transparent)]
    Postgres(#[from] portal_adapters_postgres::ConnectError),
    #[error(transparent)]
    Sqlite(#[from] portal_adapters_sqlite::ConnectError),
}

impl Database {
    /// Opens the configured database as it is: no migration runs (the
    /// binary decides who migrates, see [`crate::schema`]).
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, DatabaseError> {
        Ok(match config {
            DatabaseConfig::Postgres { url } => {
                Self::Postgres(PgStore::connect(url.expose_secret(), 16).await?)
            }
            DatabaseConfig::Sqlite { url } => Self::Sqlite(SqliteStore::connect(url, 8).await?),
        })
    }

    /// Opens the configured database and applies its migrations: for
    /// tests and tools that own their database.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, DatabaseError> {
        let database = Self::connect(config).await?;
        database.migrate().await?;
        Ok(database)
    }

    /// Applies the migrations not applied yet; safe to run from several
    /// processes at once.
    pub async fn migrate(&self) -> Result<(), DatabaseError> {
        match self {
            Self::Postgres(store) => store.migrate().await?,
            Self::Sqlite(store) => store.migrate().await?,
        }
        Ok(())
    }

    /// How the database's schema stands against this binary's migrations.
    pub async fn schema(&self) -> Result<SchemaCheck, DatabaseError> {
        Ok(match self {
            Self::Postgres(store) => store.schema().await?,
            Self::Sqlite(store) => store.schema().await?,
        })
    }

    pub async fn is_ready(&self) -> bool {
        match self {
            Self::Postgres(store) => store.is_ready().await,
            Self::Sqlite(store) => store.is_ready().await,
        }
    }

    pub fn storage(&self) -> Arc<dyn Storage> {
        match self {
            Self::Postgres(store) => Arc::new(store.clone()),
            Self::Sqlite(store) => Arc::new(store.clone()),
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub portal: Arc<PortalService>,
    pub storage: Arc<dyn Storage>,
    pub database: Database,
    pub config: Arc<Config>,
    pub metrics: Metrics,
    pub limiter: Arc<RateLimiter>,
    /// Bounds the work Forgot password? and resend do after answering.
    pub background: crate::background::Background,
    /// The portal's hash pool, for a login to take its room before its
    /// database work.
    pub hash_pool: HashPool,
    /// How long a wrong password's answer waits (`failure_pace.rs`).
    pub failure_pace: Arc<crate::failure_pace::FailurePace>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Argon2(#[from] portal_domain::hashing::Argon2SettingsError),
}

impl AppState {
    pub fn new(config: Config, database: Database) -> Result<Self, BuildError> {
        let metrics = Metrics::new();
        let hasher = Argon2Hasher::new(config.argon2, config.pepper.clone())?;
        let pool = HashPool::new(
            hasher,
            config.hash_workers,
            config.hash_queue,
            config.hash_wait.unsigned_abs(),
            metrics.clone(),
        );
        let storage = database.storage();
        let hash_pool = pool.clone();
        let portal = Portal::new(
            Arc::clone(&storage),
            Arc::clone(&storage),
            Arc::new(pool),
            Arc::new(SystemClock),
            Arc::new(OsTokenSource),
            config.portal.clone(),
        );
        Ok(Self {
            portal: Arc::new(portal),
            storage,
            database,
            limiter: Arc::new(RateLimiter::new(config.rate_limit_per_minute)),
            background: crate::background::Background::default(),
            hash_pool,
            failure_pace: Arc::default(),
            config: Arc::new(config),
            metrics,
        })
    }
}

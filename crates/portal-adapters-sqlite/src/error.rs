//! sqlx errors turned into the domain's store errors at the seam.

use portal_domain::ports::StoreError;

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to SQLite: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply the SQLite migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("cannot lock {path} for the migrations: {source}")]
    MigrationLock {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the SQLite schema version: {0}")]
    Schema(#[source] sqlx::Error),
}

/// Outages (file cannot be opened, disk I/O error, disk full, a lock held
/// past the busy timeout, pool timeout) are `Unavailable`; everything else
/// is `Unexpected`. Messages name the operation and never carry bound values.
pub(crate) fn store_error(operation: &str, error: sqlx::Error) -> StoreError {
    // SQLite's primary result codes: BUSY 5, LOCKED 6, IOERR 10, FULL 13, CANTOPEN 14.
    const OUTAGES: [i64; 5] = [5, 6, 10, 13, 14];
    match &error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::Unavailable(format!("{operation}: {error}"))
        }
        sqlx::Error::Database(db)
            if db
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .is_some_and(|code| OUTAGES.contains(&(code & 0xff))) =>
        {
            StoreError::Unavailable(format!("{operation}: {error}"))
        }
        _ => StoreError::Unexpected(format!("{operation}: {error}")),
    }
}

/// Which unique index a statement violated, if that is what failed. SQLite
/// names an expression index (`index 'accounts_username_unique'`) and a
/// column index by its column (`accounts.registrant_key`).
pub(crate) fn violated_unique(error: &sqlx::Error) -> Option<&'static str> {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let message = db.message();
            if message.contains("accounts_username_unique") || message.contains("accounts.username")
            {
                Some("accounts_username_unique")
            } else if message.contains("accounts.registrant_key")
                || message.contains("accounts_registrant_unique")
            {
                Some("accounts_registrant_unique")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Shorthand: `.map_err(op("load account"))`.
pub(crate) fn op(operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| store_error(operation, error)
}

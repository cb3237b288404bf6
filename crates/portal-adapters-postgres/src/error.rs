//! sqlx errors turned into the domain's store errors at the seam.

use portal_domain::ports::StoreError;

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply the PostgreSQL migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("cannot read the PostgreSQL schema version: {0}")]
    Schema(#[source] sqlx::Error),
}

/// Outages (connection refused, pool timeout, server gone) are
/// `Unavailable`; everything else is `Unexpected`. Messages name the
/// operation and never carry bound values.
pub(crate) fn store_error(operation: &str, error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => StoreError::Unavailable(format!("{operation}: {error}")),
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|code| code.starts_with("08") || code == "57P01") =>
        {
            // Connection exceptions and admin shutdown.
            StoreError::Unavailable(format!("{operation}: {error}"))
        }
        _ => StoreError::Unexpected(format!("{operation}: {error}")),
    }
}

/// The name of the unique index a statement violated, if that is what failed.
pub(crate) fn violated_unique(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => db.constraint(),
        _ => None,
    }
}

/// Shorthand: `.map_err(op("load account"))`.
pub(crate) fn op(operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| store_error(operation, error)
}

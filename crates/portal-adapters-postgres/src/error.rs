//! sqlx errors turned into the domain's store errors at the seam.

use std::future::Future;

use portal_domain::ports::{CreateAccountError, RedeemError, StoreError};

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
        // Deadlock detected, serialization failure: the transaction was
        // rolled back and may simply run again.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|code| code == "40P01" || code == "40001") =>
        {
            StoreError::Contention(format!("{operation}: {error}"))
        }
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

/// How many times a transaction runs before a contention abort reaches the
/// caller.
const CONTENTION_TRIES: u32 = 5;

/// An error that may be PostgreSQL aborting a transaction to settle a
/// conflict (a deadlock or a serialization failure).
pub(crate) trait Contended {
    fn is_contention(&self) -> bool;
}

impl Contended for StoreError {
    fn is_contention(&self) -> bool {
        matches!(self, Self::Contention(_))
    }
}

impl Contended for RedeemError {
    fn is_contention(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_contention())
    }
}

impl Contended for CreateAccountError {
    fn is_contention(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_contention())
    }
}

/// Runs a whole transaction again when PostgreSQL aborted it for a deadlock
/// or a serialization failure: the abort rolled everything back, and the
/// other transaction has gone on, so running it again is safe and usually
/// succeeds at once. `run` must begin and commit its own transaction.
pub(crate) async fn retry_contention<T, E, F, Fut>(mut run: F) -> Result<T, E>
where
    E: Contended,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut tries = 1;
    loop {
        match run().await {
            Err(error) if error.is_contention() && tries < CONTENTION_TRIES => {
                tracing::debug!(
                    tries,
                    "transaction aborted under contention; running it again"
                );
                tries += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::PgPool;
    use std::cell::Cell;

    #[sqlx::test(migrations = false)]
    async fn a_deadlock_is_contention(pool: PgPool) {
        sqlx::query("CREATE TABLE probe (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO probe (id) VALUES (1), (2)")
            .execute(&pool)
            .await
            .unwrap();
        let mut a = pool.begin().await.unwrap();
        let mut b = pool.begin().await.unwrap();
        let bump = |id: i32| sqlx::query("UPDATE probe SET n = n + 1 WHERE id = $1").bind(id);
        bump(1).execute(&mut *a).await.unwrap();
        bump(2).execute(&mut *b).await.unwrap();
        // Each now waits for the row the other holds.
        let (first, second) = tokio::join!(bump(2).execute(&mut *a), bump(1).execute(&mut *b));
        let aborted: Vec<StoreError> = [first, second]
            .into_iter()
            .filter_map(Result::err)
            .map(|error| store_error("bump", error))
            .collect();
        assert_eq!(aborted.len(), 1, "PostgreSQL aborts one of the two");
        assert!(aborted[0].is_contention(), "{:?}", aborted[0]);
    }

    #[tokio::test]
    async fn an_aborted_transaction_runs_again_a_few_times() {
        let runs = Cell::new(0);
        let settled: Result<u32, StoreError> = retry_contention(|| {
            runs.set(runs.get() + 1);
            let run = runs.get();
            async move {
                if run < 3 {
                    Err(StoreError::Contention("deadlock detected".to_owned()))
                } else {
                    Ok(run)
                }
            }
        })
        .await;
        assert_eq!(settled, Ok(3));

        runs.set(0);
        let never: Result<(), StoreError> = retry_contention(|| {
            runs.set(runs.get() + 1);
            async { Err(StoreError::Contention("deadlock detected".to_owned())) }
        })
        .await;
        assert!(never.is_err_and(|e| e.is_contention()));
        assert_eq!(runs.get(), CONTENTION_TRIES);

        runs.set(0);
        let other: Result<(), StoreError> = retry_contention(|| {
            runs.set(runs.get() + 1);
            async { Err(StoreError::Unavailable("connection refused".to_owned())) }
        })
        .await;
        assert!(other.is_err());
        assert_eq!(runs.get(), 1, "only contention is run again");
    }
}

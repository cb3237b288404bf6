//! What PostgreSQL does its own way, under the names the shared Rust code
//! (`crates/portal-adapters-sql/src/shared/`, compiled in this crate and in
//! `portal-adapters-sqlite`) calls: SQLite's `dialect.rs` defines the same
//! names, and the two files side by side are the whole difference in Rust.
//!
//! Every name is a concrete type or a plain function: each adapter compiles
//! the shared code against its own, so there are no generic bounds and no
//! work per call beyond what the code did when it was written twice.

use std::future::Future;

use portal_adapters_sql::store::{self as sql, housekeeping, identity_checks, login_attempts};
use portal_adapters_sql::{PerDatabase, roster};
use portal_domain::account::AccountId;
use portal_domain::audit::AuditEvent;
use portal_domain::email::EmailKind;
use portal_domain::lockout::{FirstPlace, LockState, ReservedAttempt};
use portal_domain::ports::{RedeemError, StoreError};
use portal_domain::session::Session;
use portal_domain::values::{PasswordHash, ProviderId, TaxId, TokenHash};
use sqlx::query::Query;
use sqlx::{PgPool, Row, Transaction};
use time::OffsetDateTime;

use crate::error::{Contended, op, retry_contention};
use crate::shared::store::{failed_count, hash_bytes, lock_account};

/// The store the shared port impls are written for: here [`PgStore`](crate::PgStore).
pub(crate) type Store = crate::PgStore;
/// A PostgreSQL row, as the shared row readers read it.
pub(crate) type DbRow = sqlx::postgres::PgRow;

/// How a time is bound: `timestamptz`, which sqlx encodes from
/// `OffsetDateTime` itself.
pub(crate) type Stamp = OffsetDateTime;

/// A time to bind.
pub(crate) fn stamp(time: OffsetDateTime) -> Stamp {
    time
}

/// An optional time to bind.
pub(crate) fn opt_stamp(time: Option<OffsetDateTime>) -> Option<Stamp> {
    time
}

/// A `NOT NULL` `timestamptz` column.
pub(crate) fn read_time(row: &DbRow, column: &str) -> Result<OffsetDateTime, sqlx::Error> {
    row.try_get(column)
}

/// A nullable `timestamptz` column.
pub(crate) fn read_opt_time(
    row: &DbRow,
    column: &str,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    row.try_get(column)
}

/// How a count (failures, refusals, a flow's version) is bound and read:
/// an `integer` column.
pub(crate) type Int = i32;

/// A count to bind, saturating at the column's range.
pub(crate) fn int(n: i64) -> Int {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// An `integer` column.
pub(crate) fn read_int(row: &DbRow, column: &str) -> Result<i64, sqlx::Error> {
    row.try_get::<i32, _>(column).map(i64::from)
}

/// A `smallint` column (the security question's number).
pub(crate) fn read_smallint(row: &DbRow, column: &str) -> Result<i64, sqlx::Error> {
    row.try_get::<i16, _>(column).map(i64::from)
}

/// PostgreSQL, for the shared code's queries and query builders.
pub(crate) type Db = sqlx::Postgres;
/// A PostgreSQL connection, or a transaction borrowed as one.
pub(crate) type Conn = sqlx::PgConnection;
/// A PostgreSQL query's bound arguments (a flow's bind chain).
pub(crate) type Args = sqlx::postgres::PgArguments;

/// PostgreSQL's text of a statement the databases write differently.
pub(crate) const fn ours(statement: PerDatabase) -> &'static str {
    statement.postgres
}

/// Begins a transaction that reads and then writes. PostgreSQL's default
/// (`READ COMMITTED`): what must not change between the read and the write
/// is locked by the read (`FOR UPDATE`, [`lock_account`]), and a deadlock
/// between such locks aborts one transaction, which [`retrying`] runs
/// again.
pub(crate) async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Db>, StoreError> {
    pool.begin().await.map_err(op("begin"))
}

/// Runs a write transaction (`run` begins and commits it) again when
/// PostgreSQL aborted it for a deadlock or a serialization failure (see
/// [`retry_contention`]).
pub(crate) async fn retrying<T, E, F, Fut>(run: F) -> Result<T, E>
where
    E: Contended,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_contention(run).await
}

/// Before a token is redeemed, the row of the account it belongs to is
/// locked, before the token's own (account first, as everywhere: see
/// [`lock_account`]). An unknown token, or one whose account is gone, is
/// invalid.
pub(crate) async fn lock_token_owner(conn: &mut Conn, hash: &TokenHash) -> Result<(), RedeemError> {
    let owner: Option<i64> = sqlx::query_scalar(sql::TOKEN_OWNER)
        .bind(hash_bytes(hash))
        .fetch_optional(&mut *conn)
        .await
        .map_err(op("find token"))?;
    let owner = owner.ok_or(RedeemError::InvalidToken)?;
    lock_account(conn, AccountId::new(owner))
        .await?
        .ok_or(RedeemError::InvalidToken)?;
    Ok(())
}

/// A new account's id, when the database must be told it: never on
/// PostgreSQL, whose identity column gives each id out once.
pub(crate) type NextId = ();

/// Nothing to read: the `INSERT` takes the id from the identity column.
pub(crate) async fn next_account_id(_: &mut Conn) -> Result<NextId, StoreError> {
    Ok(())
}

/// The account `INSERT` as it is: PostgreSQL's text binds no id.
pub(crate) fn bind_next_id(query: Query<'_, Db, Args>, (): NextId) -> Query<'_, Db, Args> {
    query
}

/// One provider's proofing mismatches queue on an advisory lock of its
/// key, so the count a check reads is the one its insert adds to.
pub(crate) async fn lock_for_proofing(
    conn: &mut Conn,
    tax_id: &TaxId,
    provider_id: &ProviderId,
) -> Result<(), StoreError> {
    sqlx::query(identity_checks::LOCK_PROVIDER_PROOFING)
        .bind(tax_id.as_str())
        .bind(provider_id.as_str())
        .execute(conn)
        .await
        .map_err(op("lock provider's proofing"))?;
    Ok(())
}

/// Takes the account's row lock where a change does not read the account
/// otherwise (see [`lock_account`]): concurrent changes of one account
/// queue here. False when the account is gone.
pub(crate) async fn hold_account(conn: &mut Conn, id: AccountId) -> Result<bool, StoreError> {
    Ok(lock_account(conn, id).await?.is_some())
}

/// The login's read takes its first place in the same statement: the
/// account, its roster entry and, while the account has no failures and
/// no lock, the place (one round trip less on nearly every login). The
/// guard is evaluated on the row as it is when the update reaches it, so a
/// place another attempt took meanwhile is never overwritten: the read
/// then takes none, and the use case reserves from the stored state.
pub(crate) fn bind_first_place(
    query: Query<'_, Db, Args>,
    first: Option<FirstPlace>,
) -> Query<'_, Db, Args> {
    let after = first.map(|first| first.after).unwrap_or_default();
    query
        .bind(first.is_some())
        .bind(failed_count(after))
        .bind(after.locked_until)
}

/// The place the login's read took, if it took one.
pub(crate) fn first_place(
    row: &DbRow,
    first: Option<FirstPlace>,
) -> Result<Option<ReservedAttempt>, StoreError> {
    let placed: bool = row
        .try_get("placed_with_read")
        .map_err(op("read login place"))?;
    Ok(first.filter(|_| placed).map(|first| first.reserved))
}

/// A successful login in one statement, so one round trip and one commit:
/// this is the hot path of every login. It applies only while the password
/// hash is the one verified and the account holds no lock at all (a state
/// `CredentialWrite::judge` lets through at any time; a granted place
/// leaves no lock behind): the `UPDATE` waits for a reset or a failure
/// that holds the row and then re-reads it. False when it wrote nothing
/// (rare: the account holds a lock, in force or ended, or its hash
/// changed), and the login is judged under the row lock.
pub(crate) async fn record_login_at_once(
    pool: &PgPool,
    id: AccountId,
    session: &Session,
    verified: &PasswordHash,
    rehashed: Option<&str>,
    audit: &AuditEvent,
) -> Result<bool, StoreError> {
    let cleared = LockState::cleared();
    let written = sqlx::query(login_attempts::LOGIN_SUCCESS)
        .bind(hash_bytes(&session.token_hash))
        .bind(id.get())
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(rehashed)
        .bind(audit.at)
        .bind(audit.action.as_str())
        .bind(audit.username.as_deref())
        .bind(audit.client_addr.map(|addr| addr.to_string()))
        .bind(audit.outcome.as_str())
        .bind(verified.as_phc())
        .bind(failed_count(cleared))
        .bind(cleared.locked_until)
        .execute(pool)
        .await
        .map_err(op("record login success"))?;
    Ok(written.rows_affected() == 1)
}

/// Purges the stale pending accounts: their rows locked first (a resend in
/// flight holds its account; this waits for it), then decided again in a
/// statement of its own, which sees what that resend committed, so an
/// account just sent a fresh link is kept. Tokens, sessions and support
/// checks go with the account (ON DELETE CASCADE). Answers the usernames.
pub(crate) async fn purge_stale_pending(
    pool: &PgPool,
    cutoff: OffsetDateTime,
) -> Result<Vec<String>, StoreError> {
    retrying(move || async move {
        let mut tx = begin_write(pool).await?;
        let candidates: Vec<i64> = sqlx::query_scalar(housekeeping::LOCK_STALE_PENDING)
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await
            .map_err(op("lock stale pending accounts"))?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let purged = sqlx::query_scalar(housekeeping::PURGE_STALE_PENDING.postgres)
            .bind(cutoff)
            .bind(&candidates)
            .fetch_all(&mut *tx)
            .await
            .map_err(op("purge stale pending accounts"))?;
        tx.commit().await.map_err(op("commit purge"))?;
        Ok(purged)
    })
    .await
}

/// Purges the sessions idle since `idle_before` or created before
/// `aged_before`, in one statement. Answers how many.
pub(crate) async fn purge_sessions(
    conn: &mut Conn,
    idle_before: OffsetDateTime,
    aged_before: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(housekeeping::PURGE_SESSIONS)
        .bind(idle_before)
        .bind(aged_before)
        .execute(conn)
        .await
        .map_err(op("purge sessions"))?
        .rows_affected())
}

/// The email kinds this build knows, bound as a `text[]` (`= ANY($4)`).
pub(crate) fn known_kinds() -> &'static [&'static str] {
    &EmailKind::NAMES
}

/// Rows per multi-row `INSERT` of a roster import: well under PostgreSQL's
/// 65,535 bind limit.
pub(crate) const IMPORT_CHUNK: usize = 2_000;

/// A roster value to bind: by reference, the arguments borrow it.
pub(crate) fn arg<T>(value: &T) -> &T {
    value
}

/// Begins a roster import, and takes its table lock (`roster::LOCK_ROSTER`)
/// so that imports run one at a time.
pub(crate) async fn begin_import(pool: &PgPool) -> Result<Transaction<'static, Db>, StoreError> {
    let mut tx = pool.begin().await.map_err(op("begin import"))?;
    sqlx::query(roster::LOCK_ROSTER)
        .execute(&mut *tx)
        .await
        .map_err(op("lock roster"))?;
    Ok(tx)
}

/// Creates the import's own table, dropped at the commit or rollback
/// (`ON COMMIT DROP`).
pub(crate) async fn create_incoming(conn: &mut Conn) -> Result<(), StoreError> {
    sqlx::query(roster::CREATE_INCOMING.postgres)
        .execute(conn)
        .await
        .map_err(op("create the import table"))?;
    Ok(())
}

/// Statistics for the comparison's plan: a temporary table has none until
/// analysed.
pub(crate) async fn analyze_incoming(conn: &mut Conn) -> Result<(), StoreError> {
    sqlx::query(roster::ANALYZE_INCOMING)
        .execute(conn)
        .await
        .map_err(op("analyze the import table"))?;
    Ok(())
}

/// Nothing to drop: the commit does (`ON COMMIT DROP`).
pub(crate) async fn drop_incoming(_: &mut Conn) -> Result<(), StoreError> {
    Ok(())
}

//! What SQLite does its own way, under the names the shared Rust code
//! (`crates/portal-adapters-sql/src/shared/`, compiled in this crate and in
//! `portal-adapters-postgres`) calls: PostgreSQL's `dialect.rs` defines the
//! same names, and the two files side by side are the whole difference in
//! Rust.
//!
//! SQLite has one integer type and no time type: counts are `i64`, times
//! [`Ts`] (integer microseconds, see `ts.rs`).

use std::future::Future;

use portal_adapters_sql::store::{accounts as sql, housekeeping};
use portal_adapters_sql::{PerDatabase, roster};
use portal_domain::account::AccountId;
use portal_domain::audit::AuditEvent;
use portal_domain::email::EmailKind;
use portal_domain::lockout::{FirstPlace, ReservedAttempt};
use portal_domain::ports::{RedeemError, StoreError};
use portal_domain::session::Session;
use portal_domain::values::{PasswordHash, ProviderId, TaxId, TokenHash};
use sqlx::query::Query;
use sqlx::{Row, SqlitePool, Transaction};
use time::OffsetDateTime;

use crate::error::op;

use crate::ts::Ts;

/// The store the shared port impls are written for: here
/// [`SqliteStore`](crate::SqliteStore).
pub(crate) type Store = crate::SqliteStore;
/// An SQLite row, as the shared row readers read it.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;

/// How a time is bound: [`Ts`], never an `OffsetDateTime` (which sqlx
/// would store as text that does not sort as a time).
pub(crate) type Stamp = Ts;

/// A time to bind.
pub(crate) fn stamp(time: OffsetDateTime) -> Stamp {
    Ts(time)
}

/// An optional time to bind.
pub(crate) fn opt_stamp(time: Option<OffsetDateTime>) -> Option<Stamp> {
    time.map(Ts)
}

/// A `NOT NULL` time column (integer microseconds).
pub(crate) fn read_time(row: &DbRow, column: &str) -> Result<OffsetDateTime, sqlx::Error> {
    row.try_get::<Ts, _>(column).map(|t| t.0)
}

/// A nullable time column.
pub(crate) fn read_opt_time(
    row: &DbRow,
    column: &str,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    Ok(row.try_get::<Option<Ts>, _>(column)?.map(|t| t.0))
}

/// How a count (failures, refusals, a flow's version) is bound and read:
/// SQLite's one `INTEGER`.
pub(crate) type Int = i64;

/// A count to bind.
pub(crate) fn int(n: i64) -> Int {
    n
}

/// An `INTEGER` column.
pub(crate) fn read_int(row: &DbRow, column: &str) -> Result<i64, sqlx::Error> {
    row.try_get(column)
}

/// The security question's number: an `INTEGER` like any other.
pub(crate) fn read_smallint(row: &DbRow, column: &str) -> Result<i64, sqlx::Error> {
    row.try_get(column)
}

/// SQLite, for the shared code's queries and query builders.
pub(crate) type Db = sqlx::Sqlite;
/// An SQLite connection (a worker thread's), or a transaction borrowed as
/// one.
pub(crate) type Conn = sqlx::SqliteConnection;
/// An SQLite query's bound arguments, which own their values.
pub(crate) type Args = sqlx::sqlite::SqliteArguments;

/// SQLite's text of a statement the databases write differently.
pub(crate) const fn ours(statement: PerDatabase) -> &'static str {
    statement.sqlite
}

/// Begins a transaction that reads and then writes: `BEGIN IMMEDIATE`
/// takes SQLite's one write lock at once, so the read and the write see no
/// other writer in between (no row locks needed), and no deferred
/// transaction dies upgrading its lock. A writer waits its turn within the
/// busy timeout.
pub(crate) async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Db>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(op("begin"))
}

/// Runs a write transaction once: writers queue on SQLite's one write lock
/// instead of deadlocking, so nothing aborts that running again would fix.
pub(crate) async fn retrying<T, E, F, Fut>(run: F) -> Result<T, E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    run().await
}

/// Nothing to lock before a token is redeemed: `BEGIN IMMEDIATE` already
/// holds the one write lock, and the redemption's conditional update finds
/// an unknown token, or one whose account is gone, invalid.
pub(crate) async fn lock_token_owner(_: &mut Conn, _: &TokenHash) -> Result<(), RedeemError> {
    Ok(())
}

/// A new account's id, counted past every id given before (see
/// `sql::NEXT_ID`): SQLite gives a deleted highest rowid out again, and an
/// operation still holding a replaced or purged account's id (a resend in
/// flight) must find it gone, not find its successor.
pub(crate) type NextId = i64;

/// Takes the id the new account will get (`sql::NEXT_ID`), in the caller's
/// write transaction: a refused creation rolls it back.
pub(crate) async fn next_account_id(conn: &mut Conn) -> Result<NextId, StoreError> {
    sqlx::query_scalar(sql::NEXT_ID)
        .fetch_one(conn)
        .await
        .map_err(op("next account id"))
}

/// Binds the id [`next_account_id`] read, as the account `INSERT`'s `$15`.
pub(crate) fn bind_next_id(query: Query<'_, Db, Args>, id: NextId) -> Query<'_, Db, Args> {
    query.bind(id)
}

/// Nothing to lock for a proofing check: `BEGIN IMMEDIATE` holds the one
/// write lock, so the count a check reads is the one its insert adds to.
pub(crate) async fn lock_for_proofing(
    _: &mut Conn,
    _: &TaxId,
    _: &ProviderId,
) -> Result<(), StoreError> {
    Ok(())
}

/// Nothing to lock where a change does not read the account otherwise:
/// `BEGIN IMMEDIATE` holds the one write lock, and the change's own
/// statements find a gone account (a conditional update changes nothing, a
/// foreign key refuses). Always true, without a query.
pub(crate) async fn hold_account(_: &mut Conn, _: AccountId) -> Result<bool, StoreError> {
    Ok(true)
}

/// The login's read is a read only: beside SQLite's one writer a place is
/// a write transaction of its own (`reserve_login_attempt`), and reads of
/// unknown usernames stay off the write lock.
pub(crate) fn bind_first_place(
    query: Query<'_, Db, Args>,
    _: Option<FirstPlace>,
) -> Query<'_, Db, Args> {
    query
}

/// The login's read takes no place.
pub(crate) fn first_place(
    _: &DbRow,
    _: Option<FirstPlace>,
) -> Result<Option<ReservedAttempt>, StoreError> {
    Ok(None)
}

/// No one-statement login (SQLite has no data-modifying `WITH`): every
/// login is judged in its one write transaction. Always false.
pub(crate) async fn record_login_at_once(
    _: &SqlitePool,
    _: AccountId,
    _: &Session,
    _: &PasswordHash,
    _: Option<&str>,
    _: &AuditEvent,
) -> Result<bool, StoreError> {
    Ok(false)
}

/// Purges the stale pending accounts in one statement, under SQLite's one
/// write lock: tokens, sessions and support checks go with the account (ON
/// DELETE CASCADE). Answers the usernames.
pub(crate) async fn purge_stale_pending(
    pool: &SqlitePool,
    cutoff: OffsetDateTime,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(housekeeping::PURGE_STALE_PENDING.sqlite)
        .bind(Ts(cutoff))
        .fetch_all(pool)
        .await
        .map_err(op("purge stale pending accounts"))
}

/// Purges the idle sessions, then those past their absolute age: two
/// statements, each a range over its own index (SQLite reads the whole
/// table for one `OR` of the two). Answers how many.
pub(crate) async fn purge_sessions(
    conn: &mut Conn,
    idle_before: OffsetDateTime,
    aged_before: OffsetDateTime,
) -> Result<u64, StoreError> {
    let idle = sqlx::query(housekeeping::PURGE_IDLE_SESSIONS)
        .bind(Ts(idle_before))
        .execute(&mut *conn)
        .await
        .map_err(op("purge idle sessions"))?
        .rows_affected();
    let aged = sqlx::query(housekeeping::PURGE_AGED_SESSIONS)
        .bind(Ts(aged_before))
        .execute(conn)
        .await
        .map_err(op("purge aged sessions"))?
        .rows_affected();
    Ok(idle + aged)
}

/// The email kinds this build knows, as the JSON array `json_each` reads.
pub(crate) fn known_kinds() -> String {
    format!("[\"{}\"]", EmailKind::NAMES.join("\",\""))
}

/// Rows per multi-row `INSERT` of a roster import: 9 binds a row, under
/// SQLite's 32,766 bind limit.
pub(crate) const IMPORT_CHUNK: usize = 1_000;

/// A roster value to bind: a copy, SQLite's arguments own their values.
pub(crate) fn arg<T: Clone>(value: &T) -> T {
    value.clone()
}

/// Begins a roster import: `BEGIN IMMEDIATE` holds the one write lock, so
/// imports run one at a time, as on PostgreSQL.
pub(crate) async fn begin_import(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Db>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(op("begin import"))
}

/// Creates the import's own table. A temporary table lives as long as the
/// pooled connection: it is dropped first (here) and last
/// ([`drop_incoming`]).
pub(crate) async fn create_incoming(conn: &mut Conn) -> Result<(), StoreError> {
    for statement in [
        roster::DROP_INCOMING_IF_EXISTS,
        roster::CREATE_INCOMING.sqlite,
    ] {
        sqlx::query(statement)
            .execute(&mut *conn)
            .await
            .map_err(op("create the import table"))?;
    }
    Ok(())
}

/// Nothing to analyse: SQLite plans the comparison without statistics.
pub(crate) async fn analyze_incoming(_: &mut Conn) -> Result<(), StoreError> {
    Ok(())
}

/// Drops the import's table before the commit (see [`create_incoming`]).
pub(crate) async fn drop_incoming(conn: &mut Conn) -> Result<(), StoreError> {
    sqlx::query(roster::DROP_INCOMING)
        .execute(conn)
        .await
        .map_err(op("drop the import table"))?;
    Ok(())
}

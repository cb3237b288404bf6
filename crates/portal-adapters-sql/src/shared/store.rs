//! [`UserStore`](portal_domain::ports::UserStore) on either database: one
//! file per narrow store port under `store/` (each `impl` in the file named
//! for its port), and here the helpers they share (queueing an email,
//! storing an audit event, redeeming a token, …) inside the caller's
//! transaction. What one database does its own way is the adapter's
//! `dialect.rs` (`begin_write`, `retrying`, `lock_token_owner`, …).

use async_trait::async_trait;
use portal_adapters_sql::store as sql;
use portal_domain::account::{Account, AccountId, NewAccount};
use portal_domain::audit::{AuditCursor, AuditEvent, AuditFilter};
use portal_domain::email::Email;
use portal_domain::lockout::{
    FirstPlace, LockState, LockoutPolicy, RecordedFailure, ReservedAttempt,
};
use portal_domain::ports::{
    Accounts, AuditLog, CreateAccountError, CredentialWrite, Credentials, EmailCap,
    FlowUpdateError, Housekeeping, IdentityChecks, IssueOutcome, LinkToken, LoginAttempts,
    LoginRead, NewToken, PasswordChange, ProofingFailures, ProviderRead, PurgeCounts, RedeemError,
    Registrations, ResetRefusals, Sessions, StoreError, TokenPurpose, WindowRecord,
};
use portal_domain::registration::{AgreementAcceptance, RegistrationFlow, RegistrationId};
use portal_domain::roster::RegistrantKey;
use portal_domain::session::Session;
use portal_domain::stored::{StoredAcceptance, StoredEmail, StoredFlow};
use portal_domain::values::{PasswordHash, ProviderId, TaxId, TokenHash, Username};
use sqlx::query::Query;
use sqlx::{QueryBuilder, Row};
use time::{Duration, OffsetDateTime};

use super::rows;
use crate::dialect::{
    Args, Conn, Db, Int, Store, begin_write, int, lock_token_owner, opt_stamp, ours, retrying,
    stamp,
};
use crate::error::{op, store_error, violated_unique};

/// Queues an email in the caller's transaction, with the expiry of the
/// link it carries (`None` for a message without one).
pub(crate) async fn enqueue(
    conn: &mut Conn,
    email: &Email,
    now: OffsetDateTime,
    link_expires_at: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    let stored = StoredEmail::from_email(email);
    sqlx::query(sql::ENQUEUE_EMAIL)
        .bind(stored.recipient)
        .bind(stored.username)
        .bind(stored.kind)
        .bind(stored.token)
        .bind(stamp(now))
        .bind(opt_stamp(link_expires_at))
        .execute(conn)
        .await
        .map_err(op("queue email"))?;
    Ok(())
}

/// Appends an audit event in the caller's transaction, or on its own
/// through the pool.
pub(crate) async fn insert_audit<'e, E>(executor: E, event: &AuditEvent) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(sql::INSERT_AUDIT)
        .bind(stamp(event.at))
        .bind(event.action.as_str())
        .bind(event.username.as_deref())
        .bind(event.client_addr.map(|addr| addr.to_string()))
        .bind(event.outcome.as_str())
        .execute(executor)
        .await
        .map_err(op("append audit event"))?;
    Ok(())
}

/// Reads the account's failure count and lock inside the caller's write
/// transaction (under its row lock on PostgreSQL), applies `change` (a
/// rule of [`LockState`], computed here in Rust once) and writes the new
/// state back. Returns the state before and after, and what `change`
/// answered.
pub(crate) async fn change_lock_state<T>(
    conn: &mut Conn,
    id: AccountId,
    change: impl FnOnce(LockState) -> (LockState, T),
) -> Result<((LockState, LockState), T), StoreError> {
    let row = sqlx::query(ours(sql::LOCK_STATE_FOR_CHANGE))
        .bind(id.get())
        .fetch_optional(&mut *conn)
        .await
        .map_err(op("lock account"))?
        .ok_or_else(|| StoreError::Unexpected(format!("no account {}", id.get())))?;
    let before = rows::lock_state(&row)?;
    let (after, answer) = change(before);
    if after != before {
        write_lock_state(conn, id, after).await?;
    }
    Ok(((before, after), answer))
}

/// Writes a failure count and lock a rule of [`LockState`] decided.
pub(crate) async fn write_lock_state(
    conn: &mut Conn,
    id: AccountId,
    state: LockState,
) -> Result<(), StoreError> {
    sqlx::query(sql::WRITE_LOCK_STATE)
        .bind(id.get())
        .bind(failed_count(state))
        .bind(opt_stamp(state.locked_until))
        .execute(conn)
        .await
        .map_err(op("write lock state"))?;
    Ok(())
}

/// The `failed_logins` column of a state.
pub(crate) fn failed_count(state: LockState) -> Int {
    int(i64::from(state.failed_count))
}

/// The account, read inside a write transaction that changes it. On
/// PostgreSQL this locks its row: every transaction that changes an
/// account and its tokens or sessions takes this lock first, so no two of
/// them can wait on each other in the opposite order (a deadlock). On
/// SQLite `BEGIN IMMEDIATE` already holds the one write lock. `None` when
/// the account is gone.
pub(crate) async fn lock_account(
    conn: &mut Conn,
    id: AccountId,
) -> Result<Option<crate::dialect::DbRow>, StoreError> {
    sqlx::query(ours(sql::LOCK_ACCOUNT))
        .bind(id.get())
        .fetch_optional(conn)
        .await
        .map_err(op("lock account"))
}

/// Binds a flow's values in `flow_columns!()` order (`$1`…`$18`).
pub(crate) fn bind_flow<'q>(
    query: Query<'q, Db, Args>,
    flow: &RegistrationFlow,
) -> Query<'q, Db, Args> {
    let stored = StoredFlow::from_flow(flow);
    let provider = stored.provider;
    let acceptance = stored.acceptance;
    query
        .bind(stored.id)
        .bind(int(stored.version))
        .bind(stored.state)
        .bind(provider.as_ref().map(|p| p.tax_id.clone()))
        .bind(provider.as_ref().map(|p| p.provider_id.clone()))
        .bind(provider.as_ref().map(|p| p.kind.clone()))
        .bind(provider.as_ref().and_then(|p| p.first_name.clone()))
        .bind(provider.as_ref().and_then(|p| p.last_name.clone()))
        .bind(provider.as_ref().and_then(|p| p.group_name.clone()))
        .bind(provider.as_ref().and_then(|p| p.payee.clone()))
        .bind(provider.as_ref().map(|p| p.zips.clone()))
        .bind(provider.map(|p| p.lines_of_business))
        .bind(acceptance.as_ref().map(|a| a.version.clone()))
        .bind(acceptance.as_ref().map(|a| a.content_hash.clone()))
        .bind(opt_stamp(acceptance.as_ref().map(|a| a.accepted_at)))
        .bind(acceptance.and_then(|a| a.client_addr))
        .bind(opt_stamp(stored.expires_at))
        .bind(opt_stamp(stored.finished_at))
}

/// The compare-and-set every step goes through: replaces the flow stored
/// at `flow.version - 1`. True when it applied.
pub(crate) async fn compare_and_set_flow(
    conn: &mut Conn,
    flow: &RegistrationFlow,
) -> Result<bool, StoreError> {
    let result = bind_flow(sqlx::query(sql::COMPARE_AND_SET_FLOW), flow)
        .bind(flow.id.as_str().to_owned())
        .bind(i64::from(flow.version) - 1)
        .execute(conn)
        .await
        .map_err(op("update registration flow"))?;
    Ok(result.rows_affected() == 1)
}

pub(crate) fn hash_bytes(hash: &TokenHash) -> Vec<u8> {
    hash.as_bytes().to_vec()
}

pub(crate) fn purpose_name(purpose: TokenPurpose) -> &'static str {
    purpose.as_str()
}

/// The end every redemption shares: the account as it now is, its email
/// queued and its audit event stored, all in the redemption's transaction,
/// then the commit.
pub(crate) async fn finish_redemption(
    mut tx: sqlx::Transaction<'_, Db>,
    id: AccountId,
    email: &Email,
    audit: &AuditEvent,
    now: OffsetDateTime,
    what: &'static str,
) -> Result<Account, StoreError> {
    let account = fetch_account(&mut tx, id).await?;
    enqueue(&mut tx, email, now, None).await?;
    insert_audit(&mut *tx, audit).await?;
    tx.commit().await.map_err(op(what))?;
    Ok(account)
}

pub(crate) async fn fetch_account(conn: &mut Conn, id: AccountId) -> Result<Account, StoreError> {
    let row = sqlx::query(sql::accounts::BY_ID)
        .bind(id.get())
        .fetch_optional(conn)
        .await
        .map_err(op("load account"))?
        .ok_or_else(|| StoreError::Unexpected(format!("no account {}", id.get())))?;
    rows::account(&row)
}

/// Stores a new session in the caller's transaction.
pub(crate) async fn insert_session(conn: &mut Conn, session: &Session) -> Result<(), StoreError> {
    sqlx::query(sql::login_attempts::INSERT_SESSION)
        .bind(hash_bytes(&session.token_hash))
        .bind(session.account_id.get())
        .bind(stamp(session.created_at))
        .bind(stamp(session.last_seen_at))
        .execute(conn)
        .await
        .map_err(op("store session"))?;
    Ok(())
}

/// Redeems a live token of `purpose` in one conditional update, after
/// [`lock_token_owner`] (account first, as everywhere, on PostgreSQL).
pub(crate) async fn redeem(
    conn: &mut Conn,
    hash: &TokenHash,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> Result<AccountId, RedeemError> {
    lock_token_owner(&mut *conn, hash).await?;
    let row = sqlx::query(sql::REDEEM_TOKEN)
        .bind(hash_bytes(hash))
        .bind(purpose_name(purpose))
        .bind(stamp(now))
        .fetch_optional(conn)
        .await
        .map_err(op("redeem token"))?
        .ok_or(RedeemError::InvalidToken)?;
    Ok(AccountId::new(
        row.try_get("account_id").map_err(op("read token"))?,
    ))
}

mod account_settings;
mod accounts;
mod audit_log;
mod credentials;
mod housekeeping;
mod identity_checks;
mod login_attempts;
mod passkeys;
mod registrations;
mod second_factors;
mod sessions;

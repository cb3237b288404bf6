//! [`UserStore`](portal_domain::ports::UserStore) on SQLite: one file per
//! narrow store port under `store/` (each `impl` in the file named for its
//! port), and here the helpers they share (queueing an email, storing an
//! audit event, redeeming a token, …) inside the caller's transaction.

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
use sqlx::sqlite::SqliteArguments;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use time::{Duration, OffsetDateTime};

use crate::SqliteStore;
use crate::error::{op, store_error, violated_unique};
use crate::rows::{self, opt_time, time};
use crate::ts::{Ts, ts};

/// Queues an email in the caller's transaction, with the expiry of the
/// link it carries (`None` for a message without one).
pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
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
        .bind(Ts(now))
        .bind(link_expires_at.map(Ts))
        .execute(conn)
        .await
        .map_err(op("queue email"))?;
    Ok(())
}

/// Binds a flow's values in `flow_columns!()` order (`$1`…`$18`).
fn bind_flow<'q>(
    query: Query<'q, Sqlite, SqliteArguments>,
    flow: &RegistrationFlow,
) -> Query<'q, Sqlite, SqliteArguments> {
    let stored = StoredFlow::from_flow(flow);
    let provider = stored.provider;
    let acceptance = stored.acceptance;
    query
        .bind(stored.id)
        .bind(stored.version)
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
        .bind(ts(acceptance.as_ref().map(|a| a.accepted_at)))
        .bind(acceptance.and_then(|a| a.client_addr))
        .bind(ts(stored.expires_at))
        .bind(ts(stored.finished_at))
}

/// The compare-and-set every step goes through: replaces the flow stored
/// at `flow.version - 1`. True when it applied.
async fn compare_and_set_flow(
    conn: &mut SqliteConnection,
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

fn hash_bytes(hash: &TokenHash) -> Vec<u8> {
    hash.as_bytes().to_vec()
}

fn purpose_name(purpose: TokenPurpose) -> &'static str {
    purpose.as_str()
}

/// The end every redemption shares: the account as it now is, its email
/// queued and its audit event stored, all in the redemption's transaction,
/// then the commit.
async fn finish_redemption(
    mut tx: sqlx::Transaction<'_, Sqlite>,
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

async fn fetch_account(conn: &mut SqliteConnection, id: AccountId) -> Result<Account, StoreError> {
    let row = sqlx::query(portal_adapters_sql::store::accounts::BY_ID)
        .bind(id.get())
        .fetch_optional(conn)
        .await
        .map_err(op("load account"))?
        .ok_or_else(|| StoreError::Unexpected(format!("no account {}", id.get())))?;
    rows::account(&row)
}

/// Redeems a live token of `purpose` in one conditional update.
async fn redeem(
    conn: &mut SqliteConnection,
    hash: &TokenHash,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> Result<AccountId, RedeemError> {
    let row = sqlx::query(sql::REDEEM_TOKEN)
        .bind(hash_bytes(hash))
        .bind(purpose_name(purpose))
        .bind(Ts(now))
        .fetch_optional(conn)
        .await
        .map_err(op("redeem token"))?
        .ok_or(RedeemError::InvalidToken)?;
    Ok(AccountId::new(
        row.try_get("account_id").map_err(op("read token"))?,
    ))
}

/// Reads the account's failure count and lock inside the caller's write
/// transaction, applies `change` (a rule of [`LockState`], computed here in
/// Rust once) and writes the new state back. Returns the state before and
/// after, and what `change` answered.
async fn change_lock_state<T>(
    conn: &mut SqliteConnection,
    id: AccountId,
    change: impl FnOnce(LockState) -> (LockState, T),
) -> Result<((LockState, LockState), T), StoreError> {
    let row = sqlx::query(sql::LOCK_STATE_FOR_CHANGE.sqlite)
        .bind(id.get())
        .fetch_optional(&mut *conn)
        .await
        .map_err(op("read lock"))?
        .ok_or_else(|| StoreError::Unexpected(format!("no account {}", id.get())))?;
    let before = rows::lock_state(&row)?;
    let (after, answer) = change(before);
    if after != before {
        write_lock_state(conn, id, after).await?;
    }
    Ok(((before, after), answer))
}

/// Writes a failure count and lock a rule of [`LockState`] decided.
async fn write_lock_state(
    conn: &mut SqliteConnection,
    id: AccountId,
    state: LockState,
) -> Result<(), StoreError> {
    sqlx::query(sql::WRITE_LOCK_STATE)
        .bind(id.get())
        .bind(i64::from(state.failed_count))
        .bind(state.locked_until.map(Ts))
        .execute(conn)
        .await
        .map_err(op("write lock state"))?;
    Ok(())
}

async fn insert_session(conn: &mut SqliteConnection, session: &Session) -> Result<(), StoreError> {
    sqlx::query(portal_adapters_sql::store::login_attempts::INSERT_SESSION)
        .bind(hash_bytes(&session.token_hash))
        .bind(session.account_id.get())
        .bind(Ts(session.created_at))
        .bind(Ts(session.last_seen_at))
        .execute(conn)
        .await
        .map_err(op("store session"))?;
    Ok(())
}

async fn insert_audit<'e, E>(executor: E, event: &AuditEvent) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    sqlx::query(sql::INSERT_AUDIT)
        .bind(Ts(event.at))
        .bind(event.action.as_str())
        .bind(event.username.as_deref())
        .bind(event.client_addr.map(|addr| addr.to_string()))
        .bind(event.outcome.as_str())
        .execute(executor)
        .await
        .map_err(op("append audit event"))?;
    Ok(())
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

//! [`UserStore`](portal_domain::ports::UserStore) on PostgreSQL: the narrow store ports, one impl each.

use async_trait::async_trait;
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
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use time::{Duration, OffsetDateTime};

use crate::PgStore;
use crate::error::{op, retry_contention, store_error, violated_unique};
use crate::rows::{self, account_columns, joined_provider_columns};

/// Queues an email in the caller's transaction, with the expiry of the
/// link it carries (`None` for a message without one).
pub(crate) async fn enqueue(
    conn: &mut PgConnection,
    email: &Email,
    now: OffsetDateTime,
    link_expires_at: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    let stored = StoredEmail::from_email(email);
    sqlx::query(
        "INSERT INTO email_outbox (recipient, username, kind, token, due_at, created_at, link_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $5, $6)",
    )
    .bind(stored.recipient)
    .bind(stored.username)
    .bind(stored.kind)
    .bind(stored.token)
    .bind(now)
    .bind(link_expires_at)
    .execute(conn)
    .await
    .map_err(op("queue email"))?;
    Ok(())
}

/// Appends an audit event in the caller's transaction (or on its own).
pub(crate) async fn insert_audit(
    conn: &mut PgConnection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_events (at, event, username, client_addr, outcome) VALUES ($1, $2, $3, $4, $5)")
        .bind(event.at)
        .bind(event.action.as_str())
        .bind(event.username.as_deref())
        .bind(event.client_addr.map(|addr| addr.to_string()))
        .bind(event.outcome.as_str())
        .execute(conn)
        .await
        .map_err(op("append audit event"))?;
    Ok(())
}

/// Reads the account's failure count and lock under its row lock, applies
/// `change` (a rule of [`LockState`], computed here in Rust once) and writes
/// the new state back. Returns the state before and after, and what
/// `change` answered.
async fn change_lock_state<T>(
    conn: &mut PgConnection,
    id: AccountId,
    change: impl FnOnce(LockState) -> (LockState, T),
) -> Result<((LockState, LockState), T), StoreError> {
    let row =
        sqlx::query("SELECT failed_logins, locked_until FROM accounts WHERE id = $1 FOR UPDATE")
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
async fn write_lock_state(
    conn: &mut PgConnection,
    id: AccountId,
    state: LockState,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE accounts SET failed_logins = $2, locked_until = $3 WHERE id = $1")
        .bind(id.get())
        .bind(failed_count(state))
        .bind(state.locked_until)
        .execute(conn)
        .await
        .map_err(op("write lock state"))?;
    Ok(())
}

/// The `failed_logins` column of a state.
fn failed_count(state: LockState) -> i32 {
    i32::try_from(state.failed_count).unwrap_or(i32::MAX)
}

/// Locks the account's row: every transaction that changes an account and
/// its tokens or sessions takes this lock first, so no two of them can
/// wait on each other in the opposite order (a deadlock). `None` when the
/// account is gone.
async fn lock_account(
    conn: &mut PgConnection,
    id: AccountId,
) -> Result<Option<sqlx::postgres::PgRow>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE id = $1 FOR UPDATE"
    ))
    .bind(id.get())
    .fetch_optional(conn)
    .await
    .map_err(op("lock account"))
}

macro_rules! flow_columns {
    () => {
        "id, version, state, tax_id, provider_id, kind, first_name, last_name, group_name, payee, zips, \
         lines_of_business, agreement_version, agreement_hash, agreement_accepted_at, agreement_client_addr, \
         expires_at, finished_at"
    };
}

/// Appends `(…)`: the flow's values in `flow_columns!()` order.
fn push_flow_values(query: &mut QueryBuilder<Postgres>, flow: &RegistrationFlow) {
    let stored = StoredFlow::from_flow(flow);
    let provider = stored.provider;
    let acceptance = stored.acceptance;
    query.push("(");
    let mut values = query.separated(", ");
    values.push_bind(stored.id);
    values.push_bind(i32::try_from(stored.version).unwrap_or(i32::MAX));
    values.push_bind(stored.state);
    values.push_bind(provider.as_ref().map(|p| p.tax_id.clone()));
    values.push_bind(provider.as_ref().map(|p| p.provider_id.clone()));
    values.push_bind(provider.as_ref().map(|p| p.kind.clone()));
    values.push_bind(provider.as_ref().and_then(|p| p.first_name.clone()));
    values.push_bind(provider.as_ref().and_then(|p| p.last_name.clone()));
    values.push_bind(provider.as_ref().and_then(|p| p.group_name.clone()));
    values.push_bind(provider.as_ref().and_then(|p| p.payee.clone()));
    values.push_bind(provider.as_ref().map(|p| p.zips.clone()));
    values.push_bind(provider.map(|p| p.lines_of_business));
    values.push_bind(acceptance.as_ref().map(|a| a.version.clone()));
    values.push_bind(acceptance.as_ref().map(|a| a.content_hash.clone()));
    values.push_bind(acceptance.as_ref().map(|a| a.accepted_at));
    values.push_bind(acceptance.and_then(|a| a.client_addr));
    values.push_bind(stored.expires_at);
    values.push_bind(stored.finished_at);
    query.push(")");
}

/// The compare-and-set every step goes through: replaces the flow stored
/// at `flow.version - 1`. True when it applied.
async fn compare_and_set_flow(
    conn: &mut PgConnection,
    flow: &RegistrationFlow,
) -> Result<bool, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new(concat!(
        "UPDATE registration_flows SET (",
        flow_columns!(),
        ") = ROW"
    ));
    push_flow_values(&mut query, flow);
    query
        .push(" WHERE id = ")
        .push_bind(flow.id.as_str().to_owned());
    query
        .push(" AND version = ")
        .push_bind(i64::from(flow.version) - 1);
    let result = query
        .build()
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
    mut tx: sqlx::Transaction<'_, Postgres>,
    id: AccountId,
    email: &Email,
    audit: &AuditEvent,
    now: OffsetDateTime,
    what: &'static str,
) -> Result<Account, StoreError> {
    let account = fetch_account(&mut tx, id).await?;
    enqueue(&mut tx, email, now, None).await?;
    insert_audit(&mut tx, audit).await?;
    tx.commit().await.map_err(op(what))?;
    Ok(account)
}

async fn fetch_account(conn: &mut PgConnection, id: AccountId) -> Result<Account, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE id = $1"
    ))
    .bind(id.get())
    .fetch_optional(conn)
    .await
    .map_err(op("load account"))?
    .ok_or_else(|| StoreError::Unexpected(format!("no account {}", id.get())))?;
    rows::account(&row)
}

/// Redeems a live token of `purpose` in one conditional update, after
/// locking its account (account first, as everywhere).
async fn redeem(
    conn: &mut PgConnection,
    hash: &TokenHash,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> Result<AccountId, RedeemError> {
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT account_id FROM link_tokens WHERE token_hash = $1")
            .bind(hash_bytes(hash))
            .fetch_optional(&mut *conn)
            .await
            .map_err(op("find token"))?;
    let owner = owner.ok_or(RedeemError::InvalidToken)?;
    lock_account(&mut *conn, AccountId::new(owner))
        .await?
        .ok_or(RedeemError::InvalidToken)?;
    let row = sqlx::query(
        "UPDATE link_tokens SET used_at = $3 \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $3 \
         RETURNING account_id",
    )
    .bind(hash_bytes(hash))
    .bind(purpose_name(purpose))
    .bind(now)
    .fetch_optional(conn)
    .await
    .map_err(op("redeem token"))?
    .ok_or(RedeemError::InvalidToken)?;
    Ok(AccountId::new(
        row.try_get("account_id").map_err(op("read token"))?,
    ))
}

#[async_trait]
impl Registrations for PgStore {
    async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "INSERT INTO registration_flows (",
            flow_columns!(),
            ") VALUES "
        ));
        push_flow_values(&mut query, flow);
        query
            .build()
            .execute(&self.pool)
            .await
            .map_err(op("insert registration flow"))?;
        Ok(())
    }

    async fn load_flow(&self, id: &RegistrationId) -> Result<Option<RegistrationFlow>, StoreError> {
        let row = sqlx::query("SELECT * FROM registration_flows WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(op("load registration flow"))?;
        row.as_ref().map(rows::flow).transpose()
    }

    async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError> {
        let mut conn = self.pool.acquire().await.map_err(op("acquire"))?;
        if compare_and_set_flow(&mut conn, flow).await? {
            Ok(())
        } else {
            Err(FlowUpdateError::Conflict)
        }
    }
}

#[async_trait]
impl Accounts for PgStore {
    async fn account_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE lower(username) = $1"
        ))
        .bind(username.key())
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find account by username"))?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE id = $1"
        ))
        .bind(id.get())
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find account by id"))?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn account_by_registrant(
        &self,
        key: &RegistrantKey,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE registrant_key = $1"
        ))
        .bind(key.to_storage_key())
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find account by registrant"))?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn create_account(
        &self,
        finished_flow: &RegistrationFlow,
        account: &NewAccount,
        activation: &LinkToken,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, CreateAccountError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            // The flow first: its row lock queues a twin submission of this
            // step, which then finds the flow moved on (not its own account
            // holding the username).
            if !compare_and_set_flow(&mut tx, finished_flow).await? {
                return Err(CreateAccountError::FlowConflict);
            }
            // A pending account of this registrant is replaced (SPEC §3
            // step 1): deleted with its tokens, sessions and support checks
            // (ON DELETE CASCADE), its username freed. Its row lock queues a
            // concurrent activation or replacement; on any error below the
            // transaction rolls back and it stays.
            let replaced: Option<String> = sqlx::query_scalar(
                "DELETE FROM accounts WHERE registrant_key = $1 AND activated_at IS NULL AND NOT disabled \
                 RETURNING username",
            )
            .bind(account.provider.registrant_key().to_storage_key())
            .fetch_optional(&mut *tx)
            .await
            .map_err(op("replace pending account"))?;
            // The SPEC's order when both clash: username first.
            let taken = sqlx::query("SELECT 1 FROM accounts WHERE lower(username) = $1")
                .bind(account.username.key())
                .fetch_optional(&mut *tx)
                .await
                .map_err(op("check username"))?;
            if taken.is_some() {
                return Err(CreateAccountError::UsernameTaken);
            }
            if let Some(old) = &replaced {
                insert_audit(&mut tx, &AuditEvent::pending_replaced(audit, old)).await?;
            }
            let agreement = StoredAcceptance::from_acceptance(&account.agreement);
            let inserted = sqlx::query(concat!("INSERT INTO accounts (username, email, password_hash, provider_kind, tax_id, provider_id, registrant_key, \
                 agreement_version, agreement_hash, agreement_accepted_at, agreement_client_addr, security_question, \
                 security_answer_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ", account_columns!(), ""))
            .bind(account.username.as_str())
            .bind(account.email.as_str())
            .bind(account.password_hash.as_phc())
            .bind(account.provider.kind.as_str())
            .bind(account.provider.tax_id.as_str())
            .bind(account.provider.provider_id.as_str())
            .bind(account.provider.registrant_key().to_storage_key())
            .bind(agreement.version)
            .bind(agreement.content_hash)
            .bind(agreement.accepted_at)
            .bind(agreement.client_addr)
            .bind(i16::from(account.security_question.get()))
            .bind(account.security_answer_hash.as_phc())
            .bind(account.created_at)
            .fetch_one(&mut *tx)
            .await;
            let row = match inserted {
                Ok(row) => row,
                Err(error) => {
                    return Err(match violated_unique(&error) {
                        Some("accounts_username_unique") => CreateAccountError::UsernameTaken,
                        Some("accounts_registrant_unique") => CreateAccountError::AlreadyRegistered,
                        _ => CreateAccountError::Store(store_error("insert account", error)),
                    });
                }
            };
            let created = rows::account(&row)?;
            sqlx::query(
                "INSERT INTO link_tokens (token_hash, account_id, purpose, issued_at, expires_at, counts_toward_cap) \
                 VALUES ($1, $2, 'activation', $3, $4, false)",
            )
            .bind(hash_bytes(&activation.hash))
            .bind(created.id.get())
            .bind(activation.issued_at)
            .bind(activation.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(op("store activation token"))?;
            enqueue(&mut tx, email, account.created_at, Some(activation.expires_at)).await?;
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(op("commit account"))?;
            Ok(created)
        })
        .await
    }

    async fn record_agreement(
        &self,
        id: AccountId,
        acceptance: &AgreementAcceptance,
    ) -> Result<(), StoreError> {
        let stored = StoredAcceptance::from_acceptance(acceptance);
        sqlx::query(
            "UPDATE accounts SET agreement_version = $2, agreement_hash = $3, agreement_accepted_at = $4, \
             agreement_client_addr = $5 WHERE id = $1",
        )
        .bind(id.get())
        .bind(stored.version)
        .bind(stored.content_hash)
        .bind(stored.accepted_at)
        .bind(stored.client_addr)
        .execute(&self.pool)
        .await
        .map_err(op("record agreement"))?;
        Ok(())
    }

    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            sqlx::query("UPDATE accounts SET disabled = $2 WHERE id = $1")
                .bind(id.get())
                .bind(disabled)
                .execute(&mut *tx)
                .await
                .map_err(op("set disabled"))?;
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await
                    .map_err(op("revoke sessions"))?;
            }
            tx.commit().await.map_err(op("commit disable"))
        })
        .await
    }
}

#[async_trait]
impl LoginAttempts for PgStore {
    /// One statement: the account, its roster entry and, while the
    /// account has no failures and no lock, the login's first place (one
    /// round trip less on nearly every login). The guard is evaluated on
    /// the row as it is when the update reaches it, so a place another
    /// attempt took meanwhile is never overwritten: this read then takes
    /// none, and the use case reserves from the stored state.
    async fn account_for_login(
        &self,
        username: &Username,
        first: Option<FirstPlace>,
    ) -> Result<Option<LoginRead>, StoreError> {
        let after = first.map(|first| first.after).unwrap_or_default();
        let row = sqlx::query(concat!(
            "WITH a AS (SELECT ",
            account_columns!(),
            " FROM accounts WHERE lower(username) = $1), \
             placed AS (UPDATE accounts SET failed_logins = $3, locked_until = $4 \
                 WHERE $2 AND id = (SELECT id FROM a) \
                 AND failed_logins = 0 AND locked_until IS NULL RETURNING id) \
             SELECT a.*, ",
            joined_provider_columns!(),
            ", EXISTS (SELECT 1 FROM placed) AS placed_with_read \
             FROM a LEFT JOIN roster_entries r \
             ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id"
        ))
        .bind(username.key())
        .bind(first.is_some())
        .bind(failed_count(after))
        .bind(after.locked_until)
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find account for login"))?;
        row.map(|row| {
            let placed: bool = row
                .try_get("placed_with_read")
                .map_err(op("read login place"))?;
            Ok(LoginRead {
                account: rows::account(&row)?,
                provider: rows::joined_provider(&row)?,
                place: first.filter(|_| placed).map(|first| first.reserved),
            })
        })
        .transpose()
    }

    async fn reserve_login_attempt(
        &self,
        id: AccountId,
        seen: LockState,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> Result<ReservedAttempt, StoreError> {
        // Every login writes its place: first as one statement that applies
        // only while the state is still the one the login read with its
        // account (one round trip, no explicit transaction); when another
        // attempt changed it meanwhile, or the read would refuse, decided
        // again under the row lock.
        let (after, reserved) = seen.reserve(now, policy);
        if matches!(reserved, ReservedAttempt::Granted { .. }) {
            let written = sqlx::query(
                "UPDATE accounts SET failed_logins = $2, locked_until = $3 \
                 WHERE id = $1 AND failed_logins = $4 AND locked_until IS NOT DISTINCT FROM $5",
            )
            .bind(id.get())
            .bind(failed_count(after))
            .bind(after.locked_until)
            .bind(failed_count(seen))
            .bind(seen.locked_until)
            .execute(&self.pool)
            .await
            .map_err(op("reserve login attempt"))?;
            if written.rows_affected() == 1 {
                return Ok(reserved);
            }
        }
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            let (_, reserved) =
                change_lock_state(&mut tx, id, |state| state.reserve(now, policy)).await?;
            tx.commit().await.map_err(op("commit login attempt"))?;
            Ok(reserved)
        })
        .await
    }

    async fn release_login_attempt(&self, id: AccountId) -> Result<(), StoreError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            change_lock_state(&mut tx, id, |state| (state.after_release(), ())).await?;
            tx.commit().await.map_err(op("commit released attempt"))
        })
        .await
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        policy: LockoutPolicy,
        lock_audit: &AuditEvent,
    ) -> Result<RecordedFailure, StoreError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            // Under the row lock each failure reads the state the previous
            // one left, and so knows whether it is the one that set the
            // lock (the lockout is audited once).
            let (recorded, ()) = change_lock_state(&mut tx, id, |before| {
                (before.after_verified_failure(now, policy), ())
            })
            .await?;
            let recorded = RecordedFailure::between(recorded.0, recorded.1, now);
            if recorded.set_lock {
                insert_audit(&mut tx, lock_audit).await?;
            }
            tx.commit().await.map_err(op("commit login failure"))?;
            Ok(recorded)
        })
        .await
    }

    async fn record_login_success(
        &self,
        id: AccountId,
        session: &Session,
        verified: &PasswordHash,
        rehashed: Option<PasswordHash>,
        audit: &AuditEvent,
    ) -> Result<CredentialWrite, StoreError> {
        // One statement, so one round trip and one commit: this is the hot
        // path of every login. It applies only while the password hash is
        // the one verified and the account holds no lock at all (a state
        // `CredentialWrite::judge` lets through at any time; a granted place
        // leaves no lock behind): the UPDATE waits for a reset or a failure
        // that holds the row and then re-reads it. Anything else is judged
        // under the row lock.
        let cleared = LockState::cleared();
        let rehashed = rehashed.as_ref().map(PasswordHash::as_phc);
        let written = sqlx::query(
            "WITH account AS ( \
                 UPDATE accounts SET failed_logins = $12, locked_until = $13, last_login_at = $3, \
                 password_hash = coalesce($5, password_hash) WHERE id = $2 AND password_hash = $11 \
                 AND locked_until IS NULL RETURNING id), \
             session AS ( \
                 INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at) \
                 SELECT $1, id, $3, $4 FROM account RETURNING account_id) \
             INSERT INTO audit_events (at, event, username, client_addr, outcome) \
             SELECT $6, $7, $8, $9, $10 FROM session",
        )
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
        .execute(&self.pool)
        .await
        .map_err(op("record login success"))?;
        if written.rows_affected() == 1 {
            return Ok(CredentialWrite::Applied);
        }
        // Nothing written (rare): the account holds a lock, in force or
        // ended, or its hash changed. Decided under the row lock.
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            let Some(row) = lock_account(&mut tx, id).await? else {
                return Ok(CredentialWrite::Stale);
            };
            let account = rows::account(&row)?;
            let judged = CredentialWrite::judge(&account, verified, session.created_at);
            if judged != CredentialWrite::Applied {
                return Ok(judged);
            }
            write_lock_state(&mut tx, id, cleared).await?;
            sqlx::query(
                "UPDATE accounts SET last_login_at = $2, password_hash = coalesce($3, password_hash) \
                 WHERE id = $1",
            )
            .bind(id.get())
            .bind(session.created_at)
            .bind(rehashed)
            .execute(&mut *tx)
            .await
            .map_err(op("record login success"))?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(hash_bytes(&session.token_hash))
            .bind(id.get())
            .bind(session.created_at)
            .bind(session.last_seen_at)
            .execute(&mut *tx)
            .await
            .map_err(op("store session"))?;
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(op("commit login"))?;
            Ok(CredentialWrite::Applied)
        })
        .await
    }

    async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(op("acquire"))?;
        write_lock_state(&mut conn, id, LockState::cleared()).await
    }
}

#[async_trait]
impl Credentials for PgStore {
    async fn issue_token(
        &self,
        token: &NewToken,
        email: &Email,
        cap: EmailCap,
    ) -> Result<IssueOutcome, StoreError> {
        retry_contention(move || async move {
        let mut tx = self.pool.begin().await.map_err(op("begin"))?;
        let issued_at = token.link.issued_at;
        // Lock the account row: concurrent requests for one account queue
        // here, so the cap is exact, and a purge cannot delete the account
        // under a fresh link. A purge that won first leaves nothing to send.
        if lock_account(&mut tx, token.account_id).await?.is_none() {
            return Ok(IssueOutcome::NoAccount);
        }
        if cap.max > 0 {
            let recent: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM link_tokens WHERE account_id = $1 AND counts_toward_cap AND issued_at > $2",
            )
            .bind(token.account_id.get())
            .bind(issued_at - cap.window)
            .fetch_one(&mut *tx)
            .await
            .map_err(op("count recent tokens"))?;
            if recent >= i64::from(cap.max) {
                return Ok(IssueOutcome::CapReached);
            }
        }
        sqlx::query(
            "UPDATE link_tokens SET superseded_at = $3 \
             WHERE account_id = $1 AND purpose = $2 AND superseded_at IS NULL AND used_at IS NULL",
        )
        .bind(token.account_id.get())
        .bind(purpose_name(token.purpose))
        .bind(issued_at)
        .execute(&mut *tx)
        .await
        .map_err(op("supersede tokens"))?;
        sqlx::query(
            "INSERT INTO link_tokens (token_hash, account_id, purpose, issued_at, expires_at, counts_toward_cap) \
             VALUES ($1, $2, $3, $4, $5, true)",
        )
        .bind(hash_bytes(&token.link.hash))
        .bind(token.account_id.get())
        .bind(purpose_name(token.purpose))
        .bind(issued_at)
        .bind(token.link.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(op("store token"))?;
        enqueue(&mut tx, email, issued_at, Some(token.link.expires_at)).await?;
        tx.commit().await.map_err(op("commit token"))?;
        Ok(IssueOutcome::Issued)
        })
        .await
    }

    async fn find_live_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE id = (SELECT account_id FROM link_tokens \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $3)"
        ))
        .bind(hash_bytes(hash))
        .bind(purpose_name(purpose))
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find token"))?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn account_by_issued_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE id = (SELECT account_id FROM link_tokens \
             WHERE token_hash = $1 AND purpose = $2)"
        ))
        .bind(hash_bytes(hash))
        .bind(purpose_name(purpose))
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find issued token"))?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn redeem_activation(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            let id = redeem(&mut tx, hash, TokenPurpose::Activation, now).await?;
            sqlx::query(
                "UPDATE accounts SET activated_at = coalesce(activated_at, $2) WHERE id = $1",
            )
            .bind(id.get())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(op("activate account"))?;
            Ok(finish_redemption(tx, id, email, audit, now, "commit activation").await?)
        })
        .await
    }

    async fn redeem_password_reset(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        new_hash: &PasswordHash,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            let id = redeem(&mut tx, hash, TokenPurpose::PasswordReset, now).await?;
            sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
                .bind(id.get())
                .bind(new_hash.as_phc())
                .execute(&mut *tx)
                .await
                .map_err(op("reset password"))?;
            write_lock_state(&mut tx, id, LockState::cleared()).await?;
            sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(op("revoke sessions"))?;
            Ok(finish_redemption(tx, id, notice, audit, now, "commit reset").await?)
        })
        .await
    }

    async fn record_reset_refusal(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_refusals: u32,
    ) -> Result<(), RedeemError> {
        // Under the token's row lock racing refusals each count, and the
        // one that reaches the limit spends the link (the rule is the
        // domain's). Only the token is locked: no account lock is waited
        // for while holding it, so no deadlock with a redemption.
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            let refusals: i32 = sqlx::query_scalar(
                "SELECT refusals FROM link_tokens WHERE token_hash = $1 AND purpose = 'password_reset' \
                 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2 FOR UPDATE",
            )
            .bind(hash_bytes(hash))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(op("lock reset token"))?
            .ok_or(RedeemError::InvalidToken)?;
            let before = ResetRefusals {
                refusals: u32::try_from(refusals).unwrap_or(0),
            };
            let (after, spent) = before.after_refusal(max_refusals);
            sqlx::query("UPDATE link_tokens SET refusals = $2, used_at = $3 WHERE token_hash = $1")
                .bind(hash_bytes(hash))
                .bind(i32::try_from(after.refusals).unwrap_or(i32::MAX))
                .bind(spent.then_some(now))
                .execute(&mut *tx)
                .await
                .map_err(op("count reset refusal"))?;
            tx.commit().await.map_err(op("commit reset refusal"))?;
            Ok(())
        })
        .await
    }

    async fn change_password(
        &self,
        change: &PasswordChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            let id = change.account_id;
            // Under the account's lock, a reset that committed first shows
            // its new hash, and one that comes later waits for this change.
            let Some(row) = lock_account(&mut tx, id).await? else {
                return Ok(CredentialWrite::Stale);
            };
            let session_kept =
                sqlx::query("SELECT 1 FROM sessions WHERE token_hash = $1 AND account_id = $2")
                    .bind(hash_bytes(&change.keep))
                    .bind(id.get())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(op("find session"))?
                    .is_some();
            if !session_kept {
                return Ok(CredentialWrite::Stale);
            }
            let judged = CredentialWrite::judge(&rows::account(&row)?, &change.verified, now);
            if judged != CredentialWrite::Applied {
                return Ok(judged);
            }
            sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
                .bind(id.get())
                .bind(change.new_hash.as_phc())
                .execute(&mut *tx)
                .await
                .map_err(op("change password"))?;
            sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2")
                .bind(id.get())
                .bind(hash_bytes(&change.keep))
                .execute(&mut *tx)
                .await
                .map_err(op("revoke other sessions"))?;
            enqueue(&mut tx, notice, now, None).await?;
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(op("commit password change"))?;
            Ok(CredentialWrite::Applied)
        })
        .await
    }
}

#[async_trait]
impl Sessions for PgStore {
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT s.created_at AS session_created_at, s.last_seen_at, a.*, ",
            joined_provider_columns!(),
            " FROM sessions s CROSS JOIN LATERAL (SELECT ",
            account_columns!(),
            " FROM accounts WHERE id = s.account_id) a \
             LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id \
             WHERE s.token_hash = $1"
        ))
        .bind(hash_bytes(hash))
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find session"))?;
        row.map(|row| {
            let read = op("read session");
            let account = rows::account(&row)?;
            let session = Session {
                token_hash: *hash,
                account_id: account.id,
                created_at: row.try_get("session_created_at").map_err(&read)?,
                last_seen_at: row.try_get("last_seen_at").map_err(&read)?,
            };
            Ok((session, account, rows::joined_provider(&row)?))
        })
        .transpose()
    }

    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2) WHERE token_hash = $1",
        )
        .bind(hash_bytes(hash))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(op("touch session"))?;
        Ok(())
    }

    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(hash_bytes(hash))
            .execute(&self.pool)
            .await
            .map_err(op("revoke session"))?;
        Ok(())
    }
}

#[async_trait]
impl IdentityChecks for PgStore {
    async fn record_proofing_mismatch(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        at: OffsetDateTime,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<WindowRecord, StoreError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            // One provider's mismatches queue on this lock, so the count
            // read below is the one the insert adds to.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('proofing:' || $1 || ':' || $2, 0))")
                .bind(tax_id.as_str())
                .bind(provider_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(op("lock provider's proofing"))?;
            if limit > 0 {
                let row = sqlx::query(
                    "SELECT count(*) AS count, min(failed_at) AS oldest FROM proofing_failures \
                     WHERE tax_id = $1 AND provider_id = $2 AND failed_at > $3",
                )
                .bind(tax_id.as_str())
                .bind(provider_id.as_str())
                .bind(since)
                .fetch_one(&mut *tx)
                .await
                .map_err(op("count proofing mismatches"))?;
                let count: i64 = row.try_get("count").map_err(op("read count"))?;
                let oldest: Option<OffsetDateTime> = row.try_get("oldest").map_err(op("read oldest"))?;
                if let Some(oldest) = oldest.filter(|_| count >= i64::from(limit)) {
                    return Ok(WindowRecord::Limited { oldest });
                }
            }
            sqlx::query(
                "INSERT INTO proofing_failures (tax_id, provider_id, failed_at) VALUES ($1, $2, $3)",
            )
            .bind(tax_id.as_str())
            .bind(provider_id.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(op("record proofing mismatch"))?;
            tx.commit().await.map_err(op("commit proofing mismatch"))?;
            Ok(WindowRecord::Recorded)
        })
        .await
    }

    async fn proofing_mismatches_since(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        since: OffsetDateTime,
    ) -> Result<ProofingFailures, StoreError> {
        let row = sqlx::query(
            "SELECT count(*) AS count, min(failed_at) AS oldest FROM proofing_failures \
             WHERE tax_id = $1 AND provider_id = $2 AND failed_at > $3",
        )
        .bind(tax_id.as_str())
        .bind(provider_id.as_str())
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .map_err(op("count proofing mismatches"))?;
        let count: i64 = row.try_get("count").map_err(op("read count"))?;
        Ok(ProofingFailures {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            oldest: row.try_get("oldest").map_err(op("read oldest"))?,
        })
    }

    async fn support_failures_since(
        &self,
        id: AccountId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM support_checks WHERE account_id = $1 AND NOT matched AND checked_at > $2")
                .bind(id.get())
                .bind(since)
                .fetch_one(&self.pool)
                .await
                .map_err(op("count support checks"))?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn record_support_check(
        &self,
        id: AccountId,
        at: OffsetDateTime,
        matched: bool,
        since: OffsetDateTime,
        max_failed: u32,
    ) -> Result<WindowRecord, StoreError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            // One account's checks queue on its row lock, so the count read
            // below is the one the insert adds to.
            if lock_account(&mut tx, id).await?.is_none() {
                return Err(StoreError::Unexpected(format!("no account {}", id.get())));
            }
            let row = sqlx::query(
                "SELECT count(*) AS count, min(checked_at) AS oldest FROM support_checks \
                 WHERE account_id = $1 AND NOT matched AND checked_at > $2",
            )
            .bind(id.get())
            .bind(since)
            .fetch_one(&mut *tx)
            .await
            .map_err(op("count support checks"))?;
            let count: i64 = row.try_get("count").map_err(op("read count"))?;
            let oldest: Option<OffsetDateTime> =
                row.try_get("oldest").map_err(op("read oldest"))?;
            if let Some(oldest) =
                oldest.filter(|_| max_failed > 0 && count >= i64::from(max_failed))
            {
                return Ok(WindowRecord::Limited { oldest });
            }
            sqlx::query(
                "INSERT INTO support_checks (account_id, checked_at, matched) VALUES ($1, $2, $3)",
            )
            .bind(id.get())
            .bind(at)
            .bind(matched)
            .execute(&mut *tx)
            .await
            .map_err(op("record support check"))?;
            tx.commit().await.map_err(op("commit support check"))?;
            Ok(WindowRecord::Recorded)
        })
        .await
    }
}

#[async_trait]
impl Housekeeping for PgStore {
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        retry_contention(move || async move {
            let mut tx = self.pool.begin().await.map_err(op("begin"))?;
            // Lock the candidates first (a resend in flight holds its
            // account; this waits for it), then decide again in a statement
            // of its own: it sees what that resend committed, so an account
            // just sent a fresh link is kept. Tokens, sessions and support
            // checks go with the account (ON DELETE CASCADE).
            let candidates: Vec<i64> = sqlx::query_scalar(
                "SELECT a.id FROM accounts a WHERE a.activated_at IS NULL AND \
                 (SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < $1 \
                 ORDER BY a.id FOR UPDATE",
            )
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await
            .map_err(op("lock stale pending accounts"))?;
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            let purged = sqlx::query_scalar(
                "DELETE FROM accounts a WHERE a.id = ANY($2) AND a.activated_at IS NULL AND \
                 (SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < $1 \
                 RETURNING a.username",
            )
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

    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        flows_before: OffsetDateTime,
        sent_before: OffsetDateTime,
        capped_since: OffsetDateTime,
        session_idle: Duration,
        session_absolute: Duration,
    ) -> Result<PurgeCounts, StoreError> {
        retry_contention(move || async move {
        let mut tx = self.pool.begin().await.map_err(op("begin"))?;
        let flows = sqlx::query(
            "DELETE FROM registration_flows WHERE coalesce(expires_at, finished_at) < $1",
        )
        .bind(flows_before)
        .execute(&mut *tx)
        .await
        .map_err(op("purge flows"))?
        .rows_affected();
        // Dead tokens go, except activation tokens of pending accounts (the
        // stale-pending purge reads their expiry) and anything issued after
        // `capped_since` (the email cap counts it).
        let tokens = sqlx::query(
            "DELETE FROM link_tokens t WHERE (t.used_at IS NOT NULL OR t.superseded_at IS NOT NULL OR t.expires_at <= $1) \
             AND t.issued_at <= $2 \
             AND NOT (t.purpose = 'activation' AND EXISTS \
                 (SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.activated_at IS NULL))",
        )
        .bind(now)
        .bind(capped_since)
        .execute(&mut *tx)
        .await
        .map_err(op("purge tokens"))?
        .rows_affected();
        let sessions =
            sqlx::query("DELETE FROM sessions WHERE last_seen_at <= $1 OR created_at <= $2")
                .bind(now - session_idle)
                .bind(now - session_absolute)
                .execute(&mut *tx)
                .await
                .map_err(op("purge sessions"))?
                .rows_affected();
        let sent_emails =
            sqlx::query("DELETE FROM email_outbox WHERE status = 'sent' AND finished_at < $1")
                .bind(sent_before)
                .execute(&mut *tx)
                .await
                .map_err(op("purge sent emails"))?
                .rows_affected();
        tx.commit().await.map_err(op("commit purge"))?;
        Ok(PurgeCounts {
            flows,
            tokens,
            sessions,
            sent_emails,
        })
        })
        .await
    }
}

#[async_trait]
impl AuditLog for PgStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(op("acquire"))?;
        insert_audit(&mut conn, event).await
    }

    async fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<(AuditCursor, AuditEvent)>, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(
            "SELECT id, at, event, username, client_addr, outcome FROM audit_events WHERE true",
        );
        if let Some(username) = &filter.username {
            query
                .push(" AND lower(username) = lower(")
                .push_bind(username.clone())
                .push(")");
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(since);
        }
        if let Some(after) = after {
            query
                .push(" AND (at, id) > (")
                .push_bind(after.at)
                .push(", ")
                .push_bind(after.seq)
                .push(")");
        }
        query
            .push(" ORDER BY at, id LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(op("list audit events"))?;
        rows.iter()
            .map(|row| {
                let event = rows::audit_event(row)?;
                let seq = row.try_get("id").map_err(op("read audit event"))?;
                Ok((AuditCursor { at: event.at, seq }, event))
            })
            .collect()
    }
}

//! [`UserStore`](portal_domain::ports::UserStore) on SQLite: the narrow store ports, one impl each.

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
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use time::{Duration, OffsetDateTime};

use crate::SqliteStore;
use crate::error::{op, store_error, violated_unique};
use crate::rows::{self, account_columns, joined_provider_columns, opt_time, time};
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
    sqlx::query(
        "INSERT INTO email_outbox (recipient, username, kind, token, due_at, created_at, link_expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
    )
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

macro_rules! flow_columns {
    () => {
        "id, version, state, tax_id, provider_id, kind, first_name, last_name, group_name, payee, zips, \
         lines_of_business, agreement_version, agreement_hash, agreement_accepted_at, agreement_client_addr, \
         expires_at, finished_at"
    };
}

/// Appends `(…)`: the flow's values in `flow_columns!()` order.
fn push_flow_values(query: &mut QueryBuilder<Sqlite>, flow: &RegistrationFlow) {
    let stored = StoredFlow::from_flow(flow);
    let provider = stored.provider;
    let acceptance = stored.acceptance;
    query.push("(");
    let mut values = query.separated(", ");
    values.push_bind(stored.id);
    values.push_bind(stored.version);
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
    values.push_bind(ts(acceptance.as_ref().map(|a| a.accepted_at)));
    values.push_bind(acceptance.and_then(|a| a.client_addr));
    values.push_bind(ts(stored.expires_at));
    values.push_bind(ts(stored.finished_at));
    query.push(")");
}

/// The compare-and-set every step goes through: replaces the flow stored
/// at `flow.version - 1`. True when it applied.
async fn compare_and_set_flow(
    conn: &mut SqliteConnection,
    flow: &RegistrationFlow,
) -> Result<bool, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(concat!(
        "UPDATE registration_flows SET (",
        flow_columns!(),
        ") = "
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
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE id = ?1"
    ))
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
    let row = sqlx::query(
        "UPDATE link_tokens SET used_at = ?3 \
         WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ?3 \
         RETURNING account_id",
    )
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

#[async_trait]
impl Registrations for SqliteStore {
    async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(concat!(
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
        let row = sqlx::query("SELECT * FROM registration_flows WHERE id = ?1")
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
impl Accounts for SqliteStore {
    async fn account_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE lower(username) = ?1"
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
            " FROM accounts WHERE id = ?1"
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
            " FROM accounts WHERE registrant_key = ?1"
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        // The flow first: a twin submission of this step finds the flow
        // moved on (not its own account holding the username).
        if !compare_and_set_flow(&mut tx, finished_flow).await? {
            return Err(CreateAccountError::FlowConflict);
        }
        // The new account's id, taken before the delete below: SQLite
        // gives a deleted highest rowid out again, and an operation still
        // holding the replaced account's id (a resend in flight) must find
        // it gone, not find its successor.
        let id: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM accounts")
            .fetch_one(&mut *tx)
            .await
            .map_err(op("next account id"))?;
        // A pending account of this registrant is replaced (SPEC §3 step
        // 1): deleted with its tokens, sessions and support checks (ON
        // DELETE CASCADE), its username freed. On any error below the
        // transaction rolls back and it stays.
        let replaced: Option<String> = sqlx::query_scalar(
            "DELETE FROM accounts WHERE registrant_key = ?1 AND activated_at IS NULL AND NOT disabled \
             RETURNING username",
        )
        .bind(account.provider.registrant_key().to_storage_key())
        .fetch_optional(&mut *tx)
        .await
        .map_err(op("replace pending account"))?;
        // The SPEC's order when both clash: username first.
        let taken = sqlx::query("SELECT 1 FROM accounts WHERE lower(username) = ?1")
            .bind(account.username.key())
            .fetch_optional(&mut *tx)
            .await
            .map_err(op("check username"))?;
        if taken.is_some() {
            return Err(CreateAccountError::UsernameTaken);
        }
        if let Some(old) = &replaced {
            insert_audit(&mut *tx, &AuditEvent::pending_replaced(audit, old)).await?;
        }
        let agreement = StoredAcceptance::from_acceptance(&account.agreement);
        let inserted = sqlx::query(concat!("INSERT INTO accounts (username, email, password_hash, provider_kind, tax_id, provider_id, registrant_key, \
             agreement_version, agreement_hash, agreement_accepted_at, agreement_client_addr, security_question, \
             security_answer_hash, created_at, id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) RETURNING ", account_columns!(), ""))
        .bind(account.username.as_str())
        .bind(account.email.as_str())
        .bind(account.password_hash.as_phc())
        .bind(account.provider.kind.as_str())
        .bind(account.provider.tax_id.as_str())
        .bind(account.provider.provider_id.as_str())
        .bind(account.provider.registrant_key().to_storage_key())
        .bind(agreement.version)
        .bind(agreement.content_hash)
        .bind(Ts(agreement.accepted_at))
        .bind(agreement.client_addr)
        .bind(i16::from(account.security_question.get()))
        .bind(account.security_answer_hash.as_phc())
        .bind(Ts(account.created_at))
        .bind(id)
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
             VALUES (?1, ?2, 'activation', ?3, ?4, false)",
        )
        .bind(hash_bytes(&activation.hash))
        .bind(created.id.get())
        .bind(Ts(activation.issued_at))
        .bind(Ts(activation.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(op("store activation token"))?;
        enqueue(
            &mut tx,
            email,
            account.created_at,
            Some(activation.expires_at),
        )
        .await?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(op("commit account"))?;
        Ok(created)
    }

    async fn record_agreement(
        &self,
        id: AccountId,
        acceptance: &AgreementAcceptance,
    ) -> Result<(), StoreError> {
        let stored = StoredAcceptance::from_acceptance(acceptance);
        sqlx::query(
            "UPDATE accounts SET agreement_version = ?2, agreement_hash = ?3, agreement_accepted_at = ?4, \
             agreement_client_addr = ?5 WHERE id = ?1",
        )
        .bind(id.get())
        .bind(stored.version)
        .bind(stored.content_hash)
        .bind(Ts(stored.accepted_at))
        .bind(stored.client_addr)
        .execute(&self.pool)
        .await
        .map_err(op("record agreement"))?;
        Ok(())
    }

    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        sqlx::query("UPDATE accounts SET disabled = ?2 WHERE id = ?1")
            .bind(id.get())
            .bind(disabled)
            .execute(&mut *tx)
            .await
            .map_err(op("set disabled"))?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE account_id = ?1")
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(op("revoke sessions"))?;
        }
        tx.commit().await.map_err(op("commit disable"))
    }
}

#[async_trait]
impl LoginAttempts for SqliteStore {
    /// A read only: beside SQLite's one writer a place is a write
    /// transaction of its own (`reserve_login_attempt`), and reads of
    /// unknown usernames stay off the write lock.
    async fn account_for_login(
        &self,
        username: &Username,
        _first: Option<FirstPlace>,
    ) -> Result<Option<LoginRead>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT a.*, ",
            joined_provider_columns!(),
            " FROM (SELECT ",
            account_columns!(),
            " FROM accounts WHERE lower(username) = ?1) a \
             LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id"
        ))
        .bind(username.key())
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find account for login"))?;
        row.map(|row| {
            Ok(LoginRead {
                account: rows::account(&row)?,
                provider: rows::joined_provider(&row)?,
                place: None,
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
        // First as one statement that applies only while the state is still
        // the one the login read with its account: every statement is a
        // hop to the connection's thread and back, and a transaction takes
        // four (the place's time is the difference between a known and an
        // unknown username's wrong password). When another attempt changed
        // it meanwhile, or the read would refuse, decided again under the
        // write lock.
        let (after, reserved) = seen.reserve(now, policy);
        if matches!(reserved, ReservedAttempt::Granted { .. }) {
            let written = sqlx::query(
                "UPDATE accounts SET failed_logins = ?2, locked_until = ?3 \
                 WHERE id = ?1 AND failed_logins = ?4 AND locked_until IS ?5",
            )
            .bind(id.get())
            .bind(i64::from(after.failed_count))
            .bind(ts(after.locked_until))
            .bind(i64::from(seen.failed_count))
            .bind(ts(seen.locked_until))
            .execute(&self.pool)
            .await
            .map_err(op("reserve login attempt"))?;
            if written.rows_affected() == 1 {
                return Ok(reserved);
            }
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        let (_, reserved) =
            change_lock_state(&mut tx, id, |state| state.reserve(now, policy)).await?;
        tx.commit().await.map_err(op("commit login attempt"))?;
        Ok(reserved)
    }

    async fn release_login_attempt(&self, id: AccountId) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        change_lock_state(&mut tx, id, |state| (state.after_release(), ())).await?;
        tx.commit().await.map_err(op("commit released attempt"))
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        policy: LockoutPolicy,
        lock_audit: &AuditEvent,
    ) -> Result<RecordedFailure, StoreError> {
        // One writer at a time: the failure reads the state the previous one
        // left, and so knows whether it is the one that set the lock (the
        // lockout is audited once).
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        let ((before, after), ()) = change_lock_state(&mut tx, id, |before| {
            (before.after_verified_failure(now, policy), ())
        })
        .await?;
        let recorded = RecordedFailure::between(before, after, now);
        if recorded.set_lock {
            insert_audit(&mut *tx, lock_audit).await?;
        }
        tx.commit().await.map_err(op("commit login failure"))?;
        Ok(recorded)
    }

    async fn record_login_success(
        &self,
        id: AccountId,
        session: &Session,
        verified: &PasswordHash,
        rehashed: Option<PasswordHash>,
        audit: &AuditEvent,
    ) -> Result<CredentialWrite, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        // Judged on the account as the write lock holds it: a reset that
        // committed meanwhile, or a lock, leaves this login nothing to write.
        let account = fetch_account(&mut tx, id).await?;
        let judged = CredentialWrite::judge(&account, verified, session.created_at);
        if judged != CredentialWrite::Applied {
            return Ok(judged);
        }
        write_lock_state(&mut tx, id, LockState::cleared()).await?;
        sqlx::query(
            "UPDATE accounts SET last_login_at = ?2, password_hash = coalesce(?3, password_hash) \
             WHERE id = ?1",
        )
        .bind(id.get())
        .bind(Ts(session.created_at))
        .bind(rehashed.as_ref().map(PasswordHash::as_phc))
        .execute(&mut *tx)
        .await
        .map_err(op("record login success"))?;
        insert_session(&mut tx, session).await?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(op("commit login"))?;
        Ok(CredentialWrite::Applied)
    }

    async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(op("acquire"))?;
        write_lock_state(&mut conn, id, LockState::cleared()).await
    }
}

#[async_trait]
impl Credentials for SqliteStore {
    async fn issue_token(
        &self,
        token: &NewToken,
        email: &Email,
        cap: EmailCap,
    ) -> Result<IssueOutcome, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        let issued_at = token.link.issued_at;
        // BEGIN IMMEDIATE holds the write lock: concurrent requests queue
        // on it, so the cap is exact. A purge that won first leaves nothing
        // to send.
        let exists = sqlx::query("SELECT id FROM accounts WHERE id = ?1")
            .bind(token.account_id.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(op("lock account"))?;
        if exists.is_none() {
            return Ok(IssueOutcome::NoAccount);
        }
        if cap.max > 0 {
            let recent: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM link_tokens WHERE account_id = ?1 AND counts_toward_cap AND issued_at > ?2",
            )
            .bind(token.account_id.get())
            .bind(Ts(issued_at - cap.window))
            .fetch_one(&mut *tx)
            .await
            .map_err(op("count recent tokens"))?;
            if recent >= i64::from(cap.max) {
                return Ok(IssueOutcome::CapReached);
            }
        }
        sqlx::query(
            "UPDATE link_tokens SET superseded_at = ?3 \
             WHERE account_id = ?1 AND purpose = ?2 AND superseded_at IS NULL AND used_at IS NULL",
        )
        .bind(token.account_id.get())
        .bind(purpose_name(token.purpose))
        .bind(Ts(issued_at))
        .execute(&mut *tx)
        .await
        .map_err(op("supersede tokens"))?;
        sqlx::query(
            "INSERT INTO link_tokens (token_hash, account_id, purpose, issued_at, expires_at, counts_toward_cap) \
             VALUES (?1, ?2, ?3, ?4, ?5, true)",
        )
        .bind(hash_bytes(&token.link.hash))
        .bind(token.account_id.get())
        .bind(purpose_name(token.purpose))
        .bind(Ts(issued_at))
        .bind(Ts(token.link.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(op("store token"))?;
        enqueue(&mut tx, email, issued_at, Some(token.link.expires_at)).await?;
        tx.commit().await.map_err(op("commit token"))?;
        Ok(IssueOutcome::Issued)
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
             WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ?3)"
        ))
        .bind(hash_bytes(hash))
        .bind(purpose_name(purpose))
        .bind(Ts(now))
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
             WHERE token_hash = ?1 AND purpose = ?2)"
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        let id = redeem(&mut tx, hash, TokenPurpose::Activation, now).await?;
        sqlx::query("UPDATE accounts SET activated_at = coalesce(activated_at, ?2) WHERE id = ?1")
            .bind(id.get())
            .bind(Ts(now))
            .execute(&mut *tx)
            .await
            .map_err(op("activate account"))?;
        Ok(finish_redemption(tx, id, email, audit, now, "commit activation").await?)
    }

    async fn redeem_password_reset(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        new_hash: &PasswordHash,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        let id = redeem(&mut tx, hash, TokenPurpose::PasswordReset, now).await?;
        sqlx::query("UPDATE accounts SET password_hash = ?2 WHERE id = ?1")
            .bind(id.get())
            .bind(new_hash.as_phc())
            .execute(&mut *tx)
            .await
            .map_err(op("reset password"))?;
        write_lock_state(&mut tx, id, LockState::cleared()).await?;
        sqlx::query("DELETE FROM sessions WHERE account_id = ?1")
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(op("revoke sessions"))?;
        Ok(finish_redemption(tx, id, notice, audit, now, "commit reset").await?)
    }

    async fn record_reset_refusal(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_refusals: u32,
    ) -> Result<(), RedeemError> {
        // One writer at a time: racing refusals each count, and the one
        // that reaches the limit spends the link (the rule is the domain's).
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        let refusals: i64 = sqlx::query_scalar(
            "SELECT refusals FROM link_tokens WHERE token_hash = ?1 AND purpose = 'password_reset' \
             AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ?2",
        )
        .bind(hash_bytes(hash))
        .bind(Ts(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(op("read reset token"))?
        .ok_or(RedeemError::InvalidToken)?;
        let before = ResetRefusals {
            refusals: u32::try_from(refusals).unwrap_or(0),
        };
        let (after, spent) = before.after_refusal(max_refusals);
        sqlx::query("UPDATE link_tokens SET refusals = ?2, used_at = ?3 WHERE token_hash = ?1")
            .bind(hash_bytes(hash))
            .bind(i64::from(after.refusals))
            .bind(spent.then_some(Ts(now)))
            .execute(&mut *tx)
            .await
            .map_err(op("count reset refusal"))?;
        tx.commit().await.map_err(op("commit reset refusal"))?;
        Ok(())
    }

    async fn change_password(
        &self,
        change: &PasswordChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        let id = change.account_id;
        // Only while the password is the one verified and the asking
        // session still exists, judged under the write lock: a reset or a
        // logout that committed first wins.
        let session_kept =
            sqlx::query("SELECT 1 FROM sessions WHERE token_hash = ?1 AND account_id = ?2")
                .bind(hash_bytes(&change.keep))
                .bind(id.get())
                .fetch_optional(&mut *tx)
                .await
                .map_err(op("find session"))?
                .is_some();
        let account = fetch_account(&mut tx, id).await?;
        if !session_kept {
            return Ok(CredentialWrite::Stale);
        }
        let judged = CredentialWrite::judge(&account, &change.verified, now);
        if judged != CredentialWrite::Applied {
            return Ok(judged);
        }
        sqlx::query("UPDATE accounts SET password_hash = ?2 WHERE id = ?1")
            .bind(id.get())
            .bind(change.new_hash.as_phc())
            .execute(&mut *tx)
            .await
            .map_err(op("change password"))?;
        sqlx::query("DELETE FROM sessions WHERE account_id = ?1 AND token_hash <> ?2")
            .bind(id.get())
            .bind(hash_bytes(&change.keep))
            .execute(&mut *tx)
            .await
            .map_err(op("revoke other sessions"))?;
        enqueue(&mut tx, notice, now, None).await?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(op("commit password change"))?;
        Ok(CredentialWrite::Applied)
    }
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT s.created_at AS session_created_at, s.last_seen_at, a.*, ",
            joined_provider_columns!(),
            " FROM sessions s JOIN (SELECT ",
            account_columns!(),
            " FROM accounts) a ON a.id = s.account_id \
             LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id \
             WHERE s.token_hash = ?1"
        ))
        .bind(hash_bytes(hash))
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find session"))?;
        row.map(|row| {
            let account = rows::account(&row)?;
            let session = Session {
                token_hash: *hash,
                account_id: account.id,
                created_at: time(&row, "session_created_at")?,
                last_seen_at: time(&row, "last_seen_at")?,
            };
            Ok((session, account, rows::joined_provider(&row)?))
        })
        .transpose()
    }

    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE token_hash = ?1",
        )
        .bind(hash_bytes(hash))
        .bind(Ts(now))
        .execute(&self.pool)
        .await
        .map_err(op("touch session"))?;
        Ok(())
    }

    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
            .bind(hash_bytes(hash))
            .execute(&self.pool)
            .await
            .map_err(op("revoke session"))?;
        Ok(())
    }
}

#[async_trait]
impl IdentityChecks for SqliteStore {
    async fn record_proofing_mismatch(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        at: OffsetDateTime,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<WindowRecord, StoreError> {
        {
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(op("begin"))?;
            // BEGIN IMMEDIATE holds the write lock: the count read below is
            // the one the insert adds to.
            if limit > 0 {
                let row = sqlx::query(
                    "SELECT count(*) AS count, min(failed_at) AS oldest FROM proofing_failures \
                     WHERE tax_id = ?1 AND provider_id = ?2 AND failed_at > ?3",
                )
                .bind(tax_id.as_str())
                .bind(provider_id.as_str())
                .bind(Ts(since))
                .fetch_one(&mut *tx)
                .await
                .map_err(op("count proofing mismatches"))?;
                let count: i64 = row.try_get("count").map_err(op("read count"))?;
                let oldest: Option<OffsetDateTime> = opt_time(&row, "oldest")?;
                if let Some(oldest) = oldest.filter(|_| count >= i64::from(limit)) {
                    return Ok(WindowRecord::Limited { oldest });
                }
            }
            sqlx::query(
                "INSERT INTO proofing_failures (tax_id, provider_id, failed_at) VALUES (?1, ?2, ?3)",
            )
            .bind(tax_id.as_str())
            .bind(provider_id.as_str())
            .bind(Ts(at))
            .execute(&mut *tx)
            .await
            .map_err(op("record proofing mismatch"))?;
            tx.commit().await.map_err(op("commit proofing mismatch"))?;
            Ok(WindowRecord::Recorded)
        }
    }

    async fn proofing_mismatches_since(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        since: OffsetDateTime,
    ) -> Result<ProofingFailures, StoreError> {
        let row = sqlx::query(
            "SELECT count(*) AS count, min(failed_at) AS oldest FROM proofing_failures \
             WHERE tax_id = ?1 AND provider_id = ?2 AND failed_at > ?3",
        )
        .bind(tax_id.as_str())
        .bind(provider_id.as_str())
        .bind(Ts(since))
        .fetch_one(&self.pool)
        .await
        .map_err(op("count proofing mismatches"))?;
        let count: i64 = row.try_get("count").map_err(op("read count"))?;
        Ok(ProofingFailures {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            oldest: opt_time(&row, "oldest")?,
        })
    }

    async fn support_failures_since(
        &self,
        id: AccountId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM support_checks WHERE account_id = ?1 AND NOT matched AND checked_at > ?2")
                .bind(id.get())
                .bind(Ts(since))
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
        {
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(op("begin"))?;
            // BEGIN IMMEDIATE holds the write lock: the count read below is
            // the one the insert adds to.
            let row = sqlx::query(
                "SELECT count(*) AS count, min(checked_at) AS oldest FROM support_checks \
                 WHERE account_id = ?1 AND NOT matched AND checked_at > ?2",
            )
            .bind(id.get())
            .bind(Ts(since))
            .fetch_one(&mut *tx)
            .await
            .map_err(op("count support checks"))?;
            let count: i64 = row.try_get("count").map_err(op("read count"))?;
            let oldest: Option<OffsetDateTime> = opt_time(&row, "oldest")?;
            if let Some(oldest) =
                oldest.filter(|_| max_failed > 0 && count >= i64::from(max_failed))
            {
                return Ok(WindowRecord::Limited { oldest });
            }
            sqlx::query(
                "INSERT INTO support_checks (account_id, checked_at, matched) VALUES (?1, ?2, ?3)",
            )
            .bind(id.get())
            .bind(Ts(at))
            .bind(matched)
            .execute(&mut *tx)
            .await
            .map_err(op("record support check"))?;
            tx.commit().await.map_err(op("commit support check"))?;
            Ok(WindowRecord::Recorded)
        }
    }
}

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        // One statement: tokens, sessions and support checks go with the
        // account (ON DELETE CASCADE).
        sqlx::query_scalar(
            "DELETE FROM accounts AS a WHERE a.activated_at IS NULL AND \
             (SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < ?1 \
             RETURNING username",
        )
        .bind(Ts(cutoff))
        .fetch_all(&self.pool)
        .await
        .map_err(op("purge stale pending accounts"))
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        let flows = sqlx::query(
            "DELETE FROM registration_flows WHERE coalesce(expires_at, finished_at) < ?1",
        )
        .bind(Ts(flows_before))
        .execute(&mut *tx)
        .await
        .map_err(op("purge flows"))?
        .rows_affected();
        // Dead tokens go, except activation tokens of pending accounts (the
        // stale-pending purge reads their expiry) and anything issued after
        // `capped_since` (the email cap counts it).
        let tokens = sqlx::query(
            "DELETE FROM link_tokens AS t WHERE (t.used_at IS NOT NULL OR t.superseded_at IS NOT NULL OR t.expires_at <= ?1) \
             AND t.issued_at <= ?2 \
             AND NOT (t.purpose = 'activation' AND EXISTS \
                 (SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.activated_at IS NULL))",
        )
        .bind(Ts(now))
        .bind(Ts(capped_since))
        .execute(&mut *tx)
        .await
        .map_err(op("purge tokens"))?
        .rows_affected();
        let sessions =
            sqlx::query("DELETE FROM sessions WHERE last_seen_at <= ?1 OR created_at <= ?2")
                .bind(Ts(now - session_idle))
                .bind(Ts(now - session_absolute))
                .execute(&mut *tx)
                .await
                .map_err(op("purge sessions"))?
                .rows_affected();
        let sent_emails =
            sqlx::query("DELETE FROM email_outbox WHERE status = 'sent' AND finished_at < ?1")
                .bind(Ts(sent_before))
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
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        insert_audit(&self.pool, event).await
    }

    async fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<(AuditCursor, AuditEvent)>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT id, at, event, username, client_addr, outcome FROM audit_events WHERE 1",
        );
        if let Some(username) = &filter.username {
            query
                .push(" AND lower(username) = lower(")
                .push_bind(username.clone())
                .push(")");
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(Ts(since));
        }
        if let Some(after) = after {
            query
                .push(" AND (at, id) > (")
                .push_bind(Ts(after.at))
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

/// Reads the account's failure count and lock inside the caller's write
/// transaction, applies `change` (a rule of [`LockState`], computed here in
/// Rust once) and writes the new state back. Returns the state before and
/// after, and what `change` answered.
async fn change_lock_state<T>(
    conn: &mut SqliteConnection,
    id: AccountId,
    change: impl FnOnce(LockState) -> (LockState, T),
) -> Result<((LockState, LockState), T), StoreError> {
    let row = sqlx::query("SELECT failed_logins, locked_until FROM accounts WHERE id = ?1")
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
    sqlx::query("UPDATE accounts SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1")
        .bind(id.get())
        .bind(i64::from(state.failed_count))
        .bind(state.locked_until.map(Ts))
        .execute(conn)
        .await
        .map_err(op("write lock state"))?;
    Ok(())
}

async fn insert_session(conn: &mut SqliteConnection, session: &Session) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?4)")
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
    sqlx::query("INSERT INTO audit_events (at, event, username, client_addr, outcome) VALUES (?1, ?2, ?3, ?4, ?5)")
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

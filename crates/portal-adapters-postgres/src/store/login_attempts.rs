//! [`LoginAttempts`] on PostgreSQL.

use super::*;
use portal_adapters_sql::store::login_attempts as sql;

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
        let row = sqlx::query(sql::ACCOUNT_FOR_LOGIN.postgres)
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
            let written = sqlx::query(sql::RESERVE_IF_UNCHANGED)
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
                insert_audit(&mut *tx, lock_audit).await?;
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
        let written = sqlx::query(sql::LOGIN_SUCCESS)
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
            sqlx::query(sql::RECORD_LOGIN)
                .bind(id.get())
                .bind(session.created_at)
                .bind(rehashed)
                .execute(&mut *tx)
                .await
                .map_err(op("record login success"))?;
            sqlx::query(sql::INSERT_SESSION)
                .bind(hash_bytes(&session.token_hash))
                .bind(id.get())
                .bind(session.created_at)
                .bind(session.last_seen_at)
                .execute(&mut *tx)
                .await
                .map_err(op("store session"))?;
            insert_audit(&mut *tx, audit).await?;
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

//! [`LoginAttempts`] on SQLite.

use super::*;
use portal_adapters_sql::store::login_attempts as sql;

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
        let row = sqlx::query(sql::ACCOUNT_FOR_LOGIN.sqlite)
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
            let written = sqlx::query(sql::RESERVE_IF_UNCHANGED)
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
        sqlx::query(sql::RECORD_LOGIN)
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

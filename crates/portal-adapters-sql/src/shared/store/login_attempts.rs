//! [`LoginAttempts`] on either database.

use super::*;
use crate::dialect::{bind_first_place, first_place, record_login_at_once};
use portal_adapters_sql::store::login_attempts as sql;

#[async_trait]
impl LoginAttempts for Store {
    /// The account and its roster entry, and on PostgreSQL the login's
    /// first place with them (see the dialect's `bind_first_place`).
    async fn account_for_login(
        &self,
        username: &Username,
        first: Option<FirstPlace>,
    ) -> Result<Option<LoginRead>, StoreError> {
        let query = sqlx::query(ours(sql::ACCOUNT_FOR_LOGIN)).bind(username.key());
        let row = bind_first_place(query, first)
            .fetch_optional(&self.pool)
            .await
            .map_err(op("find account for login"))?;
        row.map(|row| {
            Ok(LoginRead {
                account: rows::account(&row)?,
                provider: rows::joined_provider(&row)?,
                place: first_place(&row, first)?,
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
        // account (one round trip, no explicit transaction: on SQLite every
        // statement is a hop to the connection's thread and back, and a
        // transaction takes four, and the place's time is the difference
        // between a known and an unknown username's wrong password); when
        // another attempt changed it meanwhile, or the read would refuse,
        // decided again under the account's lock.
        let (after, reserved) = seen.reserve(now, policy);
        if matches!(reserved, ReservedAttempt::Granted { .. }) {
            let written = sqlx::query(sql::RESERVE_IF_UNCHANGED)
                .bind(id.get())
                .bind(failed_count(after))
                .bind(opt_stamp(after.locked_until))
                .bind(failed_count(seen))
                .bind(opt_stamp(seen.locked_until))
                .execute(&self.pool)
                .await
                .map_err(op("reserve login attempt"))?;
            if written.rows_affected() == 1 {
                return Ok(reserved);
            }
        }
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let (_, reserved) =
                change_lock_state(&mut tx, id, |state| state.reserve(now, policy)).await?;
            tx.commit().await.map_err(op("commit login attempt"))?;
            Ok(reserved)
        })
        .await
    }

    async fn release_login_attempt(&self, id: AccountId) -> Result<(), StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
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
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            // Under the account's lock each failure reads the state the previous
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
        // On PostgreSQL first in one statement (see the dialect's
        // `record_login_at_once`), the hot path of every login.
        let cleared = LockState::cleared();
        let rehashed = rehashed.as_ref().map(PasswordHash::as_phc);
        if record_login_at_once(&self.pool, id, session, verified, rehashed, audit).await? {
            return Ok(CredentialWrite::Applied);
        }
        // Judged on the account as its lock holds it (its row on
        // PostgreSQL, the write lock on SQLite): a reset that committed
        // meanwhile, or a lock, leaves this login nothing to write.
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
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
                .bind(stamp(session.created_at))
                .bind(rehashed)
                .execute(&mut *tx)
                .await
                .map_err(op("record login success"))?;
            insert_session(&mut tx, session).await?;
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

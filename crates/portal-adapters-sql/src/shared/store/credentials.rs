//! [`Credentials`] on either database.

use super::*;
use portal_adapters_sql::store::credentials as sql;

#[async_trait]
impl Credentials for Store {
    async fn issue_token(
        &self,
        token: &NewToken,
        email: &Email,
        cap: EmailCap,
    ) -> Result<IssueOutcome, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let issued_at = token.link.issued_at;
            // The account under its lock (its row on PostgreSQL, the write
            // lock on SQLite): concurrent requests for one account queue
            // here, so the cap is exact, and a purge cannot delete the
            // account under a fresh link. A purge that won first leaves
            // nothing to send.
            if lock_account(&mut tx, token.account_id).await?.is_none() {
                return Ok(IssueOutcome::NoAccount);
            }
            if cap.max > 0 {
                let recent: i64 = sqlx::query_scalar(sql::COUNT_RECENT_TOKENS)
                    .bind(token.account_id.get())
                    .bind(stamp(issued_at - cap.window))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(op("count recent tokens"))?;
                if recent >= i64::from(cap.max) {
                    return Ok(IssueOutcome::CapReached);
                }
            }
            sqlx::query(sql::SUPERSEDE_TOKENS)
                .bind(token.account_id.get())
                .bind(purpose_name(token.purpose))
                .bind(stamp(issued_at))
                .execute(&mut *tx)
                .await
                .map_err(op("supersede tokens"))?;
            sqlx::query(sql::INSERT_TOKEN)
                .bind(hash_bytes(&token.link.hash))
                .bind(token.account_id.get())
                .bind(purpose_name(token.purpose))
                .bind(stamp(issued_at))
                .bind(stamp(token.link.expires_at))
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
        let row = sqlx::query(sql::LIVE_TOKEN_ACCOUNT)
            .bind(hash_bytes(hash))
            .bind(purpose_name(purpose))
            .bind(stamp(now))
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
        let row = sqlx::query(sql::ISSUED_TOKEN_ACCOUNT)
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
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let id = redeem(&mut tx, hash, TokenPurpose::Activation, now).await?;
            sqlx::query(sql::ACTIVATE)
                .bind(id.get())
                .bind(stamp(now))
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
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let id = redeem(&mut tx, hash, TokenPurpose::PasswordReset, now).await?;
            sqlx::query(sql::SET_PASSWORD)
                .bind(id.get())
                .bind(new_hash.as_phc())
                .execute(&mut *tx)
                .await
                .map_err(op("reset password"))?;
            write_lock_state(&mut tx, id, LockState::cleared()).await?;
            sqlx::query(portal_adapters_sql::store::REVOKE_SESSIONS)
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
        // Under the token's row lock (the write lock on SQLite) racing
        // refusals each count, and the one that reaches the limit spends
        // the link (the rule is the domain's). On PostgreSQL only the token
        // is locked: no account lock is waited for while holding it, so no
        // deadlock with a redemption.
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let refusals: Int = sqlx::query_scalar(ours(sql::RESET_REFUSALS_FOR_CHANGE))
                .bind(hash_bytes(hash))
                .bind(stamp(now))
                .fetch_optional(&mut *tx)
                .await
                .map_err(op("lock reset token"))?
                .ok_or(RedeemError::InvalidToken)?;
            let before = ResetRefusals {
                refusals: u32::try_from(refusals).unwrap_or(0),
            };
            let (after, spent) = before.after_refusal(max_refusals);
            sqlx::query(sql::WRITE_RESET_REFUSALS)
                .bind(hash_bytes(hash))
                .bind(int(i64::from(after.refusals)))
                .bind(spent.then_some(stamp(now)))
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
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let id = change.account_id;
            // Under the account's lock (its row on PostgreSQL, the write
            // lock on SQLite), a reset or a logout that committed first
            // wins, and one that comes later waits for this change.
            let Some(row) = lock_account(&mut tx, id).await? else {
                return Ok(CredentialWrite::Stale);
            };
            let session_kept = sqlx::query(sql::SESSION_KEPT)
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
            sqlx::query(sql::SET_PASSWORD)
                .bind(id.get())
                .bind(change.new_hash.as_phc())
                .execute(&mut *tx)
                .await
                .map_err(op("change password"))?;
            sqlx::query(sql::REVOKE_OTHER_SESSIONS)
                .bind(id.get())
                .bind(hash_bytes(&change.keep))
                .execute(&mut *tx)
                .await
                .map_err(op("revoke other sessions"))?;
            enqueue(&mut tx, notice, now, None).await?;
            insert_audit(&mut *tx, audit).await?;
            tx.commit().await.map_err(op("commit password change"))?;
            Ok(CredentialWrite::Applied)
        })
        .await
    }
}

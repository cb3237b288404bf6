//! [`AccountSettings`] on either database.

use super::*;
use portal_adapters_sql::store::account_settings as sql;
use portal_adapters_sql::store::credentials::{COUNT_RECENT_TOKENS, SESSION_KEPT};
use portal_domain::ports::{
    AccountSettings, EmailChangeIssue, EmailChangeRequest, SecurityQuestionChange,
};

/// Locks the account (its row on PostgreSQL; SQLite's write transaction
/// holds the one write lock) and judges a write asked from session
/// `session` ([`CredentialWrite::judge`]): a gone account or session is
/// [`CredentialWrite::Stale`]. Under the account's lock, a reset that
/// committed first shows its new hash, and a later one waits for this
/// write.
async fn judge_from_session(
    conn: &mut Conn,
    id: AccountId,
    session: &TokenHash,
    verified: &PasswordHash,
    now: OffsetDateTime,
) -> Result<CredentialWrite, StoreError> {
    let Some(row) = lock_account(&mut *conn, id).await? else {
        return Ok(CredentialWrite::Stale);
    };
    let session_kept = sqlx::query(SESSION_KEPT)
        .bind(hash_bytes(session))
        .bind(id.get())
        .fetch_optional(&mut *conn)
        .await
        .map_err(op("find session"))?
        .is_some();
    if !session_kept {
        return Ok(CredentialWrite::Stale);
    }
    Ok(CredentialWrite::judge(&rows::account(&row)?, verified, now))
}

#[async_trait]
impl AccountSettings for Store {
    async fn issue_email_change(
        &self,
        request: &EmailChangeRequest,
        email: &Email,
        cap: EmailCap,
    ) -> Result<EmailChangeIssue, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let id = request.account_id;
            let issued_at = request.link.issued_at;
            // The account's lock also queues concurrent requests of the
            // account, so the cap is exact.
            let judged =
                judge_from_session(&mut tx, id, &request.session, &request.verified, issued_at)
                    .await?;
            if judged != CredentialWrite::Applied {
                return Ok(EmailChangeIssue::Refused(judged));
            }
            if cap.max > 0 {
                let recent: i64 = sqlx::query_scalar(COUNT_RECENT_TOKENS)
                    .bind(id.get())
                    .bind(stamp(issued_at - cap.window))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(op("count recent tokens"))?;
                if recent >= i64::from(cap.max) {
                    return Ok(EmailChangeIssue::CapReached);
                }
            }
            sqlx::query(sql::SUPERSEDE_EMAIL_CHANGES)
                .bind(id.get())
                .bind(stamp(issued_at))
                .execute(&mut *tx)
                .await
                .map_err(op("supersede email change links"))?;
            sqlx::query(sql::INSERT_EMAIL_CHANGE)
                .bind(hash_bytes(&request.link.hash))
                .bind(id.get())
                .bind(stamp(issued_at))
                .bind(stamp(request.link.expires_at))
                .bind(request.new_email.as_str())
                .execute(&mut *tx)
                .await
                .map_err(op("store email change link"))?;
            enqueue(&mut tx, email, issued_at, Some(request.link.expires_at)).await?;
            tx.commit().await.map_err(op("commit email change link"))?;
            Ok(EmailChangeIssue::Issued)
        })
        .await
    }

    async fn redeem_email_change(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let id = redeem(&mut tx, hash, TokenPurpose::EmailChange, now).await?;
            // The address stored with the link, copied in one statement.
            sqlx::query(sql::CHANGE_EMAIL)
                .bind(id.get())
                .bind(hash_bytes(hash))
                .execute(&mut *tx)
                .await
                .map_err(op("change email"))?;
            Ok(finish_redemption(tx, id, notice, audit, now, "commit email change").await?)
        })
        .await
    }

    async fn change_security_question(
        &self,
        change: &SecurityQuestionChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let id = change.account_id;
            let judged =
                judge_from_session(&mut tx, id, &change.session, &change.verified, now).await?;
            if judged != CredentialWrite::Applied {
                return Ok(judged);
            }
            sqlx::query(sql::CHANGE_SECURITY_QUESTION)
                .bind(id.get())
                .bind(i16::from(change.question.get()))
                .bind(change.answer_hash.as_phc())
                .execute(&mut *tx)
                .await
                .map_err(op("change security question"))?;
            enqueue(&mut tx, notice, now, None).await?;
            insert_audit(&mut *tx, audit).await?;
            tx.commit()
                .await
                .map_err(op("commit security question change"))?;
            Ok(CredentialWrite::Applied)
        })
        .await
    }
}

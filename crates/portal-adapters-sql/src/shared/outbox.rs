//! [`OutboxStore`] on either database: on PostgreSQL a claim skips the rows
//! another claimer holds (`FOR UPDATE SKIP LOCKED`); on SQLite it is one
//! `UPDATE … RETURNING`, which SQLite runs under its write lock, so two
//! claimers never share an email. Each claim increments the row's
//! `claims`, and every mark is conditional on it, so a mark for a claim
//! that is no longer current changes nothing.

use async_trait::async_trait;
use portal_adapters_sql::outbox as sql;
use portal_domain::email::{ClaimedEmail, OutboxClaim, OutboxId, QueuedEmail, UnreadableEmail};
use portal_domain::ports::{OutboxStore, PendingEmails, StoreError};
use portal_domain::stored::StoredEmail;
use portal_domain::values::Username;
use sqlx::Row;
use time::{Duration, OffsetDateTime};

use super::rows;
use crate::dialect::{DbRow, Store, known_kinds, ours, read_int, stamp};
use crate::error::op;

/// One claimed row. Only its id and claim must be readable; anything else
/// that cannot be read makes it an [`UnreadableEmail`], not a failed claim.
fn read_claimed(row: &DbRow) -> Result<ClaimedEmail, StoreError> {
    let read = op("read claimed email");
    let claim = OutboxClaim {
        id: OutboxId(row.try_get("id").map_err(&read)?),
        generation: row.try_get("claims").map_err(&read)?,
    };
    let kind: String = row.try_get("kind").map_err(&read)?;
    let email = || -> Result<QueuedEmail, StoreError> {
        let email = StoredEmail {
            recipient: row.try_get("recipient").map_err(&read)?,
            username: row.try_get("username").map_err(&read)?,
            kind: kind.clone(),
            token: row.try_get("token").map_err(&read)?,
        }
        .into_email()?;
        Ok(QueuedEmail {
            claim,
            email,
            attempts: u32::try_from(read_int(row, "attempts").map_err(&read)?).unwrap_or(0),
            link_expires_at: rows::opt_time(row, "link_expires_at")?,
            account_exists: row.try_get("account_exists").map_err(&read)?,
        })
    };
    Ok(email().map_err(|error| UnreadableEmail { claim, kind, error }))
}

#[async_trait]
impl OutboxStore for Store {
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, StoreError> {
        // The lease moves `due_at`, so that later claims skip these rows.
        let claimed = sqlx::query(ours(sql::CLAIM_DUE))
            .bind(stamp(now))
            .bind(stamp(now + lease))
            .bind(i64::from(limit))
            .bind(known_kinds())
            .fetch_all(&self.pool)
            .await
            .map_err(op("claim emails"))?;
        let mut emails = claimed
            .iter()
            .map(read_claimed)
            .collect::<Result<Vec<_>, StoreError>>()?;
        emails.sort_by_key(|row| row.as_ref().map_or_else(|e| e.claim.id, QueuedEmail::id));
        Ok(emails)
    }

    async fn mark_sent(&self, claim: OutboxClaim, now: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::MARK_SENT)
            .bind(claim.id.0)
            .bind(claim.generation)
            .bind(stamp(now))
            .execute(&self.pool)
            .await
            .map_err(op("mark email sent"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_retry(
        &self,
        claim: OutboxClaim,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::MARK_RETRY)
            .bind(claim.id.0)
            .bind(claim.generation)
            .bind(stamp(retry_at))
            .bind(error)
            .execute(&self.pool)
            .await
            .map_err(op("reschedule email"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_failed(
        &self,
        claim: OutboxClaim,
        now: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::MARK_FAILED)
            .bind(claim.id.0)
            .bind(claim.generation)
            .bind(stamp(now))
            .bind(error)
            .execute(&self.pool)
            .await
            .map_err(op("mark email failed"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn pending_for(&self, username: &Username) -> Result<PendingEmails, StoreError> {
        // The newest error among the queued emails: the one an operator
        // asking about a missing email wants to read.
        let row = sqlx::query(sql::PENDING_FOR)
            .bind(username.key())
            .fetch_one(&self.pool)
            .await
            .map_err(op("count queued emails"))?;
        let read = op("read queued emails");
        let count: i64 = row.try_get("pending").map_err(&read)?;
        Ok(PendingEmails {
            count: u64::try_from(count).unwrap_or(0),
            last_error: row.try_get("last_error").map_err(&read)?,
        })
    }
}

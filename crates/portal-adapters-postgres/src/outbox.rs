//! [`OutboxStore`] on PostgreSQL: claims with `FOR UPDATE SKIP LOCKED`.

use async_trait::async_trait;
use portal_domain::email::{OutboxId, QueuedEmail};
use portal_domain::ports::{OutboxStore, StoreError};
use portal_domain::stored::StoredEmail;
use portal_domain::values::Username;
use sqlx::Row;
use time::{Duration, OffsetDateTime};

use crate::PgStore;
use crate::error::op;

#[async_trait]
impl OutboxStore for PgStore {
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        // Rows another claimer has locked are skipped, not waited for; the
        // lease moves `due_at` so that later claims skip them too.
        let claimed = sqlx::query(
            "UPDATE email_outbox SET due_at = $2 WHERE id IN ( \
                 SELECT id FROM email_outbox WHERE status = 'queued' AND due_at <= $1 \
                 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, recipient, username, kind, token, attempts",
        )
        .bind(now)
        .bind(now + lease)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(op("claim emails"))?;
        let mut emails = claimed
            .iter()
            .map(|row| {
                let read = op("read email");
                let email = StoredEmail {
                    recipient: row.try_get("recipient").map_err(&read)?,
                    username: row.try_get("username").map_err(&read)?,
                    kind: row.try_get("kind").map_err(&read)?,
                    token: row.try_get("token").map_err(&read)?,
                }
                .into_email()?;
                Ok(QueuedEmail {
                    id: OutboxId(row.try_get("id").map_err(&read)?),
                    email,
                    attempts: u32::try_from(row.try_get::<i32, _>("attempts").map_err(&read)?)
                        .unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        emails.sort_by_key(|queued| queued.id);
        Ok(emails)
    }

    async fn mark_sent(&self, id: OutboxId, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE email_outbox SET status = 'sent', finished_at = $2, attempts = attempts + 1, token = NULL \
             WHERE id = $1 AND status = 'queued'",
        )
        .bind(id.0)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(op("mark email sent"))?;
        Ok(())
    }

    async fn mark_retry(
        &self,
        id: OutboxId,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE email_outbox SET due_at = $2, attempts = attempts + 1, last_error = $3 \
             WHERE id = $1 AND status = 'queued'",
        )
        .bind(id.0)
        .bind(retry_at)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(op("reschedule email"))?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: OutboxId,
        now: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE email_outbox SET status = 'failed', finished_at = $2, attempts = attempts + 1, last_error = $3, \
             token = NULL WHERE id = $1 AND status = 'queued'",
        )
        .bind(id.0)
        .bind(now)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(op("mark email failed"))?;
        Ok(())
    }

    async fn pending_for(&self, username: &Username) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM email_outbox WHERE status = 'queued' AND lower(username) = $1",
        )
        .bind(username.key())
        .fetch_one(&self.pool)
        .await
        .map_err(op("count queued emails"))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

//! [`Housekeeping`] on PostgreSQL.

use super::*;

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

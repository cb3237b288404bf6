//! [`Housekeeping`] on PostgreSQL.

use super::*;
use portal_adapters_sql::store::housekeeping as sql;

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
            let candidates: Vec<i64> = sqlx::query_scalar(sql::LOCK_STALE_PENDING)
                .bind(cutoff)
                .fetch_all(&mut *tx)
                .await
                .map_err(op("lock stale pending accounts"))?;
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            let purged = sqlx::query_scalar(sql::PURGE_STALE_PENDING.postgres)
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
            let flows = sqlx::query(sql::PURGE_FLOWS)
                .bind(flows_before)
                .execute(&mut *tx)
                .await
                .map_err(op("purge flows"))?
                .rows_affected();
            // Dead tokens go, except activation tokens of pending accounts (the
            // stale-pending purge reads their expiry) and anything issued after
            // `capped_since` (the email cap counts it).
            let tokens = sqlx::query(sql::PURGE_TOKENS)
                .bind(now)
                .bind(capped_since)
                .execute(&mut *tx)
                .await
                .map_err(op("purge tokens"))?
                .rows_affected();
            let sessions = sqlx::query(sql::PURGE_SESSIONS)
                .bind(now - session_idle)
                .bind(now - session_absolute)
                .execute(&mut *tx)
                .await
                .map_err(op("purge sessions"))?
                .rows_affected();
            let sent_emails = sqlx::query(sql::PURGE_SENT_EMAILS)
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

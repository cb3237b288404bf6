//! [`Housekeeping`] on either database.

use super::*;
use crate::dialect::{purge_sessions, purge_stale_pending};
use portal_adapters_sql::store::housekeeping as sql;

#[async_trait]
impl Housekeeping for Store {
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        purge_stale_pending(&self.pool, cutoff).await
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
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            let flows = sqlx::query(sql::PURGE_FLOWS)
                .bind(stamp(flows_before))
                .execute(&mut *tx)
                .await
                .map_err(op("purge flows"))?
                .rows_affected();
            // Dead tokens go, except activation tokens of pending accounts (the
            // stale-pending purge reads their expiry) and anything issued after
            // `capped_since` (the email cap counts it).
            let tokens = sqlx::query(sql::PURGE_TOKENS)
                .bind(stamp(now))
                .bind(stamp(capped_since))
                .execute(&mut *tx)
                .await
                .map_err(op("purge tokens"))?
                .rows_affected();
            let sessions =
                purge_sessions(&mut tx, now - session_idle, now - session_absolute).await?;
            let sent_emails = sqlx::query(sql::PURGE_SENT_EMAILS)
                .bind(stamp(sent_before))
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

//! [`Housekeeping`] on SQLite.

use super::*;
use portal_adapters_sql::store::housekeeping as sql;

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        // One statement: tokens, sessions and support checks go with the
        // account (ON DELETE CASCADE).
        sqlx::query_scalar(sql::PURGE_STALE_PENDING.sqlite)
            .bind(Ts(cutoff))
            .fetch_all(&self.pool)
            .await
            .map_err(op("purge stale pending accounts"))
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin"))?;
        let flows = sqlx::query(sql::PURGE_FLOWS)
            .bind(Ts(flows_before))
            .execute(&mut *tx)
            .await
            .map_err(op("purge flows"))?
            .rows_affected();
        // Dead tokens go, except activation tokens of pending accounts (the
        // stale-pending purge reads their expiry) and anything issued after
        // `capped_since` (the email cap counts it).
        let tokens = sqlx::query(sql::PURGE_TOKENS)
            .bind(Ts(now))
            .bind(Ts(capped_since))
            .execute(&mut *tx)
            .await
            .map_err(op("purge tokens"))?
            .rows_affected();
        // Idle sessions, then those past their absolute age: two statements,
        // each a range over its own index (SQLite reads the whole table for
        // one `OR` of the two).
        let idle_sessions = sqlx::query(sql::PURGE_IDLE_SESSIONS)
            .bind(Ts(now - session_idle))
            .execute(&mut *tx)
            .await
            .map_err(op("purge idle sessions"))?
            .rows_affected();
        let aged_sessions = sqlx::query(sql::PURGE_AGED_SESSIONS)
            .bind(Ts(now - session_absolute))
            .execute(&mut *tx)
            .await
            .map_err(op("purge aged sessions"))?
            .rows_affected();
        let sessions = idle_sessions + aged_sessions;
        let sent_emails = sqlx::query(sql::PURGE_SENT_EMAILS)
            .bind(Ts(sent_before))
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
    }
}

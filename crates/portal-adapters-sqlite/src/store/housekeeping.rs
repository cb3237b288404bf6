//! [`Housekeeping`] on SQLite.

use super::*;

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        // One statement: tokens, sessions and support checks go with the
        // account (ON DELETE CASCADE).
        sqlx::query_scalar(
            "DELETE FROM accounts AS a WHERE a.activated_at IS NULL AND \
             (SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < ?1 \
             RETURNING username",
        )
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
        let flows = sqlx::query(
            "DELETE FROM registration_flows WHERE coalesce(expires_at, finished_at) < ?1",
        )
        .bind(Ts(flows_before))
        .execute(&mut *tx)
        .await
        .map_err(op("purge flows"))?
        .rows_affected();
        // Dead tokens go, except activation tokens of pending accounts (the
        // stale-pending purge reads their expiry) and anything issued after
        // `capped_since` (the email cap counts it).
        let tokens = sqlx::query(
            "DELETE FROM link_tokens AS t WHERE (t.used_at IS NOT NULL OR t.superseded_at IS NOT NULL OR t.expires_at <= ?1) \
             AND t.issued_at <= ?2 \
             AND NOT (t.purpose = 'activation' AND EXISTS \
                 (SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.activated_at IS NULL))",
        )
        .bind(Ts(now))
        .bind(Ts(capped_since))
        .execute(&mut *tx)
        .await
        .map_err(op("purge tokens"))?
        .rows_affected();
        // Idle sessions, then those past their absolute age: two statements,
        // each a range over its own index (SQLite reads the whole table for
        // one `OR` of the two).
        let idle_sessions = sqlx::query("DELETE FROM sessions WHERE last_seen_at <= ?1")
            .bind(Ts(now - session_idle))
            .execute(&mut *tx)
            .await
            .map_err(op("purge idle sessions"))?
            .rows_affected();
        let aged_sessions = sqlx::query("DELETE FROM sessions WHERE created_at <= ?1")
            .bind(Ts(now - session_absolute))
            .execute(&mut *tx)
            .await
            .map_err(op("purge aged sessions"))?
            .rows_affected();
        let sessions = idle_sessions + aged_sessions;
        let sent_emails =
            sqlx::query("DELETE FROM email_outbox WHERE status = 'sent' AND finished_at < ?1")
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

//! [`Sessions`] on PostgreSQL.

use super::*;

#[async_trait]
impl Sessions for PgStore {
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT s.created_at AS session_created_at, s.last_seen_at, a.*, ",
            joined_provider_columns!(),
            " FROM sessions s CROSS JOIN LATERAL (SELECT ",
            account_columns!(),
            " FROM accounts WHERE id = s.account_id) a \
             LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id \
             WHERE s.token_hash = $1"
        ))
        .bind(hash_bytes(hash))
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find session"))?;
        row.map(|row| {
            let read = op("read session");
            let account = rows::account(&row)?;
            let session = Session {
                token_hash: *hash,
                account_id: account.id,
                created_at: row.try_get("session_created_at").map_err(&read)?,
                last_seen_at: row.try_get("last_seen_at").map_err(&read)?,
            };
            Ok((session, account, rows::joined_provider(&row)?))
        })
        .transpose()
    }

    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2) WHERE token_hash = $1",
        )
        .bind(hash_bytes(hash))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(op("touch session"))?;
        Ok(())
    }

    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(hash_bytes(hash))
            .execute(&self.pool)
            .await
            .map_err(op("revoke session"))?;
        Ok(())
    }
}

//! [`Sessions`] on SQLite.

use super::*;

#[async_trait]
impl Sessions for SqliteStore {
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT s.created_at AS session_created_at, s.last_seen_at, a.*, ",
            joined_provider_columns!(),
            " FROM sessions s JOIN (SELECT ",
            account_columns!(),
            " FROM accounts) a ON a.id = s.account_id \
             LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id \
             WHERE s.token_hash = ?1"
        ))
        .bind(hash_bytes(hash))
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find session"))?;
        row.map(|row| {
            let account = rows::account(&row)?;
            let session = Session {
                token_hash: *hash,
                account_id: account.id,
                created_at: time(&row, "session_created_at")?,
                last_seen_at: time(&row, "last_seen_at")?,
            };
            Ok((session, account, rows::joined_provider(&row)?))
        })
        .transpose()
    }

    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE token_hash = ?1",
        )
        .bind(hash_bytes(hash))
        .bind(Ts(now))
        .execute(&self.pool)
        .await
        .map_err(op("touch session"))?;
        Ok(())
    }

    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
            .bind(hash_bytes(hash))
            .execute(&self.pool)
            .await
            .map_err(op("revoke session"))?;
        Ok(())
    }
}

//! [`Sessions`] on either database.

use super::*;
use portal_adapters_sql::store::sessions as sql;

#[async_trait]
impl Sessions for Store {
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError> {
        let row = sqlx::query(ours(sql::FIND))
            .bind(hash_bytes(hash))
            .fetch_optional(&self.pool)
            .await
            .map_err(op("find session"))?;
        row.map(|row| {
            let account = rows::account(&row)?;
            let session = Session {
                token_hash: *hash,
                account_id: account.id,
                created_at: rows::time(&row, "session_created_at")?,
                last_seen_at: rows::time(&row, "last_seen_at")?,
            };
            Ok((session, account, rows::joined_provider(&row)?))
        })
        .transpose()
    }

    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(ours(sql::TOUCH))
            .bind(hash_bytes(hash))
            .bind(stamp(now))
            .execute(&self.pool)
            .await
            .map_err(op("touch session"))?;
        Ok(())
    }

    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        sqlx::query(sql::REVOKE)
            .bind(hash_bytes(hash))
            .execute(&self.pool)
            .await
            .map_err(op("revoke session"))?;
        Ok(())
    }
}

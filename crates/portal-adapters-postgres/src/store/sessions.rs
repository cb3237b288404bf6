//! [`Sessions`] on PostgreSQL.

use super::*;
use portal_adapters_sql::store::sessions as sql;

#[async_trait]
impl Sessions for PgStore {
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError> {
        let row = sqlx::query(sql::FIND.postgres)
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
        sqlx::query(sql::TOUCH.postgres)
            .bind(hash_bytes(hash))
            .bind(now)
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

//! [`Passkeys`] on either database: passkeys and their ceremonies. A
//! ceremony is taken by one conditional `DELETE … RETURNING` (of two racing
//! finishes one gets it); the writes that check a count or queue a notice
//! hold the account first (its row lock on PostgreSQL, account first as
//! everywhere; SQLite's `BEGIN IMMEDIATE` holds the one write lock).

use portal_domain::passkey::{
    CeremonyKind, CeremonyState, NewPasskey, Passkey, PasskeyCeremony, PasskeyId, PasskeyName,
    StoredCredential,
};
use portal_domain::ports::Passkeys;

use super::*;
use crate::dialect::{DbRow, hold_account};
use portal_adapters_sql::store::passkeys as sql;

fn passkey(account: AccountId, row: &DbRow) -> Result<Passkey, StoreError> {
    let name: String = row.try_get("name").map_err(op("read passkey"))?;
    Ok(Passkey {
        id: PasskeyId::new(row.try_get("id").map_err(op("read passkey"))?),
        account_id: account,
        name: PasskeyName::parse(&name)
            .map_err(|e| StoreError::Unexpected(format!("a stored passkey name: {e}")))?,
        credential_id: row.try_get("credential_id").map_err(op("read passkey"))?,
        credential: StoredCredential::from_stored(
            row.try_get("credential").map_err(op("read passkey"))?,
        ),
        created_at: rows::time(row, "created_at")?,
        last_used_at: rows::opt_time(row, "last_used_at")?,
    })
}

/// A `count(*) AS n`: a `bigint` on PostgreSQL, SQLite's one `INTEGER`.
fn count(row: &DbRow) -> Result<i64, StoreError> {
    row.try_get("n").map_err(op("read count"))
}

#[async_trait]
impl Passkeys for Store {
    async fn passkeys_of(&self, id: AccountId) -> Result<Vec<Passkey>, StoreError> {
        let rows = sqlx::query(sql::PASSKEYS_OF)
            .bind(id.get())
            .fetch_all(&self.pool)
            .await
            .map_err(op("read passkeys"))?;
        rows.iter().map(|row| passkey(id, row)).collect()
    }

    async fn start_passkey_ceremony(
        &self,
        ceremony: &PasskeyCeremony,
        max: u32,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            // Under the account's lock: racing starts count one by one.
            if !hold_account(&mut tx, ceremony.account_id).await? {
                return Ok(false);
            }
            sqlx::query(sql::DROP_EXPIRED_CEREMONIES)
                .bind(ceremony.account_id.get())
                .bind(stamp(now))
                .bind(hash_bytes(&ceremony.hash))
                .execute(&mut *tx)
                .await
                .map_err(op("drop expired ceremonies"))?;
            let live = count(
                &sqlx::query(sql::COUNT_CEREMONIES)
                    .bind(ceremony.account_id.get())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(op("count ceremonies"))?,
            )?;
            if live >= i64::from(max) {
                return Ok(false);
            }
            sqlx::query(sql::INSERT_CEREMONY)
                .bind(hash_bytes(&ceremony.hash))
                .bind(ceremony.account_id.get())
                .bind(ceremony.kind.as_str())
                .bind(ceremony.state.as_bytes())
                .bind(stamp(ceremony.expires_at))
                .execute(&mut *tx)
                .await
                .map_err(op("store ceremony"))?;
            tx.commit().await.map_err(op("commit ceremony"))?;
            Ok(true)
        })
        .await
    }

    async fn take_passkey_ceremony(
        &self,
        hash: &TokenHash,
        kind: CeremonyKind,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyCeremony>, StoreError> {
        let row = sqlx::query(sql::TAKE_CEREMONY)
            .bind(hash_bytes(hash))
            .bind(kind.as_str())
            .bind(stamp(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(op("take ceremony"))?;
        row.map(|row| {
            Ok(PasskeyCeremony {
                hash: *hash,
                account_id: AccountId::new(row.try_get("account_id").map_err(op("read ceremony"))?),
                kind,
                state: CeremonyState::from_stored(
                    row.try_get("state").map_err(op("read ceremony"))?,
                ),
                expires_at: rows::time(&row, "expires_at")?,
            })
        })
        .transpose()
    }

    async fn add_passkey(
        &self,
        id: AccountId,
        passkey: &NewPasskey,
        max: usize,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyId>, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            if !hold_account(&mut tx, id).await? {
                return Ok(None);
            }
            let owned = count(
                &sqlx::query(sql::COUNT_PASSKEYS)
                    .bind(id.get())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(op("count passkeys"))?,
            )?;
            if usize::try_from(owned).unwrap_or(usize::MAX) >= max {
                return Ok(None);
            }
            let registered: bool = sqlx::query(sql::CREDENTIAL_REGISTERED)
                .bind(&passkey.credential_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(op("look for credential"))?
                .try_get("registered")
                .map_err(op("read credential"))?;
            if registered {
                return Ok(None);
            }
            // The unique credential id settles a race with another account.
            let row = sqlx::query(sql::INSERT_PASSKEY)
                .bind(id.get())
                .bind(passkey.name.as_str())
                .bind(&passkey.credential_id)
                .bind(passkey.credential.as_bytes())
                .bind(stamp(now))
                .fetch_one(&mut *tx)
                .await
                .map_err(op("store passkey"))?;
            let passkey_id = PasskeyId::new(row.try_get("id").map_err(op("read passkey id"))?);
            enqueue(&mut tx, notice, now, None).await?;
            insert_audit(&mut *tx, audit).await?;
            tx.commit().await.map_err(op("commit passkey"))?;
            Ok(Some(passkey_id))
        })
        .await
    }

    async fn rename_passkey(
        &self,
        id: AccountId,
        passkey: PasskeyId,
        name: &PasskeyName,
    ) -> Result<bool, StoreError> {
        let renamed = sqlx::query(sql::RENAME_PASSKEY)
            .bind(id.get())
            .bind(passkey.get())
            .bind(name.as_str())
            .execute(&self.pool)
            .await
            .map_err(op("rename passkey"))?;
        Ok(renamed.rows_affected() == 1)
    }

    async fn remove_passkey(
        &self,
        id: AccountId,
        passkey: PasskeyId,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            if !hold_account(&mut tx, id).await? {
                return Ok(false);
            }
            let removed = sqlx::query(sql::REMOVE_PASSKEY)
                .bind(id.get())
                .bind(passkey.get())
                .execute(&mut *tx)
                .await
                .map_err(op("remove passkey"))?;
            if removed.rows_affected() != 1 {
                return Ok(false);
            }
            enqueue(&mut tx, notice, now, None).await?;
            insert_audit(&mut *tx, audit).await?;
            tx.commit().await.map_err(op("commit passkey removal"))?;
            Ok(true)
        })
        .await
    }

    async fn record_passkey_use(
        &self,
        id: AccountId,
        passkey: PasskeyId,
        updated: Option<StoredCredential>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let recorded = sqlx::query(sql::RECORD_PASSKEY_USE)
            .bind(id.get())
            .bind(passkey.get())
            .bind(stamp(now))
            .bind(updated.as_ref().map(StoredCredential::as_bytes))
            .execute(&self.pool)
            .await
            .map_err(op("record passkey use"))?;
        Ok(recorded.rows_affected() == 1)
    }
}

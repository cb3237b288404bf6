//! [`Accounts`] on either database.

use super::*;
use crate::dialect::{bind_next_id, next_account_id};
use portal_adapters_sql::store::accounts as sql;

#[async_trait]
impl Accounts for Store {
    async fn account_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(sql::BY_USERNAME)
            .bind(username.key())
            .fetch_optional(&self.pool)
            .await
            .map_err(op("find account by username"))?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(sql::BY_ID)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(op("find account by id"))?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn account_by_registrant(
        &self,
        key: &RegistrantKey,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(sql::BY_REGISTRANT)
            .bind(key.to_storage_key())
            .fetch_optional(&self.pool)
            .await
            .map_err(op("find account by registrant"))?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn create_account(
        &self,
        finished_flow: &RegistrationFlow,
        account: &NewAccount,
        activation: &LinkToken,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, CreateAccountError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            // The flow first: a twin submission of this step (queued on the
            // flow's row lock on PostgreSQL, on the write lock on SQLite)
            // then finds the flow moved on, not its own account holding the
            // username.
            if !compare_and_set_flow(&mut tx, finished_flow).await? {
                return Err(CreateAccountError::FlowConflict);
            }
            // The new account's id, where the database must be told it
            // (SQLite's, see the dialect).
            let id = next_account_id(&mut tx).await?;
            // A pending account of this registrant is replaced (SPEC §3
            // step 1): deleted with its tokens, sessions and support checks
            // (ON DELETE CASCADE), its username freed. On PostgreSQL its row
            // lock queues a concurrent activation or replacement; on any
            // error below the transaction rolls back and it stays. (Found
            // through the registrant's unique index: see
            // `sql::REPLACE_PENDING`.)
            let replaced: Option<String> = sqlx::query_scalar(sql::REPLACE_PENDING)
                .bind(account.provider.registrant_key().to_storage_key())
                .fetch_optional(&mut *tx)
                .await
                .map_err(op("replace pending account"))?;
            // The SPEC's order when both clash: username first.
            let taken = sqlx::query(sql::USERNAME_TAKEN)
                .bind(account.username.key())
                .fetch_optional(&mut *tx)
                .await
                .map_err(op("check username"))?;
            if taken.is_some() {
                return Err(CreateAccountError::UsernameTaken);
            }
            if let Some(old) = &replaced {
                insert_audit(&mut *tx, &AuditEvent::pending_replaced(audit, old)).await?;
            }
            let agreement = StoredAcceptance::from_acceptance(&account.agreement);
            let insert = sqlx::query(ours(sql::INSERT))
                .bind(account.username.as_str())
                .bind(account.email.as_str())
                .bind(account.password_hash.as_phc())
                .bind(account.provider.kind.as_str())
                .bind(account.provider.tax_id.as_str())
                .bind(account.provider.provider_id.as_str())
                .bind(account.provider.registrant_key().to_storage_key())
                .bind(agreement.version)
                .bind(agreement.content_hash)
                .bind(stamp(agreement.accepted_at))
                .bind(agreement.client_addr)
                .bind(i16::from(account.security_question.get()))
                .bind(account.security_answer_hash.as_phc())
                .bind(stamp(account.created_at));
            let inserted = bind_next_id(insert, id).fetch_one(&mut *tx).await;
            let row = match inserted {
                Ok(row) => row,
                Err(error) => {
                    return Err(match violated_unique(&error) {
                        Some("accounts_username_unique") => CreateAccountError::UsernameTaken,
                        Some("accounts_registrant_unique") => CreateAccountError::AlreadyRegistered,
                        _ => CreateAccountError::Store(store_error("insert account", error)),
                    });
                }
            };
            let created = rows::account(&row)?;
            sqlx::query(sql::INSERT_ACTIVATION_TOKEN)
                .bind(hash_bytes(&activation.hash))
                .bind(created.id.get())
                .bind(stamp(activation.issued_at))
                .bind(stamp(activation.expires_at))
                .execute(&mut *tx)
                .await
                .map_err(op("store activation token"))?;
            enqueue(
                &mut tx,
                email,
                account.created_at,
                Some(activation.expires_at),
            )
            .await?;
            insert_audit(&mut *tx, audit).await?;
            tx.commit().await.map_err(op("commit account"))?;
            Ok(created)
        })
        .await
    }

    async fn record_agreement(
        &self,
        id: AccountId,
        acceptance: &AgreementAcceptance,
    ) -> Result<(), StoreError> {
        let stored = StoredAcceptance::from_acceptance(acceptance);
        sqlx::query(sql::RECORD_AGREEMENT)
            .bind(id.get())
            .bind(stored.version)
            .bind(stored.content_hash)
            .bind(stamp(stored.accepted_at))
            .bind(stored.client_addr)
            .execute(&self.pool)
            .await
            .map_err(op("record agreement"))?;
        Ok(())
    }

    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            sqlx::query(sql::SET_DISABLED)
                .bind(id.get())
                .bind(disabled)
                .execute(&mut *tx)
                .await
                .map_err(op("set disabled"))?;
            if disabled {
                sqlx::query(portal_adapters_sql::store::REVOKE_SESSIONS)
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await
                    .map_err(op("revoke sessions"))?;
            }
            tx.commit().await.map_err(op("commit disable"))
        })
        .await
    }
}

//! [`SecondFactors`] on either database: TOTP secrets (sealed), recovery codes and
//! login challenges (hashed). Each single-use guard is one conditional
//! statement, so two racing uses write once; the changes that queue a
//! notice hold the account first (its row lock on PostgreSQL, account first
//! as everywhere; SQLite's `BEGIN IMMEDIATE` holds the one write lock).

use portal_domain::ports::SecondFactors;
use portal_domain::second_factor::{
    FactorSummary, MfaChallenge, SealedSecret, TimeStep, TotpFactor,
};

use super::*;
use crate::dialect::hold_account;
use portal_adapters_sql::store::passkeys as passkey_sql;
use portal_adapters_sql::store::second_factors as sql;

fn hash_of(bytes: Vec<u8>) -> Result<TokenHash, StoreError> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Unexpected("a stored hash is not 32 bytes".to_owned()))?;
    Ok(TokenHash::from_bytes(bytes))
}

#[async_trait]
impl SecondFactors for Store {
    async fn totp_factor(&self, id: AccountId) -> Result<Option<TotpFactor>, StoreError> {
        let row = sqlx::query(sql::TOTP_FACTOR)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(op("read TOTP factor"))?;
        row.map(|row| {
            Ok(TotpFactor {
                sealed: SealedSecret::from_stored(
                    row.try_get("sealed").map_err(op("read sealed"))?,
                ),
                confirmed: row.try_get("confirmed").map_err(op("read confirmed"))?,
                last_step: row.try_get("last_step").map_err(op("read last step"))?,
            })
        })
        .transpose()
    }

    async fn start_totp_enrolment(
        &self,
        id: AccountId,
        sealed: &SealedSecret,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // Replaces an unconfirmed secret; a confirmed one stays.
        let written = sqlx::query(sql::START_TOTP_ENROLMENT)
            .bind(id.get())
            .bind(sealed.as_bytes())
            .bind(stamp(now))
            .execute(&self.pool)
            .await
            .map_err(op("start TOTP enrolment"))?;
        Ok(written.rows_affected() == 1)
    }

    async fn confirm_totp(
        &self,
        id: AccountId,
        sealed: &SealedSecret,
        step: TimeStep,
        recovery_codes: &[TokenHash],
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            if !hold_account(&mut tx, id).await? {
                return Ok(false);
            }
            let confirmed = sqlx::query(sql::CONFIRM_TOTP)
                .bind(id.get())
                .bind(sealed.as_bytes())
                .bind(step)
                .execute(&mut *tx)
                .await
                .map_err(op("confirm TOTP"))?;
            if confirmed.rows_affected() != 1 {
                return Ok(false);
            }
            sqlx::query(sql::DROP_RECOVERY_CODES)
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(op("drop recovery codes"))?;
            for code in recovery_codes {
                sqlx::query(sql::INSERT_RECOVERY_CODE)
                    .bind(id.get())
                    .bind(hash_bytes(code))
                    .execute(&mut *tx)
                    .await
                    .map_err(op("store recovery code"))?;
            }
            enqueue(&mut tx, notice, now, None).await?;
            insert_audit(&mut *tx, audit).await?;
            tx.commit().await.map_err(op("commit TOTP confirmation"))?;
            Ok(true)
        })
        .await
    }

    async fn accept_totp_step(&self, id: AccountId, step: TimeStep) -> Result<bool, StoreError> {
        let written = sqlx::query(sql::ACCEPT_TOTP_STEP)
            .bind(id.get())
            .bind(step)
            .execute(&self.pool)
            .await
            .map_err(op("accept TOTP step"))?;
        Ok(written.rows_affected() == 1)
    }

    async fn use_recovery_code(
        &self,
        id: AccountId,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let written = sqlx::query(sql::USE_RECOVERY_CODE)
            .bind(id.get())
            .bind(hash_bytes(code))
            .bind(stamp(now))
            .execute(&self.pool)
            .await
            .map_err(op("use recovery code"))?;
        Ok(written.rows_affected() == 1)
    }

    async fn second_factors_of(&self, id: AccountId) -> Result<FactorSummary, StoreError> {
        let row = sqlx::query(sql::SUMMARY)
            .bind(id.get())
            .fetch_one(&self.pool)
            .await
            .map_err(op("read second factors"))?;
        let left: i64 = row.try_get("codes_left").map_err(op("read codes left"))?;
        let passkeys: i64 = row.try_get("passkeys").map_err(op("read passkeys"))?;
        Ok(FactorSummary {
            totp: row.try_get("totp").map_err(op("read TOTP"))?,
            recovery_codes_left: u32::try_from(left).unwrap_or(u32::MAX),
            passkeys: u32::try_from(passkeys).unwrap_or(u32::MAX),
        })
    }

    async fn any_totp_secret(&self) -> Result<bool, StoreError> {
        let row = sqlx::query(sql::ANY_TOTP_SECRET)
            .fetch_one(&self.pool)
            .await
            .map_err(op("look for TOTP secrets"))?;
        row.try_get("any_secret").map_err(op("read TOTP secrets"))
    }

    async fn remove_second_factors(
        &self,
        id: AccountId,
        passkeys: bool,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            if !hold_account(&mut tx, id).await? {
                return Ok(false);
            }
            let removed = sqlx::query(sql::REMOVE_TOTP)
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map_err(op("remove TOTP factor"))?
                .rows_affected()
                > 0;
            for statement in [sql::DROP_RECOVERY_CODES, sql::DROP_CHALLENGES] {
                sqlx::query(statement)
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await
                    .map_err(op("remove second factors"))?;
            }
            let mut removed = removed;
            if passkeys {
                removed |= sqlx::query(passkey_sql::REMOVE_PASSKEYS)
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await
                    .map_err(op("remove passkeys"))?
                    .rows_affected()
                    > 0;
                sqlx::query(passkey_sql::DROP_CEREMONIES)
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await
                    .map_err(op("drop passkey ceremonies"))?;
            }
            if removed {
                enqueue(&mut tx, notice, now, None).await?;
                insert_audit(&mut *tx, audit).await?;
            }
            tx.commit()
                .await
                .map_err(op("commit second-factor removal"))?;
            Ok(removed)
        })
        .await
    }

    async fn create_mfa_challenge(
        &self,
        challenge: &MfaChallenge,
        verified: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            // Under the account's lock: a lock set by a failure that
            // committed first is seen, and one that comes later waits.
            let Some(row) = lock_account(&mut tx, challenge.account_id).await? else {
                return Ok(CredentialWrite::Stale);
            };
            let judged = CredentialWrite::judge(&rows::account(&row)?, verified, now);
            if judged != CredentialWrite::Applied {
                return Ok(judged);
            }
            sqlx::query(sql::DROP_EXPIRED_CHALLENGES)
                .bind(challenge.account_id.get())
                .bind(stamp(now))
                .execute(&mut *tx)
                .await
                .map_err(op("drop expired challenges"))?;
            sqlx::query(sql::INSERT_CHALLENGE)
                .bind(hash_bytes(&challenge.hash))
                .bind(challenge.account_id.get())
                .bind(hash_bytes(&challenge.password_check))
                .bind(stamp(challenge.expires_at))
                .execute(&mut *tx)
                .await
                .map_err(op("store challenge"))?;
            tx.commit().await.map_err(op("commit challenge"))?;
            Ok(CredentialWrite::Applied)
        })
        .await
    }

    async fn find_mfa_challenge(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        let row = sqlx::query(sql::FIND_CHALLENGE)
            .bind(hash_bytes(hash))
            .fetch_optional(&self.pool)
            .await
            .map_err(op("find challenge"))?;
        row.map(|row| {
            Ok(MfaChallenge {
                hash: *hash,
                account_id: AccountId::new(
                    row.try_get("account_id").map_err(op("read challenge"))?,
                ),
                password_check: hash_of(
                    row.try_get("password_check")
                        .map_err(op("read challenge"))?,
                )?,
                expires_at: rows::time(&row, "expires_at")?,
            })
        })
        .transpose()
    }

    async fn spend_mfa_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let spent = sqlx::query(sql::SPEND_CHALLENGE)
            .bind(hash_bytes(hash))
            .bind(stamp(now))
            .execute(&self.pool)
            .await
            .map_err(op("spend challenge"))?;
        Ok(spent.rows_affected() == 1)
    }
}

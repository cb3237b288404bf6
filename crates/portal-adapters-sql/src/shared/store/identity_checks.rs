//! [`IdentityChecks`] on either database.

use super::*;
use crate::dialect::{hold_account, lock_for_proofing};
use portal_adapters_sql::store::identity_checks as sql;

#[async_trait]
impl IdentityChecks for Store {
    async fn record_proofing_mismatch(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        at: OffsetDateTime,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<WindowRecord, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            // One provider's mismatches queue here, so the count read below
            // is the one the insert adds to.
            lock_for_proofing(&mut tx, tax_id, provider_id).await?;
            if limit > 0 {
                let row = sqlx::query(sql::PROOFING_WINDOW)
                    .bind(tax_id.as_str())
                    .bind(provider_id.as_str())
                    .bind(stamp(since))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(op("count proofing mismatches"))?;
                let count: i64 = row.try_get("count").map_err(op("read count"))?;
                let oldest: Option<OffsetDateTime> = rows::opt_time(&row, "oldest")?;
                if let Some(oldest) = oldest.filter(|_| count >= i64::from(limit)) {
                    return Ok(WindowRecord::Limited { oldest });
                }
            }
            sqlx::query(sql::INSERT_PROOFING_FAILURE)
                .bind(tax_id.as_str())
                .bind(provider_id.as_str())
                .bind(stamp(at))
                .execute(&mut *tx)
                .await
                .map_err(op("record proofing mismatch"))?;
            tx.commit().await.map_err(op("commit proofing mismatch"))?;
            Ok(WindowRecord::Recorded)
        })
        .await
    }

    async fn proofing_mismatches_since(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        since: OffsetDateTime,
    ) -> Result<ProofingFailures, StoreError> {
        let row = sqlx::query(sql::PROOFING_WINDOW)
            .bind(tax_id.as_str())
            .bind(provider_id.as_str())
            .bind(stamp(since))
            .fetch_one(&self.pool)
            .await
            .map_err(op("count proofing mismatches"))?;
        let count: i64 = row.try_get("count").map_err(op("read count"))?;
        Ok(ProofingFailures {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            oldest: rows::opt_time(&row, "oldest")?,
        })
    }

    async fn support_failures_since(
        &self,
        id: AccountId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        let count: i64 = sqlx::query_scalar(sql::COUNT_SUPPORT_FAILURES)
            .bind(id.get())
            .bind(stamp(since))
            .fetch_one(&self.pool)
            .await
            .map_err(op("count support checks"))?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn record_support_check(
        &self,
        id: AccountId,
        at: OffsetDateTime,
        matched: bool,
        since: OffsetDateTime,
        max_failed: u32,
    ) -> Result<WindowRecord, StoreError> {
        retrying(move || async move {
            let mut tx = begin_write(&self.pool).await?;
            // One account's checks queue here, so the count read below is
            // the one the insert adds to.
            if !hold_account(&mut tx, id).await? {
                return Err(StoreError::Unexpected(format!("no account {}", id.get())));
            }
            let row = sqlx::query(sql::SUPPORT_WINDOW)
                .bind(id.get())
                .bind(stamp(since))
                .fetch_one(&mut *tx)
                .await
                .map_err(op("count support checks"))?;
            let count: i64 = row.try_get("count").map_err(op("read count"))?;
            let oldest: Option<OffsetDateTime> = rows::opt_time(&row, "oldest")?;
            if let Some(oldest) =
                oldest.filter(|_| max_failed > 0 && count >= i64::from(max_failed))
            {
                return Ok(WindowRecord::Limited { oldest });
            }
            sqlx::query(sql::INSERT_SUPPORT_CHECK)
                .bind(id.get())
                .bind(stamp(at))
                .bind(matched)
                .execute(&mut *tx)
                .await
                .map_err(op("record support check"))?;
            tx.commit().await.map_err(op("commit support check"))?;
            Ok(WindowRecord::Recorded)
        })
        .await
    }
}

//! [`ProviderRoster`] on either database: look-ups, and imports in one
//! transaction.

use async_trait::async_trait;
use portal_adapters_sql::roster as sql;
use portal_domain::ports::{ImportMode, ImportSummary, ProviderRoster, RosterSource, StoreError};
use portal_domain::roster::RosterEntry;
use portal_domain::stored::StoredProvider;
use portal_domain::values::{ProviderId, TaxId};
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;

use super::rows;
use crate::dialect::{
    Db, IMPORT_CHUNK, Store, analyze_incoming, arg, begin_import, create_incoming, drop_incoming,
    stamp,
};
use crate::error::op;

#[async_trait]
impl ProviderRoster for Store {
    async fn find(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
    ) -> Result<Option<RosterEntry>, StoreError> {
        let row = sqlx::query(sql::FIND)
            .bind(tax_id.as_str())
            .bind(provider_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(op("find roster entry"))?;
        row.as_ref().map(rows::provider).transpose()
    }

    async fn active_under_tax_id(&self, tax_id: &TaxId) -> Result<Vec<RosterEntry>, StoreError> {
        let found = sqlx::query(sql::ACTIVE_UNDER_TAX_ID)
            .bind(tax_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(op("list roster entries"))?;
        found.iter().map(rows::provider).collect()
    }

    async fn import(
        &self,
        entries: &mut RosterSource,
        mode: ImportMode,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<ImportSummary, StoreError> {
        // One import at a time: two concurrent `--replace` runs would each
        // deactivate the other's entries.
        let mut tx = begin_import(&self.pool).await?;
        // The file goes to a table of its own, a batch at a time, and is
        // compared and applied there: neither it nor the stored roster is
        // ever held in memory whole. A failing source returns before the
        // commit, so the transaction rolls back.
        create_incoming(&mut tx).await?;
        while let Some(batch) = entries.next_batch()? {
            let incoming: Vec<StoredProvider> =
                batch.iter().map(StoredProvider::from_entry).collect();
            for chunk in incoming.chunks(IMPORT_CHUNK) {
                let mut query = QueryBuilder::<Db>::new(sql::INSERT_INCOMING);
                query.push_values(chunk, |mut row, entry| {
                    row.push_bind(arg(&entry.tax_id))
                        .push_bind(arg(&entry.provider_id))
                        .push_bind(arg(&entry.kind))
                        .push_bind(arg(&entry.first_name))
                        .push_bind(arg(&entry.last_name))
                        .push_bind(arg(&entry.group_name))
                        .push_bind(arg(&entry.payee))
                        .push_bind(arg(&entry.zips))
                        .push_bind(arg(&entry.lines_of_business));
                });
                query
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(op("stage roster entries"))?;
            }
        }
        analyze_incoming(&mut tx).await?;

        // The summary compares with what is stored now.
        let counts = sqlx::query(sql::COMPARE)
            .fetch_one(&mut *tx)
            .await
            .map_err(op("compare the roster"))?;
        let count = |column: &str| -> Result<u64, StoreError> {
            let n: i64 = counts.try_get(column).map_err(op("compare the roster"))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        let mut summary = ImportSummary {
            added: count("added")?,
            changed: count("changed")?,
            unchanged: count("unchanged")?,
            reactivated: count("reactivated")?,
            deactivated: 0,
        };
        if mode == ImportMode::Replace {
            let left_out: i64 = sqlx::query_scalar(sql::COUNT_LEFT_OUT)
                .fetch_one(&mut *tx)
                .await
                .map_err(op("count entries left out"))?;
            summary.deactivated = u64::try_from(left_out).unwrap_or(0);
        }
        if dry_run {
            tx.rollback().await.map_err(op("rollback dry run"))?;
            return Ok(summary);
        }

        // Only what is new, changed or inactive is written.
        sqlx::query(sql::UPSERT)
            .execute(&mut *tx)
            .await
            .map_err(op("upsert roster entries"))?;
        if mode == ImportMode::Replace {
            sqlx::query(sql::DEACTIVATE_LEFT_OUT)
                .bind(stamp(now))
                .execute(&mut *tx)
                .await
                .map_err(op("deactivate roster entries"))?;
        }
        drop_incoming(&mut tx).await?;
        tx.commit().await.map_err(op("commit import"))?;
        Ok(summary)
    }
}

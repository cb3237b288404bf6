//! [`ProviderRoster`] on PostgreSQL: look-ups, and imports in one
//! transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use portal_domain::ports::{ImportMode, ImportSummary, ProviderRoster, StoreError};
use portal_domain::roster::RosterEntry;
use portal_domain::stored::StoredProvider;
use portal_domain::values::{ProviderId, TaxId};
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::PgStore;
use crate::error::op;
use crate::rows::{self, provider_columns};

/// Rows per multi-row `INSERT`: well under PostgreSQL's 65,535 bind limit.
const CHUNK: usize = 2_000;

#[async_trait]
impl ProviderRoster for PgStore {
    async fn find(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
    ) -> Result<Option<RosterEntry>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            provider_columns!(),
            ", inactive_since FROM roster_entries WHERE tax_id = $1 AND provider_id = $2"
        ))
        .bind(tax_id.as_str())
        .bind(provider_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(op("find roster entry"))?;
        row.as_ref().map(rows::provider).transpose()
    }

    async fn active_under_tax_id(&self, tax_id: &TaxId) -> Result<Vec<RosterEntry>, StoreError> {
        let found = sqlx::query(concat!(
            "SELECT ",
            provider_columns!(),
            ", inactive_since FROM roster_entries \
             WHERE tax_id = $1 AND inactive_since IS NULL ORDER BY provider_id"
        ))
        .bind(tax_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(op("list roster entries"))?;
        found.iter().map(rows::provider).collect()
    }

    async fn import(
        &self,
        entries: &[RosterEntry],
        mode: ImportMode,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await.map_err(op("begin import"))?;
        // One import at a time: two concurrent `--replace` runs would each
        // deactivate the other's entries.
        sqlx::query("LOCK TABLE roster_entries IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(op("lock roster"))?;

        // The summary compares with what is stored now.
        let current = sqlx::query(concat!(
            "SELECT ",
            provider_columns!(),
            ", inactive_since FROM roster_entries"
        ))
        .fetch_all(&mut *tx)
        .await
        .map_err(op("read roster"))?;
        let mut stored: HashMap<(String, String), StoredProvider> =
            HashMap::with_capacity(current.len());
        for row in &current {
            if let Some(mut provider) = rows::stored_provider(row)? {
                provider.inactive_since =
                    sqlx::Row::try_get(row, "inactive_since").map_err(op("read roster"))?;
                stored.insert(
                    (provider.tax_id.clone(), provider.provider_id.clone()),
                    provider,
                );
            }
        }
        let mut summary = ImportSummary::default();
        let incoming: Vec<StoredProvider> =
            entries.iter().map(StoredProvider::from_entry).collect();
        for entry in &incoming {
            match stored.remove(&(entry.tax_id.clone(), entry.provider_id.clone())) {
                None => summary.added += 1,
                Some(old) => {
                    let was_inactive = old.inactive_since.is_some();
                    let same = StoredProvider {
                        inactive_since: None,
                        ..old
                    } == *entry;
                    match (same, was_inactive) {
                        (true, false) => summary.unchanged += 1,
                        (true, true) => summary.reactivated += 1,
                        (false, _) => summary.changed += 1,
                    }
                }
            }
        }
        if mode == ImportMode::Replace {
            summary.deactivated = stored
                .values()
                .filter(|left_out| left_out.inactive_since.is_none())
                .count() as u64;
        }
        if dry_run {
            tx.rollback().await.map_err(op("rollback dry run"))?;
            return Ok(summary);
        }

        for chunk in incoming.chunks(CHUNK) {
            let mut query = QueryBuilder::<Postgres>::new(concat!(
                "INSERT INTO roster_entries (",
                provider_columns!(),
                ") "
            ));
            query.push_values(chunk, |mut row, entry| {
                row.push_bind(entry.tax_id.clone())
                    .push_bind(entry.provider_id.clone())
                    .push_bind(entry.kind.clone())
                    .push_bind(entry.first_name.clone())
                    .push_bind(entry.last_name.clone())
                    .push_bind(entry.group_name.clone())
                    .push_bind(entry.payee.clone())
                    .push_bind(entry.zips.clone())
                    .push_bind(entry.lines_of_business.clone());
            });
            query.push(
                " ON CONFLICT (tax_id, provider_id) DO UPDATE SET kind = EXCLUDED.kind, \
                 first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, group_name = EXCLUDED.group_name, \
                 payee = EXCLUDED.payee, zips = EXCLUDED.zips, lines_of_business = EXCLUDED.lines_of_business, \
                 inactive_since = NULL",
            );
            query
                .build()
                .execute(&mut *tx)
                .await
                .map_err(op("upsert roster entries"))?;
        }
        if mode == ImportMode::Replace {
            let (tax_ids, provider_ids): (Vec<String>, Vec<String>) = incoming
                .iter()
                .map(|e| (e.tax_id.clone(), e.provider_id.clone()))
                .unzip();
            sqlx::query(
                "UPDATE roster_entries SET inactive_since = $3 WHERE inactive_since IS NULL \
                 AND (tax_id, provider_id) NOT IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            )
            .bind(tax_ids)
            .bind(provider_ids)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(op("deactivate roster entries"))?;
        }
        tx.commit().await.map_err(op("commit import"))?;
        Ok(summary)
    }
}

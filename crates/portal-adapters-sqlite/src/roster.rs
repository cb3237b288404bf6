//! [`ProviderRoster`] on SQLite: look-ups, and imports in one
//! transaction.

use async_trait::async_trait;
use portal_domain::ports::{ImportMode, ImportSummary, ProviderRoster, RosterSource, StoreError};
use portal_domain::roster::RosterEntry;
use portal_domain::stored::StoredProvider;
use portal_domain::values::{ProviderId, TaxId};
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;

use crate::SqliteStore;
use crate::error::op;
use crate::rows::{self, provider_columns};
use crate::ts::Ts;

/// Rows per multi-row `INSERT`: 9 binds a row, under SQLite's 32,766 bind limit.
const CHUNK: usize = 1_000;

#[async_trait]
impl ProviderRoster for SqliteStore {
    async fn find(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
    ) -> Result<Option<RosterEntry>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            provider_columns!(),
            ", inactive_since FROM roster_entries WHERE tax_id = ?1 AND provider_id = ?2"
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
             WHERE tax_id = ?1 AND inactive_since IS NULL ORDER BY provider_id"
        ))
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(op("begin import"))?;
        // BEGIN IMMEDIATE: one import at a time, as on PostgreSQL.

        // The file goes to a table of its own, a batch at a time, and is
        // compared and applied there: neither it nor the stored roster is
        // ever held in memory whole. A failing source returns before the
        // commit, so the transaction rolls back. (A temporary table lives
        // as long as the pooled connection: it is dropped first and last.)
        for statement in [
            "DROP TABLE IF EXISTS temp.roster_incoming",
            "CREATE TEMP TABLE roster_incoming (tax_id TEXT NOT NULL, provider_id TEXT NOT NULL, \
             kind TEXT NOT NULL, first_name TEXT, last_name TEXT, group_name TEXT, payee TEXT, \
             zips TEXT NOT NULL, lines_of_business TEXT NOT NULL, PRIMARY KEY (tax_id, provider_id))",
        ] {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(op("create the import table"))?;
        }
        while let Some(batch) = entries.next_batch()? {
            let incoming: Vec<StoredProvider> =
                batch.iter().map(StoredProvider::from_entry).collect();
            for chunk in incoming.chunks(CHUNK) {
                let mut query = QueryBuilder::<Sqlite>::new(concat!(
                    "INSERT INTO roster_incoming (",
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
                query
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(op("stage roster entries"))?;
            }
        }

        // The summary compares with what is stored now.
        let counts = sqlx::query(
            "SELECT coalesce(sum(r.tax_id IS NULL), 0) AS added, \
             coalesce(sum(r.tax_id IS NOT NULL AND NOT same), 0) AS changed, \
             coalesce(sum(same AND r.inactive_since IS NULL), 0) AS unchanged, \
             coalesce(sum(same AND r.inactive_since IS NOT NULL), 0) AS reactivated \
             FROM (SELECT r.tax_id, r.inactive_since, \
                 coalesce((r.kind, r.first_name, r.last_name, r.group_name, r.payee, r.zips, r.lines_of_business) \
                 IS (i.kind, i.first_name, i.last_name, i.group_name, i.payee, i.zips, i.lines_of_business), 0) AS same \
                 FROM roster_incoming i LEFT JOIN roster_entries r \
                 ON r.tax_id = i.tax_id AND r.provider_id = i.provider_id) r",
        )
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
            let left_out: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM roster_entries r WHERE r.inactive_since IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM roster_incoming i \
                 WHERE i.tax_id = r.tax_id AND i.provider_id = r.provider_id)",
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(op("count entries left out"))?;
            summary.deactivated = u64::try_from(left_out).unwrap_or(0);
        }
        if dry_run {
            tx.rollback().await.map_err(op("rollback dry run"))?;
            return Ok(summary);
        }

        // Only what is new, changed or inactive is written. (`WHERE true`:
        // SQLite's upsert after a SELECT needs a WHERE to parse.)
        sqlx::query(concat!(
            "INSERT INTO roster_entries (",
            provider_columns!(),
            ") SELECT ",
            provider_columns!(),
            " FROM roster_incoming WHERE true \
             ON CONFLICT (tax_id, provider_id) DO UPDATE SET kind = excluded.kind, \
             first_name = excluded.first_name, last_name = excluded.last_name, group_name = excluded.group_name, \
             payee = excluded.payee, zips = excluded.zips, lines_of_business = excluded.lines_of_business, \
             inactive_since = NULL \
             WHERE roster_entries.inactive_since IS NOT NULL OR \
             (roster_entries.kind, roster_entries.first_name, roster_entries.last_name, roster_entries.group_name, \
              roster_entries.payee, roster_entries.zips, roster_entries.lines_of_business) IS NOT \
             (excluded.kind, excluded.first_name, excluded.last_name, excluded.group_name, \
              excluded.payee, excluded.zips, excluded.lines_of_business)"
        ))
        .execute(&mut *tx)
        .await
        .map_err(op("upsert roster entries"))?;
        if mode == ImportMode::Replace {
            sqlx::query(
                "UPDATE roster_entries SET inactive_since = ?1 WHERE inactive_since IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM roster_incoming i \
                 WHERE i.tax_id = roster_entries.tax_id AND i.provider_id = roster_entries.provider_id)",
            )
            .bind(Ts(now))
            .execute(&mut *tx)
            .await
            .map_err(op("deactivate roster entries"))?;
        }
        sqlx::query("DROP TABLE temp.roster_incoming")
            .execute(&mut *tx)
            .await
            .map_err(op("drop the import table"))?;
        tx.commit().await.map_err(op("commit import"))?;
        Ok(summary)
    }
}

//! The store's schema check and readiness probe on either database: how
//! the database's recorded migrations stand against the embedded ones
//! (`crate::MIGRATOR`, each adapter's own `migrations/`).

use portal_adapters_sql::schema as sql;
use portal_domain::schema::{EmbeddedMigration, RecordedMigration, SchemaCheck};

use crate::MIGRATOR;
use crate::dialect::{Db, Store, ours};
use crate::error::ConnectError;

impl Store {
    /// How the database's schema stands against the embedded migrations.
    /// Reads only: a database without a migration table keeps having none.
    pub async fn schema(&self) -> Result<SchemaCheck, ConnectError> {
        let has_table: bool = sqlx::query_scalar(ours(sql::HAS_MIGRATION_TABLE))
            .fetch_one(&self.pool)
            .await
            .map_err(ConnectError::Schema)?;
        let recorded: Vec<(i64, bool, Vec<u8>)> = if has_table {
            sqlx::query_as(sql::RECORDED_MIGRATIONS)
                .fetch_all(&self.pool)
                .await
                .map_err(ConnectError::Schema)?
        } else {
            Vec::new()
        };
        let recorded: Vec<RecordedMigration> = recorded
            .into_iter()
            .map(|(version, success, checksum)| RecordedMigration {
                version,
                success,
                checksum,
            })
            .collect();
        let has_tables: bool = sqlx::query_scalar(ours(sql::HAS_OTHER_TABLES))
            .fetch_one(&self.pool)
            .await
            .map_err(ConnectError::Schema)?;
        Ok(SchemaCheck::compare(&embedded(), &recorded, has_tables))
    }

    /// True when the database answers a trivial query.
    pub async fn is_ready(&self) -> bool {
        sqlx::query(sql::READY).execute(&self.pool).await.is_ok()
    }

    pub fn pool(&self) -> &sqlx::Pool<Db> {
        &self.pool
    }
}

/// The up migrations [`MIGRATOR`] embeds.
fn embedded() -> Vec<EmbeddedMigration<'static>> {
    MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| EmbeddedMigration {
            version: m.version,
            checksum: &m.checksum,
        })
        .collect()
}

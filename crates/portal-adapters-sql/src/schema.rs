//! The statements of `shared/schema.rs` and of SQLite's migration lock:
//! the schema's state against the embedded migrations, and readiness.

use crate::PerDatabase;

/// Whether sqlx's migration table exists.
pub const HAS_MIGRATION_TABLE: PerDatabase = PerDatabase {
    postgres: "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
    sqlite: "SELECT EXISTS (SELECT 1 FROM sqlite_master \
         WHERE type = 'table' AND name = '_sqlx_migrations')",
};

/// The migrations the database records.
pub const RECORDED_MIGRATIONS: &str =
    "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version";

/// Whether any table besides the migration table exists (SQLite's own
/// `sqlite_…` tables aside).
pub const HAS_OTHER_TABLES: PerDatabase = PerDatabase {
    postgres: "SELECT EXISTS (SELECT 1 FROM pg_tables \
         WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations')",
    sqlite: "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
         AND name <> '_sqlx_migrations' AND substr(name, 1, 7) <> 'sqlite_')",
};

/// SQLite only: the main database's file (empty in memory), beside which
/// the migrations' lock file lives. PostgreSQL's migrator locks the
/// database itself.
pub const DATABASE_FILE: &str = "SELECT file FROM pragma_database_list WHERE name = 'main'";

/// A trivial query: the database answers.
pub const READY: &str = "SELECT 1";

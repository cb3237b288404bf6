//! Fresh database files for tests.

use std::path::PathBuf;

use portal_adapters_sqlite::SqliteStore;

/// A new, migrated database in the system's temp folder, named after the
/// running test so that a re-run replaces it instead of piling up files.
pub async fn fresh_store() -> SqliteStore {
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .replace("::", "-");
    let dir = std::env::temp_dir().join("portal-adapters-sqlite-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("{test}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = SqliteStore::open(&path, 8).await.unwrap();
    store.migrate().await.unwrap();
    store
}

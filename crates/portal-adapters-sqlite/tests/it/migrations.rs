//! Migrations on SQLite: stores on one new file migrate at once and all
//! succeed (they take turns on the lock file); an in-memory database needs
//! no lock file; reading the schema's state writes nothing.

use portal_adapters_sqlite::SqliteStore;
use portal_domain::schema::SchemaState;

fn new_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("portal-adapters-sqlite-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm", ".migrate-lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_on_one_new_file_migrate_at_once() {
    let path = new_file("migrate-at-once");
    // Separate pools, as separate processes would have.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(SqliteStore::open(&path, 2).await.unwrap());
    }
    let results = futures::future::join_all(stores.iter().map(SqliteStore::migrate)).await;
    for result in results {
        result.unwrap();
    }
    assert_eq!(
        stores[0].schema().await.unwrap().state,
        SchemaState::Current
    );
    assert!(
        std::path::Path::new(&format!("{}.migrate-lock", path.display())).is_file(),
        "the lock file beside the database"
    );
}

#[tokio::test]
async fn an_in_memory_database_migrates_without_a_lock_file() {
    let store = SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
    assert_eq!(store.schema().await.unwrap().state, SchemaState::Empty);
    store.migrate().await.unwrap();
    assert_eq!(store.schema().await.unwrap().state, SchemaState::Current);
}

#[tokio::test]
async fn reading_the_state_of_a_new_file_creates_no_table() {
    let path = new_file("read-only-state");
    let store = SqliteStore::open(&path, 1).await.unwrap();
    for _ in 0..2 {
        let check = store.schema().await.unwrap();
        assert_eq!(check.state, SchemaState::Empty);
        assert_eq!(check.database_version, None);
    }
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(tables, 0);
}

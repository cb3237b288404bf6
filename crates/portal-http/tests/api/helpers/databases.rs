//! A fresh database per test: an SQLite file or a PostgreSQL database
//! named after the running test, on the server of `DATABASE_URL`.

use std::path::PathBuf;

use sqlx::Connection;

use super::Db;

/// The running test's name, usable as a file or database name.
fn test_name() -> String {
    let name = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map_or_else(
            || format!("t{}", std::process::id()),
            |n| n.replace("::", "_"),
        );
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, empty database for the running test; its `DATABASE_URL`.
pub async fn fresh_database(db: Db) -> String {
    let name = test_name();
    match db {
        Db::Sqlite => {
            let dir = std::env::temp_dir().join("portal-http-tests");
            std::fs::create_dir_all(&dir).unwrap();
            let path: PathBuf = dir.join(format!("{name}.db"));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            format!("sqlite://{}", path.display())
        }
        Db::Postgres => fresh_postgres_database(&name).await,
    }
}

/// Every database these tests make starts with this, and nothing else
/// does: the README's clean-up command drops exactly these.
pub const TEST_DATABASE_PREFIX: &str = "portal_test_";

/// A fresh, empty PostgreSQL database named after `name` (made of
/// `[a-z0-9_]`, see `test_name`) on the server of `DATABASE_URL`; its URL.
/// An earlier run's database of the same name is dropped first; the new one
/// is kept after the test, to look into (README, "What the tests leave").
pub async fn fresh_postgres_database(name: &str) -> String {
    // PostgreSQL names are at most 63 bytes: keep the prefix and the end
    // of the name, which tells the tests apart.
    let room = 63 - TEST_DATABASE_PREFIX.len();
    let tail = &name[name.len().saturating_sub(room)..];
    let name = format!("{TEST_DATABASE_PREFIX}{tail}");
    let admin = admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Drops a database made by [`fresh_postgres_database`], given its URL.
pub async fn drop_postgres_database(database_url: &str) {
    let name = url::Url::parse(database_url).unwrap().path()[1..].to_owned();
    assert!(
        name.starts_with(TEST_DATABASE_PREFIX)
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "not a test database: {name}"
    );
    let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
    // The name was made by `fresh_postgres_database`: [a-z0-9_] only.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
}

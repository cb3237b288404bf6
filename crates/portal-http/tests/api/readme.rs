//! What the README says the tests leave behind is what they leave: every
//! PostgreSQL database they make carries the prefix its clean-up command
//! drops, and that command's pattern matches nothing else.

use sqlx::Connection;

use crate::helpers::{TEST_DATABASE_PREFIX, drop_postgres_database, fresh_postgres_database};

const README: &str = include_str!("../../../../README.md");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_s_clean_up_drops_exactly_the_test_databases() {
    let pattern = README
        .split("WHERE datname LIKE '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the README's clean-up command");
    // A long name is cut to 63 bytes and keeps its prefix.
    let long = "a_test_name_long_enough_to_be_cut_to_postgresql_s_limit_of_63_bytes";
    let mut made = Vec::new();
    for name in ["readme_check", long] {
        let url = fresh_postgres_database(name).await;
        let database = url::Url::parse(&url).unwrap().path()[1..].to_owned();
        assert!(database.starts_with(TEST_DATABASE_PREFIX), "{database}");
        assert!(database.len() <= 63, "{database}");
        made.push((url, database));
    }
    let mut conn = sqlx::PgConnection::connect(&made[0].0).await.unwrap();
    for (_, database) in &made {
        let matched: bool = sqlx::query_scalar("SELECT $1 LIKE $2")
            .bind(database)
            .bind(pattern)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(matched, "{pattern} misses {database}");
    }
    for other in [
        "portal",
        "portal_production",
        "portalXtestX1",
        "test",
        "_sqlx_test_abc",
    ] {
        let matched: bool = sqlx::query_scalar("SELECT $1 LIKE $2")
            .bind(other)
            .bind(pattern)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(!matched, "{pattern} would drop {other}");
    }
    let _ = conn.close().await;
    for (url, _) in &made {
        drop_postgres_database(url).await;
    }
}

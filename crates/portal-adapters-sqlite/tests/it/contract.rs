//! The domain's port contract suite against [`SqliteStore`].

use async_trait::async_trait;
use portal_adapters_sqlite::SqliteStore;
use portal_domain::email::OutboxId;
use portal_domain::testing::contract::{OutboxFaults, Subject, UNKNOWN_KIND};
use sqlx::SqlitePool;
use time::OffsetDateTime;

use crate::support::fresh_store;

async fn subject() -> Subject<SqliteStore, SqliteStore> {
    let store = fresh_store().await;
    Subject {
        store: store.clone(),
        faults: Box::new(RawOutbox(store.pool().clone())),
        roster: store,
        store_keeps_roster: true,
        // Its reads run beside one writer: a place is a write transaction
        // of its own, taken after the read.
        takes_first_place_with_read: false,
    }
}

/// The outbox faults, written with raw SQL.
struct RawOutbox(SqlitePool);

fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap()
}

#[async_trait]
impl OutboxFaults for RawOutbox {
    async fn make_unreadable(&self, id: OutboxId) {
        sqlx::query("UPDATE email_outbox SET recipient = 'not an address' WHERE id = ?1")
            .bind(id.0)
            .execute(&self.0)
            .await
            .unwrap();
    }

    async fn queue_unknown_kind(&self, username: &str, now: OffsetDateTime) -> OutboxId {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO email_outbox (recipient, username, kind, due_at, created_at) \
             VALUES ('office@clinic.example.org', ?1, ?2, ?3, ?3) RETURNING id",
        )
        .bind(username)
        .bind(UNKNOWN_KIND)
        .bind(micros(now))
        .fetch_one(&self.0)
        .await
        .unwrap();
        OutboxId(id)
    }

    async fn attempts(&self, id: OutboxId) -> u32 {
        let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM email_outbox WHERE id = ?1")
            .bind(id.0)
            .fetch_one(&self.0)
            .await
            .unwrap();
        u32::try_from(attempts).unwrap()
    }

    async fn last_error(&self, id: OutboxId) -> Option<String> {
        sqlx::query_scalar("SELECT last_error FROM email_outbox WHERE id = ?1")
            .bind(id.0)
            .fetch_one(&self.0)
            .await
            .unwrap()
    }
}

portal_domain::port_contract_tests!(subject);

//! The domain's port contract suite against [`PgStore`].

use async_trait::async_trait;
use portal_adapters_postgres::PgStore;
use portal_domain::email::OutboxId;
use portal_domain::testing::contract::{OutboxFaults, Subject, UNKNOWN_KIND};
use sqlx::PgPool;
use time::OffsetDateTime;

async fn subject(pool: PgPool) -> Subject<PgStore, PgStore> {
    let store = PgStore::from_pool(pool.clone());
    Subject {
        store: store.clone(),
        roster: store,
        store_keeps_roster: true,
        takes_first_place_with_read: true,
        faults: Box::new(RawOutbox(pool)),
    }
}

/// The outbox faults, written with raw SQL.
struct RawOutbox(PgPool);

#[async_trait]
impl OutboxFaults for RawOutbox {
    async fn make_unreadable(&self, id: OutboxId) {
        sqlx::query("UPDATE email_outbox SET recipient = 'not an address' WHERE id = $1")
            .bind(id.0)
            .execute(&self.0)
            .await
            .unwrap();
    }

    async fn queue_unknown_kind(&self, username: &str, now: OffsetDateTime) -> OutboxId {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO email_outbox (recipient, username, kind, due_at, created_at) \
             VALUES ('office@clinic.example.org', $1, $2, $3, $3) RETURNING id",
        )
        .bind(username)
        .bind(UNKNOWN_KIND)
        .bind(now)
        .fetch_one(&self.0)
        .await
        .unwrap();
        OutboxId(id)
    }

    async fn attempts(&self, id: OutboxId) -> u32 {
        let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM email_outbox WHERE id = $1")
            .bind(id.0)
            .fetch_one(&self.0)
            .await
            .unwrap();
        u32::try_from(attempts).unwrap()
    }

    async fn last_error(&self, id: OutboxId) -> Option<String> {
        sqlx::query_scalar("SELECT last_error FROM email_outbox WHERE id = $1")
            .bind(id.0)
            .fetch_one(&self.0)
            .await
            .unwrap()
    }
}

portal_domain::port_contract_tests!(sqlx_test: "portal_adapters_postgres::MIGRATOR", PgPool, subject);

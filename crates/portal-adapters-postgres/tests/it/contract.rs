//! The domain's port contract suite against [`PgStore`].

use portal_adapters_postgres::PgStore;
use portal_domain::testing::contract::Subject;
use sqlx::PgPool;

async fn subject(pool: PgPool) -> Subject<PgStore, PgStore> {
    let store = PgStore::from_pool(pool);
    Subject {
        store: store.clone(),
        roster: store,
        store_keeps_roster: true,
    }
}

portal_domain::port_contract_tests!(sqlx_test: "portal_adapters_postgres::MIGRATOR", PgPool, subject);

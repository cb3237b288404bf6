//! The domain's port contract suite against [`SqliteStore`].

use portal_adapters_sqlite::SqliteStore;
use portal_domain::testing::contract::Subject;

use crate::support::fresh_store;

async fn subject() -> Subject<SqliteStore, SqliteStore> {
    let store = fresh_store().await;
    Subject {
        store: store.clone(),
        roster: store,
        store_keeps_roster: true,
    }
}

portal_domain::port_contract_tests!(subject);

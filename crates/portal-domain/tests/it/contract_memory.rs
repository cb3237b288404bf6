//! The port contract suite against the in-memory adapters.

use std::sync::Arc;

use portal_domain::testing::contract::Subject;
use portal_domain::testing::{InMemoryRoster, InMemoryStore};

async fn subject() -> Subject<Arc<InMemoryStore>, InMemoryRoster> {
    let store = Arc::new(InMemoryStore::new());
    Subject {
        store: Arc::clone(&store),
        roster: InMemoryRoster::new(),
        store_keeps_roster: false,
        faults: Box::new(store),
    }
}

portal_domain::port_contract_tests!(subject);

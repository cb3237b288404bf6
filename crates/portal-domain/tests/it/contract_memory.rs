//! The port contract suite against the in-memory adapters.

use portal_domain::testing::contract::Subject;
use portal_domain::testing::{InMemoryRoster, InMemoryStore};

async fn subject() -> Subject<InMemoryStore, InMemoryRoster> {
    Subject {
        store: InMemoryStore::new(),
        roster: InMemoryRoster::new(),
        store_keeps_roster: false,
    }
}

portal_domain::port_contract_tests!(subject);

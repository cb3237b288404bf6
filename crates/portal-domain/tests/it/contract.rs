//! The domain's port contract suite against [`InMemoryStore`], set up as
//! docs/ARCHITECTURE.md's "Adding a store" says a new store's harness is
//! (steps 2 and 3; its ports are `testing/memory.rs`, step 1).

use std::sync::Arc;

use portal_domain::testing::contract::Subject;
use portal_domain::testing::{InMemoryRoster, InMemoryStore, RawOutbox};

async fn subject() -> Subject<InMemoryStore, InMemoryRoster> {
    let store = InMemoryStore::new();
    Subject {
        store: store.clone(),
        // The in-memory store does not keep the roster: a roster of its own.
        roster: InMemoryRoster::new(),
        store_keeps_roster: false,
        takes_first_place_with_read: true,
        faults: Box::new(RawOutbox(Arc::new(store))),
    }
}

portal_domain::port_contract_tests!(subject);

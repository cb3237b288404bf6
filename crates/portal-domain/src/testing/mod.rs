//! Test support (feature `testing`): in-memory adapters of every port,
//! mockall mocks of every port, sample data, and the port contract suite
//! that every adapter runs against itself.

pub mod contract;
mod memory;
mod mock_store;
pub mod sample;

use std::ops::Deref;
use std::sync::Arc;

pub use memory::{InMemoryRoster, InMemoryStore, ManualClock, RawOutbox, SequentialTokens};

pub use mock_store::MockUserStore;

pub use crate::ports::{
    MockClock, MockMailer, MockOutboxStore, MockPasswordHasher, MockProviderRoster, MockTokenSource,
};

use crate::hashing::{Argon2Hasher, Argon2Settings};
use crate::service::{Portal, PortalSettings};

/// A [`Portal`] over shared in-memory adapters, with cheap Argon2 settings.
pub type MemoryPortal =
    Portal<InMemoryStore, InMemoryRoster, Argon2Hasher, ManualClock, SequentialTokens>;

/// A portal over in-memory adapters that keeps handles on them, so tests
/// can move the clock and read the outbox.
#[derive(Debug)]
pub struct TestPortal {
    pub portal: MemoryPortal,
    pub store: Arc<InMemoryStore>,
    pub roster: Arc<InMemoryRoster>,
    pub clock: Arc<ManualClock>,
}

impl TestPortal {
    pub fn new(roster: InMemoryRoster) -> Self {
        Self::with_settings(roster, PortalSettings::default())
    }

    pub fn with_settings(roster: InMemoryRoster, settings: PortalSettings) -> Self {
        let store = Arc::new(InMemoryStore::new());
        let roster = Arc::new(roster);
        let clock = Arc::new(ManualClock::fixed());
        let hasher = match Argon2Hasher::new(Argon2Settings::minimal(), None) {
            Ok(hasher) => Arc::new(hasher),
            // The minimal settings are valid by construction.
            Err(e) => unreachable!("{e}"),
        };
        let portal = Portal::new(
            store.clone(),
            roster.clone(),
            hasher,
            clock.clone(),
            Arc::new(SequentialTokens::new()),
            settings,
        );
        Self {
            portal,
            store,
            roster,
            clock,
        }
    }

    /// Another portal over the same store, roster and clock, with other
    /// settings: an operator restarting with new configuration.
    pub fn reconfigured(&self, settings: PortalSettings) -> Self {
        let hasher = match Argon2Hasher::new(Argon2Settings::minimal(), None) {
            Ok(hasher) => Arc::new(hasher),
            Err(e) => unreachable!("{e}"),
        };
        let portal = Portal::new(
            self.store.clone(),
            self.roster.clone(),
            hasher,
            self.clock.clone(),
            Arc::new(SequentialTokens::starting_at(1 << 32)),
            settings,
        );
        Self {
            portal,
            store: self.store.clone(),
            roster: self.roster.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The token of the newest email that carries one.
    pub fn last_link_token(&self) -> Option<String> {
        self.store
            .emails()
            .iter()
            .rev()
            .find_map(|e| e.kind.token().map(|t| t.expose().to_owned()))
    }
}

impl Deref for TestPortal {
    type Target = MemoryPortal;

    fn deref(&self) -> &MemoryPortal {
        &self.portal
    }
}

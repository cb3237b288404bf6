//! An outbox that fails on demand: the in-memory store's outbox behind a
//! switch that makes its claims answer `StoreError::Unavailable`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use portal_domain::email::{ClaimedEmail, OutboxClaim};
use portal_domain::ports::{OutboxStore, StoreError};
use portal_domain::testing::InMemoryStore;
use portal_domain::values::Username;
use time::{Duration, OffsetDateTime};

/// Fails the next `failures` claims, then behaves.
#[derive(Debug)]
pub struct FlakyOutbox {
    pub inner: Arc<InMemoryStore>,
    failures: AtomicU32,
    pub claims: AtomicU32,
}

impl FlakyOutbox {
    pub fn new(inner: Arc<InMemoryStore>, failures: u32) -> Self {
        Self {
            inner,
            failures: AtomicU32::new(failures),
            claims: AtomicU32::new(0),
        }
    }
}

#[async_trait]
impl OutboxStore for FlakyOutbox {
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, StoreError> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Unavailable("the database is down".to_owned()));
        }
        self.inner.claim_due(now, limit, lease).await
    }
    async fn mark_sent(&self, claim: OutboxClaim, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.inner.mark_sent(claim, now).await
    }
    async fn mark_retry(
        &self,
        claim: OutboxClaim,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.inner.mark_retry(claim, retry_at, error).await
    }
    async fn mark_failed(
        &self,
        claim: OutboxClaim,
        now: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.inner.mark_failed(claim, now, error).await
    }
    async fn pending_for(
        &self,
        username: &Username,
    ) -> Result<portal_domain::ports::PendingEmails, StoreError> {
        self.inner.pending_for(username).await
    }
}

// Everything else goes straight to the in-memory store.

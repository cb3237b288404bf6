//! [`Housekeeping`]: the purges of what has lost its use.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::StoreError;

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub flows: u64,
    pub tokens: u64,
    pub sessions: u64,
    pub sent_emails: u64,
}

/// Deletes what has lost its use: stale pending accounts, and expired
/// flows, tokens, sessions and sent emails (SPEC §10). Each purge is one
/// operation, deciding eligibility under the store's lock.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// In one operation: deletes every account still pending activation
    /// whose newest activation token expired before `cutoff`, with its
    /// tokens; returns the usernames freed. Eligibility is decided under the
    /// account's lock, so an account that was just sent a fresh link is
    /// kept.
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError>;

    /// Deletes flows finished or expired before `flows_before`, tokens and
    /// sessions dead before `now`, and emails sent before `sent_before`.
    /// Tokens issued after `capped_since` stay (the email cap counts them),
    /// and so do the activation tokens of pending accounts (the stale-pending
    /// purge reads their expiry).
    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        flows_before: OffsetDateTime,
        sent_before: OffsetDateTime,
        capped_since: OffsetDateTime,
        session_idle: Duration,
        session_absolute: Duration,
    ) -> Result<PurgeCounts, StoreError>;
}

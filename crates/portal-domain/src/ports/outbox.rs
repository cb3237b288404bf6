//! [`OutboxStore`]: the delivery worker's side of the email outbox.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::StoreError;
use crate::email::{ClaimedEmail, OutboxClaim};
use crate::values::Username;

/// The delivery worker's side of the outbox.
///
/// Every claim of a row starts a new claim generation ([`OutboxClaim`]);
/// the `mark_*` methods take the claim they belong to and change nothing
/// (answering `Ok(false)`) when the row has been claimed again since, or is
/// no longer queued. So a worker whose lease ran out in the middle of a
/// send can neither finish the email under the new claimant's feet nor
/// move its lease.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` queued emails due at `now`, oldest first, and
    /// hides them from other claimers until `now + lease`. Two concurrent
    /// claimers never receive the same email. Only kinds in
    /// [`EmailKind::NAMES`](crate::email::EmailKind::NAMES) are claimed: rows
    /// of a kind this build does not know stay queued for a build that does.
    /// Rows are read one by one: a row of a known kind that cannot be read
    /// is claimed and returned as an
    /// [`UnreadableEmail`](crate::email::UnreadableEmail), and the others are
    /// returned as usual.
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, StoreError>;

    /// Marks a claimed email sent and forgets its link. `Ok(false)` when
    /// the claim is no longer current: nothing changed.
    async fn mark_sent(&self, claim: OutboxClaim, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Counts a failed attempt and makes the email due again at `retry_at`.
    /// `Ok(false)` when the claim is no longer current: nothing changed.
    async fn mark_retry(
        &self,
        claim: OutboxClaim,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// Gives up on an email for good and forgets its link. `Ok(false)` when
    /// the claim is no longer current: nothing changed.
    async fn mark_failed(
        &self,
        claim: OutboxClaim,
        now: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// Emails queued and not yet sent or failed, for one account's
    /// username, with the newest delivery error among them.
    async fn pending_for(&self, username: &Username) -> Result<PendingEmails, StoreError>;
}

/// What is still waiting to be delivered to one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingEmails {
    pub count: u64,
    /// The relay's answer to the newest failed attempt of a queued email
    /// (never a credential or a token), if one failed.
    pub last_error: Option<String>,
}

//! [`IdentityChecks`]: the answers to identity checks, counted in windows.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::account::AccountId;
use crate::values::{ProviderId, TaxId};

/// Mismatch answers for one provider inside the proofing window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofingFailures {
    pub count: u32,
    pub oldest: Option<OffsetDateTime>,
}

/// Whether a count-and-record within a window recorded the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowRecord {
    Recorded,
    /// The limit was already reached: nothing was written. `oldest` is the
    /// oldest attempt counted, whose expiry frees a place.
    Limited {
        oldest: OffsetDateTime,
    },
}

/// The identity checks answered, for their limits: proofing mismatches at
/// registration, per provider (SPEC §3), and support checks, per account
/// (SPEC §7). Each `record_*` method counts and records in one transaction,
/// so racing answers cannot exceed the limit.
#[async_trait]
pub trait IdentityChecks: Send + Sync {
    /// In one transaction (or one locked section), so that racing
    /// mismatches cannot exceed the limit: unless `limit` mismatches are
    /// already recorded for the provider strictly after `since` (`0` means
    /// no limit), records one `provider_mismatch` answer at `at`. Of
    /// mismatches racing past the limit, exactly `limit` are recorded.
    async fn record_proofing_mismatch(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        at: OffsetDateTime,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<WindowRecord, StoreError>;

    /// The mismatches recorded for a provider strictly after `since` (a
    /// window of one hour ending now excludes what is exactly an hour old).
    async fn proofing_mismatches_since(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        since: OffsetDateTime,
    ) -> Result<ProofingFailures, StoreError>;

    /// Failed support checks for the account strictly after `since`.
    async fn support_failures_since(
        &self,
        id: AccountId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError>;

    /// In one transaction, holding the account (so that racing checks
    /// cannot exceed the limit): unless `max_failed` failed checks are
    /// already recorded for the account strictly after `since`, records
    /// this check at `at`. Of wrong answers racing past the limit, exactly
    /// `max_failed` are recorded.
    async fn record_support_check(
        &self,
        id: AccountId,
        at: OffsetDateTime,
        matched: bool,
        since: OffsetDateTime,
        max_failed: u32,
    ) -> Result<WindowRecord, StoreError>;
}

//! [`ProviderRoster`]: the roster of contracted providers, and imports.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::roster::RosterEntry;
use crate::values::{ProviderId, TaxId};

/// The roster of contracted providers (SPEC §2).
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ProviderRoster: Send + Sync {
    /// The entry for a Tax ID + Provider ID, active or not; `None` if absent.
    async fn find(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
    ) -> Result<Option<RosterEntry>, StoreError>;

    /// Every active entry under a Tax ID, ordered by provider id.
    async fn active_under_tax_id(&self, tax_id: &TaxId) -> Result<Vec<RosterEntry>, StoreError>;

    /// Applies a whole file at once, all or nothing: upserts by
    /// (`tax_id`, `provider_id`); with [`ImportMode::Replace`] also marks every
    /// entry missing from `entries` inactive (never deleting it), and marks
    /// active again those present. With `dry_run` nothing is written but the
    /// summary is the same. `entries` come a batch at a time, so that a file
    /// is never held whole; when its source fails, nothing is written and
    /// the answer is an error.
    async fn import(
        &self,
        entries: &mut RosterSource,
        mode: ImportMode,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<ImportSummary, StoreError>;
}

/// Roster entries handed to [`ProviderRoster::import`] a batch at a time.
pub trait RosterBatches: Send {
    /// The next entries; `Ok(None)` after the last. `Err` stops the import
    /// (the source knows why: a bad file, a read that failed).
    fn next_batch(&mut self) -> Result<Option<Vec<RosterEntry>>, SourceFailed>;
}

/// What [`ProviderRoster::import`] reads from: a source that owns what it
/// reads (a file, a buffer), so that it can be handed on as is.
pub type RosterSource = dyn RosterBatches + 'static;

/// The source of an import failed; it holds the reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the roster source failed; nothing was imported")]
pub struct SourceFailed;

impl From<SourceFailed> for StoreError {
    fn from(failed: SourceFailed) -> Self {
        StoreError::Unexpected(failed.to_string())
    }
}

/// Entries already in memory, handed over in batches.
#[derive(Debug)]
pub struct EntryBatches {
    rest: std::vec::IntoIter<RosterEntry>,
    size: usize,
}

impl EntryBatches {
    pub fn new(entries: impl Into<Vec<RosterEntry>>) -> Self {
        Self::of(entries, crate::roster_csv::BATCH)
    }

    /// In batches of `size` (at least one entry each).
    pub fn of(entries: impl Into<Vec<RosterEntry>>, size: usize) -> Self {
        Self {
            rest: entries.into().into_iter(),
            size: size.max(1),
        }
    }
}

impl RosterBatches for EntryBatches {
    fn next_batch(&mut self) -> Result<Option<Vec<RosterEntry>>, SourceFailed> {
        let batch: Vec<RosterEntry> = self.rest.by_ref().take(self.size).collect();
        Ok((!batch.is_empty()).then_some(batch))
    }
}

/// Whether an import adds to the roster or replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    Upsert,
    Replace,
}

/// What an import did (or would do, on a dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub added: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub deactivated: u64,
    pub reactivated: u64,
}

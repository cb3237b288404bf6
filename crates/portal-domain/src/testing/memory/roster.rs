//! The in-memory roster.

use super::*;

/// The in-memory [`ProviderRoster`].
#[derive(Debug, Default)]
pub struct InMemoryRoster {
    entries: Mutex<BTreeMap<(TaxId, ProviderId), RosterEntry>>,
}

impl InMemoryRoster {
    pub fn new() -> Self {
        Self::default()
    }

    /// A roster holding these entries (for tests).
    pub fn with(entries: impl IntoIterator<Item = RosterEntry>) -> Self {
        let roster = Self::new();
        lock(&roster.entries).extend(
            entries
                .into_iter()
                .map(|e| ((e.tax_id.clone(), e.provider_id.clone()), e)),
        );
        roster
    }
}

#[async_trait]
impl ProviderRoster for InMemoryRoster {
    async fn find(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
    ) -> Result<Option<RosterEntry>, StoreError> {
        Ok(lock(&self.entries)
            .get(&(tax_id.clone(), provider_id.clone()))
            .cloned())
    }

    async fn active_under_tax_id(&self, tax_id: &TaxId) -> Result<Vec<RosterEntry>, StoreError> {
        let entries = lock(&self.entries);
        Ok(entries
            .values()
            .filter(|e| e.tax_id == *tax_id && e.is_active())
            .cloned()
            .collect())
    }

    async fn import(
        &self,
        batches: &mut crate::ports::RosterSource,
        mode: ImportMode,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<ImportSummary, StoreError> {
        let mut entries = Vec::new();
        while let Some(batch) = batches.next_batch()? {
            entries.extend(batch);
        }
        let mut current = lock(&self.entries);
        let mut next = current.clone();
        let mut summary = ImportSummary::default();
        for entry in &entries {
            let key = (entry.tax_id.clone(), entry.provider_id.clone());
            let incoming = RosterEntry {
                inactive_since: None,
                ..entry.clone()
            };
            match next.get(&key) {
                None => summary.added += 1,
                Some(old) if *old == incoming => summary.unchanged += 1,
                Some(old)
                    if !old.is_active()
                        && RosterEntry {
                            inactive_since: None,
                            ..old.clone()
                        } == incoming =>
                {
                    summary.reactivated += 1;
                }
                Some(_) => summary.changed += 1,
            }
            next.insert(key, incoming);
        }
        if mode == ImportMode::Replace {
            let present: std::collections::HashSet<_> = entries
                .iter()
                .map(|e| (e.tax_id.clone(), e.provider_id.clone()))
                .collect();
            for (key, entry) in next.iter_mut() {
                if !present.contains(key) && entry.is_active() {
                    entry.inactive_since = Some(now);
                    summary.deactivated += 1;
                }
            }
        }
        if !dry_run {
            *current = next;
        }
        Ok(summary)
    }
}

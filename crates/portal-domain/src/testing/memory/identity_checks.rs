//! [`IdentityChecks`] in memory.

use super::*;

#[async_trait]
impl IdentityChecks for InMemoryStore {
    async fn record_proofing_mismatch(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        at: OffsetDateTime,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<WindowRecord, StoreError> {
        let mut state = lock(&self.state);
        let counted = state
            .proofing
            .iter()
            .filter(|(tax, id, failed_at)| tax == tax_id && id == provider_id && *failed_at > since)
            .map(|(_, _, failed_at)| *failed_at);
        if let Some(limited) = limited(counted, limit) {
            return Ok(limited);
        }
        state
            .proofing
            .push((tax_id.clone(), provider_id.clone(), at));
        Ok(WindowRecord::Recorded)
    }

    async fn proofing_mismatches_since(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        since: OffsetDateTime,
    ) -> Result<ProofingFailures, StoreError> {
        let state = lock(&self.state);
        let times: Vec<OffsetDateTime> = state
            .proofing
            .iter()
            .filter(|(tax, id, at)| tax == tax_id && id == provider_id && *at > since)
            .map(|(_, _, at)| *at)
            .collect();
        Ok(ProofingFailures {
            count: u32::try_from(times.len()).unwrap_or(u32::MAX),
            oldest: times.iter().min().copied(),
        })
    }

    async fn support_failures_since(
        &self,
        id: AccountId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        let state = lock(&self.state);
        let count = state
            .support
            .iter()
            .filter(|(account, at, matched)| *account == id && *at > since && !matched)
            .count();
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn record_support_check(
        &self,
        id: AccountId,
        at: OffsetDateTime,
        matched: bool,
        since: OffsetDateTime,
        max_failed: u32,
    ) -> Result<WindowRecord, StoreError> {
        let mut state = lock(&self.state);
        let counted = state
            .support
            .iter()
            .filter(|(account, checked_at, matched)| {
                *account == id && *checked_at > since && !matched
            })
            .map(|(_, checked_at, _)| *checked_at);
        if let Some(limited) = limited(counted, max_failed) {
            return Ok(limited);
        }
        state.support.push((id, at, matched));
        Ok(WindowRecord::Recorded)
    }
}

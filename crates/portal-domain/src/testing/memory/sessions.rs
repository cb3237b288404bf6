//! [`Sessions`] in memory.

use super::*;

#[async_trait]
impl Sessions for InMemoryStore {
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError> {
        let state = lock(&self.state);
        Ok(state.sessions.get(hash).and_then(|session| {
            let account = state.accounts.get(&session.account_id)?;
            Some((session.clone(), account.clone(), ProviderRead::Elsewhere))
        }))
    }

    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(session) = lock(&self.state).sessions.get_mut(hash) {
            session.last_seen_at = session.last_seen_at.max(now);
        }
        Ok(())
    }

    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        lock(&self.state).sessions.remove(hash);
        Ok(())
    }
}

//! [`Housekeeping`] in memory.

use super::*;

#[async_trait]
impl Housekeeping for InMemoryStore {
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        let mut state = lock(&self.state);
        let stale: Vec<AccountId> = state
            .accounts
            .values()
            .filter(|account| !account.is_activated())
            .filter(|account| {
                let newest = state
                    .tokens
                    .iter()
                    .filter(|t| t.account_id == account.id && t.purpose == TokenPurpose::Activation)
                    .map(|t| t.expires_at)
                    .max();
                newest.is_some_and(|expires| expires < cutoff)
            })
            .map(|account| account.id)
            .collect();
        let mut usernames = Vec::with_capacity(stale.len());
        for id in &stale {
            if let Some(account) = state.accounts.remove(id) {
                usernames.push(account.username.as_str().to_owned());
            }
        }
        state.tokens.retain(|t| !stale.contains(&t.account_id));
        state.sessions.retain(|_, s| !stale.contains(&s.account_id));
        state.support.retain(|(id, _, _)| !stale.contains(id));
        Ok(usernames)
    }

    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        flows_before: OffsetDateTime,
        sent_before: OffsetDateTime,
        capped_since: OffsetDateTime,
        session_idle: Duration,
        session_absolute: Duration,
    ) -> Result<PurgeCounts, StoreError> {
        let mut state = lock(&self.state);
        let mut counts = PurgeCounts::default();
        let before = state.flows.len();
        state.flows.retain(|_, flow| match &flow.state {
            RegistrationState::Finished { finished_at } => *finished_at >= flows_before,
            RegistrationState::ProviderVerified { expires_at, .. }
            | RegistrationState::AgreementAccepted { expires_at, .. } => {
                *expires_at >= flows_before
            }
        });
        counts.flows = (before - state.flows.len()) as u64;
        // Activation tokens of pending accounts are kept: the stale-pending
        // purge reads their expiry.
        let pending: Vec<AccountId> = state
            .accounts
            .values()
            .filter(|a| !a.is_activated())
            .map(|a| a.id)
            .collect();
        let before = state.tokens.len();
        state.tokens.retain(|t| {
            let dead = t.used_at.is_some() || t.superseded || now >= t.expires_at;
            !dead
                || (t.purpose == TokenPurpose::Activation && pending.contains(&t.account_id))
                || t.issued_at > capped_since
        });
        counts.tokens = (before - state.tokens.len()) as u64;
        let before = state.sessions.len();
        state.sessions.retain(|_, s| {
            now < (s.last_seen_at + session_idle).min(s.created_at + session_absolute)
        });
        counts.sessions = (before - state.sessions.len()) as u64;
        let before = state.outbox.len();
        state.outbox.retain(|row| {
            !(row.status == OutboxStatus::Sent
                && row.finished_at.is_some_and(|at| at < sent_before))
        });
        counts.sent_emails = (before - state.outbox.len()) as u64;
        Ok(counts)
    }
}

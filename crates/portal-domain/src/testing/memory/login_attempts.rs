//! [`LoginAttempts`] in memory.

use super::*;

#[async_trait]
impl LoginAttempts for InMemoryStore {
    /// The roster is [`InMemoryRoster`], not this store: the use case asks
    /// it. The first place is taken under the same lock as the read.
    async fn account_for_login(
        &self,
        username: &Username,
        first: Option<FirstPlace>,
    ) -> Result<Option<LoginRead>, StoreError> {
        let mut state = lock(&self.state);
        let Some(account) = state
            .accounts
            .values_mut()
            .find(|a| a.username == *username)
        else {
            return Ok(None);
        };
        let read = account.clone();
        let place = first
            .filter(|_| account.lock == LockState::default())
            .map(|first| {
                account.lock = first.after;
                first.reserved
            });
        Ok(Some(LoginRead {
            account: read,
            provider: ProviderRead::Elsewhere,
            place,
        }))
    }

    async fn reserve_login_attempt(
        &self,
        id: AccountId,
        // Decided under the state's mutex, from the state itself.
        _seen: LockState,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> Result<ReservedAttempt, StoreError> {
        let mut state = lock(&self.state);
        let account = state.account_mut(id)?;
        let (counted, reserved) = account.lock.reserve(now, policy);
        account.lock = counted;
        Ok(reserved)
    }

    async fn release_login_attempt(&self, id: AccountId) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let account = state.account_mut(id)?;
        account.lock = account.lock.after_release();
        Ok(())
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        policy: LockoutPolicy,
        lock_audit: &AuditEvent,
    ) -> Result<RecordedFailure, StoreError> {
        let mut state = lock(&self.state);
        let account = state.account_mut(id)?;
        let recorded = RecordedFailure::after(account.lock, now, policy);
        account.lock = recorded.state;
        if recorded.set_lock {
            state.audit.push(lock_audit.clone());
        }
        Ok(recorded)
    }

    async fn record_login_success(
        &self,
        id: AccountId,
        session: &Session,
        verified: &PasswordHash,
        rehashed: Option<PasswordHash>,
        audit: &AuditEvent,
    ) -> Result<CredentialWrite, StoreError> {
        let mut state = lock(&self.state);
        let account = state.account_mut(id)?;
        let judged = CredentialWrite::judge(account, verified, session.created_at);
        if judged != CredentialWrite::Applied {
            return Ok(judged);
        }
        account.lock = LockState::cleared();
        account.last_login_at = Some(session.created_at);
        if let Some(hash) = rehashed {
            account.password_hash = hash;
        }
        state.sessions.insert(session.token_hash, session.clone());
        state.audit.push(audit.clone());
        Ok(CredentialWrite::Applied)
    }

    async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError> {
        lock(&self.state).account_mut(id)?.lock = LockState::cleared();
        Ok(())
    }
}

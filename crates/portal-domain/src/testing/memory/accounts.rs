//! [`Accounts`] in memory.

use super::*;

#[async_trait]
impl Accounts for InMemoryStore {
    async fn account_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.state)
            .accounts
            .values()
            .find(|a| a.username == *username)
            .cloned())
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.state).accounts.get(&id).cloned())
    }

    async fn account_by_registrant(
        &self,
        key: &RegistrantKey,
    ) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.state)
            .accounts
            .values()
            .find(|a| a.provider.registrant_key() == *key)
            .cloned())
    }

    async fn create_account(
        &self,
        finished_flow: &RegistrationFlow,
        account: &NewAccount,
        activation: &LinkToken,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, CreateAccountError> {
        let mut state = lock(&self.state);
        if !state.check_flow_version(finished_flow) {
            return Err(CreateAccountError::FlowConflict);
        }
        let key = account.provider.registrant_key();
        let replaced = state
            .accounts
            .values()
            .find(|a| a.provider.registrant_key() == key && !a.holds_provider())
            .map(|a| a.id);
        if state
            .accounts
            .values()
            .any(|a| Some(a.id) != replaced && a.username == account.username)
        {
            return Err(CreateAccountError::UsernameTaken);
        }
        if state
            .accounts
            .values()
            .any(|a| Some(a.id) != replaced && a.provider.registrant_key() == key)
        {
            return Err(CreateAccountError::AlreadyRegistered);
        }
        if let Some(old) = replaced.and_then(|id| state.accounts.remove(&id)) {
            state.tokens.retain(|t| t.account_id != old.id);
            state.sessions.retain(|_, s| s.account_id != old.id);
            state.support.retain(|(id, _, _)| *id != old.id);
            state
                .audit
                .push(AuditEvent::pending_replaced(audit, old.username.as_str()));
        }
        state.next_account += 1;
        let id = AccountId::new(state.next_account);
        let created = Account {
            id,
            username: account.username.clone(),
            email: account.email.clone(),
            password_hash: account.password_hash.clone(),
            provider: account.provider.clone(),
            activation: Activation::Pending,
            disabled: false,
            lock: LockState::default(),
            agreement: account.agreement.clone(),
            security_question: account.security_question,
            security_answer_hash: account.security_answer_hash.clone(),
            created_at: account.created_at,
            last_login_at: None,
        };
        state
            .flows
            .insert(finished_flow.id.clone(), finished_flow.clone());
        state.accounts.insert(id, created.clone());
        state.tokens.push(TokenRow {
            hash: activation.hash,
            account_id: id,
            purpose: TokenPurpose::Activation,
            issued_at: activation.issued_at,
            expires_at: activation.expires_at,
            used_at: None,
            superseded: false,
            capped: false,
            refusals: 0,
        });
        state.enqueue(email, account.created_at, Some(activation.expires_at));
        state.audit.push(audit.clone());
        Ok(created)
    }

    async fn record_agreement(
        &self,
        id: AccountId,
        acceptance: &AgreementAcceptance,
    ) -> Result<(), StoreError> {
        lock(&self.state).account_mut(id)?.agreement = acceptance.clone();
        Ok(())
    }

    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.account_mut(id)?.disabled = disabled;
        if disabled {
            state.sessions.retain(|_, session| session.account_id != id);
        }
        Ok(())
    }
}

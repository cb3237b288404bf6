//! [`Credentials`] in memory.

use super::*;

#[async_trait]
impl Credentials for InMemoryStore {
    async fn issue_token(
        &self,
        token: &NewToken,
        email: &Email,
        cap: EmailCap,
    ) -> Result<IssueOutcome, StoreError> {
        let mut state = lock(&self.state);
        let issued_at = token.link.issued_at;
        if !state.accounts.contains_key(&token.account_id) {
            return Ok(IssueOutcome::NoAccount);
        }
        let recent = state
            .tokens
            .iter()
            .filter(|row| {
                row.account_id == token.account_id
                    && row.capped
                    && row.issued_at > issued_at - cap.window
            })
            .count();
        if cap.max > 0 && recent >= cap.max as usize {
            return Ok(IssueOutcome::CapReached);
        }
        for row in state
            .tokens
            .iter_mut()
            .filter(|row| row.account_id == token.account_id && row.purpose == token.purpose)
        {
            row.superseded = true;
        }
        state.tokens.push(TokenRow {
            hash: token.link.hash,
            account_id: token.account_id,
            purpose: token.purpose,
            issued_at,
            expires_at: token.link.expires_at,
            used_at: None,
            superseded: false,
            capped: true,
            refusals: 0,
        });
        state.enqueue(email, issued_at, Some(token.link.expires_at));
        Ok(IssueOutcome::Issued)
    }

    async fn find_live_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .tokens
            .iter()
            .find(|row| row.hash == *hash && row.is_live(purpose, now))
            .and_then(|row| state.accounts.get(&row.account_id).cloned()))
    }

    async fn account_by_issued_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<Account>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .tokens
            .iter()
            .find(|row| row.hash == *hash && row.purpose == purpose)
            .and_then(|row| state.accounts.get(&row.account_id).cloned()))
    }

    async fn redeem_activation(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        let mut state = lock(&self.state);
        let id = state.redeem(hash, TokenPurpose::Activation, now)?;
        let account = state.account_mut(id)?;
        account.activation = Activation::Active { activated_at: now };
        let activated = account.clone();
        state.enqueue(email, now, None);
        state.audit.push(audit.clone());
        Ok(activated)
    }

    async fn redeem_password_reset(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        new_hash: &PasswordHash,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        let mut state = lock(&self.state);
        let id = state.redeem(hash, TokenPurpose::PasswordReset, now)?;
        let account = state.account_mut(id)?;
        account.password_hash = new_hash.clone();
        account.lock = LockState::cleared();
        let changed = account.clone();
        state.sessions.retain(|_, session| session.account_id != id);
        state.enqueue(notice, now, None);
        state.audit.push(audit.clone());
        Ok(changed)
    }

    async fn record_reset_refusal(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_refusals: u32,
    ) -> Result<(), RedeemError> {
        let mut state = lock(&self.state);
        let row = state
            .tokens
            .iter_mut()
            .find(|row| row.hash == *hash && row.is_live(TokenPurpose::PasswordReset, now))
            .ok_or(RedeemError::InvalidToken)?;
        let before = ResetRefusals {
            refusals: row.refusals,
        };
        let (after, spent) = before.after_refusal(max_refusals);
        row.refusals = after.refusals;
        if spent {
            row.used_at = Some(now);
        }
        Ok(())
    }

    async fn change_password(
        &self,
        change: &PasswordChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError> {
        let mut state = lock(&self.state);
        let id = change.account_id;
        let session_kept = state
            .sessions
            .get(&change.keep)
            .is_some_and(|session| session.account_id == id);
        let account = state.account_mut(id)?;
        if !session_kept {
            return Ok(CredentialWrite::Stale);
        }
        let judged = CredentialWrite::judge(account, &change.verified, now);
        if judged != CredentialWrite::Applied {
            return Ok(judged);
        }
        account.password_hash = change.new_hash.clone();
        state
            .sessions
            .retain(|hash, session| session.account_id != id || *hash == change.keep);
        state.enqueue(notice, now, None);
        state.audit.push(audit.clone());
        Ok(CredentialWrite::Applied)
    }
}

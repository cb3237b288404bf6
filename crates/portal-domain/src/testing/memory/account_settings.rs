//! [`AccountSettings`] in memory.

use super::*;
use crate::ports::{AccountSettings, EmailChangeIssue, EmailChangeRequest, SecurityQuestionChange};

impl State {
    /// [`CredentialWrite::judge`] for a write asked from session `session`:
    /// a gone account or session is [`CredentialWrite::Stale`].
    fn judge_from_session(
        &self,
        id: AccountId,
        session: &TokenHash,
        verified: &PasswordHash,
        now: OffsetDateTime,
    ) -> CredentialWrite {
        let session_kept = self
            .sessions
            .get(session)
            .is_some_and(|session| session.account_id == id);
        match self.accounts.get(&id) {
            Some(account) if session_kept => CredentialWrite::judge(account, verified, now),
            _ => CredentialWrite::Stale,
        }
    }
}

#[async_trait]
impl AccountSettings for InMemoryStore {
    async fn issue_email_change(
        &self,
        request: &EmailChangeRequest,
        email: &Email,
        cap: EmailCap,
    ) -> Result<EmailChangeIssue, StoreError> {
        let mut state = lock(&self.state);
        let id = request.account_id;
        let issued_at = request.link.issued_at;
        let judged = state.judge_from_session(id, &request.session, &request.verified, issued_at);
        if judged != CredentialWrite::Applied {
            return Ok(EmailChangeIssue::Refused(judged));
        }
        let recent = state
            .tokens
            .iter()
            .filter(|row| {
                row.account_id == id && row.capped && row.issued_at > issued_at - cap.window
            })
            .count();
        if cap.max > 0 && recent >= cap.max as usize {
            return Ok(EmailChangeIssue::CapReached);
        }
        for row in state
            .tokens
            .iter_mut()
            .filter(|row| row.account_id == id && row.purpose == TokenPurpose::EmailChange)
        {
            row.superseded = true;
        }
        state.tokens.push(TokenRow {
            hash: request.link.hash,
            account_id: id,
            purpose: TokenPurpose::EmailChange,
            issued_at,
            expires_at: request.link.expires_at,
            used_at: None,
            superseded: false,
            capped: true,
            refusals: 0,
        });
        state
            .email_changes
            .insert(request.link.hash, request.new_email.clone());
        state.enqueue(email, issued_at, Some(request.link.expires_at));
        Ok(EmailChangeIssue::Issued)
    }

    async fn redeem_email_change(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        let mut state = lock(&self.state);
        let new_email = state
            .email_changes
            .get(hash)
            .cloned()
            .ok_or(RedeemError::InvalidToken)?;
        let id = state.redeem(hash, TokenPurpose::EmailChange, now)?;
        let account = state.account_mut(id)?;
        account.email = new_email;
        let changed = account.clone();
        state.enqueue(notice, now, None);
        state.audit.push(audit.clone());
        Ok(changed)
    }

    async fn change_security_question(
        &self,
        change: &SecurityQuestionChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError> {
        let mut state = lock(&self.state);
        let id = change.account_id;
        let judged = state.judge_from_session(id, &change.session, &change.verified, now);
        if judged != CredentialWrite::Applied {
            return Ok(judged);
        }
        let account = state.account_mut(id)?;
        account.security_question = change.question;
        account.security_answer_hash = change.answer_hash.clone();
        state.enqueue(notice, now, None);
        state.audit.push(audit.clone());
        Ok(CredentialWrite::Applied)
    }
}

//! A store that fails on demand: the in-memory store behind a switch that
//! makes the outbox's calls answer `StoreError::Unavailable`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use portal_domain::account::{Account, AccountId, NewAccount};
use portal_domain::audit::{AuditEvent, AuditFilter};
use portal_domain::email::{Email, OutboxId, QueuedEmail};
use portal_domain::lockout::{LockoutPolicy, RecordedFailure};
use portal_domain::ports::{
    CreateAccountError, FlowUpdateError, IssueOutcome, LinkToken, NewToken, OutboxStore,
    ProofingFailures, PurgeCounts, RedeemError, StoreError, TokenPurpose, UserStore,
};
use portal_domain::registration::{AgreementAcceptance, RegistrationFlow, RegistrationId};
use portal_domain::roster::RegistrantKey;
use portal_domain::session::Session;
use portal_domain::testing::InMemoryStore;
use portal_domain::values::{PasswordHash, ProviderId, TaxId, TokenHash, Username};
use time::{Duration, OffsetDateTime};

/// Fails the next `failures` claims, then behaves.
#[derive(Debug)]
pub struct FlakyStore {
    pub inner: Arc<InMemoryStore>,
    failures: AtomicU32,
    pub claims: AtomicU32,
}

impl FlakyStore {
    pub fn new(inner: Arc<InMemoryStore>, failures: u32) -> Self {
        Self {
            inner,
            failures: AtomicU32::new(failures),
            claims: AtomicU32::new(0),
        }
    }
}

#[async_trait]
impl OutboxStore for FlakyStore {
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Unavailable("the database is down".to_owned()));
        }
        self.inner.claim_due(now, limit, lease).await
    }
    async fn mark_sent(&self, id: OutboxId, now: OffsetDateTime) -> Result<(), StoreError> {
        self.inner.mark_sent(id, now).await
    }
    async fn mark_retry(
        &self,
        id: OutboxId,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner.mark_retry(id, retry_at, error).await
    }
    async fn mark_failed(
        &self,
        id: OutboxId,
        now: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner.mark_failed(id, now, error).await
    }
    async fn pending_for(&self, username: &Username) -> Result<u64, StoreError> {
        self.inner.pending_for(username).await
    }
}

// Everything else goes straight to the in-memory store.
#[async_trait]
impl UserStore for FlakyStore {
    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError> {
        self.inner.set_disabled(id, disabled).await
    }
    async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError> {
        self.inner.clear_lock(id).await
    }
    async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError> {
        self.inner.insert_flow(flow).await
    }
    async fn load_flow(&self, id: &RegistrationId) -> Result<Option<RegistrationFlow>, StoreError> {
        self.inner.load_flow(id).await
    }
    async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError> {
        self.inner.update_flow(flow).await
    }
    async fn record_proofing_mismatch(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.inner
            .record_proofing_mismatch(tax_id, provider_id, at)
            .await
    }
    async fn proofing_mismatches_since(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        since: OffsetDateTime,
    ) -> Result<ProofingFailures, StoreError> {
        self.inner
            .proofing_mismatches_since(tax_id, provider_id, since)
            .await
    }
    async fn account_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<Account>, StoreError> {
        self.inner.account_by_username(username).await
    }
    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.inner.account_by_id(id).await
    }
    async fn account_by_registrant(
        &self,
        key: &RegistrantKey,
    ) -> Result<Option<Account>, StoreError> {
        self.inner.account_by_registrant(key).await
    }
    async fn create_account(
        &self,
        finished_flow: &RegistrationFlow,
        account: &NewAccount,
        activation: &LinkToken,
        email: &Email,
    ) -> Result<Account, CreateAccountError> {
        self.inner
            .create_account(finished_flow, account, activation, email)
            .await
    }
    async fn record_login_failure(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> Result<RecordedFailure, StoreError> {
        self.inner.record_login_failure(id, now, policy).await
    }
    async fn record_login_success(
        &self,
        id: AccountId,
        session: &Session,
        rehashed: Option<PasswordHash>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner
            .record_login_success(id, session, rehashed, audit)
            .await
    }
    async fn record_agreement(
        &self,
        id: AccountId,
        acceptance: &AgreementAcceptance,
    ) -> Result<(), StoreError> {
        self.inner.record_agreement(id, acceptance).await
    }
    async fn issue_token(
        &self,
        token: &NewToken,
        email: &Email,
        max_per_hour: u32,
    ) -> Result<IssueOutcome, StoreError> {
        self.inner.issue_token(token, email, max_per_hour).await
    }
    async fn find_live_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        self.inner.find_live_token(hash, purpose, now).await
    }
    async fn redeem_activation(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        email: &Email,
    ) -> Result<Account, RedeemError> {
        self.inner.redeem_activation(hash, now, email).await
    }
    async fn redeem_password_reset(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        new_hash: &PasswordHash,
        notice: &Email,
    ) -> Result<Account, RedeemError> {
        self.inner
            .redeem_password_reset(hash, now, new_hash, notice)
            .await
    }
    async fn change_password(
        &self,
        id: AccountId,
        new_hash: &PasswordHash,
        keep: &TokenHash,
        notice: &Email,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.inner
            .change_password(id, new_hash, keep, notice, now)
            .await
    }
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account)>, StoreError> {
        self.inner.find_session(hash).await
    }
    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError> {
        self.inner.touch_session(hash, now).await
    }
    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        self.inner.revoke_session(hash).await
    }
    async fn support_failures_since(
        &self,
        id: AccountId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        self.inner.support_failures_since(id, since).await
    }
    async fn record_support_check(
        &self,
        id: AccountId,
        at: OffsetDateTime,
        matched: bool,
    ) -> Result<(), StoreError> {
        self.inner.record_support_check(id, at, matched).await
    }
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        self.inner.purge_stale_pending(cutoff).await
    }
    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        flows_before: OffsetDateTime,
        sent_before: OffsetDateTime,
        session_idle: Duration,
        session_absolute: Duration,
    ) -> Result<PurgeCounts, StoreError> {
        self.inner
            .purge_expired(
                now,
                flows_before,
                sent_before,
                session_idle,
                session_absolute,
            )
            .await
    }
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.inner.append_audit(event).await
    }
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit_events(filter).await
    }
}

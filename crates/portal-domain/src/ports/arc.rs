//! Every port implemented for `Arc<P>` by forwarding, so one adapter can be
//! shared by several owners and a binary can hold `Arc<dyn UserStore>`.

use super::*;

#[async_trait]
impl<P: ProviderRoster + ?Sized> ProviderRoster for std::sync::Arc<P> {
    async fn find(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
    ) -> Result<Option<RosterEntry>, StoreError> {
        (**self).find(tax_id, provider_id).await
    }
    async fn active_under_tax_id(&self, tax_id: &TaxId) -> Result<Vec<RosterEntry>, StoreError> {
        (**self).active_under_tax_id(tax_id).await
    }
    async fn import(
        &self,
        entries: &mut super::RosterSource,
        mode: ImportMode,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<ImportSummary, StoreError> {
        (**self).import(entries, mode, dry_run, now).await
    }
}

#[async_trait]
impl<P: UserStore + ?Sized> UserStore for std::sync::Arc<P> {
    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError> {
        (**self).set_disabled(id, disabled).await
    }
    async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError> {
        (**self).clear_lock(id).await
    }
    async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError> {
        (**self).insert_flow(flow).await
    }
    async fn load_flow(&self, id: &RegistrationId) -> Result<Option<RegistrationFlow>, StoreError> {
        (**self).load_flow(id).await
    }
    async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError> {
        (**self).update_flow(flow).await
    }
    async fn record_proofing_mismatch(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        at: OffsetDateTime,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<WindowRecord, StoreError> {
        (**self)
            .record_proofing_mismatch(tax_id, provider_id, at, since, limit)
            .await
    }
    async fn proofing_mismatches_since(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        since: OffsetDateTime,
    ) -> Result<ProofingFailures, StoreError> {
        (**self)
            .proofing_mismatches_since(tax_id, provider_id, since)
            .await
    }
    async fn account_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<Account>, StoreError> {
        (**self).account_by_username(username).await
    }
    async fn account_for_login(
        &self,
        username: &Username,
        first: Option<FirstPlace>,
    ) -> Result<Option<LoginRead>, StoreError> {
        (**self).account_for_login(username, first).await
    }
    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        (**self).account_by_id(id).await
    }
    async fn account_by_registrant(
        &self,
        key: &RegistrantKey,
    ) -> Result<Option<Account>, StoreError> {
        (**self).account_by_registrant(key).await
    }
    async fn create_account(
        &self,
        finished_flow: &RegistrationFlow,
        account: &NewAccount,
        activation: &LinkToken,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, CreateAccountError> {
        (**self)
            .create_account(finished_flow, account, activation, email, audit)
            .await
    }
    async fn record_login_failure(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        policy: LockoutPolicy,
        lock_audit: &AuditEvent,
    ) -> Result<RecordedFailure, StoreError> {
        (**self)
            .record_login_failure(id, now, policy, lock_audit)
            .await
    }
    async fn reserve_login_attempt(
        &self,
        id: AccountId,
        seen: crate::lockout::LockState,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> Result<crate::lockout::ReservedAttempt, StoreError> {
        (**self).reserve_login_attempt(id, seen, now, policy).await
    }
    async fn release_login_attempt(&self, id: AccountId) -> Result<(), StoreError> {
        (**self).release_login_attempt(id).await
    }
    async fn record_login_success(
        &self,
        id: AccountId,
        session: &Session,
        verified: &PasswordHash,
        rehashed: Option<PasswordHash>,
        audit: &AuditEvent,
    ) -> Result<CredentialWrite, StoreError> {
        (**self)
            .record_login_success(id, session, verified, rehashed, audit)
            .await
    }
    async fn record_agreement(
        &self,
        id: AccountId,
        acceptance: &crate::registration::AgreementAcceptance,
    ) -> Result<(), StoreError> {
        (**self).record_agreement(id, acceptance).await
    }
    async fn issue_token(
        &self,
        token: &NewToken,
        email: &Email,
        cap: EmailCap,
    ) -> Result<IssueOutcome, StoreError> {
        (**self).issue_token(token, email, cap).await
    }
    async fn find_live_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        (**self).find_live_token(hash, purpose, now).await
    }
    async fn account_by_issued_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<Account>, StoreError> {
        (**self).account_by_issued_token(hash, purpose).await
    }
    async fn redeem_activation(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        (**self).redeem_activation(hash, now, email, audit).await
    }
    async fn redeem_password_reset(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        new_hash: &PasswordHash,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        (**self)
            .redeem_password_reset(hash, now, new_hash, notice, audit)
            .await
    }
    async fn record_reset_refusal(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_refusals: u32,
    ) -> Result<(), RedeemError> {
        (**self).record_reset_refusal(hash, now, max_refusals).await
    }
    async fn change_password(
        &self,
        change: &PasswordChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError> {
        (**self).change_password(change, notice, audit, now).await
    }
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError> {
        (**self).find_session(hash).await
    }
    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError> {
        (**self).touch_session(hash, now).await
    }
    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        (**self).revoke_session(hash).await
    }
    async fn support_failures_since(
        &self,
        id: AccountId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        (**self).support_failures_since(id, since).await
    }
    async fn record_support_check(
        &self,
        id: AccountId,
        at: OffsetDateTime,
        matched: bool,
        since: OffsetDateTime,
        max_failed: u32,
    ) -> Result<WindowRecord, StoreError> {
        (**self)
            .record_support_check(id, at, matched, since, max_failed)
            .await
    }
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        (**self).purge_stale_pending(cutoff).await
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
        (**self)
            .purge_expired(
                now,
                flows_before,
                sent_before,
                capped_since,
                session_idle,
                session_absolute,
            )
            .await
    }
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        (**self).append_audit(event).await
    }
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        (**self).audit_events(filter).await
    }
    async fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<(AuditCursor, AuditEvent)>, StoreError> {
        (**self).audit_page(filter, after, limit).await
    }
}

#[async_trait]
impl<P: OutboxStore + ?Sized> OutboxStore for std::sync::Arc<P> {
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, StoreError> {
        (**self).claim_due(now, limit, lease).await
    }
    async fn mark_sent(&self, claim: OutboxClaim, now: OffsetDateTime) -> Result<bool, StoreError> {
        (**self).mark_sent(claim, now).await
    }
    async fn mark_retry(
        &self,
        claim: OutboxClaim,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        (**self).mark_retry(claim, retry_at, error).await
    }
    async fn mark_failed(
        &self,
        claim: OutboxClaim,
        now: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        (**self).mark_failed(claim, now, error).await
    }
    async fn pending_for(&self, username: &Username) -> Result<PendingEmails, StoreError> {
        (**self).pending_for(username).await
    }
}

#[async_trait]
impl<P: Mailer + ?Sized> Mailer for std::sync::Arc<P> {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        (**self).send(email).await
    }
}

impl<P: Clock + ?Sized> Clock for std::sync::Arc<P> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

impl<P: TokenSource + ?Sized> TokenSource for std::sync::Arc<P> {
    fn token(&self) -> Result<RawToken, RandomnessError> {
        (**self).token()
    }
    fn registration_id(&self) -> Result<RegistrationId, RandomnessError> {
        (**self).registration_id()
    }
}

#[async_trait]
impl<P: PasswordHasher + ?Sized> PasswordHasher for std::sync::Arc<P> {
    async fn hash_password(&self, password: &Password) -> Result<PasswordHash, HashError> {
        (**self).hash_password(password).await
    }
    async fn verify_password(
        &self,
        password: &Password,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        (**self).verify_password(password, hash).await
    }
    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        (**self).verify_dummy(password).await
    }
    async fn hash_answer(&self, answer: &SecurityAnswer) -> Result<PasswordHash, HashError> {
        (**self).hash_answer(answer).await
    }
    async fn verify_answer(
        &self,
        answer: &SecurityAnswer,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        (**self).verify_answer(answer, hash).await
    }
    async fn check_policy(
        &self,
        policy: &PasswordPolicy,
        password: &Password,
        context: &PolicyContext,
    ) -> Result<Result<(), PolicyViolations>, HashError> {
        (**self).check_policy(policy, password, context).await
    }
}

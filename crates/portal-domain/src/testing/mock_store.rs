//! [`MockUserStore`]: one mockall mock of every narrow store port, so that
//! a test scripts all the store calls of a use case on one value, with
//! `.expect_<method>()` as before the store was split.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::account::{Account, AccountId, NewAccount};
use crate::audit::{AuditCursor, AuditEvent, AuditFilter};
use crate::email::Email;
use crate::lockout::{FirstPlace, LockState, LockoutPolicy, RecordedFailure, ReservedAttempt};
use crate::passkey::{
    CeremonyKind, NewPasskey, Passkey, PasskeyCeremony, PasskeyId, PasskeyName, StoredCredential,
};
use crate::ports::{
    AccountSettings, Accounts, AuditLog, CreateAccountError, CredentialWrite, Credentials,
    EmailCap, EmailChangeIssue, EmailChangeRequest, FlowUpdateError, Housekeeping, IdentityChecks,
    IssueOutcome, LinkToken, LoginAttempts, LoginRead, NewToken, Passkeys, PasswordChange,
    ProofingFailures, ProviderRead, PurgeCounts, RedeemError, Registrations, SecondFactors,
    SecurityQuestionChange, Sessions, StoreError, TokenPurpose, WindowRecord,
};
use crate::registration::{RegistrationFlow, RegistrationId};
use crate::roster::RegistrantKey;
use crate::second_factor::{FactorSummary, MfaChallenge, SealedSecret, TimeStep, TotpFactor};
use crate::session::Session;
use crate::values::{PasswordHash, ProviderId, TaxId, TokenHash, Username};

mockall::mock! {
    /// Every narrow store port at once, and so a
    /// [`UserStore`](crate::ports::UserStore). `AuditLog::audit_events`
    /// keeps its default: it reads through `audit_page`.
    pub UserStore {}

    #[async_trait]
    impl Registrations for UserStore {
        async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError>;
        async fn load_flow(&self, id: &RegistrationId) -> Result<Option<RegistrationFlow>, StoreError>;
        async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError>;
    }

    #[async_trait]
    impl Accounts for UserStore {
        async fn account_by_username(&self, username: &Username)
        -> Result<Option<Account>, StoreError>;
        async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
        async fn account_by_registrant(
            &self,
            key: &RegistrantKey,
        ) -> Result<Option<Account>, StoreError>;
        async fn create_account(
            &self,
            finished_flow: &RegistrationFlow,
            account: &NewAccount,
            activation: &LinkToken,
            email: &Email,
            audit: &AuditEvent,
        ) -> Result<Account, CreateAccountError>;
        async fn record_agreement(
            &self,
            id: AccountId,
            acceptance: &crate::registration::AgreementAcceptance,
        ) -> Result<(), StoreError>;
        async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl LoginAttempts for UserStore {
        async fn account_for_login(
            &self,
            username: &Username,
            first: Option<FirstPlace>,
        ) -> Result<Option<LoginRead>, StoreError>;
        async fn reserve_login_attempt(
            &self,
            id: AccountId,
            seen: LockState,
            now: OffsetDateTime,
            policy: LockoutPolicy,
        ) -> Result<ReservedAttempt, StoreError>;
        async fn release_login_attempt(&self, id: AccountId) -> Result<(), StoreError>;
        async fn record_login_failure(
            &self,
            id: AccountId,
            now: OffsetDateTime,
            policy: LockoutPolicy,
            lock_audit: &AuditEvent,
        ) -> Result<RecordedFailure, StoreError>;
        async fn record_login_success(
            &self,
            id: AccountId,
            session: &Session,
            verified: &PasswordHash,
            rehashed: Option<PasswordHash>,
            audit: &AuditEvent,
        ) -> Result<CredentialWrite, StoreError>;
        async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl Credentials for UserStore {
        async fn issue_token(
            &self,
            token: &NewToken,
            email: &Email,
            cap: EmailCap,
        ) -> Result<IssueOutcome, StoreError>;
        async fn find_live_token(
            &self,
            hash: &TokenHash,
            purpose: TokenPurpose,
            now: OffsetDateTime,
        ) -> Result<Option<Account>, StoreError>;
        async fn account_by_issued_token(
            &self,
            hash: &TokenHash,
            purpose: TokenPurpose,
        ) -> Result<Option<Account>, StoreError>;
        async fn redeem_activation(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
            email: &Email,
            audit: &AuditEvent,
        ) -> Result<Account, RedeemError>;
        async fn redeem_password_reset(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
            new_hash: &PasswordHash,
            notice: &Email,
            audit: &AuditEvent,
        ) -> Result<Account, RedeemError>;
        async fn record_reset_refusal(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
            max_refusals: u32,
        ) -> Result<(), RedeemError>;
        async fn change_password(
            &self,
            change: &PasswordChange,
            notice: &Email,
            audit: &AuditEvent,
            now: OffsetDateTime,
        ) -> Result<CredentialWrite, StoreError>;
    }

    #[async_trait]
    impl Sessions for UserStore {
        async fn find_session(
            &self,
            hash: &TokenHash,
        ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError>;
        async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError>;
        async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl IdentityChecks for UserStore {
        async fn record_proofing_mismatch(
            &self,
            tax_id: &TaxId,
            provider_id: &ProviderId,
            at: OffsetDateTime,
            since: OffsetDateTime,
            limit: u32,
        ) -> Result<WindowRecord, StoreError>;
        async fn proofing_mismatches_since(
            &self,
            tax_id: &TaxId,
            provider_id: &ProviderId,
            since: OffsetDateTime,
        ) -> Result<ProofingFailures, StoreError>;
        async fn support_failures_since(
            &self,
            id: AccountId,
            since: OffsetDateTime,
        ) -> Result<u32, StoreError>;
        async fn record_support_check(
            &self,
            id: AccountId,
            at: OffsetDateTime,
            matched: bool,
            since: OffsetDateTime,
            max_failed: u32,
        ) -> Result<WindowRecord, StoreError>;
    }

    #[async_trait]
    impl Housekeeping for UserStore {
        async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError>;
        async fn purge_expired(
            &self,
            now: OffsetDateTime,
            flows_before: OffsetDateTime,
            sent_before: OffsetDateTime,
            capped_since: OffsetDateTime,
            session_idle: Duration,
            session_absolute: Duration,
        ) -> Result<PurgeCounts, StoreError>;
    }

    #[async_trait]
    impl AccountSettings for UserStore {
        async fn issue_email_change(
            &self,
            request: &EmailChangeRequest,
            email: &Email,
            cap: EmailCap,
        ) -> Result<EmailChangeIssue, StoreError>;
        async fn redeem_email_change(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
            notice: &Email,
            audit: &AuditEvent,
        ) -> Result<Account, RedeemError>;
        async fn change_security_question(
            &self,
            change: &SecurityQuestionChange,
            notice: &Email,
            audit: &AuditEvent,
            now: OffsetDateTime,
        ) -> Result<CredentialWrite, StoreError>;
    }

    #[async_trait]
    impl AuditLog for UserStore {
        async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
        async fn audit_page(
            &self,
            filter: &AuditFilter,
            after: Option<AuditCursor>,
            limit: u32,
        ) -> Result<Vec<(AuditCursor, AuditEvent)>, StoreError>;
    }

    #[async_trait]
    impl SecondFactors for UserStore {
        async fn totp_factor(&self, id: AccountId) -> Result<Option<TotpFactor>, StoreError>;
        async fn start_totp_enrolment(
            &self,
            id: AccountId,
            sealed: &SealedSecret,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError>;
        #[allow(clippy::too_many_arguments)]
        async fn confirm_totp(
            &self,
            id: AccountId,
            sealed: &SealedSecret,
            step: TimeStep,
            recovery_codes: &[TokenHash],
            notice: &Email,
            audit: &AuditEvent,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError>;
        async fn accept_totp_step(&self, id: AccountId, step: TimeStep) -> Result<bool, StoreError>;
        async fn use_recovery_code(
            &self,
            id: AccountId,
            code: &TokenHash,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError>;
        async fn second_factors_of(&self, id: AccountId) -> Result<FactorSummary, StoreError>;
        async fn any_totp_secret(&self) -> Result<bool, StoreError>;
        async fn remove_second_factors(
            &self,
            id: AccountId,
            passkeys: bool,
            notice: &Email,
            audit: &AuditEvent,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError>;
        async fn create_mfa_challenge(
            &self,
            challenge: &MfaChallenge,
            verified: &PasswordHash,
            now: OffsetDateTime,
        ) -> Result<CredentialWrite, StoreError>;
        async fn find_mfa_challenge(&self, hash: &TokenHash)
        -> Result<Option<MfaChallenge>, StoreError>;
        async fn spend_mfa_challenge(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError>;
    }

    #[async_trait]
    impl Passkeys for UserStore {
        async fn passkeys_of(&self, id: AccountId) -> Result<Vec<Passkey>, StoreError>;
        async fn start_passkey_ceremony(
            &self,
            ceremony: &PasskeyCeremony,
            max: u32,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError>;
        async fn take_passkey_ceremony(
            &self,
            hash: &TokenHash,
            kind: CeremonyKind,
            now: OffsetDateTime,
        ) -> Result<Option<PasskeyCeremony>, StoreError>;
        #[allow(clippy::too_many_arguments)]
        async fn add_passkey(
            &self,
            id: AccountId,
            passkey: &NewPasskey,
            max: usize,
            notice: &Email,
            audit: &AuditEvent,
            now: OffsetDateTime,
        ) -> Result<Option<PasskeyId>, StoreError>;
        async fn rename_passkey(
            &self,
            id: AccountId,
            passkey: PasskeyId,
            name: &PasskeyName,
        ) -> Result<bool, StoreError>;
        async fn remove_passkey(
            &self,
            id: AccountId,
            passkey: PasskeyId,
            notice: &Email,
            audit: &AuditEvent,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError>;
        async fn record_passkey_use(
            &self,
            id: AccountId,
            passkey: PasskeyId,
            updated: Option<StoredCredential>,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError>;
    }
}

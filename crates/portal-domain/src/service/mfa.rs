//! Second factors (SPEC §4a): TOTP enrolment, confirmation and removal by
//! a logged-in account, and the login's second step.
//!
//! Every code a client sends toward a login, or toward removing a factor,
//! takes its place in the lockout count before it is checked, exactly as a
//! password does (SPEC §4: it cannot be raced), and a wrong one counts as a
//! failure. Single use is the store's: a TOTP step, a recovery code and a
//! challenge are each spent by one guarded write.

use std::fmt;

use time::OffsetDateTime;

use super::{Fault, Portal, RequestContext, faults_into, trace_audit};
use crate::account::Account;
use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::codes::ErrorCode;
use crate::email::{Email, SecondFactor, SecurityNotice};
use crate::ports::{
    Clock, CredentialWrite, PasswordHasher, ProviderRead, ProviderRoster, TokenSource, UserStore,
};
use crate::second_factor::{
    DataKey, FactorSummary, MfaChallenge, MfaMethod, RecoveryCode, SealError, SubmittedCode,
    TotpCode, TotpSecret,
};
use crate::service::LoggedIn;
use crate::session::Session;
use crate::values::{Password, RawToken, Username};

/// Whether a second factor was added or removed ([`Portal::factor_change`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FactorChange {
    Added,
    Removed,
}

/// A started TOTP enrolment: the secret for the account holder's app, not
/// active until a first code confirms it.
pub struct TotpEnrolment {
    pub secret: TotpSecret,
    /// Holds the secret: shown to the account holder, never logged.
    pub otpauth_uri: String,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrolment([REDACTED])")
    }
}

/// The answer of a right password on an account with a second factor.
#[derive(Debug, Clone)]
pub struct IssuedChallenge {
    /// The challenge id, for the second step; stored only hashed.
    pub id: RawToken,
    pub methods: Vec<MfaMethod>,
    pub expires_at: OffsetDateTime,
}

impl PartialEq for IssuedChallenge {
    fn eq(&self, other: &Self) -> bool {
        self.id.hash() == other.id.hash()
            && self.methods == other.methods
            && self.expires_at == other.expires_at
    }
}

impl Eq for IssuedChallenge {}

/// Why enrolling, confirming or removing a factor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecondFactorError {
    #[error("the current password is wrong")]
    InvalidCredentials,
    #[error("the account is locked")]
    AccountLocked { locked_until: OffsetDateTime },
    #[error("the account already has a TOTP authenticator")]
    AlreadyEnrolled,
    #[error("the account has no TOTP authenticator")]
    NotEnrolled,
    #[error("the code is wrong, used or expired")]
    InvalidCode,
    #[error(transparent)]
    Fault(Fault),
}

/// Why a login's second step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MfaLoginError {
    /// A wrong, used or malformed code, or an unknown, spent or expired
    /// challenge: one answer for all.
    #[error("the code is wrong, used or expired")]
    InvalidCode,
    #[error("the account is locked")]
    AccountLocked { locked_until: OffsetDateTime },
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("the account's provider is no longer on the roster")]
    ProviderInactive,
    #[error("passkeys are unavailable: PORTAL_PUBLIC_URL's host is not a domain name")]
    PasskeysUnavailable,
    /// The account has as many passkey ceremonies under way as it may.
    #[error("too many passkey ceremonies")]
    PasskeyLimit,
    #[error(transparent)]
    Fault(Fault),
}

/// What a login's second step sends: a code (TOTP or recovery code), or a
/// WebAuthn assertion (JSON) for the passkey ceremony of its challenge.
#[derive(Clone, Copy)]
pub enum SecondStep<'a> {
    Code(&'a str),
    Passkey(&'a str),
}

impl fmt::Debug for SecondStep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Code(_) => "SecondStep::Code([REDACTED])",
            Self::Passkey(_) => "SecondStep::Passkey([REDACTED])",
        })
    }
}

faults_into!(SecondFactorError, MfaLoginError);

impl From<SealError> for SecondFactorError {
    fn from(e: SealError) -> Self {
        Self::Fault(e.into())
    }
}

impl From<SealError> for MfaLoginError {
    fn from(e: SealError) -> Self {
        Self::Fault(e.into())
    }
}

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    fn data_key(&self) -> Result<&DataKey, SealError> {
        self.settings.mfa.data_key.as_ref().ok_or(SealError::NoKey)
    }

    /// Issues the challenge a right password answers with on an account
    /// that has a second factor: as a login's session, only while that
    /// password is still the account's and no lock is in force (another
    /// attempt may have set one while this one was verified).
    pub(super) async fn issue_challenge(
        &self,
        account: &Account,
        factors: FactorSummary,
    ) -> Result<IssuedChallenge, super::LoginError> {
        let id = self.tokens.token()?;
        let now = self.now();
        let challenge = MfaChallenge::new(&id, account.id, &account.password_hash, now);
        match self
            .store
            .create_mfa_challenge(&challenge, &account.password_hash, now)
            .await?
        {
            CredentialWrite::Applied => Ok(IssuedChallenge {
                id,
                methods: factors.methods(),
                expires_at: challenge.expires_at,
            }),
            CredentialWrite::Stale => Err(super::LoginError::InvalidCredentials),
            CredentialWrite::Locked { locked_until } => {
                Err(super::LoginError::AccountLocked { locked_until })
            }
        }
    }

    /// The second factors of a logged-in account (for its account page).
    pub async fn second_factors(
        &self,
        auth: &super::Authenticated,
    ) -> Result<FactorSummary, Fault> {
        Ok(self.store.second_factors_of(auth.account.id).await?)
    }

    /// Starts a TOTP enrolment, with the current password: a fresh secret,
    /// stored sealed and unconfirmed (a second start replaces it).
    pub async fn start_totp_enrolment(
        &self,
        auth: &super::Authenticated,
        current: &Password,
        ctx: RequestContext,
    ) -> Result<TotpEnrolment, SecondFactorError> {
        let result = self.try_start_totp_enrolment(auth, current, ctx).await;
        if let Err(e) = &result {
            self.audit_refusal(AuditAction::SecondFactorAdded, auth, e.code(), ctx)
                .await;
        }
        result
    }

    async fn try_start_totp_enrolment(
        &self,
        auth: &super::Authenticated,
        current: &Password,
        ctx: RequestContext,
    ) -> Result<TotpEnrolment, SecondFactorError> {
        // Named before anything is verified or counted.
        let key = self.data_key()?;
        if self.store.second_factors_of(auth.account.id).await?.totp {
            return Err(SecondFactorError::AlreadyEnrolled);
        }
        let account = self.verify_counted(auth, current, None, ctx).await?;
        let secret = TotpSecret::generate()?;
        let sealed = key.seal(&secret, account.id)?;
        if !self
            .store
            .start_totp_enrolment(account.id, &sealed, self.now())
            .await?
        {
            return Err(SecondFactorError::AlreadyEnrolled);
        }
        Ok(TotpEnrolment {
            otpauth_uri: secret
                .expose_otpauth_uri(&self.settings.mfa.issuer, account.username.as_str()),
            secret,
        })
    }

    /// Confirms the started enrolment with a first code: the factor is on,
    /// and the ten recovery codes are returned (this once; only their
    /// hashes are stored). The account's address gets the notice.
    pub async fn confirm_totp(
        &self,
        auth: &super::Authenticated,
        code: &str,
        ctx: RequestContext,
    ) -> Result<Vec<RecoveryCode>, SecondFactorError> {
        let result = self.try_confirm_totp(auth, code, ctx).await;
        if let Err(e) = &result {
            self.audit_refusal(AuditAction::SecondFactorAdded, auth, e.code(), ctx)
                .await;
        }
        result
    }

    async fn try_confirm_totp(
        &self,
        auth: &super::Authenticated,
        code: &str,
        ctx: RequestContext,
    ) -> Result<Vec<RecoveryCode>, SecondFactorError> {
        let now = self.now();
        let account = &auth.account;
        let factor = self
            .store
            .totp_factor(account.id)
            .await?
            .ok_or(SecondFactorError::InvalidCode)?;
        if factor.confirmed {
            return Err(SecondFactorError::AlreadyEnrolled);
        }
        let code = TotpCode::parse(code).map_err(|_| SecondFactorError::InvalidCode)?;
        let secret = self.data_key()?.open(&factor.sealed, account.id)?;
        let step = secret
            .matching_step(&code, now, None)
            .ok_or(SecondFactorError::InvalidCode)?;
        let codes = RecoveryCode::generate_set()?;
        let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
        let (notice, audit) =
            self.factor_change(account, FactorChange::Added, SecondFactor::Totp, ctx);
        if !self
            .store
            .confirm_totp(
                account.id,
                &factor.sealed,
                step,
                &hashes,
                &notice,
                &audit,
                now,
            )
            .await?
        {
            // Another start or confirmation came first.
            return Err(SecondFactorError::InvalidCode);
        }
        trace_audit(&audit);
        Ok(codes)
    }

    /// Removes the TOTP factor and the recovery codes, with the current
    /// password and a code (TOTP or recovery). The account's address gets
    /// the notice.
    pub async fn remove_totp(
        &self,
        auth: &super::Authenticated,
        current: &Password,
        code: &str,
        ctx: RequestContext,
    ) -> Result<(), SecondFactorError> {
        let result = self.try_remove_totp(auth, current, code, ctx).await;
        if let Err(e) = &result {
            self.audit_refusal(AuditAction::SecondFactorRemoved, auth, e.code(), ctx)
                .await;
        }
        result
    }

    async fn try_remove_totp(
        &self,
        auth: &super::Authenticated,
        current: &Password,
        code: &str,
        ctx: RequestContext,
    ) -> Result<(), SecondFactorError> {
        if !self.store.second_factors_of(auth.account.id).await?.totp {
            return Err(SecondFactorError::NotEnrolled);
        }
        let code = SubmittedCode::parse(code);
        let account = self.verify_counted(auth, current, Some(&code), ctx).await?;
        let (notice, audit) =
            self.factor_change(&account, FactorChange::Removed, SecondFactor::Totp, ctx);
        if !self
            .store
            .remove_second_factors(account.id, false, &notice, &audit, self.now())
            .await?
        {
            return Err(SecondFactorError::NotEnrolled);
        }
        trace_audit(&audit);
        Ok(())
    }

    /// The notice to the account's address and the success audit event of
    /// a factor added or removed, for the change's own transaction to store.
    pub(super) fn factor_change(
        &self,
        account: &Account,
        change: FactorChange,
        factor: SecondFactor,
        ctx: RequestContext,
    ) -> (Email, AuditEvent) {
        let (notice, action) = match change {
            FactorChange::Added => (
                SecurityNotice::FactorAdded(factor),
                AuditAction::SecondFactorAdded,
            ),
            FactorChange::Removed => (
                SecurityNotice::FactorRemoved(factor),
                AuditAction::SecondFactorRemoved,
            ),
        };
        let audit = self.audit_event(
            action,
            Some(account.username.as_str()),
            ctx,
            AuditOutcome::Success,
        );
        (notice.to(account), audit)
    }

    /// The current password (and `code`, when given) of a logged-in
    /// account, checked as one attempt counted toward the lockout: its
    /// place is taken before anything is verified, a wrong password or code
    /// is a failure, and a right pair gives the place back. Returns the
    /// account as read now.
    pub(super) async fn verify_counted(
        &self,
        auth: &super::Authenticated,
        current: &Password,
        code: Option<&SubmittedCode>,
        ctx: RequestContext,
    ) -> Result<Account, SecondFactorError> {
        let now = self.now();
        let account = self
            .store
            .account_by_id(auth.account.id)
            .await?
            .ok_or(SecondFactorError::InvalidCredentials)?;
        if let Some(locked_until) = account.lock.locked_until(now) {
            return Err(SecondFactorError::AccountLocked { locked_until });
        }
        let place = match self.take_place(&account, now).await? {
            Ok(place) => place,
            Err(locked_until) => return Err(SecondFactorError::AccountLocked { locked_until }),
        };
        let refusal = match self.judge(&account, current, code, now).await {
            Ok(refusal) => refusal,
            Err(fault) => {
                self.give_place_back(&account).await;
                return Err(fault.into());
            }
        };
        match refusal {
            None => {
                self.give_place_back(&account).await;
                Ok(account)
            }
            Some(refusal) => Err(self
                .count_failure(&account, place, now, ctx)
                .await?
                .map_or(refusal, |locked_until| SecondFactorError::AccountLocked {
                    locked_until,
                })),
        }
    }

    /// What is wrong with a password and code, if anything.
    async fn judge(
        &self,
        account: &Account,
        current: &Password,
        code: Option<&SubmittedCode>,
        now: OffsetDateTime,
    ) -> Result<Option<SecondFactorError>, Fault> {
        if !self
            .hasher
            .verify_password(current, &account.password_hash)
            .await?
            .is_match()
        {
            return Ok(Some(SecondFactorError::InvalidCredentials));
        }
        if let Some(code) = code
            && !self.second_factor_accepted(account, code, now).await?
        {
            return Ok(Some(SecondFactorError::InvalidCode));
        }
        Ok(None)
    }

    /// Whether `code` is one of the account's second factors now, spending
    /// it: a TOTP code's step (never accepted twice), or a recovery code.
    async fn second_factor_accepted(
        &self,
        account: &Account,
        code: &SubmittedCode,
        now: OffsetDateTime,
    ) -> Result<bool, Fault> {
        match code {
            SubmittedCode::Totp(code) => {
                let Some(factor) = self
                    .store
                    .totp_factor(account.id)
                    .await?
                    .filter(|factor| factor.confirmed)
                else {
                    return Ok(false);
                };
                let secret = self.data_key()?.open(&factor.sealed, account.id)?;
                match secret.matching_step(code, now, factor.last_step) {
                    Some(step) => Ok(self.store.accept_totp_step(account.id, step).await?),
                    None => Ok(false),
                }
            }
            SubmittedCode::Recovery(code) => Ok(self
                .store
                .use_recovery_code(account.id, &code.hash(), now)
                .await?),
            SubmittedCode::Malformed => Ok(false),
        }
    }

    /// A refused change of the account's factors, audited with `code`.
    pub(super) async fn audit_refusal(
        &self,
        action: AuditAction,
        auth: &super::Authenticated,
        code: ErrorCode,
        ctx: RequestContext,
    ) {
        let outcome = AuditOutcome::Error(code);
        self.audit(action, Some(auth.account.username.as_str()), ctx, outcome)
            .await;
    }

    /// The login's second step: a TOTP or recovery code for the challenge a
    /// right password was answered with. Makes the session as a plain login
    /// does. The challenge is spent by the step that finishes the login; a
    /// wrong code leaves it, and counts toward the lockout.
    pub async fn finish_mfa_login(
        &self,
        challenge_id: &str,
        code: &str,
        ctx: RequestContext,
    ) -> Result<LoggedIn, MfaLoginError> {
        self.finish_second_step(challenge_id, SecondStep::Code(code), ctx)
            .await
    }

    /// The login's second step with a code or a passkey's assertion: both
    /// take their place in the lockout count first, and a wrong one counts
    /// as a failure. A refused assertion spends its ceremony (the next try
    /// starts another); the challenge is spent by the step that finishes.
    pub async fn finish_second_step(
        &self,
        challenge_id: &str,
        step: SecondStep<'_>,
        ctx: RequestContext,
    ) -> Result<LoggedIn, MfaLoginError> {
        let mut named = None;
        let result = self
            .try_finish_mfa_login(challenge_id, step, ctx, &mut named)
            .await;
        // A success stored its audit event with the session.
        if let Err(e) = &result {
            let outcome = AuditOutcome::Error(e.code());
            let username = named.as_ref().map(Username::as_str);
            self.audit(AuditAction::LoginFailed, username, ctx, outcome)
                .await;
        }
        result
    }

    async fn try_finish_mfa_login(
        &self,
        challenge_id: &str,
        step: SecondStep<'_>,
        ctx: RequestContext,
        named: &mut Option<Username>,
    ) -> Result<LoggedIn, MfaLoginError> {
        let now = self.now();
        let hash = RawToken::parse(challenge_id)
            .map_err(|_| MfaLoginError::InvalidCode)?
            .hash();
        let challenge = self
            .store
            .find_mfa_challenge(&hash)
            .await?
            .filter(|challenge| challenge.is_live(now))
            .ok_or(MfaLoginError::InvalidCode)?;
        let account = self
            .store
            .account_by_id(challenge.account_id)
            .await?
            .ok_or(MfaLoginError::InvalidCode)?;
        *named = Some(account.username.clone());
        // A reset or a change since the password step voids it.
        if !challenge.password_unchanged(&account.password_hash) {
            return Err(MfaLoginError::InvalidCode);
        }
        if account.disabled {
            return Err(MfaLoginError::AccountDisabled);
        }
        if self
            .active_provider(&account, ProviderRead::Elsewhere)
            .await?
            .is_none()
        {
            return Err(MfaLoginError::ProviderInactive);
        }
        if let Some(locked_until) = account.lock.locked_until(now) {
            return Err(MfaLoginError::AccountLocked { locked_until });
        }
        let place = match self.take_place(&account, now).await? {
            Ok(place) => place,
            Err(locked_until) => return Err(MfaLoginError::AccountLocked { locked_until }),
        };
        let judged = match step {
            SecondStep::Code(code) => {
                self.second_factor_accepted(&account, &SubmittedCode::parse(code), now)
                    .await
            }
            SecondStep::Passkey(assertion) => {
                self.passkey_accepted(&account, &hash, assertion, now).await
            }
        };
        let accepted = match judged {
            Ok(accepted) => accepted,
            Err(fault) => {
                self.give_place_back(&account).await;
                return Err(fault.into());
            }
        };
        if !accepted {
            return Err(self
                .count_failure(&account, place, now, ctx)
                .await?
                .map_or(MfaLoginError::InvalidCode, |locked_until| {
                    MfaLoginError::AccountLocked { locked_until }
                }));
        }
        // Single use: of two right codes racing on one challenge, one wins.
        if !self.store.spend_mfa_challenge(&hash, now).await? {
            self.give_place_back(&account).await;
            return Err(MfaLoginError::InvalidCode);
        }
        let finished = self.open_session(account.clone(), ctx).await;
        if let Err(error) = &finished
            && !matches!(error, MfaLoginError::AccountLocked { .. })
        {
            self.give_place_back(&account).await;
        }
        finished
    }

    async fn open_session(
        &self,
        account: Account,
        ctx: RequestContext,
    ) -> Result<LoggedIn, MfaLoginError> {
        let token = self.tokens.token()?;
        let now = self.now();
        let session = Session {
            token_hash: token.hash(),
            account_id: account.id,
            created_at: now,
            last_seen_at: now,
        };
        let audit = self.audit_event(
            AuditAction::LoginSucceeded,
            Some(account.username.as_str()),
            ctx,
            AuditOutcome::Success,
        );
        match self
            .store
            .record_login_success(account.id, &session, &account.password_hash, None, &audit)
            .await?
        {
            CredentialWrite::Applied => {}
            CredentialWrite::Stale => return Err(MfaLoginError::InvalidCode),
            CredentialWrite::Locked { locked_until } => {
                return Err(MfaLoginError::AccountLocked { locked_until });
            }
        }
        trace_audit(&audit);
        let agreement_required = self.agreement_pending(&account);
        Ok(LoggedIn {
            token,
            expires_at: session.expires_at(self.settings.sessions),
            account,
            agreement_required,
        })
    }
}

impl SecondFactorError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountLocked { .. } => ErrorCode::AccountLocked,
            Self::AlreadyEnrolled => ErrorCode::MfaAlreadyEnrolled,
            Self::NotEnrolled => ErrorCode::MfaNotEnrolled,
            Self::InvalidCode => ErrorCode::InvalidCode,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

impl MfaLoginError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidCode => ErrorCode::InvalidCode,
            Self::AccountLocked { .. } => ErrorCode::AccountLocked,
            Self::AccountDisabled => ErrorCode::AccountDisabled,
            Self::ProviderInactive => ErrorCode::ProviderInactive,
            Self::PasskeysUnavailable => ErrorCode::PasskeysUnavailable,
            Self::PasskeyLimit => ErrorCode::PasskeyLimit,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

//! Login, lockout, sessions and agreement re-acceptance (SPEC §4); the
//! password change is in `password.rs`.

use crate::codes::ErrorCode;
use time::OffsetDateTime;

use super::mfa::IssuedChallenge;
use super::{Fault, Portal, RequestContext, faults_into, trace_audit};
use crate::account::Account;
use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::lockout::{FirstPlace, ReservedAttempt};
use crate::ports::{
    Clock, CredentialWrite, LoginRead, PasswordHasher, ProviderRead, ProviderRoster, TokenSource,
    UserStore, Verification,
};
use crate::registration::AgreementAcceptance;
use crate::roster::RosterEntry;
use crate::session::Session;
use crate::values::{AgreementVersion, Password, RawToken, TokenHash, Username};

/// A new session: the token goes to the client, only its hash is stored.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub token: RawToken,
    pub expires_at: OffsetDateTime,
    pub account: Account,
    /// A newer agreement awaits: the session is restricted until accepted.
    pub agreement_required: bool,
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password: one answer for both.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the account is locked")]
    AccountLocked { locked_until: OffsetDateTime },
    #[error("the account is not activated yet")]
    AccountNotActivated,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("the account's provider is no longer on the roster")]
    ProviderInactive,
    /// Not a refusal: the password was right, and the account has a second
    /// factor. No session yet: the second step (`finish_mfa_login`) makes it.
    #[error("the login needs its second step")]
    SecondStepRequired(IssuedChallenge),
    #[error(transparent)]
    Fault(Fault),
}

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account: Account,
    /// The account's own roster entry, active, as read for this request.
    pub provider: RosterEntry,
    pub session_hash: TokenHash,
    pub session_expires_at: OffsetDateTime,
    /// A newer agreement awaits: only the agreement and logout are allowed.
    pub agreement_required: bool,
    /// `PORTAL_MFA_REQUIRED` is set and the account has no second factor:
    /// only enrolment and logout are allowed.
    pub mfa_enrolment_required: bool,
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No session, an unknown, expired or revoked one, or one whose account
    /// can no longer log in (disabled, provider inactive).
    #[error("authentication required")]
    Unauthenticated,
    #[error("the current Provider Agreement must be accepted")]
    AgreementNotAccepted,
    #[error(transparent)]
    Fault(Fault),
}

faults_into!(LoginError, AuthError);

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    /// Logs in by username and password, both as the client typed them.
    ///
    /// An unknown (or malformed) username costs one dummy verification, so
    /// it answers like a wrong password in about the same time. A locked
    /// account is refused without verifying anything. A text that can never
    /// be a password ([`Password::parse`] refuses it) is nobody's password:
    /// it is a wrong password, counted toward the lockout and audited like
    /// one, with nothing to verify (so no hash is computed for it, for a
    /// known or an unknown username alike).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        ctx: RequestContext,
    ) -> Result<LoggedIn, LoginError> {
        let password = Password::parse(password).ok();
        let result = self.try_login(username, password.as_ref(), ctx).await;
        // A success stored its audit event with the session.
        match &result {
            Ok(_) => {}
            Err(LoginError::SecondStepRequired(_)) => {
                let outcome = AuditOutcome::Success;
                self.audit(
                    AuditAction::MfaChallengeIssued,
                    Some(username),
                    ctx,
                    outcome,
                )
                .await;
            }
            Err(e) => {
                let outcome = AuditOutcome::Error(e.code());
                self.audit(AuditAction::LoginFailed, Some(username), ctx, outcome)
                    .await;
            }
        }
        result
    }

    /// `password` is `None` when the typed text can never be a password.
    async fn try_login(
        &self,
        username: &str,
        password: Option<&Password>,
        ctx: RequestContext,
    ) -> Result<LoggedIn, LoginError> {
        let now = self.now();
        let first = FirstPlace::at(now, self.settings.lockout);
        let read = match Username::parse(username) {
            Ok(username) => self.store.account_for_login(&username, first).await?,
            Err(_) => None,
        };
        let Some(LoginRead {
            account,
            provider,
            place,
        }) = read
        else {
            if let Some(password) = password {
                self.hasher.verify_dummy(password).await?;
            }
            return Err(LoginError::InvalidCredentials);
        };
        let place = match place {
            // Taken with the read: the account had no failures and no lock.
            Some(place) => place,
            None => {
                // Refused without a write while the lock read with the
                // account holds.
                if let Some(locked_until) = account.lock.locked_until(now) {
                    return Err(LoginError::AccountLocked { locked_until });
                }
                match self.take_place(&account, now).await? {
                    Ok(place) => place,
                    Err(locked_until) => return Err(LoginError::AccountLocked { locked_until }),
                }
            }
        };
        let verification = match password {
            Some(password) => {
                self.hasher
                    .verify_password(password, &account.password_hash)
                    .await
            }
            // Nobody's password: wrong, with nothing to verify.
            None => Ok(Verification::Mismatch),
        };
        // Only a parsed password can match: `Some` whenever a rehash is due.
        let rehash = match verification {
            Ok(Verification::Match { needs_rehash }) => password.filter(|_| needs_rehash),
            Ok(Verification::Mismatch) => {
                return Err(self
                    .count_failure(&account, place, now, ctx)
                    .await?
                    .map_or(LoginError::InvalidCredentials, |locked_until| {
                        LoginError::AccountLocked { locked_until }
                    }));
            }
            Err(error) => {
                self.give_place_back(&account).await;
                return Err(error.into());
            }
        };
        let finished = self
            .finish_login(username, rehash, account.clone(), provider, ctx)
            .await;
        // A right password that did not log in (the account may not, a
        // second step is due, or a fault) was not a failure: its place is
        // given back, and the count is not cleared (only a finished login
        // clears it, so wrong second-step codes keep adding up). A lock stays.
        if let Err(error) = &finished
            && !matches!(error, LoginError::AccountLocked { .. })
        {
            self.give_place_back(&account).await;
        }
        finished
    }

    /// The rest of a login whose password was right; `rehash` is that
    /// password when its hash was made with other parameters.
    async fn finish_login(
        &self,
        username: &str,
        rehash: Option<&Password>,
        account: Account,
        provider: ProviderRead,
        ctx: RequestContext,
    ) -> Result<LoggedIn, LoginError> {
        if account.disabled {
            return Err(LoginError::AccountDisabled);
        }
        if !account.is_activated() {
            return Err(LoginError::AccountNotActivated);
        }
        if self.active_provider(&account, provider).await?.is_none() {
            return Err(LoginError::ProviderInactive);
        }
        let factors = self.store.second_factors_of(account.id).await?;
        if factors.any() {
            return Err(match self.issue_challenge(&account, factors).await {
                Ok(challenge) => LoginError::SecondStepRequired(challenge),
                Err(refused) => refused,
            });
        }
        let rehashed = match rehash {
            Some(password) => Some(self.hasher.hash_password(password).await?),
            None => None,
        };
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
            Some(username),
            ctx,
            AuditOutcome::Success,
        );
        let written = self
            .store
            .record_login_success(
                account.id,
                &session,
                &account.password_hash,
                rehashed,
                &audit,
            )
            .await?;
        match written {
            CredentialWrite::Applied => {}
            // The password was reset or changed while it was being verified:
            // the one verified is no longer the account's.
            CredentialWrite::Stale => return Err(LoginError::InvalidCredentials),
            // Another attempt locked the account meanwhile: a success never
            // lifts a lock.
            CredentialWrite::Locked { locked_until } => {
                return Err(LoginError::AccountLocked { locked_until });
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

    /// Gives this attempt its place in the count before its password is
    /// verified; `Err` holds the lock's end when it is refused instead (the
    /// account is locked, or the attempts in flight took every place).
    pub(super) async fn take_place(
        &self,
        account: &Account,
        now: OffsetDateTime,
    ) -> Result<Result<ReservedAttempt, OffsetDateTime>, Fault> {
        Ok(
            match self
                .store
                .reserve_login_attempt(account.id, account.lock, now, self.settings.lockout)
                .await?
            {
                granted @ ReservedAttempt::Granted { .. } => Ok(granted),
                ReservedAttempt::Refused { locked_until } => Err(locked_until),
            },
        )
    }

    /// The event of this account's lockout, stored by whichever write sets
    /// the lock (a refused place or a verified failure).
    fn lockout_event(&self, account: &Account, ctx: RequestContext) -> AuditEvent {
        self.audit_event(
            AuditAction::AccountLocked,
            Some(account.username.as_str()),
            ctx,
            AuditOutcome::Locked,
        )
    }

    /// Gives back the place of an attempt that was not judged. A store
    /// failure here leaves the place counted (as a failure would be): it is
    /// logged, and the answer already decided stands.
    pub(super) async fn give_place_back(&self, account: &Account) {
        if let Err(error) = self.store.release_login_attempt(account.id).await {
            tracing::warn!(%error, "an attempt's place in the lockout count was not given back");
        }
    }

    /// A wrong password in `place`; returns the lock's end when the
    /// account is locked after it (this attempt set the lock, or raced with
    /// the one that did). Its place already counted it: only a place that
    /// reached the limit can set the lock, so only that one is written (one
    /// transaction less for every other wrong password).
    pub(super) async fn count_failure(
        &self,
        account: &Account,
        place: ReservedAttempt,
        now: OffsetDateTime,
        ctx: RequestContext,
    ) -> Result<Option<OffsetDateTime>, Fault> {
        if !place.decides_lock(self.settings.lockout) {
            return Ok(None);
        }
        let lock_audit = self.lockout_event(account, ctx);
        let recorded = self
            .store
            .record_login_failure(account.id, now, self.settings.lockout, &lock_audit)
            .await?;
        // Failures that raced past the lock check answer `account_locked`
        // too, but only the one that set the lock stored its event.
        if recorded.set_lock {
            trace_audit(&lock_audit);
        }
        Ok(recorded.state.locked_until(now))
    }

    /// The account's own roster entry, when it is active: as the store read
    /// it with the account, or else from the roster.
    pub(super) async fn active_provider(
        &self,
        account: &Account,
        read: ProviderRead,
    ) -> Result<Option<RosterEntry>, Fault> {
        let entry = match read {
            ProviderRead::WithAccount(entry) => entry,
            ProviderRead::Elsewhere => {
                self.roster
                    .find(&account.provider.tax_id, &account.provider.provider_id)
                    .await?
            }
        };
        Ok(entry.filter(RosterEntry::is_active))
    }

    pub(super) fn agreement_pending(&self, account: &Account) -> bool {
        account.agreement.version != self.settings.agreement.version
    }

    /// Resolves a session token to its account, and starts the idle time
    /// again. Disabled accounts and inactive providers lose their sessions.
    pub async fn authenticate(&self, token: &str) -> Result<Authenticated, AuthError> {
        let now = self.now();
        let hash = RawToken::parse(token)
            .map_err(|_| AuthError::Unauthenticated)?
            .hash();
        let (session, account, provider) = self
            .store
            .find_session(&hash)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let policy = self.settings.sessions;
        if !session.is_live(now, policy) {
            self.store.revoke_session(&hash).await?;
            return Err(AuthError::Unauthenticated);
        }
        if account.disabled {
            return Err(AuthError::Unauthenticated);
        }
        let Some(provider) = self.active_provider(&account, provider).await? else {
            return Err(AuthError::Unauthenticated);
        };
        let touched = if session.needs_touch(now, policy) {
            self.store.touch_session(&hash, now).await?;
            Session {
                last_seen_at: now,
                ..session
            }
        } else {
            session
        };
        let mfa_enrolment_required =
            self.settings.mfa.required && !self.store.second_factors_of(account.id).await?.any();
        Ok(Authenticated {
            agreement_required: self.agreement_pending(&account),
            mfa_enrolment_required,
            account,
            provider,
            session_hash: hash,
            session_expires_at: touched.expires_at(policy),
        })
    }

    /// Ends a session. Unknown tokens are fine: logout always succeeds.
    /// Ends the session a client held when it logged in again (ASVS 5.0
    /// V7.2.4): the new login's session replaces it. Not a logout of its
    /// own: the login's `login_succeeded` event records the change. A text
    /// that is no token ends nothing.
    pub async fn end_replaced_session(&self, token: &str) -> Result<(), Fault> {
        if let Ok(token) = RawToken::parse(token) {
            self.store.revoke_session(&token.hash()).await?;
        }
        Ok(())
    }

    pub async fn logout(&self, token: &str, ctx: RequestContext) -> Result<(), Fault> {
        if let Ok(token) = RawToken::parse(token) {
            self.store.revoke_session(&token.hash()).await?;
        }
        self.audit(AuditAction::Logout, None, ctx, AuditOutcome::Success)
            .await;
        Ok(())
    }

    /// Re-acceptance of the current agreement by a logged-in account.
    pub async fn accept_current_agreement(
        &self,
        auth: &Authenticated,
        version: &AgreementVersion,
        ctx: RequestContext,
    ) -> Result<(), AuthError> {
        let current = &self.settings.agreement;
        if *version != current.version {
            self.audit(
                AuditAction::AgreementReaccepted,
                Some(auth.account.username.as_str()),
                ctx,
                AuditOutcome::Error(AuthError::AgreementNotAccepted.code()),
            )
            .await;
            return Err(AuthError::AgreementNotAccepted);
        }
        let acceptance = AgreementAcceptance {
            version: current.version.clone(),
            content_hash: current.content_hash.clone(),
            accepted_at: self.now(),
            client_addr: ctx.client_addr,
        };
        self.store
            .record_agreement(auth.account.id, &acceptance)
            .await?;
        self.audit(
            AuditAction::AgreementReaccepted,
            Some(auth.account.username.as_str()),
            ctx,
            AuditOutcome::Success,
        )
        .await;
        Ok(())
    }
}

impl LoginError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountLocked { .. } => ErrorCode::AccountLocked,
            Self::AccountNotActivated => ErrorCode::AccountNotActivated,
            Self::AccountDisabled => ErrorCode::AccountDisabled,
            Self::ProviderInactive => ErrorCode::ProviderInactive,
            Self::SecondStepRequired(_) => ErrorCode::MfaRequired,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

impl AuthError {
    /// The code this error is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::AgreementNotAccepted => ErrorCode::AgreementNotAccepted,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

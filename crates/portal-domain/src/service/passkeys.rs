//! Passkeys (SPEC §4a): registration, renaming and removal by a logged-in
//! account, and the assertion a login's second step accepts.
//!
//! The ceremonies are the [`WebAuthn`](crate::ports::WebAuthn) port's; here
//! they are kept server-side (single use, 5 minutes, a few per account),
//! and counted: the current password that starts a registration or a
//! removal, and an assertion that finishes a login, take their place in the
//! lockout count first, exactly as a code does (`mfa.rs`).

use time::OffsetDateTime;

use super::{Fault, Portal, RequestContext, faults_into, trace_audit};
use crate::audit::AuditAction;
use crate::codes::ErrorCode;
use crate::email::SecondFactor;
use crate::passkey::{
    CeremonyKind, MAX_CEREMONIES, MAX_PASSKEYS, Passkey, PasskeyCeremony, PasskeyId, PasskeyName,
    PasskeyUser,
};
use crate::ports::{
    Clock, PasswordHasher, ProviderRoster, TokenSource, UserStore, WebAuthn, WebAuthnError,
};
use crate::values::{Password, RawToken, TokenHash};

use super::mfa::{FactorChange, MfaLoginError, SecondFactorError};

/// A started ceremony: the options for the browser and the id the finish
/// names it by (for a login, the challenge's own id).
#[derive(Debug, Clone)]
pub struct StartedPasskeyCeremony {
    /// Stored only hashed; `None` for a login's (its challenge id serves).
    pub ceremony_id: Option<RawToken>,
    /// `PublicKeyCredentialCreationOptions` or `…RequestOptions`, as JSON.
    pub options: String,
    pub expires_at: OffsetDateTime,
}

/// Why registering, renaming or removing a passkey was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    #[error("passkeys are unavailable: PORTAL_PUBLIC_URL's host is not a domain name")]
    Unavailable,
    #[error("the current password is wrong")]
    InvalidCredentials,
    #[error("the account is locked")]
    AccountLocked { locked_until: OffsetDateTime },
    /// An unknown, used or expired ceremony, another account's, or a
    /// credential the library refused.
    #[error("the passkey or its ceremony is not valid")]
    InvalidPasskey,
    /// The account has the most passkeys, or ceremonies, it may have.
    #[error("too many passkeys or passkey ceremonies")]
    Limit,
    #[error("the account has no such passkey")]
    NotFound,
    #[error(transparent)]
    Fault(Fault),
}

faults_into!(PasskeyError);

impl From<WebAuthnError> for PasskeyError {
    fn from(e: WebAuthnError) -> Self {
        match e {
            WebAuthnError::Refused(reason) => {
                tracing::debug!(%reason, "a passkey answer was refused");
                Self::InvalidPasskey
            }
            WebAuthnError::Fault(_) => Self::Fault(e.into()),
        }
    }
}

impl From<SecondFactorError> for PasskeyError {
    fn from(e: SecondFactorError) -> Self {
        match e {
            SecondFactorError::InvalidCredentials => Self::InvalidCredentials,
            SecondFactorError::AccountLocked { locked_until } => {
                Self::AccountLocked { locked_until }
            }
            SecondFactorError::Fault(fault) => Self::Fault(fault),
            // Never from a password alone.
            SecondFactorError::AlreadyEnrolled
            | SecondFactorError::NotEnrolled
            | SecondFactorError::InvalidCode => Self::InvalidCredentials,
        }
    }
}

impl PasskeyError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable => ErrorCode::PasskeysUnavailable,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountLocked { .. } => ErrorCode::AccountLocked,
            Self::InvalidPasskey => ErrorCode::InvalidPasskey,
            Self::Limit => ErrorCode::PasskeyLimit,
            Self::NotFound => ErrorCode::NotFound,
            Self::Fault(_) => ErrorCode::Internal,
        }
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
    /// The WebAuthn relying party, when `PORTAL_PUBLIC_URL` allows one.
    fn webauthn(&self) -> Option<&dyn WebAuthn> {
        self.settings.mfa.passkeys.as_ref().map(|handle| &*handle.0)
    }

    /// Whether passkeys can be used here (the relying party id is a domain).
    pub fn passkeys_available(&self) -> bool {
        self.webauthn().is_some()
    }

    /// The passkeys of a logged-in account (for its account page).
    pub async fn passkeys(&self, auth: &super::Authenticated) -> Result<Vec<Passkey>, Fault> {
        Ok(self.store.passkeys_of(auth.account.id).await?)
    }

    /// Starts adding a passkey, with the current password (counted toward
    /// the lockout): the creation options, and the ceremony's id for the
    /// finish. Its state is kept 5 minutes, single use.
    pub async fn start_passkey_registration(
        &self,
        auth: &super::Authenticated,
        current: &Password,
        ctx: RequestContext,
    ) -> Result<StartedPasskeyCeremony, PasskeyError> {
        let result = self
            .try_start_passkey_registration(auth, current, ctx)
            .await;
        if let Err(e) = &result {
            self.audit_refusal(AuditAction::SecondFactorAdded, auth, e.code(), ctx)
                .await;
        }
        result
    }

    async fn try_start_passkey_registration(
        &self,
        auth: &super::Authenticated,
        current: &Password,
        ctx: RequestContext,
    ) -> Result<StartedPasskeyCeremony, PasskeyError> {
        let webauthn = self.webauthn().ok_or(PasskeyError::Unavailable)?;
        let existing = self.store.passkeys_of(auth.account.id).await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(PasskeyError::Limit);
        }
        let account = self.verify_counted(auth, current, None, ctx).await?;
        let user = PasskeyUser {
            account_id: account.id,
            username: account.username.as_str().to_owned(),
        };
        let started = webauthn.start_registration(&user, &existing)?;
        let id = self.tokens.token()?;
        let now = self.now();
        let ceremony = PasskeyCeremony::new(
            &id,
            account.id,
            CeremonyKind::Registration,
            started.state,
            now,
            None,
        );
        if !self
            .store
            .start_passkey_ceremony(&ceremony, MAX_CEREMONIES, now)
            .await?
        {
            return Err(PasskeyError::Limit);
        }
        Ok(StartedPasskeyCeremony {
            ceremony_id: Some(id),
            options: started.options,
            expires_at: ceremony.expires_at,
        })
    }

    /// Finishes adding a passkey: the browser's credential for the ceremony
    /// `ceremony_id` (this account's, live, not used), verified by the
    /// library and stored as `name`. The account's address gets the notice.
    pub async fn finish_passkey_registration(
        &self,
        auth: &super::Authenticated,
        ceremony_id: &str,
        name: &PasskeyName,
        credential: &str,
        ctx: RequestContext,
    ) -> Result<PasskeyId, PasskeyError> {
        let result = self
            .try_finish_passkey_registration(auth, ceremony_id, name, credential, ctx)
            .await;
        if let Err(e) = &result {
            self.audit_refusal(AuditAction::SecondFactorAdded, auth, e.code(), ctx)
                .await;
        }
        result
    }

    async fn try_finish_passkey_registration(
        &self,
        auth: &super::Authenticated,
        ceremony_id: &str,
        name: &PasskeyName,
        credential: &str,
        ctx: RequestContext,
    ) -> Result<PasskeyId, PasskeyError> {
        let webauthn = self.webauthn().ok_or(PasskeyError::Unavailable)?;
        let hash = RawToken::parse(ceremony_id)
            .map_err(|_| PasskeyError::InvalidPasskey)?
            .hash();
        let now = self.now();
        // Single use: of two racing finishes, one gets the state.
        let ceremony = self
            .store
            .take_passkey_ceremony(&hash, CeremonyKind::Registration, now)
            .await?
            .filter(|ceremony| ceremony.account_id == auth.account.id)
            .ok_or(PasskeyError::InvalidPasskey)?;
        let passkey = webauthn.finish_registration(&ceremony.state, name.clone(), credential)?;
        let account = &auth.account;
        let (notice, audit) =
            self.factor_change(account, FactorChange::Added, SecondFactor::Passkey, ctx);
        let id = self
            .store
            .add_passkey(account.id, &passkey, MAX_PASSKEYS, &notice, &audit, now)
            .await?
            // Registered already (here or by another account), or the
            // account reached the limit meanwhile.
            .ok_or(PasskeyError::InvalidPasskey)?;
        trace_audit(&audit);
        Ok(id)
    }

    /// Renames one of the account's passkeys.
    pub async fn rename_passkey(
        &self,
        auth: &super::Authenticated,
        passkey: PasskeyId,
        name: &PasskeyName,
    ) -> Result<(), PasskeyError> {
        if self
            .store
            .rename_passkey(auth.account.id, passkey, name)
            .await?
        {
            Ok(())
        } else {
            Err(PasskeyError::NotFound)
        }
    }

    /// Removes one of the account's passkeys, with the current password
    /// (counted toward the lockout). The account's address gets the notice.
    pub async fn remove_passkey(
        &self,
        auth: &super::Authenticated,
        passkey: PasskeyId,
        current: &Password,
        ctx: RequestContext,
    ) -> Result<(), PasskeyError> {
        let result = self.try_remove_passkey(auth, passkey, current, ctx).await;
        if let Err(e) = &result {
            self.audit_refusal(AuditAction::SecondFactorRemoved, auth, e.code(), ctx)
                .await;
        }
        result
    }

    async fn try_remove_passkey(
        &self,
        auth: &super::Authenticated,
        passkey: PasskeyId,
        current: &Password,
        ctx: RequestContext,
    ) -> Result<(), PasskeyError> {
        if !self
            .store
            .passkeys_of(auth.account.id)
            .await?
            .iter()
            .any(|p| p.id == passkey)
        {
            return Err(PasskeyError::NotFound);
        }
        let account = self.verify_counted(auth, current, None, ctx).await?;
        let (notice, audit) =
            self.factor_change(&account, FactorChange::Removed, SecondFactor::Passkey, ctx);
        if !self
            .store
            .remove_passkey(account.id, passkey, &notice, &audit, self.now())
            .await?
        {
            return Err(PasskeyError::NotFound);
        }
        trace_audit(&audit);
        Ok(())
    }

    /// The assertion options for a login's second step: the challenge's
    /// account's passkeys only. Verifies nothing, so it is not counted; the
    /// state is kept under the challenge's id (a newer start replaces it),
    /// for at most the challenge's life.
    pub async fn start_passkey_login(
        &self,
        challenge_id: &str,
    ) -> Result<StartedPasskeyCeremony, MfaLoginError> {
        let webauthn = self.webauthn().ok_or(MfaLoginError::PasskeysUnavailable)?;
        let now = self.now();
        let id = RawToken::parse(challenge_id).map_err(|_| MfaLoginError::InvalidCode)?;
        let challenge = self
            .store
            .find_mfa_challenge(&id.hash())
            .await?
            .filter(|challenge| challenge.is_live(now))
            .ok_or(MfaLoginError::InvalidCode)?;
        let passkeys = self.store.passkeys_of(challenge.account_id).await?;
        if passkeys.is_empty() {
            return Err(MfaLoginError::InvalidCode);
        }
        let started = webauthn
            .start_authentication(&passkeys)
            .map_err(|e| MfaLoginError::Fault(e.into()))?;
        let ceremony = PasskeyCeremony::new(
            &id,
            challenge.account_id,
            CeremonyKind::Authentication,
            started.state,
            now,
            Some(challenge.expires_at),
        );
        if !self
            .store
            .start_passkey_ceremony(&ceremony, MAX_CEREMONIES, now)
            .await?
        {
            return Err(MfaLoginError::PasskeyLimit);
        }
        Ok(StartedPasskeyCeremony {
            ceremony_id: None,
            options: started.options,
            expires_at: ceremony.expires_at,
        })
    }

    /// Whether `assertion` answers the passkey ceremony started for the
    /// challenge `challenge` with one of the account's passkeys; the
    /// ceremony is spent either way, and a verified passkey's use (and new
    /// sign counter) recorded.
    pub(super) async fn passkey_accepted(
        &self,
        account: &crate::account::Account,
        challenge: &TokenHash,
        assertion: &str,
        now: OffsetDateTime,
    ) -> Result<bool, Fault> {
        let Some(webauthn) = self.webauthn() else {
            return Ok(false);
        };
        let Some(ceremony) = self
            .store
            .take_passkey_ceremony(challenge, CeremonyKind::Authentication, now)
            .await?
            .filter(|ceremony| ceremony.account_id == account.id)
        else {
            return Ok(false);
        };
        let passkeys = self.store.passkeys_of(account.id).await?;
        match webauthn.finish_authentication(&ceremony.state, assertion, &passkeys) {
            Ok(verified) => Ok(self
                .store
                .record_passkey_use(account.id, verified.passkey, verified.updated, now)
                .await?),
            Err(WebAuthnError::Refused(reason)) => {
                tracing::debug!(%reason, "a passkey assertion was refused");
                Ok(false)
            }
            Err(e @ WebAuthnError::Fault(_)) => Err(e.into()),
        }
    }
}

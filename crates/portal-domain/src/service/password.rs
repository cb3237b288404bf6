//! Password change and the current-password check every change that asks
//! for it shares (SPEC §4, §6).

use time::OffsetDateTime;

use super::auth::Authenticated;
use super::registration::name_pieces;
use super::{Fault, Portal, RequestContext, faults_into, trace_audit};
use crate::account::Account;
use crate::audit::{AuditAction, AuditOutcome};
use crate::codes::ErrorCode;
use crate::email::{Email, EmailKind};
use crate::password_policy::{PasswordViolation, PolicyContext, PolicyViolations};
use crate::ports::{
    Clock, CredentialWrite, PasswordChange, PasswordHasher, ProviderRoster, TokenSource, UserStore,
    Verification,
};
use crate::values::Password;

/// Why a password change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the account is locked")]
    AccountLocked { locked_until: OffsetDateTime },
    #[error(transparent)]
    PasswordPolicy(PolicyViolations),
    #[error(transparent)]
    Fault(Fault),
}

/// Why a logged-in account's current password was not accepted
/// (`Portal::verify_current_password`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrentPasswordError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the account is locked")]
    AccountLocked { locked_until: OffsetDateTime },
    #[error(transparent)]
    Fault(Fault),
}

faults_into!(PasswordChangeError, CurrentPasswordError);

impl From<CurrentPasswordError> for PasswordChangeError {
    fn from(error: CurrentPasswordError) -> Self {
        match error {
            CurrentPasswordError::InvalidCredentials => Self::InvalidCredentials,
            CurrentPasswordError::AccountLocked { locked_until } => {
                Self::AccountLocked { locked_until }
            }
            CurrentPasswordError::Fault(fault) => Self::Fault(fault),
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
    /// Self-service password change: other sessions are revoked, this one
    /// is kept, and the "password was changed" notice is queued.
    pub async fn change_password(
        &self,
        auth: &Authenticated,
        current: &Password,
        new: &Password,
        ctx: RequestContext,
    ) -> Result<(), PasswordChangeError> {
        let result = self.try_change_password(auth, current, new, ctx).await;
        // A change stored its audit event with the new password.
        if let Err(e) = &result {
            let outcome = AuditOutcome::Error(e.code());
            self.audit(
                AuditAction::PasswordChanged,
                Some(auth.account.username.as_str()),
                ctx,
                outcome,
            )
            .await;
        }
        result
    }

    /// Verifies a logged-in account's current password, as every change
    /// that asks for it does (SPEC §4): the account as stored now, a lock
    /// refused without verifying, and a wrong password counted toward the
    /// lockout with its place taken before it is verified, so that no
    /// number of attempts in flight verifies more than the limit allows.
    /// A right password gives its place back; the change's own write must
    /// still judge the lock ([`CredentialWrite::judge`]), since another
    /// attempt may set it meanwhile.
    pub(crate) async fn verify_current_password(
        &self,
        auth: &Authenticated,
        current: &Password,
        ctx: RequestContext,
    ) -> Result<Account, CurrentPasswordError> {
        let now = self.now();
        // Fresh state: the lock may have been set since the session began.
        let account = self
            .store
            .account_by_id(auth.account.id)
            .await?
            .ok_or(CurrentPasswordError::InvalidCredentials)?;
        if let Some(locked_until) = account.lock.locked_until(now) {
            return Err(CurrentPasswordError::AccountLocked { locked_until });
        }
        let place = match self.take_place(&account, now).await? {
            Ok(place) => place,
            Err(locked_until) => return Err(CurrentPasswordError::AccountLocked { locked_until }),
        };
        let verified = self
            .hasher
            .verify_password(current, &account.password_hash)
            .await;
        if !matches!(verified, Ok(Verification::Mismatch)) {
            // Right (the change is no failure) or not judged: either way
            // the place goes back now; the change's write checks the lock.
            self.give_place_back(&account).await;
        }
        if !verified?.is_match() {
            return Err(self
                .count_failure(&account, place, now, ctx)
                .await?
                .map_or(CurrentPasswordError::InvalidCredentials, |locked_until| {
                    CurrentPasswordError::AccountLocked { locked_until }
                }));
        }
        Ok(account)
    }

    async fn try_change_password(
        &self,
        auth: &Authenticated,
        current: &Password,
        new: &Password,
        ctx: RequestContext,
    ) -> Result<(), PasswordChangeError> {
        let account = self.verify_current_password(auth, current, ctx).await?;
        let context = PolicyContext {
            username: Some(account.username.clone()),
            email: Some(account.email.clone()),
            names: name_pieces(&auth.provider.identity),
        };
        let mut violations = self
            .hasher
            .check_policy(&self.settings.password_policy, new, &context)
            .await?
            .err();
        // The current password was just verified, so equality is a string compare.
        if new.expose() == current.expose() {
            match &mut violations {
                Some(v) => v.push(PasswordViolation::Reused),
                None => violations = PolicyViolations::from_vec(vec![PasswordViolation::Reused]),
            }
        }
        if let Some(violations) = violations {
            return Err(PasswordChangeError::PasswordPolicy(violations));
        }
        let new_hash = self.hasher.hash_password(new).await?;
        let notice = Email {
            to: account.email.clone(),
            username: account.username.clone(),
            kind: EmailKind::PasswordChanged,
        };
        let change = PasswordChange {
            account_id: account.id,
            verified: account.password_hash,
            new_hash,
            keep: auth.session_hash,
        };
        let audit = self.audit_event(
            AuditAction::PasswordChanged,
            Some(account.username.as_str()),
            ctx,
            AuditOutcome::Success,
        );
        match self
            .store
            .change_password(&change, &notice, &audit, self.now())
            .await?
        {
            CredentialWrite::Applied => {
                trace_audit(&audit);
                Ok(())
            }
            // A reset (or another change) replaced the verified password
            // meanwhile, or this session was revoked: the caller's current
            // password is no longer current.
            CredentialWrite::Stale => Err(PasswordChangeError::InvalidCredentials),
            CredentialWrite::Locked { locked_until } => {
                Err(PasswordChangeError::AccountLocked { locked_until })
            }
        }
    }
}

impl CurrentPasswordError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountLocked { .. } => ErrorCode::AccountLocked,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

impl PasswordChangeError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountLocked { .. } => ErrorCode::AccountLocked,
            Self::PasswordPolicy(_) => ErrorCode::PasswordPolicy,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

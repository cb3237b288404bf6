//! Activation (SPEC §3 step 5): the emailed link, opened once, and a new
//! link for an account still pending.

use crate::codes::ErrorCode;

use super::{Fault, Portal, RequestContext, faults_into, trace_audit};
use crate::account::Account;
use crate::audit::{AuditAction, AuditOutcome};
use crate::email::{Email, EmailKind};
use crate::ports::{
    Clock, PasswordHasher, ProviderRoster, RedeemError, TokenPurpose, TokenSource, UserStore,
};
use crate::values::{RawToken, Username};

/// What opening an activation link did (SPEC §3 step 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkActivation {
    /// The link was live: the account is active now.
    Activated,
    /// The link was issued to an account that is already active (the link
    /// opened again, or a newer link of the same account used first): not
    /// an error, the owner is told to log in.
    AlreadyActive,
}

/// Why an activation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivationError {
    /// Unknown, used, superseded, expired or malformed: all alike.
    #[error("invalid token")]
    InvalidToken,
    #[error(transparent)]
    Fault(Fault),
}

faults_into!(ActivationError);

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    /// Step 5: activates the account the link was sent to, once.
    pub async fn activate(
        &self,
        token: &str,
        ctx: RequestContext,
    ) -> Result<Account, ActivationError> {
        let result = self.try_activate(token, ctx).await;
        // An activation stored its audit event with it.
        if let Err(e) = &result {
            self.audit(
                AuditAction::AccountActivated,
                None,
                ctx,
                AuditOutcome::Error(e.code()),
            )
            .await;
        }
        result
    }

    /// Step 5 from the emailed link (`GET /activate?token=…`): activates as
    /// [`Self::activate`] does, and answers [`LinkActivation::AlreadyActive`]
    /// instead of [`ActivationError::InvalidToken`] for a link that is no
    /// longer live but was issued to an account that is active now.
    pub async fn activate_link(
        &self,
        token: &str,
        ctx: RequestContext,
    ) -> Result<LinkActivation, ActivationError> {
        match self.activate(token, ctx).await {
            Ok(_) => Ok(LinkActivation::Activated),
            Err(ActivationError::InvalidToken) => {
                let Ok(raw) = RawToken::parse(token) else {
                    return Err(ActivationError::InvalidToken);
                };
                match self
                    .store
                    .account_by_issued_token(&raw.hash(), TokenPurpose::Activation)
                    .await?
                {
                    Some(account) if account.is_activated() => Ok(LinkActivation::AlreadyActive),
                    _ => Err(ActivationError::InvalidToken),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn try_activate(
        &self,
        token: &str,
        ctx: RequestContext,
    ) -> Result<Account, ActivationError> {
        let now = self.now();
        let hash = RawToken::parse(token)
            .map_err(|_| ActivationError::InvalidToken)?
            .hash();
        let account = self
            .store
            .find_live_token(&hash, TokenPurpose::Activation, now)
            .await?
            .ok_or(ActivationError::InvalidToken)?;
        let email = Email {
            to: account.email.clone(),
            username: account.username.clone(),
            kind: EmailKind::EmailVerification,
        };
        let audit = self.audit_event(
            AuditAction::AccountActivated,
            Some(account.username.as_str()),
            ctx,
            AuditOutcome::Success,
        );
        match self
            .store
            .redeem_activation(&hash, now, &email, &audit)
            .await
        {
            Ok(account) => {
                trace_audit(&audit);
                Ok(account)
            }
            Err(RedeemError::InvalidToken) => Err(ActivationError::InvalidToken),
            Err(RedeemError::Store(e)) => Err(e.into()),
        }
    }

    /// Sends a new activation link to an account still pending activation.
    /// Answers the same whatever the username: only faults are errors.
    pub async fn resend_activation(
        &self,
        username: &str,
        ctx: RequestContext,
    ) -> Result<(), Fault> {
        let Ok(username) = Username::parse(username) else {
            self.audit(
                AuditAction::ActivationResent,
                Some(username),
                ctx,
                AuditOutcome::UnknownUsername,
            )
            .await;
            return Ok(());
        };
        let outcome = match self.store.account_by_username(&username).await? {
            Some(account) if !account.is_activated() && !account.disabled => {
                self.send_activation_again(account).await?
            }
            Some(_) => AuditOutcome::NotPending,
            None => AuditOutcome::UnknownUsername,
        };
        self.audit(
            AuditAction::ActivationResent,
            Some(username.as_str()),
            ctx,
            outcome,
        )
        .await;
        Ok(())
    }
}

impl ActivationError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidToken => ErrorCode::InvalidToken,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

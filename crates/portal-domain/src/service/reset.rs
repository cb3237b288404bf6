//! Forgot password and reset (SPEC §6).

use super::registration::name_pieces;
use super::{Fault, Portal, PortalSettings, RequestContext, faults_into, trace_audit};
use crate::audit::{AuditAction, AuditOutcome};
use crate::codes::ErrorCode;
use crate::email::{Email, EmailKind};
use crate::password_policy::{PasswordViolation, PolicyContext, PolicyViolations};
use crate::ports::{
    Clock, IssueOutcome, LinkToken, NewToken, PasswordHasher, ProviderRoster, RedeemError,
    TokenPurpose, TokenSource, UserStore,
};
use crate::values::{Password, RawToken, Username};

/// Why a reset confirmation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResetConfirmError {
    /// Unknown, used, superseded, expired or malformed: all alike.
    #[error("invalid token")]
    InvalidToken,
    /// Nothing was spent: the same link may be used again.
    #[error(transparent)]
    PasswordPolicy(PolicyViolations),
    #[error(transparent)]
    Fault(Fault),
}

faults_into!(ResetConfirmError);

impl ResetConfirmError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidToken => ErrorCode::InvalidToken,
            Self::PasswordPolicy(_) => ErrorCode::PasswordPolicy,
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
    /// **Forgot password?**: emails a reset link to an activated account
    /// (locked or not), and to an account still pending activation its
    /// activation link again, which is what its owner is missing (SPEC §6).
    /// Answers the same whatever the username; changes nothing about the
    /// account until a link is redeemed.
    pub async fn request_password_reset(
        &self,
        username: &str,
        ctx: RequestContext,
    ) -> Result<(), Fault> {
        let account = match Username::parse(username) {
            Ok(parsed) => self.store.account_by_username(&parsed).await?,
            Err(_) => None,
        };
        let outcome = match account {
            Some(account) if account.is_activated() && !account.disabled => {
                let now = self.now();
                let token = self.tokens.token()?;
                let new = NewToken {
                    account_id: account.id,
                    purpose: TokenPurpose::PasswordReset,
                    link: LinkToken {
                        hash: token.hash(),
                        issued_at: now,
                        expires_at: now + self.settings.reset_ttl,
                    },
                };
                let email = Email {
                    to: account.email,
                    username: account.username,
                    kind: EmailKind::PasswordReset { token },
                };
                match self
                    .store
                    .issue_token(&new, &email, self.settings.email_cap())
                    .await?
                {
                    IssueOutcome::Issued => AuditOutcome::Sent,
                    IssueOutcome::CapReached => AuditOutcome::EmailCapReached,
                    IssueOutcome::NoAccount => AuditOutcome::UnknownUsername,
                }
            }
            Some(account) if !account.is_activated() && !account.disabled => {
                match self.send_activation_again(account).await? {
                    AuditOutcome::Sent => AuditOutcome::ActivationResent,
                    other => other,
                }
            }
            Some(_) => AuditOutcome::NotEligible,
            None => AuditOutcome::UnknownUsername,
        };
        self.audit(
            AuditAction::PasswordResetRequested,
            Some(username),
            ctx,
            outcome,
        )
        .await;
        Ok(())
    }

    /// Sets a new password with a reset link: unlocks the account, clears
    /// the failure count, revokes every session and queues the notice.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new: &Password,
        ctx: RequestContext,
    ) -> Result<(), ResetConfirmError> {
        let result = self.try_confirm_reset(token, new, ctx).await;
        // A reset stored its audit event with the new password.
        if let Err(e) = &result {
            self.audit(
                AuditAction::PasswordResetCompleted,
                None,
                ctx,
                AuditOutcome::Error(e.code()),
            )
            .await;
        }
        result
    }

    async fn try_confirm_reset(
        &self,
        token: &str,
        new: &Password,
        ctx: RequestContext,
    ) -> Result<(), ResetConfirmError> {
        let now = self.now();
        let hash = RawToken::parse(token)
            .map_err(|_| ResetConfirmError::InvalidToken)?
            .hash();
        let account = self
            .store
            .find_live_token(&hash, TokenPurpose::PasswordReset, now)
            .await?
            .ok_or(ResetConfirmError::InvalidToken)?;
        // The same user inputs as at registration, the provider's names too.
        let names = self
            .roster
            .find(&account.provider.tax_id, &account.provider.provider_id)
            .await?
            .map(|entry| name_pieces(&entry.identity))
            .unwrap_or_default();
        let context = PolicyContext {
            username: Some(account.username.clone()),
            email: Some(account.email.clone()),
            names,
        };
        let mut violations = self
            .hasher
            .check_policy(&self.settings.password_policy, new, &context)
            .await?
            .err();
        if self
            .hasher
            .verify_password(new, &account.password_hash)
            .await?
            .is_match()
        {
            match &mut violations {
                Some(v) => v.push(PasswordViolation::Reused),
                None => violations = PolicyViolations::from_vec(vec![PasswordViolation::Reused]),
            }
        }
        if let Some(violations) = violations {
            // A refusal spends nothing until the last one allowed, which
            // spends the link; a link spent meanwhile changes no answer.
            match self
                .store
                .record_reset_refusal(&hash, now, PortalSettings::RESET_MAX_REFUSALS)
                .await
            {
                Ok(()) | Err(RedeemError::InvalidToken) => {}
                Err(RedeemError::Store(e)) => return Err(e.into()),
            }
            return Err(ResetConfirmError::PasswordPolicy(violations));
        }
        let new_hash = self.hasher.hash_password(new).await?;
        let notice = Email {
            to: account.email.clone(),
            username: account.username.clone(),
            kind: EmailKind::PasswordChanged,
        };
        let audit = self.audit_event(
            AuditAction::PasswordResetCompleted,
            Some(account.username.as_str()),
            ctx,
            AuditOutcome::Success,
        );
        match self
            .store
            .redeem_password_reset(&hash, self.now(), &new_hash, &notice, &audit)
            .await
        {
            Ok(_) => {
                trace_audit(&audit);
                Ok(())
            }
            Err(RedeemError::InvalidToken) => Err(ResetConfirmError::InvalidToken),
            Err(RedeemError::Store(e)) => Err(e.into()),
        }
    }
}

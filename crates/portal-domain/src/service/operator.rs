//! Operator commands on one account (SPEC §7): show, unlock, disable,
//! enable. Each is an audit event; none reveals a secret.

use time::OffsetDateTime;

use super::{Fault, Portal, RequestContext, faults_into, trace_audit};
use crate::account::{Account, AccountProvider, AccountStatus};
use crate::audit::{AuditAction, AuditOutcome};
use crate::codes::ErrorCode;
use crate::email::{SecondFactor, SecurityNotice};
use crate::ports::{Clock, OutboxStore, PasswordHasher, ProviderRoster, TokenSource, UserStore};
use crate::values::{EmailAddress, Username};

/// What `account show` prints: never a secret or a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountReport {
    pub username: Username,
    pub email: EmailAddress,
    pub status: AccountStatus,
    pub failed_logins: u32,
    pub provider: AccountProvider,
    pub created_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
    pub pending_emails: u64,
    /// Why the newest failed attempt of a pending email failed.
    pub last_delivery_error: Option<String>,
    /// Which second factors the account has (never a secret).
    pub second_factors: crate::second_factor::FactorSummary,
    /// The names of its passkeys (never key material).
    pub passkeys: Vec<String>,
}

/// Why an operator command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("no account has this username")]
    UnknownUsername,
    #[error(transparent)]
    Fault(Fault),
}

faults_into!(OperatorError);

/// What an operator does to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    Unlock,
    Disable,
    Enable,
}

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + OutboxStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    async fn operator_account(&self, username: &str) -> Result<Account, OperatorError> {
        let username = Username::parse(username).map_err(|_| OperatorError::UnknownUsername)?;
        self.store
            .account_by_username(&username)
            .await?
            .ok_or(OperatorError::UnknownUsername)
    }

    /// `account show`.
    pub async fn show_account(
        &self,
        username: &str,
        ctx: RequestContext,
    ) -> Result<AccountReport, OperatorError> {
        let result = self.operator_account(username).await;
        let report = match result {
            Ok(account) => {
                let pending = self.store.pending_for(&account.username).await?;
                let second_factors = self.store.second_factors_of(account.id).await?;
                let passkeys = self
                    .store
                    .passkeys_of(account.id)
                    .await?
                    .into_iter()
                    .map(|p| p.name.as_str().to_owned())
                    .collect();
                Ok(AccountReport {
                    second_factors,
                    passkeys,
                    status: account.status(self.now()),
                    failed_logins: account.lock.failed_count,
                    pending_emails: pending.count,
                    last_delivery_error: pending.last_error,
                    username: account.username,
                    email: account.email,
                    provider: account.provider,
                    created_at: account.created_at,
                    last_login_at: account.last_login_at,
                })
            }
            Err(e) => Err(e),
        };
        // Reading an account's details is an operator action too.
        let outcome = if report.is_ok() {
            AuditOutcome::Success
        } else {
            AuditOutcome::UnknownUsername
        };
        self.audit(AuditAction::AccountShown, Some(username), ctx, outcome)
            .await;
        report
    }

    /// `account unlock|disable|enable`. Disabling revokes every session.
    pub async fn operate_account(
        &self,
        username: &str,
        action: OperatorAction,
        ctx: RequestContext,
    ) -> Result<(), OperatorError> {
        let result = match self.operator_account(username).await {
            Ok(account) => match action {
                OperatorAction::Unlock => self.store.clear_lock(account.id).await,
                OperatorAction::Disable => self.store.set_disabled(account.id, true).await,
                OperatorAction::Enable => self.store.set_disabled(account.id, false).await,
            }
            .map_err(OperatorError::from),
            Err(e) => Err(e),
        };
        let audit_action = match action {
            OperatorAction::Unlock => AuditAction::AccountUnlocked,
            OperatorAction::Disable => AuditAction::AccountDisabled,
            OperatorAction::Enable => AuditAction::AccountEnabled,
        };
        let outcome = match &result {
            Ok(()) => AuditOutcome::Success,
            Err(OperatorError::UnknownUsername) => AuditOutcome::UnknownUsername,
            Err(OperatorError::Fault(_)) => AuditOutcome::Error(ErrorCode::Internal),
        };
        self.audit(audit_action, Some(username), ctx, outcome).await;
        result
    }

    /// `account reset-mfa`: removes the account's second factors (TOTP,
    /// recovery codes and passkeys), notifies its address and records the
    /// event.
    /// `Ok(false)` when it had none.
    pub async fn reset_second_factors(
        &self,
        username: &str,
        ctx: RequestContext,
    ) -> Result<bool, OperatorError> {
        let result = match self.operator_account(username).await {
            Ok(account) => {
                let factors = self.store.second_factors_of(account.id).await?;
                // The notice names TOTP unless passkeys were all there was.
                let factor = if !factors.totp && factors.passkeys > 0 {
                    SecondFactor::Passkey
                } else {
                    SecondFactor::Totp
                };
                let notice = SecurityNotice::FactorRemoved(factor).to(&account);
                let audit = self.audit_event(
                    AuditAction::SecondFactorsReset,
                    Some(account.username.as_str()),
                    ctx,
                    AuditOutcome::Success,
                );
                let removed = self
                    .store
                    .remove_second_factors(account.id, true, &notice, &audit, self.now())
                    .await
                    .map_err(OperatorError::from);
                if matches!(removed, Ok(true)) {
                    trace_audit(&audit);
                }
                removed
            }
            Err(e) => Err(e),
        };
        // A removal stored its own event with the change.
        let outcome = match &result {
            Ok(true) => return result,
            Ok(false) => AuditOutcome::Error(ErrorCode::MfaNotEnrolled),
            Err(OperatorError::UnknownUsername) => AuditOutcome::UnknownUsername,
            Err(OperatorError::Fault(_)) => AuditOutcome::Error(ErrorCode::Internal),
        };
        self.audit(
            AuditAction::SecondFactorsReset,
            Some(username),
            ctx,
            outcome,
        )
        .await;
        result
    }
}

//! The support check of a caller's security answer (SPEC §7).
//!
//! Security questions are used for this check only, never to log in or to
//! reset a password.

use super::{Fault, Portal, PortalSettings, RequestContext, faults_into};
use crate::audit::{AuditAction, AuditOutcome};
use crate::codes::ErrorCode;
use crate::ports::{Clock, PasswordHasher, ProviderRoster, TokenSource, UserStore, WindowRecord};
use crate::values::{SecurityAnswer, Username};

/// The answer to a support check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportCheck {
    Match,
    NoMatch,
}

/// Why a support check was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupportError {
    #[error("no account has this username")]
    UnknownUsername,
    #[error("too many wrong answers for this account in the last 24 hours")]
    TooManyAttempts,
    #[error(transparent)]
    Fault(Fault),
}

faults_into!(SupportError);

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    /// Checks a caller's answer. After 3 wrong answers for one account in
    /// 24 hours, further checks are refused until the window passes.
    pub async fn verify_security_answer(
        &self,
        username: &str,
        answer: &SecurityAnswer,
        ctx: RequestContext,
    ) -> Result<SupportCheck, SupportError> {
        let result = self.try_verify_answer(username, answer).await;
        let outcome = match &result {
            Ok(SupportCheck::Match) => AuditOutcome::Match,
            Ok(SupportCheck::NoMatch) => AuditOutcome::NoMatch,
            Err(SupportError::UnknownUsername) => AuditOutcome::UnknownUsername,
            Err(SupportError::TooManyAttempts) => AuditOutcome::ChecksExhausted,
            Err(SupportError::Fault(_)) => AuditOutcome::Error(ErrorCode::Internal),
        };
        self.audit(AuditAction::SupportCheck, Some(username), ctx, outcome)
            .await;
        result
    }

    async fn try_verify_answer(
        &self,
        username: &str,
        answer: &SecurityAnswer,
    ) -> Result<SupportCheck, SupportError> {
        let now = self.now();
        let username = Username::parse(username).map_err(|_| SupportError::UnknownUsername)?;
        let account = self
            .store
            .account_by_username(&username)
            .await?
            .ok_or(SupportError::UnknownUsername)?;
        let since = now - PortalSettings::SUPPORT_WINDOW;
        if self.store.support_failures_since(account.id, since).await?
            >= PortalSettings::SUPPORT_MAX_FAILED
        {
            return Err(SupportError::TooManyAttempts);
        }
        let matched = self
            .hasher
            .verify_answer(answer, &account.security_answer_hash)
            .await?
            .is_match();
        // Counted and recorded at once: racing wrong answers cannot get
        // more than the limit of answers between them.
        let recorded = self
            .store
            .record_support_check(
                account.id,
                now,
                matched,
                since,
                PortalSettings::SUPPORT_MAX_FAILED,
            )
            .await?;
        if let WindowRecord::Limited { .. } = recorded {
            return Err(SupportError::TooManyAttempts);
        }
        Ok(if matched {
            SupportCheck::Match
        } else {
            SupportCheck::NoMatch
        })
    }
}

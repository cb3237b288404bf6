//! Account settings a logged-in account changes with its current password
//! (SPEC §4a): its email, confirmed by a link to the new address, and its
//! security question. Each change tells the account's address with a
//! [`SecurityNotice`].

use super::registration::answer_equals_any;
use super::{
    Authenticated, CurrentPasswordError, Fault, InvalidInput, Portal, RequestContext, faults_into,
    trace_audit,
};
use crate::account::Account;
use crate::audit::{AuditAction, AuditOutcome};
use crate::codes::ErrorCode;
use crate::email::{Email, EmailKind, SecurityNotice};
use crate::ports::{
    Clock, CredentialWrite, EmailChangeIssue, EmailChangeRequest, LinkToken, PasswordHasher,
    ProviderRoster, RedeemError, SecurityQuestionChange, TokenPurpose, TokenSource, UserStore,
};
use crate::values::{EmailAddress, Password, RawToken, SecurityAnswer, SecurityQuestionId};

/// Why an email change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailChangeError {
    /// The new address is the account's own already.
    #[error(transparent)]
    InvalidInput(InvalidInput),
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the account is locked")]
    AccountLocked { locked_until: time::OffsetDateTime },
    #[error(transparent)]
    Fault(Fault),
}

/// Why an email change link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailConfirmError {
    /// Unknown, used, superseded, expired or malformed: all alike.
    #[error("invalid token")]
    InvalidToken,
    #[error(transparent)]
    Fault(Fault),
}

/// Why a security question change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityQuestionChangeError {
    /// The answer equals the username, the email or the password.
    #[error(transparent)]
    InvalidInput(InvalidInput),
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the account is locked")]
    AccountLocked { locked_until: time::OffsetDateTime },
    #[error(transparent)]
    Fault(Fault),
}

faults_into!(
    EmailChangeError,
    EmailConfirmError,
    SecurityQuestionChangeError
);

/// A new security question and its answer, parsed as at registration.
#[derive(Debug, Clone)]
pub struct SecurityQuestionInput {
    pub question: SecurityQuestionId,
    pub answer: SecurityAnswer,
}

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    /// Sends a confirmation link to `new_email`; the account's email
    /// changes only when the link is used ([`Self::confirm_email_change`]).
    /// A newer request supersedes older links, and the link counts toward
    /// the per-account email cap: past it, the answer is the same and no
    /// email is sent (SPEC §6).
    pub async fn request_email_change(
        &self,
        auth: &Authenticated,
        current: &Password,
        new_email: &EmailAddress,
        ctx: RequestContext,
    ) -> Result<(), EmailChangeError> {
        let result = self
            .try_request_email_change(auth, current, new_email, ctx)
            .await;
        let outcome = match &result {
            Ok(outcome) => outcome.clone(),
            Err(e) => AuditOutcome::Error(e.code()),
        };
        self.audit(
            AuditAction::EmailChangeRequested,
            Some(auth.account.username.as_str()),
            ctx,
            outcome,
        )
        .await;
        result.map(|_| ())
    }

    async fn try_request_email_change(
        &self,
        auth: &Authenticated,
        current: &Password,
        new_email: &EmailAddress,
        ctx: RequestContext,
    ) -> Result<AuditOutcome, EmailChangeError> {
        let account = self.verify_current_password(auth, current, ctx).await?;
        if same_mailbox(&account.email, new_email) {
            return Err(EmailChangeError::InvalidInput(InvalidInput::single(
                "new_email",
                "is already the email of this account",
            )));
        }
        let token = self.tokens.token()?;
        let now = self.now();
        let request = EmailChangeRequest {
            account_id: account.id,
            verified: account.password_hash.clone(),
            session: auth.session_hash,
            new_email: new_email.clone(),
            link: LinkToken {
                hash: token.hash(),
                issued_at: now,
                expires_at: now + super::PortalSettings::EMAIL_CHANGE_TTL,
            },
        };
        let email = Email {
            to: new_email.clone(),
            username: account.username.clone(),
            kind: EmailKind::EmailChange { token },
        };
        match self
            .store
            .issue_email_change(&request, &email, self.settings.email_cap())
            .await?
        {
            EmailChangeIssue::Issued => Ok(AuditOutcome::Sent),
            EmailChangeIssue::CapReached => Ok(AuditOutcome::EmailCapReached),
            EmailChangeIssue::Refused(CredentialWrite::Locked { locked_until }) => {
                Err(EmailChangeError::AccountLocked { locked_until })
            }
            // The password was reset or changed while it was verified, or
            // this session ended: the caller's password is not current.
            EmailChangeIssue::Refused(CredentialWrite::Stale | CredentialWrite::Applied) => {
                Err(EmailChangeError::InvalidCredentials)
            }
        }
    }

    /// Uses an email change link: the account's email becomes the address
    /// the link was sent to, and the old address is told, without a link.
    /// Needs no session: the token is the proof. Returns the account with
    /// its new email.
    pub async fn confirm_email_change(
        &self,
        token: &str,
        ctx: RequestContext,
    ) -> Result<Account, EmailConfirmError> {
        let result = self.try_confirm_email_change(token, ctx).await;
        // A change stored its audit event with the new email.
        if let Err(e) = &result {
            self.audit(
                AuditAction::EmailChanged,
                None,
                ctx,
                AuditOutcome::Error(e.code()),
            )
            .await;
        }
        result
    }

    async fn try_confirm_email_change(
        &self,
        token: &str,
        ctx: RequestContext,
    ) -> Result<Account, EmailConfirmError> {
        let now = self.now();
        let hash = RawToken::parse(token)
            .map_err(|_| EmailConfirmError::InvalidToken)?
            .hash();
        let account = self
            .store
            .find_live_token(&hash, TokenPurpose::EmailChange, now)
            .await?
            .ok_or(EmailConfirmError::InvalidToken)?;
        // A disabled account changes nothing until an operator enables it.
        if account.disabled {
            return Err(EmailConfirmError::InvalidToken);
        }
        let notice = SecurityNotice::EmailChanged.to(&account);
        let audit = self.audit_event(
            AuditAction::EmailChanged,
            Some(account.username.as_str()),
            ctx,
            AuditOutcome::Success,
        );
        match self
            .store
            .redeem_email_change(&hash, now, &notice, &audit)
            .await
        {
            Ok(changed) => {
                trace_audit(&audit);
                Ok(changed)
            }
            Err(RedeemError::InvalidToken) => Err(EmailConfirmError::InvalidToken),
            Err(RedeemError::Store(e)) => Err(e.into()),
        }
    }

    /// Sets a new security question and answer (hashed as at
    /// registration), and tells the account's address.
    pub async fn change_security_question(
        &self,
        auth: &Authenticated,
        current: &Password,
        input: &SecurityQuestionInput,
        ctx: RequestContext,
    ) -> Result<(), SecurityQuestionChangeError> {
        let result = self
            .try_change_security_question(auth, current, input, ctx)
            .await;
        // A change stored its audit event with the new answer.
        if let Err(e) = &result {
            self.audit(
                AuditAction::SecurityQuestionChanged,
                Some(auth.account.username.as_str()),
                ctx,
                AuditOutcome::Error(e.code()),
            )
            .await;
        }
        result
    }

    async fn try_change_security_question(
        &self,
        auth: &Authenticated,
        current: &Password,
        input: &SecurityQuestionInput,
        ctx: RequestContext,
    ) -> Result<(), SecurityQuestionChangeError> {
        let account = self.verify_current_password(auth, current, ctx).await?;
        if answer_equals_any(
            &input.answer,
            [
                account.username.as_str(),
                account.email.as_str(),
                current.expose(),
            ],
        ) {
            return Err(SecurityQuestionChangeError::InvalidInput(
                InvalidInput::single(
                    "security_answer",
                    "may not be the same as your username, email or password",
                ),
            ));
        }
        let answer_hash = self.hasher.hash_answer(&input.answer).await?;
        let change = SecurityQuestionChange {
            account_id: account.id,
            verified: account.password_hash.clone(),
            session: auth.session_hash,
            question: input.question,
            answer_hash,
        };
        let notice = SecurityNotice::SecurityQuestionChanged.to(&account);
        let audit = self.audit_event(
            AuditAction::SecurityQuestionChanged,
            Some(account.username.as_str()),
            ctx,
            AuditOutcome::Success,
        );
        match self
            .store
            .change_security_question(&change, &notice, &audit, self.now())
            .await?
        {
            CredentialWrite::Applied => {
                trace_audit(&audit);
                Ok(())
            }
            CredentialWrite::Stale => Err(SecurityQuestionChangeError::InvalidCredentials),
            CredentialWrite::Locked { locked_until } => {
                Err(SecurityQuestionChangeError::AccountLocked { locked_until })
            }
        }
    }
}

/// One mailbox: domains are case-insensitive, and no mail system this
/// portal writes to treats local parts otherwise.
fn same_mailbox(a: &EmailAddress, b: &EmailAddress) -> bool {
    a.as_str().eq_ignore_ascii_case(b.as_str())
}

impl From<CurrentPasswordError> for EmailChangeError {
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

impl From<CurrentPasswordError> for SecurityQuestionChangeError {
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

impl EmailChangeError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountLocked { .. } => ErrorCode::AccountLocked,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

impl EmailConfirmError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidToken => ErrorCode::InvalidToken,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

impl SecurityQuestionChangeError {
    /// The code this error is answered and audited with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountLocked { .. } => ErrorCode::AccountLocked,
            Self::Fault(_) => ErrorCode::Internal,
        }
    }
}

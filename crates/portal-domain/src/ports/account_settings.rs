//! [`AccountSettings`]: what a logged-in account changes about itself
//! besides its password (SPEC §4a): its email, through a link to the new
//! address, and its security question.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{CredentialWrite, EmailCap, LinkToken, RedeemError, StoreError};
use crate::account::{Account, AccountId};
use crate::audit::AuditEvent;
use crate::email::Email;
use crate::values::{EmailAddress, PasswordHash, SecurityQuestionId, TokenHash};

/// A change of email asked by a logged-in account whose current password
/// was verified, for [`AccountSettings::issue_email_change`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChangeRequest {
    pub account_id: AccountId,
    /// The hash the current password was verified against.
    pub verified: PasswordHash,
    /// The session that asked: it must still exist.
    pub session: TokenHash,
    /// The address the link goes to, and the account's email once the
    /// link is used.
    pub new_email: EmailAddress,
    /// The confirmation link's token, by hash.
    pub link: LinkToken,
}

/// What [`AccountSettings::issue_email_change`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailChangeIssue {
    /// The link is stored, older change links are superseded, and its
    /// email is queued.
    Issued,
    /// The per-account email cap was reached: nothing was written.
    CapReached,
    /// Not written, as [`CredentialWrite::judge`] (or a gone session or
    /// account: [`CredentialWrite::Stale`]) decided; never
    /// [`CredentialWrite::Applied`].
    Refused(CredentialWrite),
}

/// A change of the security question by a logged-in account whose current
/// password was verified, for [`AccountSettings::change_security_question`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityQuestionChange {
    pub account_id: AccountId,
    /// The hash the current password was verified against.
    pub verified: PasswordHash,
    /// The session that asked: it must still exist.
    pub session: TokenHash,
    pub question: SecurityQuestionId,
    /// The new answer's slow hash, as at registration.
    pub answer_hash: PasswordHash,
}

/// The account settings a logged-in account changes with its current
/// password: its email (a link to the new address first) and its security
/// question.
///
/// Owns these atomic operations: [`AccountSettings::issue_email_change`]
/// (older change links superseded, the link with its new address, its
/// email, under the account's cap), [`AccountSettings::redeem_email_change`]
/// (the link spent, the email changed, the notice and the audit event) and
/// [`AccountSettings::change_security_question`] (the question and answer,
/// the notice and the audit event).
#[async_trait]
pub trait AccountSettings: Send + Sync {
    /// In one transaction, holding the account: only while its password
    /// hash is still `request.verified`, the session `request.session`
    /// still exists and no lock is in force at `request.link.issued_at`
    /// (else [`EmailChangeIssue::Refused`] with the judgement, and nothing
    /// is written; a gone account is [`CredentialWrite::Stale`]); then
    /// unless `cap.max` links were already issued for the account strictly
    /// after `issued_at - cap.window` (by this method or by
    /// [`Credentials::issue_token`](super::Credentials::issue_token): one
    /// cap for every email a request sends; `cap.max == 0` means no cap):
    /// supersedes the account's live email change links, stores this one
    /// (purpose [`TokenPurpose::EmailChange`](super::TokenPurpose::EmailChange))
    /// with `request.new_email`, and queues `email` (due at `issued_at`).
    async fn issue_email_change(
        &self,
        request: &EmailChangeRequest,
        email: &Email,
        cap: EmailCap,
    ) -> Result<EmailChangeIssue, StoreError>;

    /// In one transaction: redeems a live email change link (single use, by
    /// one conditional update), sets the account's email to the address
    /// stored with it, queues `notice` and stores `audit`. Returns the
    /// account as it now is. `notice` is addressed by the caller to the old
    /// address, read with
    /// [`Credentials::find_live_token`](super::Credentials::find_live_token):
    /// only this link's
    /// redemption can change the email meanwhile, since an account has at
    /// most one live change link.
    async fn redeem_email_change(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError>;

    /// In one transaction, holding the account, only while its password
    /// hash is still `change.verified`, the session `change.session` still
    /// exists and no lock is in force at `now` (else the judgement, and
    /// nothing is written; a gone account is [`CredentialWrite::Stale`]):
    /// sets the security question and the answer's hash, queues `notice`
    /// (due at `now`) and stores `audit`.
    async fn change_security_question(
        &self,
        change: &SecurityQuestionChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError>;
}

//! [`Credentials`]: one-time links (activation, password reset) and the
//! password writes they and a logged-in change make.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::StoreError;
use crate::account::{Account, AccountId};
use crate::audit::AuditEvent;
use crate::email::Email;
use crate::values::{PasswordHash, TokenHash};

/// Why a token could not be redeemed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    /// Unknown, already used, superseded, expired or of another purpose.
    #[error("invalid token")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    Activation,
    PasswordReset,
    /// A change of email's confirmation link, sent to the new address; the
    /// address waits with the token
    /// ([`AccountSettings`](super::AccountSettings)).
    EmailChange,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activation => "activation",
            Self::PasswordReset => "password_reset",
            Self::EmailChange => "email_change",
        }
    }
}

/// A one-time link token to store, by hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkToken {
    pub hash: TokenHash,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A link token for an existing account, with its purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewToken {
    pub account_id: AccountId,
    pub purpose: TokenPurpose,
    pub link: LinkToken,
}

/// The per-account email cap of [`Credentials::issue_token`]: at most `max`
/// tokens issued in any `window` (SPEC §9 `PORTAL_EMAILS_PER_HOUR` within
/// [`PortalSettings::HOUR`](crate::service::PortalSettings::HOUR));
/// `max == 0` means no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailCap {
    pub max: u32,
    pub window: Duration,
}

/// The refused confirmations of a live reset link (SPEC §6), as
/// [`Credentials::record_reset_refusal`] counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetRefusals {
    pub refusals: u32,
}

impl ResetRefusals {
    /// One more refusal: the count after it, and whether it spends the link
    /// (the refusal that brings the count to `max_refusals` does, as a
    /// redemption would).
    pub fn after_refusal(self, max_refusals: u32) -> (Self, bool) {
        let refusals = self.refusals.saturating_add(1);
        (Self { refusals }, refusals >= max_refusals)
    }
}

/// Whether [`Credentials::issue_token`] issued the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    Issued,
    /// The per-account email cap was reached: nothing was written.
    CapReached,
    /// The account is gone (purged since it was read): nothing was written.
    NoAccount,
}

/// Whether a write that follows a password verification applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialWrite {
    Applied,
    /// Another attempt locked the account while this one was verified: a
    /// success never lifts a lock. Nothing was written.
    Locked {
        locked_until: OffsetDateTime,
    },
    /// The account's password hash is no longer the one that was verified
    /// (a reset or a change committed meanwhile), or the session the write
    /// belongs to is gone: nothing was written.
    Stale,
}

impl CredentialWrite {
    /// Whether a write after a verification may apply to `account` as the
    /// store holds it (under its lock) at `now`: not when its hash is no
    /// longer the verified one ([`Self::Stale`]), else not while a lock is
    /// in force ([`Self::Locked`]: a success never lifts a lock). The one
    /// place this rule is written; stores read the account and ask.
    pub fn judge(account: &Account, verified: &PasswordHash, now: OffsetDateTime) -> Self {
        if account.password_hash != *verified {
            return Self::Stale;
        }
        match account.lock.locked_until(now) {
            Some(locked_until) => Self::Locked { locked_until },
            None => Self::Applied,
        }
    }
}

/// A password change by a logged-in account, for
/// [`Credentials::change_password`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChange {
    pub account_id: AccountId,
    /// The hash the current password was verified against.
    pub verified: PasswordHash,
    pub new_hash: PasswordHash,
    /// The session that asked: kept, while every other one is revoked.
    pub keep: TokenHash,
}

/// The credentials of accounts: one-time link tokens, stored by hash, and
/// the password hash they and a logged-in change replace.
///
/// Owns these atomic operations: [`Credentials::issue_token`] (older
/// tokens superseded, the token, its email, under the account's cap),
/// [`Credentials::redeem_activation`] (the token spent, the account
/// activated, its email and audit event), [`Credentials::redeem_password_reset`]
/// and [`Credentials::change_password`] (the password, the lock cleared,
/// sessions revoked, the notice and the audit event), and
/// [`Credentials::record_reset_refusal`].
#[async_trait]
pub trait Credentials: Send + Sync {
    /// In one transaction, holding the account (so that a purge cannot
    /// delete it halfway): unless `cap.max` tokens were already issued by
    /// this method for the account strictly after
    /// `token.link.issued_at - cap.window` (`cap.max == 0` means no cap),
    /// invalidates the account's live tokens of the same purpose, stores
    /// this one and queues its email. An account that is gone is
    /// [`IssueOutcome::NoAccount`].
    async fn issue_token(
        &self,
        token: &NewToken,
        email: &Email,
        cap: EmailCap,
    ) -> Result<IssueOutcome, StoreError>;

    /// The account a live token belongs to: unused, not superseded, not
    /// expired at `now`, of `purpose`. Reads only.
    async fn find_live_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError>;

    /// The account a token of `purpose` was issued to, whatever the
    /// token's state now (live, used, superseded or expired), while the
    /// token is still stored. Reads only. An activation link opened again
    /// after it was used reads its account this way, to say "already
    /// active" instead of an error (SPEC §3 step 5).
    async fn account_by_issued_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<Account>, StoreError>;

    /// In one transaction: redeems a live activation token (single use, by
    /// one conditional update), activates the account, queues `email` and
    /// stores `audit`. Locks are taken account first, as everywhere.
    async fn redeem_activation(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError>;

    /// In one transaction: redeems a live reset token, sets the password
    /// hash, clears the failure count and lock, revokes every session of the
    /// account, queues `notice` and stores `audit`. Locks are taken account
    /// first, as everywhere.
    async fn redeem_password_reset(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        new_hash: &PasswordHash,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError>;

    /// Counts one confirmation of a live reset token refused by the
    /// password policy, atomically (racing refusals each count):
    /// [`ResetRefusals::after_refusal`] on the count the store holds under
    /// its lock, so the `max_refusals`-th refusal spends the token, as a
    /// redemption would. A token that is not live is
    /// [`RedeemError::InvalidToken`] and nothing is written.
    async fn record_reset_refusal(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_refusals: u32,
    ) -> Result<(), RedeemError>;

    /// In one transaction, only while the account's password hash is still
    /// `change.verified` and the session `change.keep` still exists (else
    /// [`CredentialWrite::Stale`] and nothing is written) and no lock is in
    /// force at `now` (else [`CredentialWrite::Locked`]): sets the
    /// password hash, revokes every session of the account except `keep`,
    /// queues `notice` (due at `now`) and stores `audit`.
    async fn change_password(
        &self,
        change: &PasswordChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError>;
}

//! Audit events (SPEC §7a): who did what, from where, when, with what outcome.
//! Never a password, answer, token or session id: the types here have no
//! field that could hold one.

use crate::codes::ErrorCode;
use crate::email::EmailKind;
use crate::values::Username;
use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    RegistrationStarted,
    AgreementAccepted,
    AccountCreated,
    AccountActivated,
    ActivationResent,
    LoginSucceeded,
    LoginFailed,
    AccountLocked,
    Logout,
    PasswordResetRequested,
    PasswordResetCompleted,
    PasswordChanged,
    AgreementReaccepted,
    SupportCheck,
    AccountShown,
    AccountUnlocked,
    AccountDisabled,
    AccountEnabled,
    PendingAccountPurged,
    /// A newer registration of the same provider replaced an account that
    /// was never activated (SPEC §3 step 1); the event names the old username.
    PendingAccountReplaced,
    EmailFailed,
    /// A logged-in account asked to change its email: the link went to the
    /// new address (SPEC §4a).
    EmailChangeRequested,
    /// An email change link was used: the account has its new address.
    EmailChanged,
    SecurityQuestionChanged,
    /// A right password on an account with a second factor: a login
    /// challenge was issued, no session yet.
    MfaChallengeIssued,
    SecondFactorAdded,
    SecondFactorRemoved,
    /// An operator removed every second factor of an account (`reset-mfa`).
    SecondFactorsReset,
}

impl AuditAction {
    pub const ALL: [Self; 28] = [
        Self::RegistrationStarted,
        Self::AgreementAccepted,
        Self::AccountCreated,
        Self::AccountActivated,
        Self::ActivationResent,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::AccountLocked,
        Self::Logout,
        Self::PasswordResetRequested,
        Self::PasswordResetCompleted,
        Self::PasswordChanged,
        Self::AgreementReaccepted,
        Self::SupportCheck,
        Self::AccountShown,
        Self::AccountUnlocked,
        Self::AccountDisabled,
        Self::AccountEnabled,
        Self::PendingAccountPurged,
        Self::PendingAccountReplaced,
        Self::EmailFailed,
        Self::EmailChangeRequested,
        Self::EmailChanged,
        Self::SecurityQuestionChanged,
        Self::MfaChallengeIssued,
        Self::SecondFactorAdded,
        Self::SecondFactorRemoved,
        Self::SecondFactorsReset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegistrationStarted => "registration_started",
            Self::AgreementAccepted => "agreement_accepted",
            Self::AccountCreated => "account_created",
            Self::AccountActivated => "account_activated",
            Self::ActivationResent => "activation_resent",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::AccountLocked => "account_locked",
            Self::Logout => "logout",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordResetCompleted => "password_reset_completed",
            Self::PasswordChanged => "password_changed",
            Self::AgreementReaccepted => "agreement_reaccepted",
            Self::SupportCheck => "support_check",
            Self::AccountShown => "account_shown",
            Self::AccountUnlocked => "account_unlocked",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
            Self::PendingAccountPurged => "pending_account_purged",
            Self::PendingAccountReplaced => "pending_account_replaced",
            Self::EmailFailed => "email_failed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::SecurityQuestionChanged => "security_question_changed",
            Self::MfaChallengeIssued => "mfa_challenge_issued",
            Self::SecondFactorAdded => "second_factor_added",
            Self::SecondFactorRemoved => "second_factor_removed",
            Self::SecondFactorsReset => "second_factors_reset",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == name)
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: OffsetDateTime,
    pub action: AuditAction,
    /// The username concerned, as typed when no account matched it.
    pub username: Option<String>,
    pub client_addr: Option<IpAddr>,
    pub outcome: AuditOutcome,
}

/// What an audited action came to. Stored as its text
/// ([`AuditOutcome::as_str`]); a stored text this build does not know (an
/// older or newer build's) is read back whole as [`AuditOutcome::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutcome {
    /// `success`: done.
    Success,
    /// Refused, and answered with this code (`invalid_credentials`, …).
    Error(ErrorCode),
    /// `locked`: the failure that locked the account
    /// ([`AuditAction::AccountLocked`]).
    Locked,
    /// `sent`: a reset link was queued.
    Sent,
    /// `activation_resent`: a reset asked for an account still pending
    /// activation, which was sent a new activation link instead.
    ActivationResent,
    /// `email_cap_reached`: the per-account email cap held the link back.
    EmailCapReached,
    /// `unknown_username`: no account has the name asked about.
    UnknownUsername,
    /// `not_pending`: an activation link asked for an account that is not
    /// pending activation.
    NotPending,
    /// `not_eligible`: a reset asked for an account that may not reset.
    NotEligible,
    /// `match`: a support check's answer matched.
    Match,
    /// `no_match`: a support check's answer did not match.
    NoMatch,
    /// `refused`: a support check refused after too many wrong answers.
    ChecksExhausted,
    /// An email given up on ([`AuditAction::EmailFailed`]), by its kind
    /// ([`EmailKind::name`]).
    EmailKind(&'static str),
    /// A stored text this build does not know, kept as it was.
    Other(String),
}

impl AuditOutcome {
    const NAMED: [Self; 11] = [
        Self::Success,
        Self::Locked,
        Self::Sent,
        Self::ActivationResent,
        Self::EmailCapReached,
        Self::UnknownUsername,
        Self::NotPending,
        Self::NotEligible,
        Self::Match,
        Self::NoMatch,
        Self::ChecksExhausted,
    ];

    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Success => "success",
            Self::Error(code) => code.as_str(),
            Self::Locked => "locked",
            Self::Sent => "sent",
            Self::ActivationResent => "activation_resent",
            Self::EmailCapReached => "email_cap_reached",
            Self::UnknownUsername => "unknown_username",
            Self::NotPending => "not_pending",
            Self::NotEligible => "not_eligible",
            Self::Match => "match",
            Self::NoMatch => "no_match",
            Self::ChecksExhausted => "refused",
            Self::EmailKind(kind) => kind,
            Self::Other(text) => text,
        }
    }

    /// Reads a stored text back; what this build does not know stays
    /// [`AuditOutcome::Other`], so no stored event is unreadable.
    pub fn parse(text: &str) -> Self {
        if let Some(named) = Self::NAMED.into_iter().find(|o| o.as_str() == text) {
            return named;
        }
        if let Some(code) = ErrorCode::parse(text) {
            return Self::Error(code);
        }
        if let Some(kind) = EmailKind::NAMES.into_iter().find(|name| *name == text) {
            return Self::EmailKind(kind);
        }
        Self::Other(text.to_owned())
    }
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the stored text (`outcome == "success"`).
impl PartialEq<str> for AuditOutcome {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for AuditOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How many characters of a string that is not a valid username an event
/// keeps (SPEC §7a): enough to recognise a mistyped name, too few to let
/// junk logins fill the trail.
pub const UNPARSED_NAME_CHARS: usize = 64;

impl AuditEvent {
    /// The event a store writes, with the new account's `created` event,
    /// for the pending account `username` that the new one replaced: the
    /// same time and client address, the old username.
    pub fn pending_replaced(created: &Self, username: &str) -> Self {
        Self {
            at: created.at,
            action: AuditAction::PendingAccountReplaced,
            username: Some(username.to_owned()),
            client_addr: created.client_addr,
            outcome: AuditOutcome::Success,
        }
    }

    /// The name an event records for what a client typed: a valid username
    /// whole, anything else cut to its first [`UNPARSED_NAME_CHARS`]
    /// characters.
    pub fn recorded_name(typed: &str) -> String {
        if Username::parse(typed).is_ok() {
            typed.to_owned()
        } else {
            typed.chars().take(UNPARSED_NAME_CHARS).collect()
        }
    }
}

/// Where a page of listed events ended: the next page starts after it.
/// Events are listed in the order they are stored (time, then insertion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: OffsetDateTime,
    /// The store's own order among events of one instant.
    pub seq: i64,
}

/// Which events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Case-insensitive.
    pub username: Option<String>,
    pub since: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
    }

    #[test]
    fn outcomes_round_trip_through_their_stored_text() {
        let mut every: Vec<AuditOutcome> = AuditOutcome::NAMED.to_vec();
        every.extend(ErrorCode::ALL.map(AuditOutcome::Error));
        every.extend(EmailKind::NAMES.map(AuditOutcome::EmailKind));
        let mut texts = std::collections::HashSet::new();
        for outcome in every {
            assert!(texts.insert(outcome.to_string()), "{outcome} twice");
            assert_eq!(AuditOutcome::parse(outcome.as_str()), outcome);
        }
        // What another build stored is kept, not refused.
        assert_eq!(
            AuditOutcome::parse("quarantined"),
            AuditOutcome::Other("quarantined".to_owned())
        );
        assert_eq!(AuditOutcome::parse("quarantined").as_str(), "quarantined");
        assert_eq!(
            AuditOutcome::parse("invalid_credentials"),
            AuditOutcome::Error(ErrorCode::InvalidCredentials)
        );
    }
}

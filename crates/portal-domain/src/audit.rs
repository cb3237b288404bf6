//! Audit events (SPEC §7a): who did what, from where, when, with what outcome.
//! Never a password, answer, token or session id: the types here have no
//! field that could hold one.

use crate::values::Username;
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
}

impl AuditAction {
    pub const ALL: [Self; 21] = [
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
    /// A short code: `success`, or the error code that answered.
    pub outcome: String,
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
            outcome: "success".to_owned(),
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
}

//! Emails as domain messages (SPEC §3, §6).
//!
//! The domain says who gets which message; the mail adapter renders it with
//! its templates, the brand and `PORTAL_PUBLIC_URL`. Links are paths here, so
//! no link is ever built from a request's `Host`.

use time::OffsetDateTime;

use crate::account::Account;
use crate::ports::StoreError;
use crate::values::{EmailAddress, RawToken, Username};

/// The sender's display name on every message.
pub const SENDER_DISPLAY_NAME: &str = "webmaster";

/// Which message, with the token its link carries.
#[derive(Debug, Clone)]
pub enum EmailKind {
    /// "Activate Your Provider Portal Account", with an **Activate Account** link.
    Activation { token: RawToken },
    /// "Email Verification", with a **Login** link, once the account is active.
    EmailVerification,
    /// "`<brand>` Provider Portal Password", with a reset link.
    PasswordReset { token: RawToken },
    /// "Your Provider Portal password was changed"; no link with a token.
    PasswordChanged,
    /// "Confirm Your New Provider Portal Email", to the new address, with a
    /// **Confirm Email** link (SPEC §4a).
    EmailChange { token: RawToken },
    /// A change to the account's security settings, told to the account's
    /// address; no link.
    Notice(SecurityNotice),
}

impl EmailKind {
    /// The names of every kind this build can render. A store claims only
    /// these, so that an older build leaves the emails of a kind added by a
    /// newer one (during a rolling deploy) to the instances that know it.
    pub const NAMES: [&'static str; 11] = [
        "activation",
        "email_verification",
        "password_reset",
        "password_changed",
        "email_change",
        "email_changed",
        "security_question_changed",
        "factor_added_totp",
        "factor_added_passkey",
        "factor_removed_totp",
        "factor_removed_passkey",
    ];

    /// A stable name, for stores and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Activation { .. } => "activation",
            Self::EmailVerification => "email_verification",
            Self::PasswordReset { .. } => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::EmailChange { .. } => "email_change",
            Self::Notice(notice) => notice.name(),
        }
    }

    /// The exact subject line (SPEC §3, §6).
    pub fn subject(&self, brand: &str) -> String {
        match self {
            Self::Activation { .. } => "Activate Your Provider Portal Account".to_owned(),
            Self::EmailVerification => "Email Verification".to_owned(),
            Self::PasswordReset { .. } => format!("{brand} Provider Portal Password"),
            Self::PasswordChanged => "Your Provider Portal password was changed".to_owned(),
            Self::EmailChange { .. } => "Confirm Your New Provider Portal Email".to_owned(),
            Self::Notice(notice) => notice.subject().to_owned(),
        }
    }

    /// The path (and query) of the message's link, to be joined to the
    /// public URL; `None` for the notice that carries no link.
    pub fn link_path(&self) -> Option<String> {
        match self {
            Self::Activation { token } => Some(format!("/activate?token={}", token.expose())),
            Self::EmailVerification => Some("/login".to_owned()),
            Self::PasswordReset { token } => {
                Some(format!("/reset-password?token={}", token.expose()))
            }
            Self::EmailChange { token } => Some(format!("/confirm-email?token={}", token.expose())),
            Self::PasswordChanged | Self::Notice(_) => None,
        }
    }

    /// The token the link carries, if any.
    pub fn token(&self) -> Option<&RawToken> {
        match self {
            Self::Activation { token }
            | Self::PasswordReset { token }
            | Self::EmailChange { token } => Some(token),
            Self::EmailVerification | Self::PasswordChanged | Self::Notice(_) => None,
        }
    }

    /// The kind stored under `name`, for the kinds without a token
    /// ([`Self::token`] is `None`); `None` for any other name.
    pub fn without_token(name: &str) -> Option<Self> {
        match name {
            "email_verification" => Some(Self::EmailVerification),
            "password_changed" => Some(Self::PasswordChanged),
            other => SecurityNotice::parse(other).map(Self::Notice),
        }
    }
}

/// A second factor, as a notice names it (SPEC §4a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecondFactor {
    /// An authenticator app (TOTP), with its recovery codes.
    Totp,
    /// A passkey (WebAuthn).
    Passkey,
}

/// A change to an account's security settings that its owner is told of
/// (SPEC §4a): a notice from `webmaster` to the account's address, without
/// a link, so that a change its owner did not make does not go unnoticed.
/// Each change queues its notice in the transaction that makes it
/// ([`SecurityNotice::to`] addresses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityNotice {
    /// "Your Provider Portal email was changed", to the old address.
    EmailChanged,
    /// "Your Provider Portal security question was changed".
    SecurityQuestionChanged,
    /// "A second factor was added to your Provider Portal account".
    FactorAdded(SecondFactor),
    /// "A second factor was removed from your Provider Portal account".
    FactorRemoved(SecondFactor),
}

impl SecurityNotice {
    /// Every notice, in [`EmailKind::NAMES`] order.
    pub const ALL: [Self; 6] = [
        Self::EmailChanged,
        Self::SecurityQuestionChanged,
        Self::FactorAdded(SecondFactor::Totp),
        Self::FactorAdded(SecondFactor::Passkey),
        Self::FactorRemoved(SecondFactor::Totp),
        Self::FactorRemoved(SecondFactor::Passkey),
    ];

    /// The stored kind name: which factor is part of it, so that an
    /// outbox row needs no column beyond its kind.
    pub fn name(self) -> &'static str {
        match self {
            Self::EmailChanged => "email_changed",
            Self::SecurityQuestionChanged => "security_question_changed",
            Self::FactorAdded(SecondFactor::Totp) => "factor_added_totp",
            Self::FactorAdded(SecondFactor::Passkey) => "factor_added_passkey",
            Self::FactorRemoved(SecondFactor::Totp) => "factor_removed_totp",
            Self::FactorRemoved(SecondFactor::Passkey) => "factor_removed_passkey",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|notice| notice.name() == name)
    }

    /// The exact subject line.
    pub fn subject(self) -> &'static str {
        match self {
            Self::EmailChanged => "Your Provider Portal email was changed",
            Self::SecurityQuestionChanged => "Your Provider Portal security question was changed",
            Self::FactorAdded(_) => "A second factor was added to your Provider Portal account",
            Self::FactorRemoved(_) => {
                "A second factor was removed from your Provider Portal account"
            }
        }
    }

    /// This notice to `account`'s address as the account holds it now
    /// (the old address, for a change of email read before it commits).
    pub fn to(self, account: &Account) -> Email {
        Email {
            to: account.email.clone(),
            username: account.username.clone(),
            kind: EmailKind::Notice(self),
        }
    }
}

/// One message to one account.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: EmailAddress,
    pub username: Username,
    pub kind: EmailKind,
}

/// An outbox row's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxId(pub i64);

/// One claim of one outbox row. The store counts the claims of each row;
/// a mark names the claim it belongs to, and changes nothing once a later
/// claim has taken the row over (its lease ran out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutboxClaim {
    pub id: OutboxId,
    pub generation: i64,
}

/// An email claimed from the outbox for delivery.
#[derive(Debug, Clone)]
pub struct QueuedEmail {
    pub claim: OutboxClaim,
    pub email: Email,
    /// Delivery attempts made before this claim.
    pub attempts: u32,
    /// When the link it carries expires; `None` for a message without a
    /// link with a token (or one queued before expiries were stored).
    pub link_expires_at: Option<OffsetDateTime>,
    /// Whether an account with the email's username still exists.
    pub account_exists: bool,
}

impl QueuedEmail {
    pub fn id(&self) -> OutboxId {
        self.claim.id
    }
}

/// A claimed outbox row of a known kind that cannot be read as an email
/// (a corrupt column). It is claimed like any other so that it can be
/// marked failed instead of blocking the rows after it.
#[derive(Debug, Clone)]
pub struct UnreadableEmail {
    pub claim: OutboxClaim,
    pub kind: String,
    /// Why it cannot be read; never holds the token.
    pub error: StoreError,
}

/// One row of a claim: an email, or a row that could not be read.
pub type ClaimedEmail = Result<QueuedEmail, UnreadableEmail>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_exact() {
        let token = RawToken::from_random_bytes([1; 32]);
        assert_eq!(
            EmailKind::Activation {
                token: token.clone()
            }
            .subject("X"),
            "Activate Your Provider Portal Account"
        );
        assert_eq!(
            EmailKind::EmailVerification.subject("X"),
            "Email Verification"
        );
        assert_eq!(
            EmailKind::PasswordReset {
                token: token.clone()
            }
            .subject("CareSource"),
            "CareSource Provider Portal Password"
        );
        assert_eq!(
            EmailKind::PasswordChanged.subject("X"),
            "Your Provider Portal password was changed"
        );
        assert_eq!(
            EmailKind::PasswordReset {
                token: token.clone()
            }
            .link_path(),
            Some(format!("/reset-password?token={}", token.expose()))
        );
        assert_eq!(EmailKind::PasswordChanged.link_path(), None);
    }

    #[test]
    fn email_change_links_to_the_confirmation_page() {
        let token = RawToken::from_random_bytes([2; 32]);
        let kind = EmailKind::EmailChange {
            token: token.clone(),
        };
        assert_eq!(kind.subject("X"), "Confirm Your New Provider Portal Email");
        assert_eq!(
            kind.link_path(),
            Some(format!("/confirm-email?token={}", token.expose()))
        );
        assert_eq!(kind.token().map(RawToken::hash), Some(token.hash()));
        assert_eq!(kind.name(), "email_change");
    }

    fn notice_of(notice: SecurityNotice) -> EmailKind {
        EmailKind::Notice(notice)
    }

    #[test]
    fn an_email_change_notice_is_exact_and_carries_no_link() {
        let kind = notice_of(SecurityNotice::EmailChanged);
        assert_eq!(kind.subject("X"), "Your Provider Portal email was changed");
        assert_eq!(kind.link_path(), None);
        assert!(kind.token().is_none());
    }

    #[test]
    fn a_security_question_notice_carries_no_link() {
        let kind = notice_of(SecurityNotice::SecurityQuestionChanged);
        assert_eq!(
            kind.subject("X"),
            "Your Provider Portal security question was changed"
        );
        assert_eq!(kind.link_path(), None);
    }

    #[test]
    fn factor_added_notices_name_their_factor_and_carry_no_link() {
        for factor in [SecondFactor::Totp, SecondFactor::Passkey] {
            let kind = notice_of(SecurityNotice::FactorAdded(factor));
            assert_eq!(
                kind.subject("X"),
                "A second factor was added to your Provider Portal account"
            );
            assert_eq!(kind.link_path(), None);
            assert!(kind.token().is_none());
        }
        assert_ne!(
            SecurityNotice::FactorAdded(SecondFactor::Totp).name(),
            SecurityNotice::FactorAdded(SecondFactor::Passkey).name()
        );
    }

    #[test]
    fn factor_removed_notices_name_their_factor_and_carry_no_link() {
        for factor in [SecondFactor::Totp, SecondFactor::Passkey] {
            let kind = notice_of(SecurityNotice::FactorRemoved(factor));
            assert_eq!(
                kind.subject("X"),
                "A second factor was removed from your Provider Portal account"
            );
            assert_eq!(kind.link_path(), None);
        }
        assert_ne!(
            SecurityNotice::FactorRemoved(SecondFactor::Totp).name(),
            SecurityNotice::FactorAdded(SecondFactor::Totp).name()
        );
    }

    #[test]
    fn every_kind_name_is_claimed_and_notices_parse_back() {
        let token = RawToken::from_random_bytes([3; 32]);
        let mut kinds = vec![
            EmailKind::Activation {
                token: token.clone(),
            },
            EmailKind::EmailVerification,
            EmailKind::PasswordReset {
                token: token.clone(),
            },
            EmailKind::PasswordChanged,
            EmailKind::EmailChange { token },
        ];
        kinds.extend(SecurityNotice::ALL.map(EmailKind::Notice));
        let names: Vec<_> = kinds.iter().map(EmailKind::name).collect();
        assert_eq!(names, EmailKind::NAMES.to_vec());
        for notice in SecurityNotice::ALL {
            assert_eq!(SecurityNotice::parse(notice.name()), Some(notice));
            assert!(matches!(
                EmailKind::without_token(notice.name()),
                Some(EmailKind::Notice(n)) if n == notice
            ));
        }
        assert!(EmailKind::without_token("email_change").is_none());
        assert!(SecurityNotice::parse("factor_added_sms").is_none());
    }
}

//! Emails as domain messages (SPEC §3, §6).
//!
//! The domain says who gets which message; the mail adapter renders it with
//! its templates, the brand and `PORTAL_PUBLIC_URL`. Links are paths here, so
//! no link is ever built from a request's `Host`.

use time::OffsetDateTime;

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
}

impl EmailKind {
    /// The names of every kind this build can render. A store claims only
    /// these, so that an older build leaves the emails of a kind added by a
    /// newer one (during a rolling deploy) to the instances that know it.
    pub const NAMES: [&'static str; 4] = [
        "activation",
        "email_verification",
        "password_reset",
        "password_changed",
    ];

    /// A stable name, for stores and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Activation { .. } => "activation",
            Self::EmailVerification => "email_verification",
            Self::PasswordReset { .. } => "password_reset",
            Self::PasswordChanged => "password_changed",
        }
    }

    /// The exact subject line (SPEC §3, §6).
    pub fn subject(&self, brand: &str) -> String {
        match self {
            Self::Activation { .. } => "Activate Your Provider Portal Account".to_owned(),
            Self::EmailVerification => "Email Verification".to_owned(),
            Self::PasswordReset { .. } => format!("{brand} Provider Portal Password"),
            Self::PasswordChanged => "Your Provider Portal password was changed".to_owned(),
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
            Self::PasswordChanged => None,
        }
    }

    /// The token the link carries, if any.
    pub fn token(&self) -> Option<&RawToken> {
        match self {
            Self::Activation { token } | Self::PasswordReset { token } => Some(token),
            Self::EmailVerification | Self::PasswordChanged => None,
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
}

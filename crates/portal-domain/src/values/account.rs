//! Values of a user account (SPEC §3 step 3).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::text::{comparison_key, normalize_display};

/// A login name: 3–64 ASCII letters, digits, `.`, `_`, `-` or `@`.
///
/// Kept as typed for display; unique and looked up case-insensitively
/// through [`Username::key`].
#[derive(Clone)]
pub struct Username {
    display: String,
    key: String,
}

/// Why a text is not a [`Username`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("must be at least 3 characters")]
    TooShort,
    #[error("must be at most 64 characters")]
    TooLong,
    #[error("may contain only letters, digits, '.', '_', '-' and '@'")]
    InvalidCharacter,
}

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let trimmed = raw.trim();
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(UsernameError::InvalidCharacter);
        }
        // ASCII only from here on, so bytes are characters.
        if trimmed.len() < Self::MIN_LEN {
            return Err(UsernameError::TooShort);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(UsernameError::TooLong);
        }
        Ok(Self {
            display: trimmed.to_owned(),
            key: trimmed.to_ascii_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The lower-case form that uniqueness and look-ups use.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl PartialEq for Username {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Username {}
impl std::hash::Hash for Username {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}
impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Username").field(&self.display).finish()
    }
}
impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// An email address: at most 254 characters, one `@`, a dotted domain, and
/// never a CR, LF or other control character (no header injection).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Why a text is not an [`EmailAddress`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailAddressError {
    #[error("is required")]
    Empty,
    #[error("must be at most 254 characters")]
    TooLong,
    #[error("is not a valid email address")]
    Malformed,
}

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, EmailAddressError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailAddressError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(EmailAddressError::TooLong);
        }
        let (local, domain) = trimmed
            .split_once('@')
            .ok_or(EmailAddressError::Malformed)?;
        if is_local_part(local) && is_domain(domain) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(EmailAddressError::Malformed)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, which the password policy checks against.
    pub fn local_part(&self) -> &str {
        self.0
            .split_once('@')
            .map_or(self.0.as_str(), |(local, _)| local)
    }
}

/// RFC 5322 dot-atom local part (no quoted strings: no mailbox of a provider
/// office needs them, and they are a common injection vector).
fn is_local_part(local: &str) -> bool {
    const ATEXT_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    !local.is_empty()
        && local.len() <= 64
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(c))
        })
}

/// A DNS name of at least two labels (internationalised names as A-labels).
fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EmailAddress").field(&self.0).finish()
    }
}
impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The fixed list of security questions the API serves (SPEC §3 step 3).
pub const SECURITY_QUESTIONS: &[(u8, &str)] = &[
    (1, "What was the name of your first pet?"),
    (2, "What city were you born in?"),
    (3, "What was the make of your first car?"),
    (4, "What is the name of the street you grew up on?"),
    (5, "What was the name of your elementary school?"),
    (6, "What is your oldest sibling's middle name?"),
];

/// One of [`SECURITY_QUESTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityQuestionId(u8);

/// An id that names no security question.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not one of the security questions")]
pub struct UnknownSecurityQuestion;

impl SecurityQuestionId {
    pub fn parse(id: i64) -> Result<Self, UnknownSecurityQuestion> {
        SECURITY_QUESTIONS
            .iter()
            .find(|(known, _)| i64::from(*known) == id)
            .map(|(known, _)| Self(*known))
            .ok_or(UnknownSecurityQuestion)
    }

    pub fn get(self) -> u8 {
        self.0
    }

    pub fn text(self) -> &'static str {
        SECURITY_QUESTIONS
            .iter()
            .find(|(id, _)| *id == self.0)
            .map_or("", |(_, text)| text)
    }
}

/// A security answer in its normalised form (trim, collapse whitespace,
/// NFKC, case fold): the form that is hashed and compared. A secret.
#[derive(Clone)]
pub struct SecurityAnswer(SecretString);

/// Why a text is not a [`SecurityAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityAnswerError {
    #[error("must be at least 3 characters")]
    TooShort,
    #[error("must be at most 128 characters")]
    TooLong,
}

impl SecurityAnswer {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, SecurityAnswerError> {
        let normalized = comparison_key(&normalize_display(raw));
        let length = normalized.chars().count();
        if length < Self::MIN_LEN {
            return Err(SecurityAnswerError::TooShort);
        }
        if length > Self::MAX_LEN {
            return Err(SecurityAnswerError::TooLong);
        }
        Ok(Self(SecretString::from(normalized)))
    }

    /// The normalised answer; only for hashing and comparison.
    pub fn expose_normalized(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SecurityAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecurityAnswer([REDACTED])")
    }
}

/// The version label of a Provider Agreement (1–64 visible characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgreementVersion(String);

/// Why a text is not an [`AgreementVersion`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementVersionError {
    #[error("is required")]
    Empty,
    #[error("must be at most 64 visible characters")]
    Invalid,
}

impl AgreementVersion {
    pub fn parse(raw: &str) -> Result<Self, AgreementVersionError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(AgreementVersionError::Empty);
        }
        if trimmed.chars().count() > 64 || trimmed.chars().any(char::is_control) {
            return Err(AgreementVersionError::Invalid);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Version `1`, of the built-in sample agreement.
    pub fn sample() -> Self {
        Self("1".to_owned())
    }
}

impl fmt::Display for AgreementVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert!(Username::parse("dr.smith@clinic").is_ok());
        assert_eq!(Username::parse("ab").err(), Some(UsernameError::TooShort));
        assert_eq!(
            Username::parse(&"a".repeat(65)).err(),
            Some(UsernameError::TooLong)
        );
        assert_eq!(
            Username::parse("bad name").err(),
            Some(UsernameError::InvalidCharacter)
        );
        assert_eq!(
            Username::parse("jösé").err(),
            Some(UsernameError::InvalidCharacter)
        );
        assert_eq!(
            Username::parse("Dr.Smith").unwrap(),
            Username::parse("dr.smith").unwrap()
        );
        assert_eq!(Username::parse("Dr.Smith").unwrap().as_str(), "Dr.Smith");
    }

    #[test]
    fn email_rules() {
        let email = EmailAddress::parse(" office+billing@clinic.example.org ").unwrap();
        assert_eq!(email.local_part(), "office+billing");
        for bad in [
            "no-at-sign",
            "a@b",
            "a@@b.org",
            "a b@c.org",
            ".a@c.org",
            "a..b@c.org",
            "a@-c.org",
            "victim@x.org\r\nBcc: evil@x.org",
            "a\u{0}@x.org",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        let long = format!("{}@{}.org", "a".repeat(64), "b".repeat(200));
        assert_eq!(EmailAddress::parse(&long), Err(EmailAddressError::TooLong));
    }

    #[test]
    fn security_answer_is_normalised_and_redacted() {
        let a = SecurityAnswer::parse("  Fluffy   the\tCAT ").unwrap();
        assert_eq!(a.expose_normalized(), "fluffy the cat");
        assert_eq!(format!("{a:?}"), "SecurityAnswer([REDACTED])");
        assert_eq!(
            SecurityAnswer::parse(" ab ").err(),
            Some(SecurityAnswerError::TooShort)
        );
    }

    #[test]
    fn security_questions_are_a_fixed_list() {
        assert_eq!(
            SecurityQuestionId::parse(1).map(SecurityQuestionId::get),
            Ok(1)
        );
        assert!(SecurityQuestionId::parse(0).is_err());
        assert!(SecurityQuestionId::parse(99).is_err());
        assert!(!SecurityQuestionId::parse(2).unwrap().text().is_empty());
    }
}

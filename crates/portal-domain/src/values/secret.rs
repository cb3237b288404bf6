//! Secrets: passwords, one-time and session tokens, and their stored forms.
//!
//! None of these types prints its content through `Debug`, and none has a
//! `Display`: a secret reaches a log only by an explicit `expose_*` call.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// A password as typed, NFKC-normalised so that "é" typed two ways is one
/// password. Length and composition are the password policy's business;
/// parsing refuses only what can never be a password.
#[derive(Clone)]
pub struct Password(SecretString);

/// Why a text can never be a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("is required")]
    Empty,
    #[error("may not contain control characters")]
    ControlCharacter,
    #[error("must be at most {max} characters", max = Password::MAX_INPUT_LEN)]
    TooLong,
}

impl Password {
    /// A hard bound on input, far above the policy's maximum, so that no
    /// input can make normalisation or hashing expensive.
    pub const MAX_INPUT_LEN: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        if raw.is_empty() {
            return Err(PasswordError::Empty);
        }
        if raw.chars().count() > Self::MAX_INPUT_LEN {
            return Err(PasswordError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(PasswordError::ControlCharacter);
        }
        Ok(Self(SecretString::from(raw.nfkc().collect::<String>())))
    }

    /// The normalised password; only for the policy and the hasher.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// A freshly drawn random token (one-time link token or session token):
/// 256 bits of OS randomness, written as 43 base64url characters.
///
/// It exists in clear only on its way to the user; the store keeps its
/// [`TokenHash`].
#[derive(Clone)]
pub struct RawToken(SecretString);

/// A text that is not a well-formed token. Callers answer it exactly as
/// an unknown token (SPEC §8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed token")]
pub struct MalformedToken;

impl RawToken {
    pub const BYTES: usize = 32;
    const ENCODED_LEN: usize = 43;

    /// Wraps random bytes drawn by a [`crate::ports::TokenSource`].
    pub fn from_random_bytes(bytes: [u8; Self::BYTES]) -> Self {
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Parses a token a user sent back.
    pub fn parse(raw: &str) -> Result<Self, MalformedToken> {
        let trimmed = raw.trim();
        if trimmed.len() != Self::ENCODED_LEN {
            return Err(MalformedToken);
        }
        match URL_SAFE_NO_PAD.decode(trimmed) {
            Ok(bytes) if bytes.len() == Self::BYTES => {
                Ok(Self(SecretString::from(trimmed.to_owned())))
            }
            _ => Err(MalformedToken),
        }
    }

    /// The token text, for a link or a cookie; never for a log.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The form the store keeps and looks tokens up by.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.expose().as_bytes()).into())
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawToken([REDACTED])")
    }
}

/// SHA-256 of a token. A fast hash is right here: the token has 256 bits of
/// entropy, so there is nothing to brute-force, and look-ups stay cheap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, for stores that keep text.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell hashes apart in a failing test.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// A slow hash of a secret (password or security answer) as a PHC string,
/// e.g. `$argon2id$v=19$m=19456,t=2,p=1$…`.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read back from a store. Whether it parses is the
    /// hasher's concern: a corrupt hash fails verification, it does not panic.
    pub fn from_phc(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_nfkc_and_redacted() {
        let composed = Password::parse("caf\u{e9}-Secret-2024").unwrap();
        let decomposed = Password::parse("cafe\u{301}-Secret-2024").unwrap();
        assert_eq!(composed.expose(), decomposed.expose());
        assert_eq!(format!("{composed:?}"), "Password([REDACTED])");
        assert_eq!(Password::parse("").err(), Some(PasswordError::Empty));
        assert_eq!(
            Password::parse("a\nb").err(),
            Some(PasswordError::ControlCharacter)
        );
        assert_eq!(
            Password::parse(&"a".repeat(1025)).err(),
            Some(PasswordError::TooLong)
        );
    }

    #[test]
    fn token_round_trips_and_hashes() {
        let token = RawToken::from_random_bytes([7; 32]);
        assert_eq!(token.expose().len(), 43);
        let parsed = RawToken::parse(token.expose()).unwrap();
        assert_eq!(parsed.hash(), token.hash());
        assert_ne!(RawToken::from_random_bytes([8; 32]).hash(), token.hash());
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in ["", "short", &"A".repeat(44), &"!".repeat(43), "%2F"] {
            assert_eq!(RawToken::parse(bad).err(), Some(MalformedToken), "{bad:?}");
        }
    }
}

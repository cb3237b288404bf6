//! Passkeys (SPEC §4a) as pure values: a stored passkey (its credential an
//! opaque serialized value the WebAuthn library reads back), its name, and
//! the server-side state of a registration or authentication ceremony.
//!
//! The WebAuthn ceremony itself is the [`WebAuthn`](crate::ports::WebAuthn)
//! port's: the domain never parses CBOR or COSE, it only keeps what the
//! library hands it and counts the attempts.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::account::AccountId;
use crate::values::{RawToken, TokenHash};

/// How long a ceremony's state lives (as a login challenge).
pub const CEREMONY_TTL: Duration = Duration::minutes(5);

/// Live ceremonies an account may have at once: one more is refused, so
/// that nobody can flood rows.
pub const MAX_CEREMONIES: u32 = 5;

/// Passkeys an account may register.
pub const MAX_PASSKEYS: usize = 10;

/// A passkey's id in the store (the key of its routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PasskeyId(i64);

impl PasskeyId {
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

/// A passkey's name, as its holder chose it: 1 to 64 characters once
/// trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

/// A text that is not a passkey name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 characters, without control characters")]
pub struct MalformedPasskeyName;

impl PasskeyName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, MalformedPasskeyName> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS || name.chars().any(char::is_control) {
            return Err(MalformedPasskeyName);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored credential: the WebAuthn library's serialized passkey (public
/// key, credential id, sign counter). Not secret, but its integrity is the
/// factor's: only the library writes it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredential(Vec<u8>);

impl StoredCredential {
    pub fn from_stored(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoredCredential({} bytes)", self.0.len())
    }
}

/// A passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    pub id: PasskeyId,
    pub account_id: AccountId,
    pub name: PasskeyName,
    /// The WebAuthn credential id (unique across accounts).
    pub credential_id: Vec<u8>,
    pub credential: StoredCredential,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// A passkey verified by a registration ceremony, to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasskey {
    pub name: PasskeyName,
    pub credential_id: Vec<u8>,
    pub credential: StoredCredential,
}

/// Which ceremony a state belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CeremonyKind {
    /// Adding a passkey (an account page's ceremony).
    Registration,
    /// A login's second step (keyed by its challenge).
    Authentication,
}

impl CeremonyKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "registration" => Some(Self::Registration),
            "authentication" => Some(Self::Authentication),
            _ => None,
        }
    }
}

/// A ceremony's server-side state, as the WebAuthn library serialized it
/// (the challenge it sent, the credentials it allows). Kept only
/// server-side: a client never sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct CeremonyState(Vec<u8>);

impl CeremonyState {
    pub fn from_stored(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CeremonyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CeremonyState({} bytes)", self.0.len())
    }
}

/// A ceremony waiting for the browser's answer, stored by the hash of its
/// id (a registration's own id, or an authentication's login challenge id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCeremony {
    pub hash: TokenHash,
    pub account_id: AccountId,
    pub kind: CeremonyKind,
    pub state: CeremonyState,
    pub expires_at: OffsetDateTime,
}

impl PasskeyCeremony {
    /// A ceremony of `kind` for `account`, started at `now`, living
    /// [`CEREMONY_TTL`] (never past `until`, a login challenge's end).
    pub fn new(
        id: &RawToken,
        account: AccountId,
        kind: CeremonyKind,
        state: CeremonyState,
        now: OffsetDateTime,
        until: Option<OffsetDateTime>,
    ) -> Self {
        let expires_at = now + CEREMONY_TTL;
        Self {
            hash: id.hash(),
            account_id: account,
            kind,
            state,
            expires_at: until.map_or(expires_at, |until| until.min(expires_at)),
        }
    }

    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

/// The user a registration ceremony is for: what the authenticator shows
/// and keeps (no email, no provider data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUser {
    pub account_id: AccountId,
    pub username: String,
}

/// A ceremony started by the library: the options for the browser
/// (`navigator.credentials.create/get`, as JSON) and the state to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedCeremony {
    pub options: String,
    pub state: CeremonyState,
}

/// An assertion the library verified against one of the account's passkeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub passkey: PasskeyId,
    /// The credential with its new sign counter, when it changed.
    pub updated: Option<StoredCredential>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_parse_strictly() {
        assert_eq!(PasskeyName::parse("  Laptop ").unwrap().as_str(), "Laptop");
        assert!(PasskeyName::parse(&"é".repeat(64)).is_ok());
        for bad in ["", "   ", "a\nb", "\u{7}", &"x".repeat(65)] {
            assert!(PasskeyName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ceremonies_live_five_minutes_and_never_past_their_challenge() {
        let now = datetime!(2026-12-07 12:00 UTC);
        let id = RawToken::parse(&"A".repeat(43)).unwrap();
        let state = CeremonyState::from_stored(vec![1; 8]);
        let c = PasskeyCeremony::new(
            &id,
            AccountId::new(1),
            CeremonyKind::Registration,
            state.clone(),
            now,
            None,
        );
        assert!(c.is_live(now + Duration::seconds(299)));
        assert!(!c.is_live(now + CEREMONY_TTL));
        let bounded = PasskeyCeremony::new(
            &id,
            AccountId::new(1),
            CeremonyKind::Authentication,
            state,
            now,
            Some(now + Duration::minutes(1)),
        );
        assert_eq!(bounded.expires_at, now + Duration::minutes(1));
        assert_eq!(format!("{:?}", bounded.state), "CeremonyState(8 bytes)");
        for kind in [CeremonyKind::Registration, CeremonyKind::Authentication] {
            assert_eq!(CeremonyKind::parse(kind.as_str()), Some(kind));
        }
    }
}

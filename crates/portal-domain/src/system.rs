//! The real [`Clock`] and [`TokenSource`]: the system clock and the OS's
//! randomness.

use time::OffsetDateTime;

use crate::ports::{Clock, RandomnessError, TokenSource};
use crate::registration::RegistrationId;
use crate::values::RawToken;

/// The system clock, in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place the product reads the clock; everything else is handed `now`.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Tokens and ids from the OS's cryptographic random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsTokenSource;

impl TokenSource for OsTokenSource {
    fn token(&self) -> Result<RawToken, RandomnessError> {
        let mut bytes = [0u8; RawToken::BYTES];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessError(e.to_string()))?;
        Ok(RawToken::from_random_bytes(bytes))
    }

    fn registration_id(&self) -> Result<RegistrationId, RandomnessError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessError(e.to_string()))?;
        Ok(RegistrationId::from_random_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random() {
        let source = OsTokenSource;
        let a = source.token().unwrap();
        let b = source.token().unwrap();
        assert_ne!(a.hash(), b.hash());
        assert_ne!(
            source.registration_id().unwrap(),
            source.registration_id().unwrap()
        );
    }
}

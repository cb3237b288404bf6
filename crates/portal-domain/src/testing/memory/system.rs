//! A clock and a token source for tests.

use super::*;

/// A clock tests move by hand.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// 2026-01-01T00:00:00Z, a fixed and readable start.
    pub fn fixed() -> Self {
        Self::new(time::macros::datetime!(2026-01-01 00:00 UTC))
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.now) += by;
    }

    pub fn set(&self, to: OffsetDateTime) {
        *lock(&self.now) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *lock(&self.now)
    }
}

/// Distinct, reproducible tokens and ids from a counter: not random, so
/// for tests only.
#[derive(Debug, Default)]
pub struct SequentialTokens {
    next: AtomicU64,
}

impl SequentialTokens {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the counter elsewhere, so two sources never collide.
    pub fn starting_at(first: u64) -> Self {
        Self {
            next: AtomicU64::new(first),
        }
    }
}

impl TokenSource for SequentialTokens {
    fn token(&self) -> Result<RawToken, RandomnessError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; RawToken::BYTES];
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        bytes[8] = 0x5a;
        Ok(RawToken::from_random_bytes(bytes))
    }

    fn registration_id(&self) -> Result<RegistrationId, RandomnessError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        Ok(RegistrationId::from_random_bytes(bytes))
    }
}

//! Sessions (SPEC §4): idle and absolute expiry.

use time::{Duration, OffsetDateTime};

use crate::account::AccountId;
use crate::values::TokenHash;

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Every authenticated request starts this again.
    pub idle: Duration,
    /// From login, whatever the activity.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
}

/// A stored session; the token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

impl Session {
    /// When the session ends if no request comes.
    pub fn expires_at(&self, policy: SessionPolicy) -> OffsetDateTime {
        (self.last_seen_at + policy.idle).min(self.created_at + policy.absolute)
    }

    pub fn is_live(&self, now: OffsetDateTime, policy: SessionPolicy) -> bool {
        now < self.expires_at(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::minutes(minutes)
    }

    fn session(created: i64, seen: i64) -> Session {
        Session {
            token_hash: TokenHash::from_bytes([0; 32]),
            account_id: AccountId::new(1),
            created_at: at(created),
            last_seen_at: at(seen),
        }
    }

    #[test]
    fn idle_expiry() {
        let policy = SessionPolicy::default();
        assert!(session(0, 0).is_live(at(29), policy));
        assert!(!session(0, 0).is_live(at(30), policy));
        assert!(session(0, 20).is_live(at(49), policy));
    }

    #[test]
    fn absolute_expiry_wins_over_activity() {
        let policy = SessionPolicy::default();
        let busy = session(0, 12 * 60 - 1);
        assert_eq!(busy.expires_at(policy), at(12 * 60));
        assert!(!busy.is_live(at(12 * 60), policy));
    }
}

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

impl SessionPolicy {
    /// How stale a session's `last_seen_at` may get before a request writes
    /// it again: one write per session per interval rather than one per
    /// request (a read-mostly `/me` stays free of commits), at the price of
    /// the idle timeout ending up to this much early. A thirtieth of the idle
    /// time, at most a minute.
    pub fn touch_interval(&self) -> Duration {
        (self.idle / 30_i32).min(Duration::minutes(1))
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

    /// Whether a request at `now` should store a new `last_seen_at`.
    pub fn needs_touch(&self, now: OffsetDateTime, policy: SessionPolicy) -> bool {
        now - self.last_seen_at >= policy.touch_interval()
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
    fn activity_is_stored_at_most_once_per_touch_interval() {
        let policy = SessionPolicy::default();
        assert_eq!(policy.touch_interval(), Duration::minutes(1));
        let seen = session(0, 10);
        assert!(!seen.needs_touch(at(10), policy));
        assert!(!seen.needs_touch(at(11) - Duration::SECOND, policy));
        assert!(seen.needs_touch(at(11), policy));
        let short = SessionPolicy {
            idle: Duration::seconds(60),
            absolute: Duration::hours(1),
        };
        assert_eq!(short.touch_interval(), Duration::seconds(2));
    }

    #[test]
    fn absolute_expiry_wins_over_activity() {
        let policy = SessionPolicy::default();
        let busy = session(0, 12 * 60 - 1);
        assert_eq!(busy.expires_at(policy), at(12 * 60));
        assert!(!busy.is_live(at(12 * 60), policy));
    }
}

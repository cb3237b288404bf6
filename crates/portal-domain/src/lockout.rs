//! Lockout rules (SPEC §4), as pure state and functions.
//!
//! Stores apply [`LockState::after_failure`] atomically (one statement or one
//! locked section), so the rules live here once and the adapters only make
//! them atomic.

use time::{Duration, OffsetDateTime};

/// How many consecutive failures lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failed: u32,
    pub duration: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failed: 5,
            duration: Duration::hours(24),
        }
    }
}

/// An account's failure count and lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockState {
    /// Consecutive failed logins since the last success, reset or lock expiry.
    pub failed_count: u32,
    /// The lock's end; a time in the past means the lock has expired.
    pub locked_until: Option<OffsetDateTime>,
}

impl LockState {
    /// True while a lock is in force. A lock ends at `locked_until` exactly.
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// The lock's end, while it is in force.
    pub fn locked_until(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.locked_until.filter(|_| self.is_locked(now))
    }

    /// The state after a failed attempt at `now`.
    ///
    /// - during a lock nothing changes (attempts do not extend it);
    /// - after an expired lock the count starts again from zero;
    /// - the attempt that reaches `max_failed` sets the lock.
    pub fn after_failure(self, now: OffsetDateTime, policy: LockoutPolicy) -> Self {
        if self.is_locked(now) {
            return self;
        }
        let previous = if self.locked_until.is_some() {
            0
        } else {
            self.failed_count
        };
        let failed_count = previous.saturating_add(1);
        let locked_until = (failed_count >= policy.max_failed).then(|| now + policy.duration);
        Self {
            failed_count,
            locked_until,
        }
    }

    /// The state after a successful login or a password reset: clear.
    pub fn cleared() -> Self {
        Self::default()
    }
}

/// What counting one failed login did
/// ([`UserStore::record_login_failure`](crate::ports::UserStore::record_login_failure)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedFailure {
    /// The state after the failure.
    pub state: LockState,
    /// Whether this failure set the lock. However many failures race, one
    /// per lock does: the others were counted before it, or found it set.
    /// The lockout is audited once, by that failure.
    pub set_lock: bool,
}

impl RecordedFailure {
    /// The failure that moves `before` to `before.after_failure(now, policy)`.
    pub fn after(before: LockState, now: OffsetDateTime, policy: LockoutPolicy) -> Self {
        Self::between(before, before.after_failure(now, policy), now)
    }

    /// A failure a store recorded: `before` as it was once the store held
    /// the account (no other failure in between), `after` as it wrote it.
    pub fn between(before: LockState, after: LockState, now: OffsetDateTime) -> Self {
        Self {
            state: after,
            set_lock: !before.is_locked(now) && after.is_locked(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LockoutPolicy = LockoutPolicy {
        max_failed: 5,
        duration: Duration::hours(24),
    };

    fn t(minutes: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::minutes(minutes)
    }

    fn fail(times: u32, at: OffsetDateTime) -> LockState {
        (0..times).fold(LockState::default(), |state, _| {
            state.after_failure(at, POLICY)
        })
    }

    #[test]
    fn locks_exactly_at_the_threshold() {
        assert!(!fail(4, t(0)).is_locked(t(0)));
        let locked = fail(5, t(0));
        assert!(locked.is_locked(t(0)));
        assert_eq!(locked.locked_until(t(0)), Some(t(0) + Duration::hours(24)));
    }

    #[test]
    fn attempts_during_a_lock_do_not_extend_it() {
        let locked = fail(5, t(0));
        let later = locked.after_failure(t(600), POLICY);
        assert_eq!(later, locked);
    }

    #[test]
    fn lock_lifts_at_its_end_and_the_count_restarts() {
        let locked = fail(5, t(0));
        let end = t(0) + Duration::hours(24);
        assert!(locked.is_locked(end - Duration::nanoseconds(1)));
        assert!(!locked.is_locked(end));
        let after = locked.after_failure(end, POLICY);
        assert_eq!(
            after,
            LockState {
                failed_count: 1,
                locked_until: None
            }
        );
    }

    #[test]
    fn only_the_failure_that_locks_sets_the_lock() {
        let fourth = RecordedFailure::after(fail(3, t(0)), t(1), POLICY);
        assert!(!fourth.set_lock);
        let fifth = RecordedFailure::after(fourth.state, t(2), POLICY);
        assert!(fifth.set_lock);
        assert_eq!(fifth.state.locked_until, Some(t(2) + Duration::hours(24)));
        // A failure during the lock finds it set.
        let during = RecordedFailure::after(fifth.state, t(3), POLICY);
        assert!(!during.set_lock);
        assert_eq!(during.state, fifth.state);
        // After the lock, counting starts again and the fifth failure locks anew.
        let end = t(2) + Duration::hours(24);
        let mut recorded = during;
        for _ in 0..5 {
            assert!(!recorded.set_lock);
            recorded = RecordedFailure::after(recorded.state, end, POLICY);
        }
        assert!(recorded.set_lock);
        assert_eq!(recorded.state.failed_count, 5);
    }

    #[test]
    fn success_clears() {
        assert_eq!(
            LockState::cleared(),
            LockState {
                failed_count: 0,
                locked_until: None
            }
        );
    }
}

//! Lockout rules (SPEC §4), as pure state and functions.
//!
//! A login (or a password change) takes its place in the count *before* its
//! password is verified ([`LockState::reserve`]), so however many attempts
//! are in flight at once, at most `max_failed` wrong passwords are verified
//! before the account locks. A verified wrong password then only decides
//! whether the lock is set ([`LockState::after_verified_failure`]); a
//! success clears the count, but never a lock.
//!
//! Stores apply these under the account's lock (one locked section), so the
//! rules live here once and the adapters only make them atomic.

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

    /// An attempt takes its place in the count at `now`, before its
    /// password is verified.
    ///
    /// - during a lock it is refused, and nothing changes (attempts do not
    ///   extend a lock);
    /// - after an expired lock the count starts again from zero;
    /// - when the places are all taken (`max_failed` attempts counted and
    ///   not yet judged or cleared), it is refused without a change: the
    ///   attempts in flight have used up what may be verified, and whether
    ///   the account locks is theirs to decide (a burst of right passwords
    ///   must not lock it); the answer names the lock they would set;
    /// - otherwise it is counted and may be verified.
    pub fn reserve(self, now: OffsetDateTime, policy: LockoutPolicy) -> (Self, ReservedAttempt) {
        if let Some(locked_until) = self.locked_until(now) {
            return (self, ReservedAttempt::Refused { locked_until });
        }
        let counted = if self.locked_until.is_some() {
            0
        } else {
            self.failed_count
        };
        if counted >= policy.max_failed {
            return (
                self,
                ReservedAttempt::Refused {
                    locked_until: now + policy.duration,
                },
            );
        }
        let counted = Self {
            failed_count: counted.saturating_add(1),
            locked_until: None,
        };
        let place = counted.failed_count;
        (counted, ReservedAttempt::Granted { place })
    }

    /// The state after a reserved attempt's password proved wrong at `now`:
    /// it was counted when reserved, so only the lock is decided. The
    /// attempt whose place reached `max_failed` sets it; during a lock
    /// nothing changes.
    pub fn after_verified_failure(self, now: OffsetDateTime, policy: LockoutPolicy) -> Self {
        if self.is_locked(now) {
            return self;
        }
        if self.locked_until.is_some() {
            // The lock that was in force when this attempt was counted has
            // ended since: this failure starts the new count.
            return Self {
                failed_count: 1,
                locked_until: None,
            };
        }
        if self.failed_count >= policy.max_failed {
            return Self {
                failed_count: self.failed_count,
                locked_until: Some(now + policy.duration),
            };
        }
        self
    }

    /// A reserved attempt that was not judged (its account may not log in,
    /// or verifying it failed) gives its place back. A lock stays.
    pub fn after_release(self) -> Self {
        if self.locked_until.is_some() {
            // A lock (in force or ended) was set meanwhile: its count stands.
            return self;
        }
        Self {
            failed_count: self.failed_count.saturating_sub(1),
            locked_until: None,
        }
    }

    /// One failed attempt from start to end, nothing else in flight: the
    /// place it takes, then its wrong password.
    pub fn after_failure(self, now: OffsetDateTime, policy: LockoutPolicy) -> Self {
        match self.reserve(now, policy) {
            (counted, ReservedAttempt::Granted { .. }) => {
                counted.after_verified_failure(now, policy)
            }
            (unchanged, ReservedAttempt::Refused { .. }) => unchanged,
        }
    }

    /// The state after a successful login or a password reset: clear.
    pub fn cleared() -> Self {
        Self::default()
    }
}

/// Whether an attempt got a place in the count
/// ([`LoginAttempts::reserve_login_attempt`](crate::ports::LoginAttempts::reserve_login_attempt)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservedAttempt {
    /// Counted, as the `place`-th attempt since the count was last cleared:
    /// its password may be verified. Only a wrong password in a place that
    /// reached the limit can set the lock, so only that one needs its
    /// verdict written ([`ReservedAttempt::decides_lock`]).
    Granted { place: u32 },
    /// Not counted, not to be verified: the account is locked (until
    /// `locked_until`), or the attempts in flight took every place (and
    /// `locked_until` is when the lock they would set would end).
    Refused { locked_until: OffsetDateTime },
}

impl ReservedAttempt {
    /// Whether a wrong password in this place may lock the account, and so
    /// must be recorded ([`LockState::after_verified_failure`]); below the
    /// limit its place already counted it.
    pub fn decides_lock(self, policy: LockoutPolicy) -> bool {
        match self {
            Self::Granted { place } => place >= policy.max_failed,
            Self::Refused { .. } => false,
        }
    }
}

/// The place a login takes in the count of an account with no failures and
/// no lock ([`LockState::default`]), the state of nearly every account a
/// login names: decided here, so that a store can write it in the same
/// statement that reads the account
/// ([`LoginAttempts::account_for_login`](crate::ports::LoginAttempts::account_for_login))
/// when the stored state is still that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstPlace {
    /// The state to write in place of [`LockState::default`].
    pub after: LockState,
    /// What the attempt is granted by that write.
    pub reserved: ReservedAttempt,
}

impl FirstPlace {
    /// The first place at `now` under `policy`; `None` when even an account
    /// without failures would be refused (a limit of zero).
    pub fn at(now: OffsetDateTime, policy: LockoutPolicy) -> Option<Self> {
        match LockState::default().reserve(now, policy) {
            (after, reserved @ ReservedAttempt::Granted { .. }) => Some(Self { after, reserved }),
            (_, ReservedAttempt::Refused { .. }) => None,
        }
    }
}

/// What counting one failed login did
/// ([`LoginAttempts::record_login_failure`](crate::ports::LoginAttempts::record_login_failure)).
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
    /// The verified failure that moves `before` (its place already
    /// counted) to `before.after_verified_failure(now, policy)`.
    pub fn after(before: LockState, now: OffsetDateTime, policy: LockoutPolicy) -> Self {
        Self::between(before, before.after_verified_failure(now, policy), now)
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

    /// One failure from its place to its verdict, as a store applies it.
    fn recorded(before: LockState, now: OffsetDateTime) -> RecordedFailure {
        let (counted, reserved) = before.reserve(now, POLICY);
        assert!(matches!(reserved, ReservedAttempt::Granted { .. }));
        RecordedFailure::after(counted, now, POLICY)
    }

    #[test]
    fn only_the_failure_that_locks_sets_the_lock() {
        let fourth = recorded(fail(3, t(0)), t(1));
        assert!(!fourth.set_lock);
        let fifth = recorded(fourth.state, t(2));
        assert!(fifth.set_lock);
        assert_eq!(fifth.state.locked_until, Some(t(2) + Duration::hours(24)));
        // A failure verified during the lock finds it set.
        let during = RecordedFailure::after(fifth.state, t(3), POLICY);
        assert!(!during.set_lock);
        assert_eq!(during.state, fifth.state);
        // After the lock, counting starts again and the fifth failure locks anew.
        let end = t(2) + Duration::hours(24);
        let mut state = during.state;
        for _ in 0..4 {
            let next = recorded(state, end);
            assert!(!next.set_lock);
            state = next.state;
        }
        let fifth_again = recorded(state, end);
        assert!(fifth_again.set_lock);
        assert_eq!(fifth_again.state.failed_count, 5);
    }

    #[test]
    fn attempts_in_flight_take_the_places_before_any_is_verified() {
        // Ten attempts reserve at once: five places, then the lock.
        let mut state = LockState::default();
        let mut answers = Vec::new();
        for _ in 0..10 {
            let (next, reserved) = state.reserve(t(0), POLICY);
            state = next;
            answers.push(reserved);
        }
        let lock_end = t(0) + Duration::hours(24);
        for (n, answer) in answers[..5].iter().enumerate() {
            assert_eq!(
                *answer,
                ReservedAttempt::Granted {
                    place: u32::try_from(n).unwrap() + 1
                }
            );
        }
        assert!(!answers[3].decides_lock(POLICY) && answers[4].decides_lock(POLICY));
        assert!(answers[5..].iter().all(|a| *a
            == ReservedAttempt::Refused {
                locked_until: lock_end
            }));
        assert!(!state.is_locked(t(0)), "refusals change nothing");
        // The first of the five verified wrong sets the lock, once; a right
        // password among them cannot lift it (a success checks `is_locked`
        // first).
        let first = RecordedFailure::after(state, t(1), POLICY);
        assert!(first.set_lock);
        let second = RecordedFailure::after(first.state, t(1), POLICY);
        assert!(!second.set_lock);
        assert!(second.state.is_locked(t(1)));
    }

    #[test]
    fn the_place_that_reaches_the_limit_locks_when_its_password_is_wrong() {
        let (counted, reserved) = fail(4, t(0)).reserve(t(1), POLICY);
        assert_eq!(reserved, ReservedAttempt::Granted { place: 5 });
        assert_eq!(counted.failed_count, 5);
        assert!(!counted.is_locked(t(1)), "not before its verdict");
        assert!(counted.after_verified_failure(t(1), POLICY).is_locked(t(1)));
    }

    #[test]
    fn an_attempt_not_judged_gives_its_place_back_but_never_a_lock() {
        let (counted, _) = fail(2, t(0)).reserve(t(1), POLICY);
        assert_eq!(counted.after_release(), fail(2, t(0)));
        let locked = fail(5, t(0));
        assert_eq!(locked.after_release(), locked);
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

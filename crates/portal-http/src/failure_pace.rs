//! A wrong password answers in one time, whoever it names (SPEC §4, ASVS
//! 5.0 V6.3.8).
//!
//! An unknown username costs one dummy verification, so both answers take
//! about one hash. What is left differs by the database: a known account's
//! attempt writes its place in the lockout count before its password is
//! verified (SPEC §4), and waits for any write ahead of it (a reset's token,
//! queued after its own answer); an unknown username writes nothing there.
//! That is a fraction of a millisecond against a hash of ~15 ms, but over a
//! few hundred answers it told the two apart 56 to 66 % of the time
//! (`cargo xtask timing`).
//!
//! So an `invalid_credentials` answer waits until its login has taken as
//! long as the 90th percentile of the last [`WINDOW`] such logins (its own
//! included), at most [`MAX_FLOOR`]. Nine answers in ten then leave at the
//! same time for either kind of username; the slowest tenth leaves when it
//! is done. The wait is a timer, holding no hashing slot and no database
//! connection. Only `invalid_credentials` waits: every other login answer
//! already says the account exists, or comes after a right password.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How many recent failures the floor is taken from.
pub const WINDOW: usize = 64;

/// The longest a failure is made to wait for: a flood that slows every
/// login does not turn into ever longer waits.
pub const MAX_FLOOR: Duration = Duration::from_secs(1);

/// The recent failed logins' durations, and the floor they give.
#[derive(Debug, Default)]
pub struct FailurePace {
    recent: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    durations: Vec<Duration>,
    /// Where the next duration goes once the window is full.
    next: usize,
}

impl FailurePace {
    /// Records a failed login that took `took`, and returns how long its
    /// answer must have taken before it is sent.
    pub fn floor_after(&self, took: Duration) -> Duration {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.durations.len() < WINDOW {
            recent.durations.push(took);
        } else {
            let next = recent.next;
            if let Some(slot) = recent.durations.get_mut(next) {
                *slot = took;
            }
            recent.next = (next + 1) % WINDOW;
        }
        let mut sorted = recent.durations.clone();
        drop(recent);
        sorted.sort_unstable();
        // The 90th percentile, nearest rank.
        let rank = (sorted.len() * 9).div_ceil(10).saturating_sub(1);
        sorted.get(rank).copied().unwrap_or_default().min(MAX_FLOOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_floor_is_the_90th_percentile_of_the_recent_failures() {
        let pace = FailurePace::default();
        // The first failure is its own floor: it waits for nothing.
        assert_eq!(pace.floor_after(ms(15)), ms(15));
        for n in 1..10 {
            pace.floor_after(ms(10 + n));
        }
        // 11..=19 and 15, 20: the 90th percentile of 11 values is the 10th.
        assert_eq!(pace.floor_after(ms(20)), ms(19));
        // A faster failure waits for the slower ones.
        assert_eq!(pace.floor_after(ms(1)), ms(19));
    }

    #[test]
    fn only_the_last_window_counts_and_the_floor_is_capped() {
        let pace = FailurePace::default();
        for _ in 0..WINDOW {
            pace.floor_after(ms(500));
        }
        assert_eq!(pace.floor_after(ms(16)), ms(500));
        // A window of fast failures pushes the slow ones out.
        let mut floor = ms(500);
        for _ in 0..WINDOW {
            floor = pace.floor_after(ms(16));
        }
        assert_eq!(floor, ms(16));
        // However slow the failures, the wait is bounded.
        for _ in 0..WINDOW {
            floor = pace.floor_after(Duration::from_secs(30));
        }
        assert_eq!(floor, MAX_FLOOR);
    }
}

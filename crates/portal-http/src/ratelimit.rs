//! The per-client-address rate limit on account-changing routes (SPEC §8):
//! a fixed one-minute window per address, so a burst of the limit from a
//! fresh address passes and the next request within the minute does not.
//! Per instance, in memory; counters that must hold across instances live
//! in the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use portal_domain::ports::Clock;
use portal_domain::system::SystemClock;
use time::{Duration, OffsetDateTime};

const WINDOW: Duration = Duration::minutes(1);
/// Above this many tracked addresses, finished windows are swept.
const SWEEP_ABOVE: usize = 10_000;

/// Fixed-window counters per address.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (OffsetDateTime, u32)>>,
}

impl RateLimiter {
    /// `per_minute = 0` turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when the request may pass; else the seconds until the window
    /// ends (1–60), for `Retry-After`.
    pub fn check(&self, addr: IpAddr) -> Result<(), u64> {
        self.check_at(addr, SystemClock.now())
    }

    pub fn check_at(&self, addr: IpAddr, now: OffsetDateTime) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, (start, _)| now - *start < WINDOW);
        }
        let (start, count) = windows.entry(addr).or_insert((now, 0));
        if now - *start >= WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_minute {
            let left = (*start + WINDOW - now).whole_seconds();
            return Err(u64::try_from(left).unwrap_or(1).clamp(1, 60));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_minute_is_closed() {
        let limiter = RateLimiter::new(3);
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for _ in 0..3 {
            assert_eq!(limiter.check_at(addr, t0), Ok(()));
        }
        assert_eq!(limiter.check_at(addr, t0 + Duration::seconds(15)), Err(45));
        assert_eq!(
            limiter.check_at("192.0.2.2".parse().unwrap(), t0),
            Ok(()),
            "per address"
        );
        assert_eq!(
            limiter.check_at(addr, t0 + Duration::seconds(60)),
            Ok(()),
            "a new window"
        );
    }

    #[test]
    fn zero_turns_it_off() {
        let limiter = RateLimiter::new(0);
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..1000).all(|_| limiter.check(addr).is_ok()));
    }
}

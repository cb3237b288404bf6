//! The per-client-address rate limit on account-changing routes (SPEC §8):
//! a fixed one-minute window per address, so a burst of the limit from a
//! fresh address passes and the next request within the minute does not.
//! Per instance, in memory; counters that must hold across instances live
//! in the database.
//!
//! Hostile clients (SPEC §8): an IPv6 client is keyed by its /64 (one host
//! holds a whole /64) and an IPv4-mapped address by the IPv4 address. The
//! memory and the cost of a request are bounded whatever the number of
//! addresses: windows live in two generations of at most [`CAPACITY`]
//! keys each. Every minute the current one becomes the previous one and
//! the old previous one is dropped whole: every window in it has ended, so
//! no map is ever swept entry by entry. A key met in the previous
//! generation moves to the current one. A flood of more than `CAPACITY`
//! new keys within a minute turns the generations early: memory stays
//! bounded, at the price of forgetting some windows early (a fresh budget
//! for those addresses), never of refusing an address that sent nothing.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use portal_domain::ports::Clock;
use portal_domain::system::SystemClock;
use time::{Duration, OffsetDateTime};

const WINDOW: Duration = Duration::minutes(1);
/// Keys per generation: two generations of this many take a few MB.
pub const CAPACITY: usize = 50_000;

/// The key of a client address: IPv4 as is (an IPv4-mapped IPv6 address
/// as its IPv4 address), IPv6 by its /64.
pub fn key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

#[derive(Debug)]
struct Windows {
    /// When the current generation began (unset before the first request).
    turned: Option<OffsetDateTime>,
    current: HashMap<IpAddr, (OffsetDateTime, u32)>,
    previous: HashMap<IpAddr, (OffsetDateTime, u32)>,
}

impl Windows {
    fn turn(&mut self, now: OffsetDateTime) {
        self.previous = std::mem::take(&mut self.current);
        self.turned = Some(now);
    }

    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// Fixed-window counters per address key.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    capacity: usize,
    windows: Mutex<Windows>,
}

impl RateLimiter {
    /// `per_minute = 0` turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self::with_capacity(per_minute, CAPACITY)
    }

    /// A limiter holding at most `capacity` keys per generation.
    pub fn with_capacity(per_minute: u32, capacity: usize) -> Self {
        Self {
            per_minute,
            capacity: capacity.max(1),
            windows: Mutex::new(Windows {
                turned: None,
                current: HashMap::new(),
                previous: HashMap::new(),
            }),
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
        let key = key(addr);
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // An entry is only in `current` while its window was live when it
        // got there, so two turns later its window has ended.
        let turned = *windows.turned.get_or_insert(now);
        if now - turned >= WINDOW
            || (windows.current.len() >= self.capacity && !windows.current.contains_key(&key))
        {
            windows.turn(now);
        }
        let carried = windows.previous.remove(&key);
        let (start, count) = windows
            .current
            .entry(key)
            .or_insert(carried.unwrap_or((now, 0)));
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

    /// How many keys are held: at most twice the capacity.
    pub fn tracked(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
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

    #[test]
    fn ipv6_clients_share_the_budget_of_their_64() {
        let limiter = RateLimiter::new(3);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for i in 0..3 {
            let rotated: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            assert_eq!(limiter.check_at(rotated, t0), Ok(()));
        }
        let another_host: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        assert!(limiter.check_at(another_host, t0).is_err(), "same /64");
        let next_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limiter.check_at(next_64, t0), Ok(()), "another /64");
    }

    #[test]
    fn an_ipv4_mapped_peer_is_its_ipv4_address() {
        let limiter = RateLimiter::new(2);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let v4: IpAddr = "198.51.100.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:198.51.100.7".parse().unwrap();
        assert_eq!(key(mapped), v4);
        assert_eq!(limiter.check_at(v4, t0), Ok(()));
        assert_eq!(limiter.check_at(mapped, t0), Ok(()));
        assert!(limiter.check_at(mapped, t0).is_err());
        assert!(limiter.check_at(v4, t0).is_err());
    }

    #[test]
    fn a_flood_of_addresses_keeps_memory_bounded_and_windows_whole() {
        let capacity = 1_000;
        let limiter = RateLimiter::with_capacity(2, capacity);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(limiter.check_at(client, t0), Ok(()));
        assert_eq!(limiter.check_at(client, t0), Ok(()));
        // 100 times the capacity of distinct /64s, within one minute.
        for i in 0..100 * capacity as u128 {
            let addr = IpAddr::V6(Ipv6Addr::from_bits((0x2001_0db8_u128 << 96) | (i << 64)));
            let _ = limiter.check_at(addr, t0 + Duration::seconds(1));
            assert!(limiter.tracked() <= 2 * capacity);
        }
        // Over minutes with a normal load, generations turn on time: a
        // live window survives a turn, an ended one is gone two turns later.
        let limiter = RateLimiter::with_capacity(2, capacity);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let at = |seconds: i64| t0 + Duration::seconds(seconds);
        assert_eq!(limiter.check_at(client, at(50)), Ok(()));
        assert_eq!(limiter.check_at(client, at(50)), Ok(()));
        let other: IpAddr = "203.0.113.1".parse().unwrap();
        assert_eq!(limiter.check_at(other, at(61)), Ok(()), "turns");
        assert_eq!(limiter.check_at(client, at(100)), Err(10), "still closed");
        for minute in 2..10 {
            let addr: IpAddr = format!("203.0.113.{minute}").parse().unwrap();
            let _ = limiter.check_at(addr, at(60 * minute + 1));
        }
        assert!(limiter.tracked() <= 2, "{}", limiter.tracked());
    }
}

//! `cargo xtask attack [SCENARIO...]`: the hostile-client attacks of
//! `docs/SECURITY.md` ("Hostile clients") replayed against the release
//! service, each asserting its defence.
//!
//! Every scenario starts the release `portal-http serve` on a fresh SQLite
//! file ([`Service`]) with the product's default settings, except the ones
//! it names in its output with the reason (`Service` itself only adds the
//! file mailer, JSON logs and a free loopback port; it turns the rate limit
//! off, and the scenarios that keep it put its default, 30, back):
//!
//! - `racing`: with one hashing thread, ten wrong passwords at once and the
//!   right one 20 ms later: the right one answers `423`, at most four `401`,
//!   the account stays locked and `audit list` shows one lockout.
//! - `flood`: 256 clients that ignore `Retry-After` send wrong passwords for
//!   10 s while one client logs in with the right password in a loop and
//!   another reads `/api/v1/me`: the logins judged per second stay at least
//!   60 % of what 16 clients get judged with no flood, and the right-password
//!   client gets more logins than refusals.
//! - `half-open`: 800 connections each send half a request head and wait:
//!   all are closed within 15 s, and a normal request is served meanwhile.
//! - `junk`: 3,000 requests with made-up 2,000-letter methods and random
//!   200-letter paths answer `405`/`404`, and `/metrics` and the process's
//!   RSS barely grow.
//! - `long-usernames`: logins, resets and resends naming 5,000-character
//!   strings answer `401`/`202`, and no audit event names more than 64
//!   characters.
//! - `ipv6-rotation`: addresses rotating within one /64 behind a trusted
//!   proxy share one rate-limit budget; another /64 has its own.
//!
//! Each check prints PASS or FAIL with a short reason; the command exits
//! non-zero when one fails. Traffic stays on loopback and every wait is
//! bounded. `docs/abuse-testing.md` keeps the latest results.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::service::{PROVIDERS, Service};

const PASSWORD: &str = "Quartz-Harbor-71-Lantern";
const WRONG_PASSWORD: &str = "Wrong-Harbor-71-Lantern";
/// `PORTAL_RATE_LIMIT_PER_MINUTE`'s default (SPEC §9).
const DEFAULT_RATE_LIMIT: &str = "30";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Racing,
    Flood,
    HalfOpen,
    Junk,
    LongUsernames,
    Ipv6Rotation,
}

const ALL: [Scenario; 6] = [
    Scenario::Racing,
    Scenario::Flood,
    Scenario::HalfOpen,
    Scenario::Junk,
    Scenario::LongUsernames,
    Scenario::Ipv6Rotation,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Racing => "racing",
            Self::Flood => "flood",
            Self::HalfOpen => "half-open",
            Self::Junk => "junk",
            Self::LongUsernames => "long-usernames",
            Self::Ipv6Rotation => "ipv6-rotation",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Racing => "the right password racing ten wrong ones",
            Self::Flood => "a login flood that ignores Retry-After",
            Self::HalfOpen => "800 connections each holding half a request head",
            Self::Junk => "3,000 junk methods and paths",
            Self::LongUsernames => "5,000-character usernames at login, reset and resend",
            Self::Ipv6Rotation => "IPv6 addresses rotating within one /64",
        }
    }

    async fn run(self, out: &mut Outcome) -> Result<(), String> {
        match self {
            Self::Racing => racing(out).await,
            Self::Flood => flood(out).await,
            Self::HalfOpen => half_open(out).await,
            Self::Junk => junk(out).await,
            Self::LongUsernames => long_usernames(out).await,
            Self::Ipv6Rotation => ipv6_rotation(out).await,
        }
    }
}

/// Runs the scenarios named in `args` (all when none), in order.
pub fn run(args: &[&str]) -> ExitCode {
    let scenarios = match crate::pick_scenarios("attack", args, &ALL, Scenario::name) {
        Ok(scenarios) => scenarios,
        Err(code) => return code,
    };
    if let Err(message) = crate::service::build_release() {
        eprintln!("xtask attack: {message}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("xtask attack: no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut results = Vec::new();
    for scenario in scenarios {
        eprintln!("\n==> attack {}: {}", scenario.name(), scenario.title());
        let started = now();
        let mut outcome = Outcome::default();
        let result = runtime.block_on(scenario.run(&mut outcome));
        if let Err(message) = result {
            outcome.check(false, format!("the scenario stopped: {message}"));
        }
        let seconds = started.elapsed().as_secs_f64();
        let verdict = if outcome.failed { "FAIL" } else { "PASS" };
        eprintln!("{verdict} {} ({seconds:.1} s)", scenario.name());
        results.push((scenario.name(), verdict, seconds));
    }
    eprintln!("\nxtask attack:");
    for (name, verdict, seconds) in &results {
        eprintln!("  {verdict} {name:<15} {seconds:>6.1} s");
    }
    if results.iter().all(|(_, verdict, _)| *verdict == "PASS") {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What a scenario printed, and whether a check failed.
#[derive(Debug, Default)]
struct Outcome {
    failed: bool,
}

impl Outcome {
    /// A setting that differs from the product's default, and why.
    fn setting(&self, text: &str) {
        eprintln!("    setting: {text}");
    }

    fn figure(&self, text: impl AsRef<str>) {
        eprintln!("    {}", text.as_ref());
    }

    /// A check: `PASS` or `FAIL` with its reason.
    fn check(&mut self, ok: bool, text: impl AsRef<str>) {
        let mark = if ok { "PASS" } else { "FAIL" };
        eprintln!("    {mark}  {}", text.as_ref());
        self.failed |= !ok;
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "xtask measures wall-clock figures; no domain logic reads the clock here"
)]
fn now() -> Instant {
    Instant::now()
}

/// A client for the attacks: no proxy, bounded waits.
fn client(pool: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(pool)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(35))
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))
}

/// A POST of `body` as JSON: the status (`None` when no answer came).
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Option<u16> {
    let mut request = client.post(url).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.ok()?;
    let status = answer.status().as_u16();
    let _ = answer.bytes().await;
    Some(status)
}

fn login_body(username: &str, password: &str) -> Value {
    json!({"username": username, "password": password})
}

/// How many answers had each status (`0` for no answer).
fn tally(statuses: &[Option<u16>]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(status.unwrap_or(0)).or_insert(0) += 1;
    }
    counts
}

/// A status for the output: the number, or "no answer".
fn code(status: Option<u16>) -> String {
    status.map_or_else(|| "no answer".to_owned(), |s| s.to_string())
}

fn show(counts: &BTreeMap<u16, usize>) -> String {
    counts
        .iter()
        .map(|(status, n)| {
            if *status == 0 {
                format!("no answer × {n}")
            } else {
                format!("{status} × {n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The audit trail of the service's database, one JSON object an event.
fn audit(service: &Service, args: &[&str]) -> Result<Vec<Value>, String> {
    let mut command = vec!["audit", "list"];
    command.extend_from_slice(args);
    service
        .cli(&command)?
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).map_err(|e| format!("audit list: {e}: {line}")))
        .collect()
}

mod flooding;
mod ipv6;
mod junk_input;
mod long_names;
mod race;
mod slow_heads;

use flooding::*;
use ipv6::*;
use junk_input::*;
use long_names::*;
use race::*;
use slow_heads::*;

#[cfg(test)]
mod tests {
    use super::{Junk, longest_alphanumeric_run, percentile};

    #[test]
    fn alphanumeric_runs() {
        assert_eq!(longest_alphanumeric_run(""), 0);
        assert_eq!(
            longest_alphanumeric_run(r#"http_requests_total{method="other"} 12"#),
            8
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.50), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn junk_is_deterministic_and_uses_the_alphabet() {
        let (mut a, mut b) = (Junk(7), Junk(7));
        let word = a.letters(b"AB", 50);
        assert_eq!(word, b.letters(b"AB", 50));
        assert_eq!(word.len(), 50);
        assert!(word.chars().all(|c| c == 'A' || c == 'B'));
    }
}

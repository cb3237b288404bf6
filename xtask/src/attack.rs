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
//!   another reads `/api/v1/me`: figures only (judged logins/s, `503`s/s,
//!   `/me` p50/p99), no threshold yet.
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
            Self::Flood => "a login flood that ignores Retry-After (figures only)",
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

// 1. The right password racing wrong ones (SPEC §4: "it cannot be raced").
async fn racing(out: &mut Outcome) -> Result<(), String> {
    out.setting(
        "PORTAL_HASH_WORKERS=1 (default: the number of cores), so that the ten \
         wrong passwords wait in one hashing queue and the right one is verified \
         after the lock is set",
    );
    let service = Service::start(
        "attack-racing",
        &[
            ("PORTAL_HASH_WORKERS", "1"),
            ("PORTAL_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT),
        ],
    )?;
    let username = "race.victim";
    service.register_account(PROVIDERS[0], username, PASSWORD)?;
    let client = client(16)?;
    let url = format!("{}/api/v1/sessions", service.base_url());
    let wrong_body = login_body(username, WRONG_PASSWORD);
    let right_body = login_body(username, PASSWORD);
    let wrong = futures_join_all((0..10).map(|_| post(&client, &url, &wrong_body, &[])));
    let right = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        post(&client, &url, &right_body, &[]).await
    };
    let (wrong, right) = tokio::join!(wrong, right);
    let counts = tally(&wrong);
    out.figure(format!("ten wrong passwords: {}", show(&counts)));
    out.check(
        right == Some(423),
        format!(
            "the right password 20 ms later answers {} (want 423)",
            code(right)
        ),
    );
    let unauthorized = counts.get(&401).copied().unwrap_or(0);
    out.check(
        unauthorized <= 4,
        format!("{unauthorized} wrong passwords answered 401 (at most 4)"),
    );
    out.check(
        wrong.iter().all(|s| matches!(s, Some(401 | 423))),
        "every wrong password answered 401 or 423",
    );
    let again = post(&client, &url, &right_body, &[]).await;
    out.check(
        again == Some(423),
        format!(
            "the right password again answers {} (want 423: still locked)",
            code(again)
        ),
    );
    let events = audit(&service, &["--username", username])?;
    let locks = events
        .iter()
        .filter(|e| e["event"] == "account_locked")
        .count();
    out.check(
        locks == 1,
        format!(
            "`audit list --username {username}` shows {locks} account_locked event(s) (want 1)"
        ),
    );
    Ok(())
}

/// All of `futures`, polled together on this task (they may borrow), in
/// order: `join_all` without the futures crate.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future,
{
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, result) in pinned.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *result = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(10);
const FLOODERS: usize = 256;

// 2. A login flood that ignores Retry-After: figures only.
async fn flood(out: &mut Outcome) -> Result<(), String> {
    out.setting(
        "PORTAL_RATE_LIMIT_PER_MINUTE=0 (default 30): every client here is \
         127.0.0.1, standing for a flood from many addresses; with the limit on, \
         the flood would get 429s and measure the limiter rather than hashing",
    );
    let service = Service::start("attack-flood", &[])?;
    let target = "flood.target";
    let user = "flood.user";
    service.register_account(PROVIDERS[0], target, PASSWORD)?;
    service.register_account(PROVIDERS[1], user, PASSWORD)?;
    let base = service.base_url();
    // The legitimate user's session for /me.
    let session_answer = client(1)?
        .post(format!("{base}/api/v1/sessions"))
        .json(&login_body(user, PASSWORD))
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let session: Value = session_answer
        .json()
        .await
        .map_err(|e| format!("login answer: {e}"))?;
    let token = session["token"]
        .as_str()
        .ok_or_else(|| format!("no session token in {session}"))?
        .to_owned();
    // A baseline without the flood, then the two floods.
    for (phase, flooders, unknown, lasts) in [
        ("no flood (baseline)", 0, false, Duration::from_secs(3)),
        (
            "wrong passwords for one valid user (locked after five)",
            FLOODERS,
            false,
            FLOOD,
        ),
        (
            "wrong passwords for unknown users (each verified)",
            FLOODERS,
            true,
            FLOOD,
        ),
    ] {
        out.figure(format!("-- {phase}: {flooders} clients, {lasts:?}"));
        let stop = Arc::new(AtomicBool::new(false));
        let flood_client = client(FLOODERS)?;
        let mut tasks = Vec::with_capacity(flooders);
        for k in 0..flooders {
            let client = flood_client.clone();
            let stop = stop.clone();
            let url = format!("{base}/api/v1/sessions");
            tasks.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let username = if unknown {
                        format!("ghost.{k}.{i}")
                    } else {
                        target.to_owned()
                    };
                    i += 1;
                    let body = login_body(&username, WRONG_PASSWORD);
                    statuses.push(post(&client, &url, &body, &[]).await);
                }
                statuses
            }));
        }
        // The legitimate clients run on threads of their own, so that their
        // times are the service's and not a wait behind the flooders' tasks.
        let logins = {
            let stop = stop.clone();
            let url = format!("{base}/api/v1/sessions");
            on_own_thread(move || async move {
                let client = client(1)?;
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    statuses.push(post(&client, &url, &login_body(user, PASSWORD), &[]).await);
                }
                Ok(statuses)
            })
        };
        let me = {
            let stop = stop.clone();
            let url = format!("{base}/api/v1/me");
            let token = token.clone();
            on_own_thread(move || async move {
                let client = client(1)?;
                let mut times = Vec::new();
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = now();
                    let answer = client.get(&url).bearer_auth(&token).send().await;
                    let status = match answer {
                        Ok(answer) => {
                            let status = answer.status().as_u16();
                            let _ = answer.bytes().await;
                            Some(status)
                        }
                        Err(_) => None,
                    };
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                    statuses.push(status);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok((times, statuses))
            })
        };
        let started = now();
        tokio::time::sleep(lasts).await;
        stop.store(true, Ordering::Relaxed);
        let mut flood_statuses = Vec::new();
        for task in tasks {
            flood_statuses.extend(task.await.map_err(|e| format!("a flooder: {e}"))?);
        }
        let login_statuses = join_thread(logins).await?;
        let (mut me_times, me_statuses) = join_thread(me).await?;
        let seconds = started.elapsed().as_secs_f64();
        let flood_counts = tally(&flood_statuses);
        let login_counts = tally(&login_statuses);
        let count = |counts: &BTreeMap<u16, usize>, statuses: &[u16]| -> usize {
            statuses
                .iter()
                .map(|s| counts.get(s).copied().unwrap_or(0))
                .sum()
        };
        let judged =
            count(&flood_counts, &[201, 401, 423]) + count(&login_counts, &[201, 401, 423]);
        let overloaded = count(&flood_counts, &[503]) + count(&login_counts, &[503]);
        me_times.sort_by(f64::total_cmp);
        if flooders > 0 {
            out.figure(format!("flood answers: {}", show(&flood_counts)));
        }
        out.figure(format!(
            "the right password in a loop (another account): {}",
            show(&login_counts)
        ));
        out.figure(format!(
            "logins judged (201/401/423): {:.1}/s; 503s: {:.1}/s (over {seconds:.1} s)",
            judged as f64 / seconds,
            overloaded as f64 / seconds,
        ));
        out.figure(format!(
            "GET /api/v1/me every 10 ms: {} requests ({}), p50 {:.1} ms, p99 {:.1} ms",
            me_times.len(),
            show(&tally(&me_statuses)),
            percentile(&me_times, 0.50),
            percentile(&me_times, 0.99),
        ));
        // Let the queue drain before the next phase.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

/// Runs `job` on a thread of its own with a runtime of its own.
fn on_own_thread<T, F, Fut>(job: F) -> std::thread::JoinHandle<Result<T, String>>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("no tokio runtime: {e}"))?
            .block_on(job())
    })
}

/// Waits for a thread of [`on_own_thread`] without blocking the runtime.
async fn join_thread<T: Send + 'static>(
    handle: std::thread::JoinHandle<Result<T, String>>,
) -> Result<T, String> {
    tokio::task::spawn_blocking(move || handle.join())
        .await
        .map_err(|e| format!("joining a client thread: {e}"))?
        .map_err(|_| "a client thread panicked".to_owned())?
}

/// The `p` quantile (0–1) of sorted `values`, nearest rank.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

const HALF_OPEN: usize = 800;
/// The header timeout is 10 s; allow for 800 closes on a busy machine.
const HALF_OPEN_WITHIN: Duration = Duration::from_secs(15);

// 3. Connections that each send half a request head and wait.
async fn half_open(out: &mut Outcome) -> Result<(), String> {
    let service = Service::start(
        "attack-half-open",
        &[("PORTAL_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT)],
    )?;
    let addr = service.addr;
    let started = now();
    let mut holders = Vec::with_capacity(HALF_OPEN);
    for _ in 0..HALF_OPEN {
        holders.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            stream
                .write_all(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n")
                .await
                .map_err(|e| e.to_string())?;
            // Read until the server closes (EOF or reset), within the bound.
            let mut buf = [0u8; 1024];
            let closed = tokio::time::timeout(HALF_OPEN_WITHIN, async {
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await;
            match closed {
                Ok(()) => Ok(started.elapsed()),
                Err(_) => Err("still open".to_owned()),
            }
        }));
    }
    // A normal request while they are held.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let normal_started = now();
    let normal = client(1)?
        .get(format!("{}/api/v1/security-questions", service.base_url()))
        .send()
        .await
        .map(|answer| answer.status().as_u16());
    let normal_ms = normal_started.elapsed().as_secs_f64() * 1000.0;
    let mut closes = Vec::new();
    let mut problems: BTreeMap<String, usize> = BTreeMap::new();
    for holder in holders {
        match holder.await {
            Ok(Ok(at)) => closes.push(at.as_secs_f64()),
            Ok(Err(why)) => *problems.entry(why).or_insert(0) += 1,
            Err(e) => *problems.entry(e.to_string()).or_insert(0) += 1,
        }
    }
    closes.sort_by(f64::total_cmp);
    out.check(
        matches!(normal, Ok(200)),
        format!(
            "GET /api/v1/security-questions while they are held: {} in {normal_ms:.0} ms",
            code(normal.as_ref().ok().copied())
        ),
    );
    if let (Some(first), Some(last)) = (closes.first(), closes.last()) {
        out.figure(format!(
            "closed by the server: {} of {HALF_OPEN}, between {first:.1} s and {last:.1} s after the first connect",
            closes.len()
        ));
    }
    out.check(
        closes.len() == HALF_OPEN,
        format!(
            "{} of {HALF_OPEN} closed within {HALF_OPEN_WITHIN:?}{}",
            closes.len(),
            if problems.is_empty() {
                String::new()
            } else {
                format!(" (others: {problems:?})")
            }
        ),
    );
    let after = client(1)?
        .get(format!("{}/healthz", service.base_url()))
        .send()
        .await
        .map(|answer| answer.status().as_u16());
    out.check(
        matches!(after, Ok(200)),
        format!("/healthz afterwards: {}", code(after.ok())),
    );
    Ok(())
}

/// A small deterministic generator (xorshift64*), for junk that is the
/// same from run to run.
struct Junk(u64);

impl Junk {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `len` letters from `alphabet`.
    fn letters(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| {
                let index = usize::try_from(self.next() % alphabet.len() as u64).unwrap_or(0);
                char::from(alphabet[index])
            })
            .collect()
    }
}

const JUNK_REQUESTS: usize = 3_000;
const JUNK_TASKS: usize = 8;

/// The length of the longest run of ASCII letters and digits in `text`:
/// a made-up method or a random path kept as a label would be 200 or more.
fn longest_alphanumeric_run(text: &str) -> usize {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

// 4. Junk methods and paths.
async fn junk(out: &mut Outcome) -> Result<(), String> {
    let service = Service::start(
        "attack-junk",
        &[("PORTAL_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT)],
    )?;
    let base = service.base_url();
    let client = client(JUNK_TASKS)?;
    let metrics = |client: reqwest::Client| {
        let url = format!("{base}/metrics");
        async move {
            let answer = client
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("/metrics: {e}"))?;
            answer.text().await.map_err(|e| format!("/metrics: {e}"))
        }
    };
    let metrics_before = metrics(client.clone()).await?;
    let rss_before = rss_kib(service.pid())?;
    let started = now();
    let mut tasks = Vec::new();
    for task in 0..JUNK_TASKS {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut junk = Junk(0x9E37_79B9_7F4A_7C15 ^ (task as u64 + 1));
            let mut answers = Vec::new();
            for i in (task..JUNK_REQUESTS).step_by(JUNK_TASKS) {
                let path = format!(
                    "/{}",
                    junk.letters(b"abcdefghijklmnopqrstuvwxyz0123456789", 200)
                );
                // Two in three a made-up method (on a random path, or on a
                // real route); one in three GET of a random path.
                let (method, path, want) = match i % 3 {
                    0 => (
                        junk.letters(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2_000),
                        path,
                        405,
                    ),
                    1 => (
                        junk.letters(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2_000),
                        "/api/v1/sessions".to_owned(),
                        405,
                    ),
                    _ => ("GET".to_owned(), path, 404),
                };
                let status = match reqwest::Method::from_bytes(method.as_bytes()) {
                    Ok(method) => {
                        match client.request(method, format!("{base}{path}")).send().await {
                            Ok(answer) => {
                                let status = answer.status().as_u16();
                                let _ = answer.bytes().await;
                                Some(status)
                            }
                            Err(_) => None,
                        }
                    }
                    Err(_) => None,
                };
                answers.push((want, status));
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.map_err(|e| format!("a junk task: {e}"))?);
    }
    let took = started.elapsed().as_secs_f64();
    let metrics_after = metrics(client.clone()).await?;
    let rss_after = rss_kib(service.pid())?;
    let statuses: Vec<_> = answers.iter().map(|(_, status)| *status).collect();
    out.figure(format!(
        "{} requests in {took:.1} s: {}",
        answers.len(),
        show(&tally(&statuses))
    ));
    let wrong = answers
        .iter()
        .filter(|(want, status)| *status != Some(*want))
        .count();
    let server_errors = statuses.iter().filter(|s| matches!(s, Some(500..))).count();
    out.check(
        wrong == 0 && server_errors == 0 && answers.len() == JUNK_REQUESTS,
        format!(
            "made-up methods answer 405 and unknown paths 404: {wrong} otherwise, {server_errors} 5xx"
        ),
    );
    let growth = metrics_after.len().saturating_sub(metrics_before.len());
    out.check(
        growth < 8 * 1024,
        format!(
            "/metrics {} → {} bytes (+{growth}, under 8 KiB)",
            metrics_before.len(),
            metrics_after.len()
        ),
    );
    let run = longest_alphanumeric_run(&metrics_after);
    out.check(
        run < 40,
        format!(
            "no method or path became a metric label (longest run of letters \
             and digits in /metrics: {run})"
        ),
    );
    let rss_growth = rss_after.saturating_sub(rss_before);
    out.check(
        rss_growth < 5 * 1024,
        format!("VmRSS {rss_before} → {rss_after} KiB (+{rss_growth}, under 5 MiB)"),
    );
    Ok(())
}

const LONG: usize = 5_000;
const LONG_EACH: usize = 200;

// 5. Usernames of 5,000 characters at login, reset and resend.
async fn long_usernames(out: &mut Outcome) -> Result<(), String> {
    out.setting(
        "PORTAL_RATE_LIMIT_PER_MINUTE=0 (default 30): 600 requests from one \
         address would otherwise mostly answer 429 and never reach the audit trail",
    );
    let service = Service::start("attack-long-usernames", &[])?;
    let base = service.base_url();
    let client = client(8)?;
    let mut tasks = Vec::new();
    for (route, want) in [
        ("/api/v1/sessions", 401),
        ("/api/v1/password-resets", 202),
        ("/api/v1/activations/resend", 202),
    ] {
        for worker in 0..4 {
            let client = client.clone();
            let url = format!("{base}{route}");
            tasks.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in (worker..LONG_EACH).step_by(4) {
                    // A different string each time, so that each would be
                    // a new name in the trail if it were kept whole.
                    let username = format!("{i:05}{}", "n".repeat(LONG - 5));
                    let body = if route == "/api/v1/sessions" {
                        login_body(&username, WRONG_PASSWORD)
                    } else {
                        json!({"username": username})
                    };
                    answers.push((route, want, post(&client, &url, &body, &[]).await));
                }
                answers
            }));
        }
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.map_err(|e| format!("a request task: {e}"))?);
    }
    for route in [
        "/api/v1/sessions",
        "/api/v1/password-resets",
        "/api/v1/activations/resend",
    ] {
        let statuses: Vec<_> = answers
            .iter()
            .filter(|(r, _, _)| *r == route)
            .map(|(_, _, status)| *status)
            .collect();
        out.figure(format!("POST {route}: {}", show(&tally(&statuses))));
    }
    let wrong = answers
        .iter()
        .filter(|(_, want, status)| *status != Some(*want))
        .count();
    out.check(
        wrong == 0 && answers.len() == 3 * LONG_EACH,
        format!(
            "{} requests: logins 401, resets and resends 202 ({wrong} otherwise)",
            answers.len()
        ),
    );
    // Reset and resend record their event after the answer: wait for them.
    let mut events = Vec::new();
    let mut named = 0;
    for _ in 0..50 {
        events = audit(&service, &[])?;
        named = events
            .iter()
            .filter(|e| {
                e["username"]
                    .as_str()
                    .is_some_and(|u| u.chars().count() == 64)
            })
            .count();
        if named >= 3 * LONG_EACH {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let longest = events
        .iter()
        .filter_map(|e| e["username"].as_str())
        .map(|u| u.chars().count())
        .max()
        .unwrap_or(0);
    out.figure(format!(
        "audit list: {} events, {named} naming a 64-character prefix",
        events.len()
    ));
    out.check(
        longest <= 64,
        format!("the longest username in the audit trail has {longest} characters (at most 64)"),
    );
    out.check(
        named >= 3 * LONG_EACH,
        format!(
            "{named} of {} attempts are in the trail, cut to 64 characters",
            3 * LONG_EACH
        ),
    );
    Ok(())
}

// 6. IPv6 addresses rotating within one /64 behind a trusted proxy.
async fn ipv6_rotation(out: &mut Outcome) -> Result<(), String> {
    out.setting(
        "PORTAL_TRUSTED_PROXIES=127.0.0.1 (default unset), so that the \
         X-Forwarded-For address this client sends is the client address; \
         PORTAL_RATE_LIMIT_PER_MINUTE at its default, 30",
    );
    let service = Service::start(
        "attack-ipv6",
        &[
            ("PORTAL_TRUSTED_PROXIES", "127.0.0.1"),
            ("PORTAL_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT),
        ],
    )?;
    let client = client(1)?;
    // A rate-limited route (SPEC §8) whose answer costs nothing: an
    // activation with an unknown token is `400 invalid_token`.
    let url = format!("{}/api/v1/activations", service.base_url());
    let body = json!({"token": "x".repeat(43)});
    let mut statuses = Vec::new();
    for n in 1..=31u32 {
        let from = format!("2001:db8:1:2::{n:x}");
        statuses.push(post(&client, &url, &body, &[("x-forwarded-for", &from)]).await);
    }
    out.figure(format!(
        "POST /api/v1/activations from 2001:db8:1:2::1 … ::1f: {}",
        show(&tally(&statuses))
    ));
    out.check(
        statuses[..30].iter().all(|s| *s == Some(400)),
        "the first 30 addresses of the /64 are served (400 invalid_token)",
    );
    out.check(
        statuses[30] == Some(429),
        format!(
            "the 31st address of the /64 answers {} (want 429)",
            code(statuses[30])
        ),
    );
    let far = post(
        &client,
        &url,
        &body,
        &[("x-forwarded-for", "2001:db8:1:2:ffff:ffff:ffff:fffe")],
    )
    .await;
    out.check(
        far == Some(429),
        format!(
            "the far end of the same /64 answers {} (want 429)",
            code(far)
        ),
    );
    let other = post(
        &client,
        &url,
        &body,
        &[("x-forwarded-for", "2001:db8:1:3::1")],
    )
    .await;
    out.check(
        other == Some(400),
        format!(
            "another /64 (2001:db8:1:3::1) answers {} (want 400: not limited)",
            code(other)
        ),
    );
    Ok(())
}

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

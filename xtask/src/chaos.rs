//! `cargo xtask chaos [SCENARIO...]`: fault tests of the release service.
//!
//! Each scenario starts the release `portal-http` as a child process on a
//! database of its own, drives it over HTTP, breaks something, and checks
//! what the SPEC promises; it prints PASS or FAIL with its figures, and the
//! command exits non-zero when one fails. `docs/chaos.md` describes them and
//! keeps the latest results.
//!
//! - `smtp`: registrations while nothing listens on the SMTP port all
//!   succeed; once an SMTP server listens there, every activation email
//!   arrives exactly once.
//! - `pg-restart`: PostgreSQL (a throw-away cluster, never the shared
//!   server) is stopped and started again under a load of registrations,
//!   logins and `/me`: `/readyz` shows the outage, the service recovers
//!   without a restart, no committed registration is lost, no burst of 5xx
//!   follows the database's return, and no request ever gets a 500.
//! - `kill`: `kill -9` of the service in the middle of registrations: no
//!   half-created account, every answered registration's email is queued or
//!   sent, and after a restart every one arrives.
//! - `two-instances`: two services on one database: parallel wrong logins
//!   spread over both count exactly and lock once, and emails delivered by
//!   both outbox workers arrive exactly once.
//!
//! Scenarios other than `pg-restart` create (and drop) a database of their
//! own on the server `DATABASE_URL` names (default
//! `postgres://postgres@127.0.0.1:5432/test`); emails go to the in-process
//! SMTP sink of `portal_adapters_smtp::testing`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use portal_adapters_smtp::testing::SmtpSink;
use serde_json::{Value, json};

use super::{DEFAULT_DATABASE_URL, workspace_root};

/// The password of every account the scenarios create.
const PASSWORD: &str = "Quartz-Harbor-71-Lantern";
const WRONG_PASSWORD: &str = "Wrong-Harbor-71-Lantern";
/// The subject of the activation email (SPEC §3).
const ACTIVATION_SUBJECT: &str = "Activate Your Provider Portal Account";
/// The release binary, relative to the workspace root.
const BINARY: &str = "target/release/portal-http";

#[derive(Debug, Clone, Copy)]
enum Scenario {
    Smtp,
    PgRestart,
    Kill,
    TwoInstances,
}

const ALL: [Scenario; 4] = [
    Scenario::Smtp,
    Scenario::PgRestart,
    Scenario::Kill,
    Scenario::TwoInstances,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::PgRestart => "pg-restart",
            Self::Kill => "kill",
            Self::TwoInstances => "two-instances",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Smtp => "SMTP down during registrations",
            Self::PgRestart => "PostgreSQL restarted during a load run",
            Self::Kill => "kill -9 of the service mid-load",
            Self::TwoInstances => "two service instances on one PostgreSQL",
        }
    }

    async fn run(self, ctx: &Ctx) -> Result<Outcome, String> {
        match self {
            Self::Smtp => smtp_down(ctx).await,
            Self::PgRestart => pg_restart(ctx).await,
            Self::Kill => kill_mid_load(ctx).await,
            Self::TwoInstances => two_instances(ctx).await,
        }
    }
}

/// Runs the scenarios named in `args` (all when none), in order.
pub fn run(args: &[&str]) -> ExitCode {
    let mut scenarios = Vec::new();
    for arg in args {
        match ALL.iter().find(|s| s.name() == *arg) {
            Some(scenario) => scenarios.push(*scenario),
            None => {
                let names: Vec<_> = ALL.iter().map(|s| s.name()).collect();
                eprintln!(
                    "xtask chaos: unknown scenario {arg:?}; choose among {}",
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        }
    }
    if scenarios.is_empty() {
        scenarios = ALL.to_vec();
    }
    match prepare() {
        Ok(ctx) => run_scenarios(&ctx, &scenarios),
        Err(message) => {
            eprintln!("xtask chaos: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What every scenario needs: the binary, a work folder, the shared server.
#[derive(Debug)]
struct Ctx {
    binary: PathBuf,
    work: PathBuf,
    /// A database URL on the shared server; scenarios make their own
    /// databases next to it.
    server_url: String,
}

fn prepare() -> Result<Ctx, String> {
    let root = workspace_root();
    crate::service::build_release()?;
    let work = std::env::temp_dir().join(format!("portal-chaos-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let server_url = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => DEFAULT_DATABASE_URL.to_owned(),
    };
    Ok(Ctx {
        binary: root.join(BINARY),
        work,
        server_url,
    })
}

fn run_scenarios(ctx: &Ctx, scenarios: &[Scenario]) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("xtask chaos: no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut results = Vec::new();
    for scenario in scenarios {
        eprintln!("\n==> chaos {}: {}", scenario.name(), scenario.title());
        let started = now();
        let result = runtime.block_on(scenario.run(ctx));
        let seconds = started.elapsed().as_secs_f64();
        let passed = match result {
            Ok(outcome) => {
                for figure in &outcome.figures {
                    eprintln!("    {figure}");
                }
                for failure in &outcome.failures {
                    eprintln!("    FAILED: {failure}");
                }
                outcome.failures.is_empty()
            }
            Err(message) => {
                eprintln!("    FAILED: {message}");
                false
            }
        };
        let verdict = if passed { "PASS" } else { "FAIL" };
        eprintln!("{verdict} {} ({seconds:.1} s)", scenario.name());
        results.push((scenario.name(), verdict, seconds));
    }
    eprintln!("\nxtask chaos:");
    for (name, verdict, seconds) in &results {
        eprintln!("  {verdict} {name:<14} {seconds:>6.1} s");
    }
    if results.iter().all(|(_, verdict, _)| *verdict == "PASS") {
        let _ = fs::remove_dir_all(&ctx.work);
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "xtask chaos: the services' logs are kept in {}",
            ctx.work.display()
        );
        ExitCode::FAILURE
    }
}

/// A scenario's figures and the checks it failed.
#[derive(Debug, Default)]
struct Outcome {
    figures: Vec<String>,
    failures: Vec<String>,
}

impl Outcome {
    fn figure(&mut self, text: impl Into<String>) {
        self.figures.push(text.into());
    }

    /// Records a check: its description is a figure, and a failure when
    /// `ok` is false.
    fn check(&mut self, ok: bool, text: impl Into<String>) {
        let text = text.into();
        let mark = if ok { "ok" } else { "NOT OK" };
        self.figures.push(format!("{mark:>6}  {text}"));
        if !ok {
            self.failures.push(text);
        }
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "xtask measures wall-clock figures; no domain logic reads the clock here"
)]
fn now() -> Instant {
    Instant::now()
}

// ---------------------------------------------------------------------------
// Scenario 1: SMTP down.

/// Registrations while nothing listens on the SMTP port; then a sink
/// listens there and every activation email must arrive exactly once.
async fn smtp_down(ctx: &Ctx) -> Result<Outcome, String> {
    const REGISTRATIONS: usize = 30;
    let mut out = Outcome::default();
    let db = SharedDb::create(ctx, "smtp")?;
    import_roster(ctx, "smtp", &db.url, REGISTRATIONS)?;
    let mut sink = SmtpSink::start().await;
    // Nothing listens on the sink's port until `restart`.
    sink.stop().await;
    let env = vec![
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("PORTAL_SMTP_URL".to_owned(), sink.url()),
    ];
    let service = Instance::start(ctx, "smtp", &env).await?;
    let client = http_client()?;

    let results = register_many(
        &client,
        vec![service.base.clone()],
        "smtp",
        REGISTRATIONS,
        4,
        None,
    )
    .await;
    let answered = results.iter().filter(|(_, r)| r.is_ok()).count();
    for (username, result) in &results {
        if let Err(why) = result {
            out.figure(format!("{username}: {why}"));
        }
    }
    out.check(
        answered == REGISTRATIONS,
        format!("registrations answered 201 with SMTP down: {answered}/{REGISTRATIONS}"),
    );

    // Let the worker try (and fail) before the server comes up.
    let deadline = now() + Duration::from_secs(20);
    let mut tried = 0;
    while now() < deadline {
        tried = psql_count(
            &db.url,
            "SELECT count(*) FROM email_outbox WHERE status = 'queued' AND attempts > 0",
        )?;
        if tried >= REGISTRATIONS as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let attempts = psql_count(
        &db.url,
        "SELECT coalesce(sum(attempts), 0) FROM email_outbox",
    )?;
    out.check(
        tried == REGISTRATIONS as i64,
        format!(
            "emails queued and retried while SMTP was down: {tried} ({attempts} failed attempts)"
        ),
    );
    out.check(
        sink.received().is_empty(),
        "nothing delivered while SMTP was down",
    );

    sink.restart().await;
    let expected: BTreeSet<String> = results.iter().map(|(u, _)| email_of(u)).collect();
    let (took, counts) = await_emails(&sink, &expected, Duration::from_secs(150)).await;
    report_deliveries(
        &mut out,
        &expected,
        &counts,
        0,
        took,
        "after SMTP came back",
    );
    let unsent = psql_count(
        &db.url,
        "SELECT count(*) FROM email_outbox WHERE status <> 'sent'",
    )?;
    out.check(unsent == 0, format!("outbox rows not sent: {unsent}"));
    drop(service);
    Ok(out)
}

// ---------------------------------------------------------------------------
// Scenario 2: PostgreSQL restarted under load.

/// How long the database stays down in the `pg-restart` scenario.
const PG_DOWN_FOR: Duration = Duration::from_secs(3);
/// 5xx answers allowed to requests sent in the first second after the
/// database is back (connections broken by the restart, found out once).
const FIRST_SECOND_5XX: usize = 5;

async fn pg_restart(ctx: &Ctx) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let cluster = PgCluster::create(&ctx.work)?;
    let url = cluster.url();
    import_roster(ctx, "pg", &url, 6000)?;
    let env = vec![
        ("DATABASE_URL".to_owned(), url.clone()),
        (
            "PORTAL_MAIL_DIR".to_owned(),
            ctx.work.join("pg-mail").display().to_string(),
        ),
    ];
    let mut service = Instance::start(ctx, "pg-restart", &env).await?;
    let client = http_client()?;
    // The account that logs in throughout: provider 0, activated directly.
    register(&client, &[service.base.clone()], 0, "pg.login", None).await?;
    psql(
        &url,
        "UPDATE accounts SET activated_at = now() WHERE username = 'pg.login'",
    )?;

    let recorder = Recorder::new();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(1));
    let committed = Arc::new(Mutex::new(Vec::new()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (client, base, recorder, stop, next, committed) = (
            client.clone(),
            service.base.clone(),
            recorder.clone(),
            stop.clone(),
            next.clone(),
            committed.clone(),
        );
        workers.spawn(async move {
            let bases = [base.clone()];
            while !stop.load(Ordering::SeqCst) {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let username = format!("pg.{index:05}");
                if register(&client, &bases, index, &username, Some(&recorder))
                    .await
                    .is_ok()
                {
                    lock(&committed).push(username);
                }
                let login = json!({"username": "pg.login", "password": PASSWORD});
                let (status, body) = call(
                    &client,
                    &format!("{base}/api/v1/sessions"),
                    Some(&login),
                    None,
                    Some((&recorder, "login")),
                )
                .await;
                if status == Some(201)
                    && let Some(token) = body["token"].as_str()
                {
                    call(
                        &client,
                        &format!("{base}/api/v1/me"),
                        None,
                        Some(token),
                        Some((&recorder, "me")),
                    )
                    .await;
                }
            }
        });
    }
    let ready = Recorder::new_at(recorder.t0);
    {
        let (client, base, ready, stop) = (
            client.clone(),
            service.base.clone(),
            ready.clone(),
            stop.clone(),
        );
        workers.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let _ = get(&client, &format!("{base}/readyz"), Some((&ready, "readyz"))).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    tokio::time::sleep(Duration::from_secs(3)).await;
    let down_at = recorder.t0.elapsed();
    let stopping = cluster.clone_handle();
    tokio::task::spawn_blocking(move || stopping.stop_fast())
        .await
        .map_err(|e| e.to_string())??;
    let stopped_at = recorder.t0.elapsed();
    tokio::time::sleep(PG_DOWN_FOR).await;
    let starting = cluster.clone_handle();
    tokio::task::spawn_blocking(move || starting.start())
        .await
        .map_err(|e| e.to_string())??;
    let back_at = recorder.t0.elapsed();
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::SeqCst);
    while workers.join_next().await.is_some() {}
    let end = recorder.t0.elapsed();

    let samples = recorder.samples();
    let readyz = ready.samples();
    out.figure(format!(
        "PostgreSQL stopped at {:.1} s (fast shutdown took {:.1} s), started at {:.1} s, run ended at {:.1} s",
        down_at.as_secs_f64(),
        (stopped_at - down_at).as_secs_f64(),
        back_at.as_secs_f64(),
        end.as_secs_f64()
    ));
    out.figure(format!(
        "requests: {} ({} registrations committed)",
        samples.len(),
        lock(&committed).len()
    ));
    let by_status = |from: Duration, to: Duration| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for sample in samples.iter().filter(|s| s.sent >= from && s.sent < to) {
            let key = sample
                .status
                .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
            *counts.entry(key).or_default() += 1;
        }
        counts
    };
    out.figure(format!(
        "answers to requests sent before the stop: {:?}",
        by_status(Duration::ZERO, down_at)
    ));
    out.figure(format!(
        "answers to requests sent during the outage: {:?}",
        by_status(down_at, back_at)
    ));
    out.figure(format!(
        "answers to requests sent after the start: {:?}",
        by_status(back_at, end)
    ));

    // /readyz: 200 before, 503 during, 200 after.
    let first_503 = readyz
        .iter()
        .find(|s| s.sent >= down_at && s.status == Some(503));
    let ready_again = first_503.and_then(|down| {
        readyz
            .iter()
            .find(|s| s.sent > down.sent && s.status == Some(200))
    });
    out.check(
        readyz
            .iter()
            .filter(|s| s.done < down_at)
            .all(|s| s.status == Some(200)),
        "/readyz answered 200 before the stop",
    );
    match (first_503, ready_again) {
        (Some(down), Some(up)) => out.check(
            true,
            format!(
                "/readyz showed the outage: 503 from {:.1} s, 200 again from {:.1} s ({:.1} s after the start)",
                down.sent.as_secs_f64(),
                up.done.as_secs_f64(),
                up.done.as_secs_f64() - back_at.as_secs_f64()
            ),
        ),
        (None, _) => out.check(false, "/readyz never answered 503 during the outage"),
        (Some(_), None) => out.check(false, "/readyz did not answer 200 again"),
    }
    out.check(
        readyz.last().is_some_and(|s| s.status == Some(200)),
        "/readyz answers 200 at the end",
    );

    let server_errors = samples.iter().filter(|s| s.status == Some(500)).count();
    out.check(
        server_errors == 0,
        format!("500 answers, at any time: {server_errors}"),
    );
    let unanswered = samples.iter().filter(|s| s.status.is_none()).count();
    out.check(
        unanswered == 0,
        format!("requests without an answer: {unanswered}"),
    );
    let is_5xx = |s: &&Sample| s.status.is_some_and(|code| code >= 500);
    let first_second = samples
        .iter()
        .filter(|s| s.sent >= back_at && s.sent < back_at + Duration::from_secs(1))
        .filter(is_5xx)
        .count();
    let second_second = samples
        .iter()
        .filter(|s| {
            s.sent >= back_at + Duration::from_secs(1) && s.sent < back_at + Duration::from_secs(2)
        })
        .filter(is_5xx)
        .count();
    let later = samples
        .iter()
        .filter(|s| s.sent >= back_at + Duration::from_secs(2))
        .filter(is_5xx)
        .count();
    out.check(
        first_second <= FIRST_SECOND_5XX,
        format!(
            "5xx to requests sent in the first second after the start: {first_second} (at most {FIRST_SECOND_5XX})"
        ),
    );
    out.figure(format!(
        "5xx to requests sent in the second second: {second_second}"
    ));
    out.check(
        later == 0,
        format!("5xx to requests sent 2 s or more after the start: {later}"),
    );
    let recovered = samples
        .iter()
        .filter(|s| s.sent >= back_at && s.status.is_some_and(|c| (200..300).contains(&c)))
        .min_by_key(|s| s.done);
    match recovered {
        Some(first) => out.check(
            true,
            format!(
                "the service recovered without a restart: first 2xx {:.2} s after the start",
                first.done.as_secs_f64() - back_at.as_secs_f64()
            ),
        ),
        None => out.check(false, "no 2xx answer after the database came back"),
    }
    out.check(service.running(), "the service process kept running");

    let committed = lock(&committed).clone();
    let stored: BTreeSet<String> = psql(&url, "SELECT username FROM accounts")?
        .lines()
        .map(str::to_owned)
        .collect();
    let lost: Vec<_> = committed.iter().filter(|u| !stored.contains(*u)).collect();
    out.check(
        lost.is_empty(),
        format!(
            "registrations answered 201 and missing from the database: {} of {} {lost:?}",
            lost.len(),
            committed.len()
        ),
    );
    drop(service);
    drop(cluster);
    Ok(out)
}

// ---------------------------------------------------------------------------
// Scenario 3: kill -9 mid-load.

async fn kill_mid_load(ctx: &Ctx) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let db = SharedDb::create(ctx, "kill")?;
    import_roster(ctx, "kill", &db.url, 3000)?;
    let sink = SmtpSink::start().await;
    let env = vec![
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("PORTAL_SMTP_URL".to_owned(), sink.url()),
    ];
    let mut service = Instance::start(ctx, "kill-first", &env).await?;
    let client = http_client()?;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let client = client.clone();
        let bases = vec![service.base.clone()];
        let stop = stop.clone();
        tokio::spawn(
            async move { register_many(&client, bases, "kill", 3000, 6, Some(stop)).await },
        )
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    service.kill9()?;
    // The registrations in flight fail; no new one starts.
    stop.store(true, Ordering::SeqCst);
    let results = load.await.map_err(|e| e.to_string())?;
    let committed: Vec<&String> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(u, _)| u)
        .collect();
    let refused = results.len() - committed.len();
    let delivered_before = sink.received().len();
    out.figure(format!(
        "killed after 4 s: {} registrations answered 201, {refused} failed (in flight at the kill, or refused before the clients stopped); {delivered_before} emails delivered before the kill",
        committed.len()
    ));

    for (check, sql) in HALF_CREATED {
        let count = psql_count(&db.url, sql)?;
        out.check(count == 0, format!("{check}: {count}"));
    }
    let accounts = psql_count(&db.url, "SELECT count(*) FROM accounts")?;
    let queued = psql_count(
        &db.url,
        "SELECT count(*) FROM email_outbox WHERE status = 'queued'",
    )?;
    out.figure(format!(
        "after the kill: {accounts} accounts, {queued} activation emails still queued"
    ));
    let with_email: BTreeSet<String> = psql(
        &db.url,
        "SELECT a.username FROM accounts a JOIN email_outbox o \
         ON lower(o.username) = lower(a.username) AND o.kind = 'activation' \
         AND o.status IN ('queued', 'sent')",
    )?
    .lines()
    .map(str::to_owned)
    .collect();
    let lost: Vec<_> = committed
        .iter()
        .filter(|u| !with_email.contains(**u))
        .collect();
    out.check(
        lost.is_empty(),
        format!(
            "registrations answered 201 without an account and a queued or sent email: {} {lost:?}",
            lost.len()
        ),
    );

    let restarted = now();
    let second = Instance::start(ctx, "kill-second", &env).await?;
    out.figure(format!(
        "restarted in {:.1} s",
        restarted.elapsed().as_secs_f64()
    ));
    let expected: BTreeSet<String> = psql(&db.url, "SELECT email FROM accounts")?
        .lines()
        .map(str::to_owned)
        .collect();
    // A claim by the killed worker hides its emails for the lease (2 min).
    let (took, counts) = await_emails(&sink, &expected, Duration::from_secs(200)).await;
    // The worker sends one email at a time: at most the one in flight at the
    // kill can have been sent and not marked, and so be sent again.
    report_deliveries(&mut out, &expected, &counts, 1, took, "after the restart");
    let unsent = psql_count(
        &db.url,
        "SELECT count(*) FROM email_outbox WHERE status <> 'sent'",
    )?;
    out.check(unsent == 0, format!("outbox rows not sent: {unsent}"));
    drop(second);
    Ok(out)
}

/// Checks that an account was created whole: each query counts violations.
const HALF_CREATED: [(&str, &str); 4] = [
    (
        "accounts without exactly one activation link",
        "SELECT count(*) FROM accounts a WHERE (SELECT count(*) FROM link_tokens t \
         WHERE t.account_id = a.id AND t.purpose = 'activation') <> 1",
    ),
    (
        "accounts without exactly one activation email",
        "SELECT count(*) FROM accounts a WHERE (SELECT count(*) FROM email_outbox o \
         WHERE lower(o.username) = lower(a.username) AND o.kind = 'activation') <> 1",
    ),
    (
        "finished registration flows minus accounts",
        "SELECT abs((SELECT count(*) FROM registration_flows WHERE state = 'finished') \
         - (SELECT count(*) FROM accounts))",
    ),
    (
        "emails of no account",
        "SELECT count(*) FROM email_outbox o WHERE NOT EXISTS \
         (SELECT 1 FROM accounts a WHERE lower(a.username) = lower(o.username))",
    ),
];

// ---------------------------------------------------------------------------
// Scenario 4: two instances on one database.

/// The lockout limit of the `two-instances` scenario: as many failures as
/// the burst, so that a single lost count leaves the account unlocked.
const LOCK_AFTER: usize = 50;

async fn two_instances(ctx: &Ctx) -> Result<Outcome, String> {
    const REGISTRATIONS: usize = 40;
    let mut out = Outcome::default();
    let db = SharedDb::create(ctx, "two")?;
    import_roster(ctx, "two", &db.url, REGISTRATIONS + 2)?;
    let sink = SmtpSink::start().await;
    let env = vec![
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("PORTAL_SMTP_URL".to_owned(), sink.url()),
        (
            "PORTAL_LOCKOUT_MAX_FAILED".to_owned(),
            LOCK_AFTER.to_string(),
        ),
    ];
    let first = Instance::start(ctx, "two-a", &env).await?;
    let second = Instance::start(ctx, "two-b", &env).await?;
    let bases = vec![first.base.clone(), second.base.clone()];
    let client = http_client()?;

    // Lockout: `exact` gets exactly LOCK_AFTER wrong logins at once, `burst`
    // twice as many; both must end with LOCK_AFTER failures and one lock.
    let exact = "two.exact";
    let burst = "two.burst";
    register(&client, &bases, REGISTRATIONS, exact, None).await?;
    register(&client, &bases, REGISTRATIONS + 1, burst, None).await?;
    psql(
        &db.url,
        "UPDATE accounts SET activated_at = now() WHERE username IN ('two.exact', 'two.burst')",
    )?;
    for (username, attempts) in [(exact, LOCK_AFTER), (burst, 2 * LOCK_AFTER)] {
        let answers = wrong_logins(&client, &bases, username, attempts).await;
        let count = |code: u16| answers.iter().filter(|(s, _)| *s == Some(code)).count();
        let lock_ends: BTreeSet<&String> = answers.iter().filter_map(|(_, l)| l.as_ref()).collect();
        let (failed, locked) = account_lock(&db.url, username)?;
        let lock_events = psql_count(
            &db.url,
            &format!(
                "SELECT count(*) FROM audit_events WHERE event = 'account_locked' AND username = '{username}'"
            ),
        )?;
        out.figure(format!(
            "{username}: {attempts} parallel wrong logins over both instances: {} × 401, {} × 423, other {}",
            count(401),
            count(423),
            attempts - count(401) - count(423)
        ));
        out.check(
            count(401) == LOCK_AFTER - 1 && count(423) == attempts - (LOCK_AFTER - 1),
            format!(
                "{username}: {} answers 401 and the rest 423",
                LOCK_AFTER - 1
            ),
        );
        out.check(
            failed == LOCK_AFTER as i64 && locked,
            format!("{username}: failed_logins = {failed}, locked = {locked} (want {LOCK_AFTER}, locked)"),
        );
        out.check(
            lock_ends.len() == 1,
            format!(
                "{username}: distinct lock ends in the 423 answers: {}",
                lock_ends.len()
            ),
        );
        out.check(
            lock_events == 1,
            format!("{username}: account_locked audit events: {lock_events}"),
        );
    }
    let before = psql(
        &db.url,
        "SELECT locked_until FROM accounts WHERE username = 'two.exact'",
    )?;
    let again = wrong_logins(&client, &bases, exact, 10).await;
    let after = psql(
        &db.url,
        "SELECT locked_until FROM accounts WHERE username = 'two.exact'",
    )?;
    let (failed, _) = account_lock(&db.url, exact)?;
    out.check(
        again.iter().all(|(s, _)| *s == Some(423))
            && before == after
            && failed == LOCK_AFTER as i64,
        "10 more wrong logins during the lock: all 423, the lock and the count unchanged",
    );
    let shown = Command::new(&ctx.binary)
        .args(["account", "show", "--username", exact])
        .env_clear_portal()
        .envs(base_env(&db.url))
        .output()
        .map_err(|e| format!("account show: {e}"))?;
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    out.check(
        shown
            .lines()
            .any(|l| l.starts_with("state:") && l.trim_end().ends_with("locked")),
        "portal-http account show says locked",
    );

    // Emails: registrations spread over both instances (each step of a flow
    // on the other instance), delivered by both workers to one sink.
    let results = register_many(&client, bases.clone(), "two", REGISTRATIONS, 8, None).await;
    let answered = results.iter().filter(|(_, r)| r.is_ok()).count();
    out.check(
        answered == REGISTRATIONS,
        format!("registrations over both instances answered 201: {answered}/{REGISTRATIONS}"),
    );
    let mut expected: BTreeSet<String> = results.iter().map(|(u, _)| email_of(u)).collect();
    expected.insert(email_of(exact));
    expected.insert(email_of(burst));
    let (took, counts) = await_emails(&sink, &expected, Duration::from_secs(60)).await;
    report_deliveries(&mut out, &expected, &counts, 0, took, "from both workers");
    let sent = [first.sent_by_worker(), second.sent_by_worker()];
    out.figure(format!(
        "emails sent by instance a: {}, by instance b: {}",
        sent[0], sent[1]
    ));
    out.check(
        sent[0] + sent[1] == expected.len() as u64,
        format!(
            "the workers' sent counts add up to the emails: {} = {}",
            sent[0] + sent[1],
            expected.len()
        ),
    );
    drop((first, second));
    Ok(out)
}

/// `attempts` wrong logins for `username` at once, alternating instances:
/// each answer's status and, on 423, its `locked_until`.
async fn wrong_logins(
    client: &reqwest::Client,
    bases: &[String],
    username: &str,
    attempts: usize,
) -> Vec<(Option<u16>, Option<String>)> {
    let mut set = tokio::task::JoinSet::new();
    for attempt in 0..attempts {
        let client = client.clone();
        let url = format!("{}/api/v1/sessions", bases[attempt % bases.len()]);
        let body = json!({"username": username, "password": WRONG_PASSWORD});
        set.spawn(async move {
            let (status, body) = call(&client, &url, Some(&body), None, None).await;
            (status, body["locked_until"].as_str().map(str::to_owned))
        });
    }
    let mut answers = Vec::with_capacity(attempts);
    while let Some(answer) = set.join_next().await {
        answers.push(answer.unwrap_or((None, None)));
    }
    answers
}

/// `(failed_logins, locked_until is set)` of an account.
fn account_lock(url: &str, username: &str) -> Result<(i64, bool), String> {
    let row = psql(
        url,
        &format!(
            "SELECT failed_logins, locked_until IS NOT NULL FROM accounts WHERE username = '{username}'"
        ),
    )?;
    let (failed, locked) = row
        .split_once('|')
        .ok_or_else(|| format!("no account {username}: {row:?}"))?;
    Ok((failed.parse().unwrap_or(-1), locked == "t"))
}

// ---------------------------------------------------------------------------
// Registrations over HTTP.

fn email_of(username: &str) -> String {
    format!("{username}@chaos.example.org")
}

/// Registers `username` as roster provider `index` end to end (provider
/// details, agreement, account); step `k` goes to `bases[(index + k) % len]`,
/// so that with two instances each flow moves between them.
async fn register(
    client: &reqwest::Client,
    bases: &[String],
    index: usize,
    username: &str,
    recorder: Option<&Recorder>,
) -> Result<(), String> {
    let base = |step: usize| &bases[(index + step) % bases.len()];
    let details = json!({
        "provider_type": "practitioner",
        "provider_id": provider_id(index),
        "tax_id": "111111111",
        "zip": "45202",
        "first_name": "Ann",
        "last_name": "Chaos",
    });
    let (status, body) = call(
        client,
        &format!("{}/api/v1/registrations", base(0)),
        Some(&details),
        None,
        recorder.map(|r| (r, "registration")),
    )
    .await;
    let id = match (status, body["registration_id"].as_str()) {
        (Some(201), Some(id)) => id.to_owned(),
        _ => return Err(format!("provider details: {status:?} {body}")),
    };
    let version = body["agreement_version"].as_str().unwrap_or("1");
    let agreement = json!({"accepted": true, "agreement_version": version});
    let (status, body) = call(
        client,
        &format!("{}/api/v1/registrations/{id}/agreement", base(1)),
        Some(&agreement),
        None,
        recorder.map(|r| (r, "agreement")),
    )
    .await;
    if status != Some(200) {
        return Err(format!("agreement: {status:?} {body}"));
    }
    let account = json!({
        "username": username,
        "password": PASSWORD,
        "email": email_of(username),
        "security_question_id": 1,
        "security_answer": "Fluffy",
    });
    let (status, body) = call(
        client,
        &format!("{}/api/v1/registrations/{id}/account", base(2)),
        Some(&account),
        None,
        recorder.map(|r| (r, "account")),
    )
    .await;
    if status == Some(201) {
        Ok(())
    } else {
        Err(format!("account: {status:?} {body}"))
    }
}

/// Registers `{prefix}.NNNNN` as providers `0..count` with `workers` at a
/// time (until `stop` is set, when given): each username and its outcome.
async fn register_many(
    client: &reqwest::Client,
    bases: Vec<String>,
    prefix: &str,
    count: usize,
    workers: usize,
    stop: Option<Arc<AtomicBool>>,
) -> Vec<(String, Result<(), String>)> {
    let bases = Arc::new(bases);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (client, bases, next, stop, prefix) = (
            client.clone(),
            bases.clone(),
            next.clone(),
            stop.clone(),
            prefix.to_owned(),
        );
        set.spawn(async move {
            let mut done = Vec::new();
            loop {
                if stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                    break;
                }
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= count {
                    break;
                }
                let username = format!("{prefix}.{index:05}");
                let result = register(&client, &bases, index, &username, None).await;
                done.push((username, result));
            }
            done
        });
    }
    let mut results = Vec::new();
    while let Some(done) = set.join_next().await {
        results.extend(done.unwrap_or_default());
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}

fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// One JSON request (a `POST` with `body`, else a `GET`): the status (none
/// when no answer came) and the JSON body (`null` when not JSON).
async fn call(
    client: &reqwest::Client,
    url: &str,
    body: Option<&Value>,
    bearer: Option<&str>,
    recorder: Option<(&Recorder, &'static str)>,
) -> (Option<u16>, Value) {
    let sent = recorder.map(|(r, _)| r.t0.elapsed());
    let mut request = match body {
        Some(body) => client.post(url).json(body),
        None => client.get(url),
    };
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let (status, value) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (
                Some(status),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
        Err(_) => (None, Value::Null),
    };
    if let (Some((recorder, route)), Some(sent)) = (recorder, sent) {
        recorder.push(Sample {
            sent,
            done: recorder.t0.elapsed(),
            route,
            status,
        });
    }
    (status, value)
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    recorder: Option<(&Recorder, &'static str)>,
) -> Option<u16> {
    call(client, url, None, None, recorder).await.0
}

/// One request as the load saw it, in time since the run began.
#[derive(Debug, Clone)]
struct Sample {
    sent: Duration,
    done: Duration,
    #[allow(dead_code, reason = "shown when a sample is debugged")]
    route: &'static str,
    status: Option<u16>,
}

#[derive(Debug, Clone)]
struct Recorder {
    t0: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl Recorder {
    fn new() -> Self {
        Self::new_at(now())
    }

    fn new_at(t0: Instant) -> Self {
        Self {
            t0,
            samples: Arc::default(),
        }
    }

    fn push(&self, sample: Sample) {
        lock(&self.samples).push(sample);
    }

    /// Every sample, by the time it was sent.
    fn samples(&self) -> Vec<Sample> {
        let mut samples = lock(&self.samples).clone();
        samples.sort_by_key(|s| s.sent);
        samples
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// Emails at the sink.

/// Waits until every address of `expected` has an activation email at the
/// sink, or `bound` passes; then 2 s more for late duplicates. Returns how
/// long the wait took and the activation emails per recipient.
async fn await_emails(
    sink: &SmtpSink,
    expected: &BTreeSet<String>,
    bound: Duration,
) -> (Duration, BTreeMap<String, usize>) {
    let started = now();
    while started.elapsed() < bound {
        let counts = activation_counts(sink);
        if expected.iter().all(|address| counts.contains_key(address)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    (took, activation_counts(sink))
}

fn activation_counts(sink: &SmtpSink) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in sink.received() {
        let text = String::from_utf8_lossy(&message.data);
        if !text.contains(ACTIVATION_SUBJECT) {
            continue;
        }
        for recipient in message.rcpt_to {
            *counts.entry(recipient).or_insert(0) += 1;
        }
    }
    counts
}

fn report_deliveries(
    out: &mut Outcome,
    expected: &BTreeSet<String>,
    counts: &BTreeMap<String, usize>,
    duplicates_allowed: usize,
    took: Duration,
    when: &str,
) {
    let missing: Vec<_> = expected
        .iter()
        .filter(|a| !counts.contains_key(*a))
        .collect();
    let duplicates: usize = counts.values().map(|n| n.saturating_sub(1)).sum();
    let twice: Vec<_> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(a, _)| a)
        .collect();
    let strangers = counts.keys().filter(|a| !expected.contains(*a)).count();
    out.check(
        missing.is_empty(),
        format!(
            "activation emails arrived {when}: {} of {} in {:.1} s; missing {missing:?}",
            expected.len() - missing.len(),
            expected.len(),
            took.as_secs_f64()
        ),
    );
    out.check(
        duplicates <= duplicates_allowed && strangers == 0,
        format!(
            "emails delivered twice: {duplicates} (at most {duplicates_allowed}) {twice:?}; to unexpected recipients: {strangers}"
        ),
    );
}

// ---------------------------------------------------------------------------
// The service.

/// A running `portal-http serve`; killed when dropped.
#[derive(Debug)]
struct Instance {
    child: Child,
    base: String,
    log: PathBuf,
}

/// The settings of every instance: no rate limit (the load comes from one
/// address), cheap Argon2 (the faults are about storage and mail, not
/// hashing), a deep hash queue, JSON logs with the outbox worker's lines.
fn base_env(database_url: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", database_url),
        ("PORTAL_RATE_LIMIT_PER_MINUTE", "0"),
        ("PORTAL_ARGON2_M_KIB", "4096"),
        ("PORTAL_ARGON2_T", "1"),
        ("PORTAL_HASH_QUEUE", "512"),
        ("PORTAL_LOG_FORMAT", "json"),
        ("RUST_LOG", "warn,portal::outbox=info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Removes inherited `PORTAL_*` variables, so that only ours apply.
trait ClearPortalEnv {
    fn env_clear_portal(&mut self) -> &mut Self;
}

impl ClearPortalEnv for Command {
    fn env_clear_portal(&mut self) -> &mut Self {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PORTAL_") {
                self.env_remove(key);
            }
        }
        self
    }
}

impl Instance {
    /// Starts `serve` on a free port with [`base_env`] and `env` on top;
    /// waits until `/healthz` answers. The log goes to `WORK/NAME.log`.
    async fn start(ctx: &Ctx, name: &str, env: &[(String, String)]) -> Result<Self, String> {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let database = env
            .iter()
            .find(|(k, _)| k == "DATABASE_URL")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let mut vars = base_env(database);
        vars.push(("PORTAL_LISTEN".to_owned(), format!("127.0.0.1:{port}")));
        vars.push(("PORTAL_PUBLIC_URL".to_owned(), base.clone()));
        for (key, value) in env {
            vars.retain(|(k, _)| k != key);
            vars.push((key.clone(), value.clone()));
        }
        let log = ctx.work.join(format!("{name}.log"));
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let file_err = file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&ctx.binary)
            .arg("serve")
            .env_clear_portal()
            .envs(vars)
            .current_dir(&ctx.work)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file_err)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", ctx.binary.display()))?;
        let mut instance = Self { child, base, log };
        let client = http_client()?;
        let started = now();
        while started.elapsed() < Duration::from_secs(30) {
            if get(&client, &format!("{}/healthz", instance.base), None).await == Some(200) {
                return Ok(instance);
            }
            if !instance.running() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{name} did not answer /healthz; its log:\n{}",
            fs::read_to_string(&instance.log).unwrap_or_default()
        ))
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no shutdown of any kind.
    fn kill9(&mut self) -> Result<(), String> {
        self.child.kill().map_err(|e| format!("kill -9: {e}"))?;
        self.child.wait().map_err(|e| format!("kill -9: {e}"))?;
        Ok(())
    }

    /// Emails this instance's outbox worker reported sent (its log lines).
    fn sent_by_worker(&self) -> u64 {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["message"] == "outbox batch delivered")
            .filter_map(|line| line["sent"].as_u64())
            .sum()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Roster provider `index`: practitioners `C00000`, `C00001`, … under Tax ID
/// 111111111, all named Ann Chaos in ZIP 45202.
fn provider_id(index: usize) -> String {
    format!("C{index:05}")
}

/// Writes a roster of `count` practitioners and imports it.
fn import_roster(ctx: &Ctx, name: &str, url: &str, count: usize) -> Result<(), String> {
    let mut csv = String::from(
        "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n",
    );
    for index in 0..count {
        csv.push_str(&format!(
            "{},111111111,practitioner,Ann,Chaos,,45202,individual,medicaid\n",
            provider_id(index)
        ));
    }
    let path = ctx.work.join(format!("{name}-roster.csv"));
    fs::write(&path, csv).map_err(|e| format!("{}: {e}", path.display()))?;
    let output = Command::new(&ctx.binary)
        .arg("roster")
        .arg("import")
        .arg(&path)
        .env_clear_portal()
        .envs(base_env(url))
        .output()
        .map_err(|e| format!("roster import: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "roster import failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

// ---------------------------------------------------------------------------
// Databases.

/// `psql URL -c SQL`: the rows, unaligned, fields separated by `|`.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .map_err(|e| format!("could not run psql: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn psql_count(url: &str, sql: &str) -> Result<i64, String> {
    let text = psql(url, sql)?;
    text.parse()
        .map_err(|_| format!("{sql:?} answered {text:?}, not a number"))
}

/// A database of our own on the shared server, dropped with the guard.
#[derive(Debug)]
struct SharedDb {
    admin: String,
    name: String,
    url: String,
}

impl SharedDb {
    fn create(ctx: &Ctx, scenario: &str) -> Result<Self, String> {
        let (server, _) = ctx
            .server_url
            .split('?')
            .next()
            .and_then(|u| u.rsplit_once('/'))
            .ok_or_else(|| format!("DATABASE_URL {} has no database", ctx.server_url))?;
        let name = format!("portal_chaos_{scenario}_{}", std::process::id());
        let admin = format!("{server}/postgres");
        psql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        psql(&admin, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            url: format!("{server}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for SharedDb {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// A throw-away PostgreSQL cluster on a free port, run as the `postgres`
/// user when we are root (`initdb` refuses root); stopped and deleted with
/// the guard, also when the scenario fails.
#[derive(Debug)]
struct PgCluster {
    handle: PgHandle,
}

/// What `pg_ctl` needs; cheap to clone into a blocking task.
#[derive(Debug, Clone)]
struct PgHandle {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    fn create(work: &Path) -> Result<Self, String> {
        let bin = postgres_bin()?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        // Outside `work` when root: the postgres user must own the folder
        // and reach it.
        let dir = if as_postgres {
            std::env::temp_dir().join(format!("chaos-pg-{}", std::process::id()))
        } else {
            work.join("pg")
        };
        let _ = fs::remove_dir_all(&dir);
        let handle = PgHandle {
            bin,
            dir,
            port: free_port()?,
            as_postgres,
        };
        handle.run(
            "initdb",
            &[
                "-D",
                &handle.dir.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )?;
        let cluster = Self { handle };
        cluster.handle.start()?;
        Ok(cluster)
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.handle.port
        )
    }

    fn clone_handle(&self) -> PgHandle {
        self.handle.clone()
    }
}

impl PgHandle {
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir("/")
            .output()
            .map_err(|e| format!("could not run {program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let dir = self.dir.display().to_string();
        let log = self.dir.join("server.log").display().to_string();
        let mut all = vec!["-D", &dir, "-l", &log, "-w"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    fn start(&self) -> Result<(), String> {
        let options = format!("-p {} -k /tmp -c listen_addresses=127.0.0.1", self.port);
        self.pg_ctl(&["-o", &options, "start"])
    }

    fn stop_fast(&self) -> Result<(), String> {
        self.pg_ctl(&["-m", "fast", "stop"])
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.handle.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = fs::remove_dir_all(&self.handle.dir);
    }
}

/// The folder of `initdb` and `pg_ctl`: `/usr/local/bin`, `PATH`, or the
/// newest `/usr/lib/postgresql/*/bin`.
fn postgres_bin() -> Result<PathBuf, String> {
    let mut candidates = vec![PathBuf::from("/usr/local/bin")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        versions.reverse();
        candidates.extend(versions);
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        .ok_or_else(|| "initdb and pg_ctl not found (install postgresql)".to_owned())
}

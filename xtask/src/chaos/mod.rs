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

mod db;
mod http;
mod instance;
mod kill;
mod mail;
mod pg_restart;
mod smtp;
mod two_instances;

use db::*;
use http::*;
use instance::*;
use kill::*;
use mail::*;
use pg_restart::*;
use smtp::*;
use two_instances::*;

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
    let scenarios = match crate::pick_scenarios("chaos", args, &ALL, Scenario::name) {
        Ok(scenarios) => scenarios,
        Err(code) => return code,
    };
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

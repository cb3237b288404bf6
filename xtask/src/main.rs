//! Project automation, run as `cargo xtask <command>`.
//!
//! `cargo xtask test` is the single command CI runs (through `.ci/run`): the
//! formatting check, clippy, the supply-chain check ([`deny`]), the test suite
//! under nextest, the API docs (`cargo doc`, warnings denied) and the doc
//! tests, in that order, stopping at the first failure. The tidy checks (doc
//! comments, I/O-free domain, no `unsafe`, the code map) live in `tidy.rs`
//! (a test-only module) and run as ordinary tests.

mod attack;
mod chaos;
mod deny;
mod fuzz;
mod mta;
mod prerequisites;
mod schemathesis;
mod service;
#[cfg(test)]
mod tidy;
mod timing;

use std::env;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const USAGE: &str = "\
Usage: cargo xtask <command>

Commands:
  test    run everything CI runs, stopping at the first failure:
            fmt check, clippy, deny, nextest, docs (rustdoc
            warnings are errors), doc tests
  lint    run the fmt check and clippy
  deny    cargo deny check (advisories, licences, bans, sources) against
            deny.toml, offline: clones the RustSec advisory snapshot
            ../shared/vendor/rustsec-advisory-db.bundle (or the git bundle
            or repository PORTAL_ADVISORY_DB names) into target/ first and
            fails when it is missing; installs cargo-deny if missing
  bench   run the benchmarks and print their figures: the domain's
            criterion benches, the PostgreSQL storage figures, then the
            HTTP figures (xtask/bench-http.sh; installs wrk and oha if missing),
            then the roster import at 100,000 and 1,000,000 rows
            (xtask/bench-roster.sh; `bench roster` runs only that) and
            `audit list` over 10,000,000 events (xtask/bench-audit.sh;
            `bench audit`) and the outbox worker at 100 emails/s beside
            1,000,000 sent ones (xtask/bench-outbox.sh; `bench outbox`),
            then one instance against one per core on one PostgreSQL
            (xtask/bench-instances.sh; `bench instances`: a throwaway
            cluster with pg_stat_statements, started as user postgres)
  bench scale
          the hot paths at 1,000 and 1,000,000 accounts loaded by SQL, on
            PostgreSQL and SQLite: logins/s, the p99 of login, /me,
            registration and reset request, the purge's time, and the
            query plans of the hot statements (xtask/bench-scale.sh;
            SIZES and BACKENDS narrow it; installs wrk and oha if missing;
            not part of `bench`: about half an hour)
  fuzz [SECONDS]
          run every cargo-fuzz target of fuzz/ for SECONDS each (default
            30); installs cargo-fuzz if missing; crashes in fuzz/artifacts
  schemathesis [MAX_EXAMPLES]
          run schemathesis (installed from PyPI into target/) against the
            release service's /api/v1/openapi.json; fails on any 5xx
  timing [ROUNDS]
          login, reset and resend for a known vs an unknown username on the
            release service (default 300 interleaved pairs each); fails when
            a midpoint guess tells them apart more than 55 % of the time
  chaos [SCENARIO...]
          fault tests of the release service (smtp, pg-restart, kill,
            two-instances; default all); see docs/chaos.md
  attack [SCENARIO...]
          the hostile-client attacks of docs/SECURITY.md against the
            release service, each asserting its defence (racing, flood,
            half-open, junk, long-usernames, ipv6-rotation; default all);
            see docs/abuse-testing.md
  mta     the SMTP mailer against a real MTA: installs Debian's exim4
            (never its own daemon), runs two exim relays on loopback
            ports (STARTTLS with a private CA and AUTH PLAIN after it;
            no STARTTLS) and checks TLS, trust through PORTAL_SMTP_CA
            and the system store, tls=required, AUTH and the headers of
            what arrives; needs root; see docs/email.md
  help    print this message

fuzz, schemathesis, timing and attack are run by hand, not by CI; see
docs/abuse-testing.md. So are chaos and mta.

When the CI environment variable is set, steps run with CARGO_INCREMENTAL=0.

The PostgreSQL adapter's tests need a PostgreSQL server on which they may
create databases: DATABASE_URL names it (default
postgres://postgres@127.0.0.1:5432/test). `test` checks that it answers
before running the tests, and stops with instructions when it does not.

The browser test needs `chromium` and `chromedriver` on PATH: `test`
installs Debian's chromium and chromium-driver with apt-get when one is
missing, and stops with instructions when it cannot.
The runbook test runs pg_dump, pg_restore and sqlite3: `test` installs
Debian's postgresql-client and sqlite3 the same way.
";

/// The server the PostgreSQL tests use when `DATABASE_URL` is unset.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// One step: a name to print and the arguments given to `cargo`.
struct Step {
    name: &'static str,
    /// `cargo` (the one running us) or another program on `PATH`.
    program: &'static str,
    args: &'static [&'static str],
    /// Run first (installing a tool, preparing data); its error fails the step.
    prepare: Option<fn() -> Result<(), String>>,
}

const FMT: Step = Step {
    name: "fmt",
    program: "cargo",
    args: &["fmt", "--all", "--", "--check"],
    prepare: None,
};

const CLIPPY: Step = Step {
    name: "clippy",
    program: "cargo",
    args: &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ],
    prepare: None,
};

const NEXTEST: Step = Step {
    name: "nextest",
    program: "cargo",
    args: &[
        "nextest",
        "run",
        "--workspace",
        "--all-features",
        "--no-tests=fail",
    ],
    prepare: None,
};

/// The API docs, every warning an error (a broken link, an unclosed tag).
const DOC: Step = Step {
    name: "doc",
    program: "cargo",
    args: &["doc", "--workspace", "--no-deps"],
    prepare: None,
};

/// Environment a step sets for its program: rustdoc's warnings are
/// errors for [`DOC`].
fn step_env(step: &Step) -> &'static [(&'static str, &'static str)] {
    if step.name == DOC.name {
        &[("RUSTDOCFLAGS", "-D warnings")]
    } else {
        &[]
    }
}

const DOCTEST: Step = Step {
    name: "doctest",
    program: "cargo",
    args: &["test", "--workspace", "--all-features", "--doc"],
    prepare: None,
};

const DOMAIN_BENCH: Step = Step {
    name: "domain benches",
    program: "cargo",
    args: &[
        "bench",
        "-p",
        "portal-domain",
        "--all-features",
        "--bench",
        "password_policy",
        "--",
        "--warm-up-time",
        "1",
        "--measurement-time",
        "3",
    ],
    prepare: None,
};

const STORE_BENCH: Step = Step {
    name: "store bench",
    program: "cargo",
    args: &[
        "run",
        "--release",
        "--quiet",
        "-p",
        "portal-adapters-postgres",
        "--example",
        "store_bench",
    ],
    prepare: None,
};

/// Supply chain: cargo-deny against `deny.toml`, offline (see [`deny`]).
const DENY: Step = Step {
    name: "deny",
    program: "cargo",
    args: deny::CHECK_ARGS,
    prepare: Some(deny::prepare),
};

const TEST: &[Step] = &[FMT, CLIPPY, DENY, NEXTEST, DOC, DOCTEST];
const HTTP_BENCH: Step = Step {
    name: "http bench",
    program: "bash",
    args: &["xtask/bench-http.sh"],
    prepare: None,
};

const ROSTER_BENCH: Step = Step {
    name: "roster bench",
    program: "bash",
    args: &["xtask/bench-roster.sh"],
    prepare: None,
};

const AUDIT_BENCH: Step = Step {
    name: "audit bench",
    program: "bash",
    args: &["xtask/bench-audit.sh"],
    prepare: None,
};

const OUTBOX_BENCH: Step = Step {
    name: "outbox bench",
    program: "bash",
    args: &["xtask/bench-outbox.sh"],
    prepare: None,
};

const INSTANCES_BENCH: Step = Step {
    name: "instances bench",
    program: "bash",
    args: &["xtask/bench-instances.sh"],
    prepare: None,
};

const SCALE_BENCH: Step = Step {
    name: "scale bench",
    program: "bash",
    args: &["xtask/bench-scale.sh"],
    prepare: None,
};

const BENCH: &[Step] = &[
    DOMAIN_BENCH,
    STORE_BENCH,
    HTTP_BENCH,
    ROSTER_BENCH,
    AUDIT_BENCH,
    OUTBOX_BENCH,
    INSTANCES_BENCH,
];
const INSTANCES_BENCH_ONLY: &[Step] = &[INSTANCES_BENCH];
const OUTBOX_BENCH_ONLY: &[Step] = &[OUTBOX_BENCH];
const ROSTER_BENCH_ONLY: &[Step] = &[ROSTER_BENCH];
const AUDIT_BENCH_ONLY: &[Step] = &[AUDIT_BENCH];
const SCALE_BENCH_ONLY: &[Step] = &[SCALE_BENCH];
const LINT: &[Step] = &[FMT, CLIPPY];
const DENY_ONLY: &[Step] = &[DENY];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (steps, needs_postgres) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["help" | "-h" | "--help"] => {
            print_usage();
            return ExitCode::SUCCESS;
        }
        ["test"] => (TEST, true),
        ["lint"] => (LINT, false),
        ["deny"] => (DENY_ONLY, false),
        ["bench"] => (BENCH, true),
        ["bench", "roster"] => (ROSTER_BENCH_ONLY, true),
        ["bench", "audit"] => (AUDIT_BENCH_ONLY, true),
        ["bench", "outbox"] => (OUTBOX_BENCH_ONLY, true),
        // Its own throwaway PostgreSQL cluster, not DATABASE_URL's.
        ["bench", "instances"] => (INSTANCES_BENCH_ONLY, false),
        ["bench", "scale"] => (SCALE_BENCH_ONLY, true),
        ["attack", ref rest @ ..] => return attack::run(rest),
        ["chaos", ref rest @ ..] => return chaos::run(rest),
        ["mta", ref rest @ ..] => return mta::run(rest),
        ["fuzz", ref rest @ ..] => return fuzz::run(rest),
        ["schemathesis", ref rest @ ..] => return schemathesis::run(rest),
        ["timing", ref rest @ ..] => return timing::run(rest),
        _ => {
            eprintln!("xtask: unexpected arguments: {}\n\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };
    if needs_postgres {
        match require_postgres() {
            Ok(url) => {
                let _ = DATABASE_URL.set(url);
            }
            Err(message) => {
                eprintln!("xtask: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    if steps.iter().any(|step| step.name == NEXTEST.name)
        && let Err(message) = prerequisites::require()
    {
        eprintln!("xtask: {message}");
        return ExitCode::FAILURE;
    }
    run_steps(steps)
}

#[allow(clippy::print_stdout, reason = "usage text is the command's output")]
fn print_usage() {
    print!("{USAGE}");
}

/// Runs `steps` in order from the workspace root, stopping at the first failure.
fn run_steps(steps: &[Step]) -> ExitCode {
    let ci = env::var_os("CI").is_some_and(|value| !value.is_empty());
    let mut timings = Vec::with_capacity(steps.len());
    for step in steps {
        eprintln!(
            "\n==> [{}] {} {}",
            step.name,
            step.program,
            step.args.join(" ")
        );
        match run_step(step, ci) {
            Ok(elapsed) => timings.push((step.name, elapsed)),
            Err(message) => {
                eprintln!("\nxtask: step `{}` failed: {message}", step.name);
                eprintln!("xtask: stopping; later steps were not run.");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("\nxtask: all {} steps passed", steps.len());
    for (name, elapsed) in timings {
        eprintln!("  {name:<8} {:>7.1}s", elapsed.as_secs_f64());
    }
    ExitCode::SUCCESS
}

fn run_step(step: &Step, ci: bool) -> Result<Duration, String> {
    let mut command = if step.program == "cargo" {
        Command::new(cargo())
    } else {
        Command::new(step.program)
    };
    command
        .args(step.args)
        .envs(step_env(step).iter().copied())
        .current_dir(workspace_root());
    if ci {
        command.env("CARGO_INCREMENTAL", "0");
    }
    if let Some(url) = DATABASE_URL.get() {
        command.env("DATABASE_URL", url);
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "xtask only reports step durations; no domain logic reads the clock here"
    )]
    let started = Instant::now();
    if let Some(prepare) = step.prepare {
        prepare()?;
    }
    let status = command
        .status()
        .map_err(|error| format!("could not start cargo: {error}"))?;
    if status.success() {
        Ok(started.elapsed())
    } else {
        Err(status.to_string())
    }
}

/// The `DATABASE_URL` handed to every step (checked by [`require_postgres`]).
static DATABASE_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The `DATABASE_URL` to test with (the default when unset), once a
/// PostgreSQL server answers there; the tests never skip silently.
fn require_postgres() -> Result<String, String> {
    let url = match env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            eprintln!("xtask: DATABASE_URL is not set; using {DEFAULT_DATABASE_URL}");
            DEFAULT_DATABASE_URL.to_owned()
        }
    };
    let address = postgres_address(&url).ok_or_else(|| {
        format!(
            "DATABASE_URL={url} is not a postgres:// URL; set it to e.g. {DEFAULT_DATABASE_URL}"
        )
    })?;
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&address)
        .map_err(|error| error.to_string())
        .and_then(|mut addrs| {
            addrs
                .find_map(|addr| {
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()
                })
                .ok_or_else(|| "connection refused or timed out".to_owned())
        });
    reachable.map(|_| url.clone()).map_err(|why| {
        format!(
            "PostgreSQL is not reachable at {address} ({why}).\n\
             The PostgreSQL adapter's tests need a server on which they may create databases.\n\
             Start one (e.g. `pg_ctlcluster 15 main start`), or point DATABASE_URL at yours:\n\
             \n    DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DATABASE cargo xtask test\n"
        )
    })
}

/// `host:port` of a `postgres://` or `postgresql://` URL.
fn postgres_address(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() {
        return Some("127.0.0.1:5432".to_owned());
    }
    Some(
        if host_port
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        },
    )
}

/// The `cargo` running us (set by cargo for `cargo run`), else the one on `PATH`.
/// The scenarios named in `args`, in order (all of `all` when none); an
/// unknown name is reported with the choices, and the command exits 2.
fn pick_scenarios<T: Copy>(
    command: &str,
    args: &[&str],
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<Vec<T>, ExitCode> {
    let mut picked = Vec::new();
    for arg in args {
        match all.iter().find(|s| name(**s) == *arg) {
            Some(scenario) => picked.push(*scenario),
            None => {
                let names: Vec<_> = all.iter().map(|s| name(*s)).collect();
                eprintln!(
                    "xtask {command}: unknown scenario {arg:?}; choose among {}",
                    names.join(", ")
                );
                return Err(ExitCode::from(2));
            }
        }
    }
    if picked.is_empty() {
        picked = all.to_vec();
    }
    Ok(picked)
}

/// The one optional number a command takes: `default` when absent, at
/// least `min`. A bad or extra argument is reported, and the command exits 2.
fn optional_number<T>(
    command: &str,
    name: &str,
    args: &[&str],
    default: T,
    min: T,
) -> Result<T, ExitCode>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match args {
        [] => Ok(default),
        [value] => match value.parse::<T>() {
            Ok(n) if n >= min => Ok(n),
            _ => {
                eprintln!(
                    "xtask {command}: {name} must be a number of at least {min}, not {value:?}"
                );
                Err(ExitCode::from(2))
            }
        },
        _ => {
            eprintln!("xtask {command}: expected at most one argument, {name}");
            Err(ExitCode::from(2))
        }
    }
}

fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> &'static Path {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir)
}

#[cfg(test)]
mod tests {
    use super::postgres_address;

    #[test]
    fn postgres_addresses() {
        assert_eq!(
            postgres_address("postgres://postgres@127.0.0.1:5432/test").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(
            postgres_address("postgresql://u:p@db.example:6543/x?sslmode=require").as_deref(),
            Some("db.example:6543")
        );
        assert_eq!(
            postgres_address("postgres://localhost/test").as_deref(),
            Some("localhost:5432")
        );
        assert_eq!(postgres_address("sqlite:portal.db"), None);
    }
}

//! Project automation, run as `cargo xtask <command>`.
//!
//! `cargo xtask test` is the single command CI runs (through `.ci/run`): the
//! formatting check, clippy, the test suite under nextest and the doc tests, in
//! that order, stopping at the first failure. The tidy checks (doc comments,
//! I/O-free domain, no `unsafe`) live in [`tidy`] and run as ordinary tests.

#[cfg(test)]
mod tidy;

use std::env;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const USAGE: &str = "\
Usage: cargo xtask <command>

Commands:
  test    run everything CI runs, stopping at the first failure:
            fmt check, clippy, nextest, doc tests
  lint    run the fmt check and clippy
  help    print this message

When the CI environment variable is set, steps run with CARGO_INCREMENTAL=0.
";

/// One step: a name to print and the arguments given to `cargo`.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
}

const FMT: Step = Step {
    name: "fmt",
    args: &["fmt", "--all", "--", "--check"],
};

const CLIPPY: Step = Step {
    name: "clippy",
    args: &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ],
};

const NEXTEST: Step = Step {
    name: "nextest",
    args: &[
        "nextest",
        "run",
        "--workspace",
        "--all-features",
        "--no-tests=fail",
    ],
};

const DOCTEST: Step = Step {
    name: "doctest",
    args: &["test", "--workspace", "--all-features", "--doc"],
};

const TEST: &[Step] = &[FMT, CLIPPY, NEXTEST, DOCTEST];
const LINT: &[Step] = &[FMT, CLIPPY];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let steps = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["help" | "-h" | "--help"] => {
            print_usage();
            return ExitCode::SUCCESS;
        }
        ["test"] => TEST,
        ["lint"] => LINT,
        _ => {
            eprintln!("xtask: unexpected arguments: {}\n\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };
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
        eprintln!("\n==> [{}] cargo {}", step.name, step.args.join(" "));
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
    let mut command = Command::new(cargo());
    command.args(step.args).current_dir(workspace_root());
    if ci {
        command.env("CARGO_INCREMENTAL", "0");
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "xtask only reports step durations; no domain logic reads the clock here"
    )]
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|error| format!("could not start cargo: {error}"))?;
    if status.success() {
        Ok(started.elapsed())
    } else {
        Err(status.to_string())
    }
}

/// The `cargo` running us (set by cargo for `cargo run`), else the one on `PATH`.
fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> &'static Path {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir)
}

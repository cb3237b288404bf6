//! `cargo xtask fuzz [SECONDS]`: every `cargo fuzz` target of `fuzz/` in
//! turn, each for a bounded time, then a table of what each did.
//!
//! `fuzz/` is its own workspace (libFuzzer needs nightly compiler flags, which
//! stable accepts with `RUSTC_BOOTSTRAP=1`) with its own `fuzz/target`. Each
//! target starts from the checked-in seeds in `fuzz/seeds/TARGET` and keeps
//! what it finds in `fuzz/corpus/TARGET` (git-ignored), so later runs go on
//! from there. A crash is left by libFuzzer in `fuzz/artifacts/TARGET`, and
//! the command fails; `docs/abuse-testing.md` says how to turn one into a
//! regression test.

use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use super::{cargo, workspace_root};

/// How long each target runs when no time is given.
const DEFAULT_SECONDS: u64 = 30;

/// An input that takes longer than this is reported as a hang (a crash).
const INPUT_TIMEOUT_SECONDS: u64 = 10;

/// What one target's run came to.
struct Outcome {
    target: String,
    passed: bool,
    executions: Option<u64>,
    corpus: usize,
    elapsed: Duration,
}

pub fn run(args: &[&str]) -> ExitCode {
    let seconds = match crate::optional_number::<u64>("fuzz", "SECONDS", args, DEFAULT_SECONDS, 1) {
        Ok(n) => n,
        Err(code) => return code,
    };
    match fuzz_all(seconds) {
        Ok(outcomes) => report(&outcomes),
        Err(message) => {
            eprintln!("xtask fuzz: {message}");
            ExitCode::FAILURE
        }
    }
}

fn fuzz_all(seconds: u64) -> Result<Vec<Outcome>, String> {
    let fuzz_dir = workspace_root().join("fuzz");
    ensure_cargo_fuzz()?;
    let listed = cargo_fuzz(&fuzz_dir)
        .arg("list")
        .output()
        .map_err(|e| format!("cargo fuzz list: {e}"))?;
    let targets: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        return Err("cargo fuzz list found no target".to_owned());
    }
    eprintln!("xtask: building the fuzz targets (fuzz/target)");
    let built = cargo_fuzz(&fuzz_dir)
        .arg("build")
        .status()
        .map_err(|e| format!("cargo fuzz build: {e}"))?;
    if !built.success() {
        return Err(format!("cargo fuzz build failed: {built}"));
    }
    let logs = fuzz_dir.join("artifacts").join("logs");
    fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
    let mut outcomes = Vec::with_capacity(targets.len());
    for target in targets {
        eprintln!("\n==> [fuzz] {target} for {seconds} s");
        outcomes.push(fuzz_one(&fuzz_dir, &logs, &target, seconds)?);
    }
    Ok(outcomes)
}

/// Installs cargo-fuzz with `cargo install --locked` when it is missing.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = Command::new(cargo())
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz (cargo install --locked cargo-fuzz)");
    let status = Command::new(cargo())
        .args(["install", "--locked", "cargo-fuzz"])
        .status()
        .map_err(|e| format!("cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo install --locked cargo-fuzz failed: {status}"
        ))
    }
}

/// `cargo fuzz` in `fuzz/`, with the nightly flags allowed on stable.
fn cargo_fuzz(fuzz_dir: &Path) -> Command {
    let mut command = Command::new(cargo());
    command
        .arg("fuzz")
        .current_dir(fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1");
    command
}

fn fuzz_one(fuzz_dir: &Path, logs: &Path, target: &str, seconds: u64) -> Result<Outcome, String> {
    let corpus = fuzz_dir.join("corpus").join(target);
    fs::create_dir_all(&corpus).map_err(|e| format!("creating {}: {e}", corpus.display()))?;
    let log_path = logs.join(format!("{target}.log"));
    let log = fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut command = cargo_fuzz(fuzz_dir);
    command
        .args(["run", target])
        .arg(&corpus)
        .stdout(
            log.try_clone()
                .map_err(|e| format!("{}: {e}", log_path.display()))?,
        )
        .stderr(log);
    let seeds = fuzz_dir.join("seeds").join(target);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    command.args([
        "--".to_owned(),
        format!("-max_total_time={seconds}"),
        format!("-timeout={INPUT_TIMEOUT_SECONDS}"),
        "-print_final_stats=1".to_owned(),
    ]);
    #[allow(
        clippy::disallowed_methods,
        reason = "xtask reports how long each target ran; no domain logic reads the clock here"
    )]
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;
    let elapsed = started.elapsed();
    let output = fs::read_to_string(&log_path).unwrap_or_default();
    let passed = status.success();
    if !passed {
        let tail: Vec<&str> = output.lines().rev().take(40).collect();
        eprintln!(
            "xtask: {target} failed ({status}); the end of {}:",
            log_path.display()
        );
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
    }
    Ok(Outcome {
        target: target.to_owned(),
        passed,
        executions: final_stat(&output, "stat::number_of_executed_units:"),
        corpus: fs::read_dir(&corpus).map_or(0, Iterator::count),
        elapsed,
    })
}

/// A number libFuzzer prints with `-print_final_stats=1`.
fn final_stat(output: &str, name: &str) -> Option<u64> {
    output
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|value| value.trim().parse().ok())
}

#[allow(clippy::print_stdout, reason = "the table is the command's output")]
fn report(outcomes: &[Outcome]) -> ExitCode {
    println!("\n| target | result | executions | corpus files | seconds |");
    println!("| --- | --- | --- | --- | --- |");
    for outcome in outcomes {
        println!(
            "| {} | {} | {} | {} | {:.0} |",
            outcome.target,
            if outcome.passed { "ok" } else { "FAILED" },
            outcome
                .executions
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            outcome.corpus,
            outcome.elapsed.as_secs_f64()
        );
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "\nxtask fuzz: {failed} target(s) failed; crashes are in fuzz/artifacts/TARGET, \
             logs in fuzz/artifacts/logs"
        );
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::final_stat;

    #[test]
    fn reads_final_stats() {
        let output =
            "#1024 DONE cov: 10\nstat::number_of_executed_units: 51234\nstat::peak_rss_mb: 40\n";
        assert_eq!(
            final_stat(output, "stat::number_of_executed_units:"),
            Some(51234)
        );
        assert_eq!(
            final_stat("no stats", "stat::number_of_executed_units:"),
            None
        );
    }
}

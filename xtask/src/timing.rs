//! `cargo xtask timing [ROUNDS]`: does the service's response time tell
//! whether a username exists?
//!
//! On the release service (SQLite, rate limit off) with one activated and
//! one pending account, each round sends, in alternating order, a pair of
//! requests per "answers alike" route: a login with a wrong password, a
//! password-reset request (`POST /api/v1/password-resets`) and an activation
//! resend (`POST /api/v1/activations/resend`), once for an existing username
//! and once for an unknown one; then one login with the right password.
//!
//! The judge is an attacker's classifier, not a difference of medians: from
//! one answer time, guess "exists" when it lies on the known side of the
//! midpoint between the two medians. Over the default 300 pairs a route
//! fails when that guess is right more than 55 % of the time (50 % is a
//! coin). The medians are still printed, beside one hash time (the raw
//! Argon2id verification time of this machine with the service's
//! parameters) and the median successful login.
//!
//! The lockout limit and the hourly email cap are raised for the run, so that
//! every known-user request takes its full path (a wrong password is
//! verified and counted, a reset issues a token and queues its email) rather
//! than the shorter answer of a locked account or a reached cap.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use super::service::{PROVIDERS, Service};
use super::{cargo, workspace_root};

const DEFAULT_ROUNDS: usize = 300;
const WARM_UP_ROUNDS: usize = 10;
const USERNAME: &str = "timing.user";
/// An account left pending activation: the one a resend works for.
const PENDING: &str = "timing.pending";
const PASSWORD: &str = "Quartz-Harbor-71-Lantern";
const WRONG_PASSWORD: &str = "Wrong-Harbor-71-Lantern";
/// The best midpoint guess may be right at most this often.
const MAX_ACCURACY: f64 = 0.55;

pub fn run(args: &[&str]) -> ExitCode {
    let rounds = match crate::optional_number::<usize>("timing", "ROUNDS", args, DEFAULT_ROUNDS, 10)
    {
        Ok(n) => n,
        Err(code) => return code,
    };
    match measure(rounds) {
        Ok(report) => report.print(),
        Err(message) => {
            eprintln!("xtask timing: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The durations of one kind of request, in milliseconds.
#[derive(Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn median(&self) -> f64 {
        median(&self.0)
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[derive(Default)]
struct Measurements {
    login_known: Samples,
    login_unknown: Samples,
    reset_known: Samples,
    reset_unknown: Samples,
    resend_known: Samples,
    resend_unknown: Samples,
    login_success: Samples,
}

struct Report {
    rounds: usize,
    hash_ms: f64,
    samples: Measurements,
}

fn measure(rounds: usize) -> Result<Report, String> {
    let hash_ms = raw_hash_ms()?;
    eprintln!("xtask: one Argon2id verification takes {hash_ms:.2} ms here");
    let service = Service::start(
        "timing",
        &[
            ("PORTAL_LOCKOUT_MAX_FAILED", "1000000"),
            ("PORTAL_EMAILS_PER_HOUR", "1000000"),
            ("RUST_LOG", "error,portal::mail=info"),
        ],
    )?;
    service.register_account(PROVIDERS[0], USERNAME, PASSWORD)?;
    service.register_pending(PROVIDERS[1], PENDING, PASSWORD)?;
    eprintln!(
        "xtask: measuring {rounds} rounds (after {WARM_UP_ROUNDS} warm-up rounds) on {}",
        service.base_url()
    );
    let mut samples = Measurements::default();
    let mut discard = Measurements::default();
    for round in 0..WARM_UP_ROUNDS + rounds {
        let into = if round < WARM_UP_ROUNDS {
            &mut discard
        } else {
            &mut samples
        };
        let unknown = format!("ghost{round}.user");
        let login = |username: &str, password: &str| {
            format!(r#"{{"username":"{username}","password":"{password}"}}"#)
        };
        let reset = |username: &str| format!(r#"{{"username":"{username}"}}"#);
        let known_login = login(USERNAME, WRONG_PASSWORD);
        let unknown_login = login(&unknown, WRONG_PASSWORD);
        let known_reset = reset(USERNAME);
        let unknown_reset = reset(&unknown);
        // Alternate which goes first, so that neither always follows the other.
        let known_first = round % 2 == 0;
        for known in [known_first, !known_first] {
            let (body, into) = if known {
                (&known_login, &mut into.login_known)
            } else {
                (&unknown_login, &mut into.login_unknown)
            };
            into.0.push(timed(&service, "/api/v1/sessions", body, 401)?);
        }
        for known in [known_first, !known_first] {
            let (body, into) = if known {
                (&known_reset, &mut into.reset_known)
            } else {
                (&unknown_reset, &mut into.reset_unknown)
            };
            into.0
                .push(timed(&service, "/api/v1/password-resets", body, 202)?);
        }
        let known_resend = reset(PENDING);
        for known in [known_first, !known_first] {
            let (body, into) = if known {
                (&known_resend, &mut into.resend_known)
            } else {
                (&unknown_reset, &mut into.resend_unknown)
            };
            into.0
                .push(timed(&service, "/api/v1/activations/resend", body, 202)?);
        }
        let right = login(USERNAME, PASSWORD);
        into.login_success
            .0
            .push(timed(&service, "/api/v1/sessions", &right, 201)?);
    }
    Ok(Report {
        rounds,
        hash_ms,
        samples,
    })
}

/// One POST, in milliseconds, after checking its status.
fn timed(service: &Service, path: &str, body: &str, status: u16) -> Result<f64, String> {
    #[allow(
        clippy::disallowed_methods,
        reason = "measuring response times is this command's purpose"
    )]
    let started = Instant::now();
    let (got, answer) = service.request("POST", path, Some(body))?;
    let elapsed = started.elapsed();
    if got != status {
        return Err(format!(
            "POST {path}: expected {status}, got {got} {answer}"
        ));
    }
    Ok(millis(elapsed))
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One Argon2id verification with the service's default parameters, in
/// milliseconds: the `argon2_rate` example on one thread for 3 seconds.
fn raw_hash_ms() -> Result<f64, String> {
    eprintln!("xtask: measuring the raw Argon2id verification time (3 s)");
    let output = Command::new(cargo())
        .args([
            "run",
            "--release",
            "-q",
            "-p",
            "portal-domain",
            "--example",
            "argon2_rate",
            "--",
            "1",
            "3",
        ])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cargo run --example argon2_rate: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the argon2_rate example failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let rate: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("argon2_rate printed no rate: {e}"))?;
    if rate > 0.0 {
        Ok(1000.0 / rate)
    } else {
        Err("argon2_rate measured no verification".to_owned())
    }
}

impl Report {
    #[allow(clippy::print_stdout, reason = "the table is the command's output")]
    fn print(&self) -> ExitCode {
        let rows = [
            (
                "login, wrong password",
                &self.samples.login_known,
                &self.samples.login_unknown,
            ),
            (
                "password-reset request",
                &self.samples.reset_known,
                &self.samples.reset_unknown,
            ),
            (
                "activation resend",
                &self.samples.resend_known,
                &self.samples.resend_unknown,
            ),
        ];
        println!(
            "\n{} pairs per route; one hash = {:.2} ms (raw Argon2id verification); \
             median successful login = {:.2} ms; a midpoint guess may be right at most {:.0} % of the time\n",
            self.rounds,
            self.hash_ms,
            self.samples.login_success.median(),
            MAX_ACCURACY * 100.0
        );
        println!(
            "| request | median known (ms) | median unknown (ms) | difference (ms) | midpoint guess right | result |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        let mut failed = false;
        for (name, known, unknown) in rows {
            let difference = (known.median() - unknown.median()).abs();
            let accuracy = midpoint_accuracy(&known.0, &unknown.0);
            let ok = accuracy <= MAX_ACCURACY;
            failed |= !ok;
            println!(
                "| {name} | {:.3} | {:.3} | {difference:.3} | {:.1} % | {} |",
                known.median(),
                unknown.median(),
                100.0 * accuracy,
                if ok { "ok" } else { "FAILED" }
            );
        }
        if failed {
            eprintln!("\nxtask timing: a known and an unknown username can be told apart by time");
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// How often an attacker who knows both medians guesses right from one
/// answer time: "exists" on the known median's side of their midpoint.
fn midpoint_accuracy(known: &[f64], unknown: &[f64]) -> f64 {
    let total = known.len() + unknown.len();
    if total == 0 {
        return f64::NAN;
    }
    let (known_median, unknown_median) = (median(known), median(unknown));
    let midpoint = f64::midpoint(known_median, unknown_median);
    let looks_known = |t: f64| {
        if known_median >= unknown_median {
            t > midpoint
        } else {
            t < midpoint
        }
    };
    let right = known.iter().filter(|t| looks_known(**t)).count()
        + unknown.iter().filter(|t| !looks_known(**t)).count();
    right as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::{median, midpoint_accuracy};

    #[test]
    fn a_midpoint_guess_tells_apart_what_differs_and_not_what_does_not() {
        let known: Vec<f64> = (0..300).map(|i| 1.0 + f64::from(i % 7) * 0.01).collect();
        let unknown: Vec<f64> = (0..300).map(|i| 0.5 + f64::from(i % 7) * 0.01).collect();
        assert_eq!(midpoint_accuracy(&known, &unknown), 1.0);
        // The same spread for both: the guess is a coin at best.
        let same: Vec<f64> = (0..300).map(|i| 1.0 + f64::from(i % 10) * 0.1).collect();
        let shuffled: Vec<f64> = same.iter().rev().copied().collect();
        assert!(midpoint_accuracy(&same, &shuffled) <= 0.55);
        // Faster-when-known is caught as well as slower-when-known.
        assert_eq!(midpoint_accuracy(&unknown, &known), 1.0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}

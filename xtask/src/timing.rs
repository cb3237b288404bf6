//! `cargo xtask timing [ROUNDS]`: does the service's response time tell
//! whether a username exists?
//!
//! On the release service (SQLite, rate limit off) with one activated and
//! one pending account, each round sends, in a new random order, a pair of
//! requests per "answers alike" route: a login with a wrong password, a
//! password-reset request (`POST /api/v1/password-resets`) and an activation
//! resend (`POST /api/v1/activations/resend`), once for an existing username
//! and once for an unknown one; and one login with the right password.
//!
//! The judge is an attacker's classifier, not a difference of medians: from
//! one answer time, guess "exists" when it lies on the known side of the
//! midpoint between the two medians. The guess is learned on half of the
//! rounds and judged on the other half (both ways, averaged), so that noise
//! which happened to part one run's medians does not pass for a gap. Over
//! the default 300 pairs a route fails when that guess is right more than
//! 55 % of the time (50 % is a coin). The medians are still printed, beside
//! one hash time (the raw Argon2id verification time of this machine with
//! the service's parameters) and the median successful login.
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
    let mut order = Shuffle::seeded();
    eprintln!("xtask: request order shuffled with seed {}", order.seed);
    for round in 0..WARM_UP_ROUNDS + rounds {
        let into = if round < WARM_UP_ROUNDS {
            &mut discard
        } else {
            &mut samples
        };
        let unknown = format!("ghost{round}.user");
        let mut probes = Probe::ALL;
        order.shuffle(&mut probes);
        for probe in probes {
            let (path, username, password, status) = match probe {
                Probe::LoginKnown => ("/api/v1/sessions", USERNAME, Some(WRONG_PASSWORD), 401),
                Probe::LoginUnknown => (
                    "/api/v1/sessions",
                    unknown.as_str(),
                    Some(WRONG_PASSWORD),
                    401,
                ),
                Probe::LoginRight => ("/api/v1/sessions", USERNAME, Some(PASSWORD), 201),
                Probe::ResetKnown => ("/api/v1/password-resets", USERNAME, None, 202),
                Probe::ResetUnknown => ("/api/v1/password-resets", unknown.as_str(), None, 202),
                Probe::ResendKnown => ("/api/v1/activations/resend", PENDING, None, 202),
                Probe::ResendUnknown => ("/api/v1/activations/resend", unknown.as_str(), None, 202),
            };
            let body = match password {
                Some(password) => {
                    format!(r#"{{"username":"{username}","password":"{password}"}}"#)
                }
                None => format!(r#"{{"username":"{username}"}}"#),
            };
            let took = timed(&service, path, &body, status)?;
            into.of(probe).0.push(took);
        }
    }
    Ok(Report {
        rounds,
        hash_ms,
        samples,
    })
}

/// The requests of one round, sent in a new random order each round.
#[derive(Debug, Clone, Copy)]
enum Probe {
    LoginKnown,
    LoginUnknown,
    LoginRight,
    ResetKnown,
    ResetUnknown,
    ResendKnown,
    ResendUnknown,
}

impl Probe {
    const ALL: [Self; 7] = [
        Self::LoginKnown,
        Self::LoginUnknown,
        Self::LoginRight,
        Self::ResetKnown,
        Self::ResetUnknown,
        Self::ResendKnown,
        Self::ResendUnknown,
    ];
}

impl Measurements {
    fn of(&mut self, probe: Probe) -> &mut Samples {
        match probe {
            Probe::LoginKnown => &mut self.login_known,
            Probe::LoginUnknown => &mut self.login_unknown,
            Probe::LoginRight => &mut self.login_success,
            Probe::ResetKnown => &mut self.reset_known,
            Probe::ResetUnknown => &mut self.reset_unknown,
            Probe::ResendKnown => &mut self.resend_known,
            Probe::ResendUnknown => &mut self.resend_unknown,
        }
    }
}

/// Why the order is random, not alternating: the service's hashing threads
/// take queued jobs in turn, one per core, so with requests sent one after
/// another a fixed order puts every known-username hash on one core and
/// every unknown one on the other, whenever a round holds an odd number of
/// hashes (three here). The two cores are not equally quiet (this client
/// and the service's request threads share them), so a fixed order
/// measured the cores, with a sign that changed from run to run.
///
/// SplitMix64: enough to shuffle seven requests, and no dependency.
struct Shuffle {
    seed: u64,
    state: u64,
}

impl Shuffle {
    #[allow(
        clippy::disallowed_methods,
        reason = "a seed that differs from run to run, printed with the run"
    )]
    fn seeded() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5eed, |since| since.as_nanos() as u64);
        Self { seed, state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
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
             median successful login = {:.2} ms; a midpoint guess learned on half of the rounds may be right at most {:.0} % of the time on the other half\n",
            self.rounds,
            self.hash_ms,
            self.samples.login_success.median(),
            MAX_ACCURACY * 100.0
        );
        println!(
            "| request | median known (ms) | median unknown (ms) | difference (ms) | midpoint guess right, learned on the same answers | held out (the judge) | result |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        let mut failed = false;
        for (name, known, unknown) in rows {
            let difference = (known.median() - unknown.median()).abs();
            let in_sample = midpoint_accuracy(&known.0, &unknown.0);
            let held_out = held_out_accuracy(&known.0, &unknown.0);
            let ok = held_out <= MAX_ACCURACY;
            failed |= !ok;
            println!(
                "| {name} | {:.3} | {:.3} | {difference:.3} | {:.1} % | {:.1} % | {} |",
                known.median(),
                unknown.median(),
                100.0 * in_sample,
                100.0 * held_out,
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

/// The attacker's rule, learned from timed answers of both kinds: "exists"
/// on the known median's side of the midpoint between the two medians.
struct MidpointGuess {
    midpoint: f64,
    known_slower: bool,
}

impl MidpointGuess {
    fn learn(known: &[f64], unknown: &[f64]) -> Self {
        let (known_median, unknown_median) = (median(known), median(unknown));
        Self {
            midpoint: f64::midpoint(known_median, unknown_median),
            known_slower: known_median >= unknown_median,
        }
    }

    fn looks_known(&self, t: f64) -> bool {
        if self.known_slower {
            t > self.midpoint
        } else {
            t < self.midpoint
        }
    }

    /// How often the rule is right over `known` and `unknown`.
    fn accuracy(&self, known: &[f64], unknown: &[f64]) -> f64 {
        let total = known.len() + unknown.len();
        if total == 0 {
            return f64::NAN;
        }
        let right = known.iter().filter(|t| self.looks_known(**t)).count()
            + unknown.iter().filter(|t| !self.looks_known(**t)).count();
        right as f64 / total as f64
    }
}

/// How often the midpoint guess learned from the same answers is right:
/// flattered by chance, as every fit judged on its own data is.
fn midpoint_accuracy(known: &[f64], unknown: &[f64]) -> f64 {
    MidpointGuess::learn(known, unknown).accuracy(known, unknown)
}

/// How often an attacker who learned the midpoint guess from half of the
/// rounds guesses right on the other half: learned on the even rounds and
/// judged on the odd ones, then the other way round, averaged. A gap that
/// holds guesses right on answers it was not learned from; noise that only
/// happened to part the medians of one half does not.
fn held_out_accuracy(known: &[f64], unknown: &[f64]) -> f64 {
    let half = |values: &[f64], parity: usize| -> Vec<f64> {
        values
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == parity)
            .map(|(_, t)| *t)
            .collect()
    };
    let folds = [0, 1].map(|learn| {
        let judge = 1 - learn;
        MidpointGuess::learn(&half(known, learn), &half(unknown, learn))
            .accuracy(&half(known, judge), &half(unknown, judge))
    });
    f64::midpoint(folds[0], folds[1])
}

#[cfg(test)]
mod tests {
    use super::{Shuffle, held_out_accuracy, median, midpoint_accuracy};

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
    fn a_gap_holds_on_answers_it_was_not_learned_from_and_noise_does_not() {
        // A steady gap of one tenth of the spread, interleaved round by round.
        let known: Vec<f64> = (0..600).map(|i| 10.0 + f64::from(i % 10) * 0.1).collect();
        let slower: Vec<f64> = known.iter().map(|t| t + 0.5).collect();
        assert!(held_out_accuracy(&slower, &known) > 0.65);
        // Equal answers whose two halves differ the opposite way: the guess
        // learned on one half is wrong on the other.
        let first: Vec<f64> = (0..600)
            .map(|i| if i % 2 == 0 { 10.0 } else { 11.0 } + f64::from(i % 7) * 0.01)
            .collect();
        let second: Vec<f64> = (0..600)
            .map(|i| if i % 2 == 0 { 11.0 } else { 10.0 } + f64::from(i % 7) * 0.01)
            .collect();
        assert!(midpoint_accuracy(&first, &second) <= 0.55);
        assert!(held_out_accuracy(&first, &second) < 0.5);
    }

    #[test]
    fn shuffles_are_permutations() {
        let mut order = Shuffle::seeded();
        let mut items = [0, 1, 2, 3, 4, 5, 6];
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            order.shuffle(&mut items);
            let mut sorted = items;
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3, 4, 5, 6]);
            firsts.insert(items[0]);
        }
        assert_eq!(firsts.len(), 7, "every request goes first sometimes");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}

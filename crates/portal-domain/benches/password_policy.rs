//! Benchmarks of the password policy over realistic password lengths (zxcvbn
//! dominates, and sees at most the first 64 characters), and of roster
//! matching.

// The inputs are fixed and valid; failing to build one is a bug in this
// file that should stop the run at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use portal_domain::password_policy::{PasswordPolicy, PolicyContext};
use portal_domain::roster::match_roster;
use portal_domain::testing::sample;
use portal_domain::values::{EmailAddress, Password, Username};

const LENGTHS: [usize; 6] = [12, 16, 32, 64, 96, 128];

/// A passphrase pattern with every character class within its first 12
/// characters, repeated and cut to length.
const PATTERN: &str = "Quartz-71-Harbor-Lantern-88-Saffron-Glacier-Tulip-";

fn passphrase(length: usize) -> String {
    PATTERN.chars().cycle().take(length).collect()
}

fn policy_check(c: &mut Criterion) {
    let policy = PasswordPolicy::default();
    let context = PolicyContext {
        username: Some(Username::parse("dr.doe").unwrap()),
        email: Some(EmailAddress::parse("frontdesk@doeclinic.example.org").unwrap()),
        names: vec!["Jane".to_owned(), "Doe".to_owned()],
    };
    let mut group = c.benchmark_group("password_policy_check");
    for length in LENGTHS {
        let password = Password::parse(&passphrase(length)).unwrap();
        group.bench_with_input(
            BenchmarkId::from_parameter(length),
            &password,
            |b, password| b.iter(|| policy.check(black_box(password), black_box(&context))),
        );
    }
    group.finish();
}

fn roster_match(c: &mut Criterion) {
    let entry = sample::jane_doe();
    let request = sample::practitioner_request();
    c.bench_function("match_roster", |b| {
        b.iter(|| match_roster(black_box(&request), black_box(Some(&entry))))
    });
}

criterion_group!(benches, policy_check, roster_match);
criterion_main!(benches);

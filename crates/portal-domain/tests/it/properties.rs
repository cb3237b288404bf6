//! Property tests.
//!
//! - `model`: random sequences of registrations, activations, logins,
//!   resets and waits, driven against [`TestPortal`] and a plain model of
//!   the SPEC's rules (§3–§6), with the invariants checked after every step.
//! - `policy`: [`PasswordPolicy::check`] against a straightforward
//!   reimplementation of the rules of SPEC §5 as the policy's module docs
//!   define them.
//! - `normalisation`: the normalisation of names, Tax IDs, ZIPs and
//!   usernames, and roster matching, are insensitive to harmless retyping.

use futures::executor::block_on;
use portal_domain::prelude::*;
use portal_domain::testing::{TestPortal, sample};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;

/// A modest run; failures print their minimal case and write no
/// regression files into the source tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Flips the case of the characters whose `flips` entry (cycled) is true.
fn flip_case(text: &str, flips: &[bool]) -> String {
    if flips.is_empty() {
        return text.to_owned();
    }
    text.chars()
        .zip(flips.iter().copied().cycle())
        .flat_map(|(c, flip)| -> Vec<char> {
            if !flip {
                vec![c]
            } else if c.is_uppercase() {
                c.to_lowercase().collect()
            } else {
                c.to_uppercase().collect()
            }
        })
        .collect()
}

mod model;
mod normalisation;
mod policy;

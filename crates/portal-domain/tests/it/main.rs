//! The domain's integration tests: one binary (link time is dear on 2 cores).

// Integration tests: a failed unwrap is a failed test, in helpers as in tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod contract;
mod flows;
mod mocked;
mod properties;

//! The PostgreSQL adapter's tests: the port contract suite, each case on a
//! database of its own (`#[sqlx::test]`, which reads `DATABASE_URL`).

// Integration tests: a failed unwrap is a failed test, in helpers as in tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod contract;
mod interleavings;

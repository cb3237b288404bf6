//! The SQLite adapter's tests: the port contract suite, each case on a
//! database file of its own; and how migrations run.

// Integration tests: a failed unwrap is a failed test, in helpers as in tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod contract;
mod migrations;
mod support;

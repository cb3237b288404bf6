//! The mail adapter's tests, in one binary: real SMTP conversations with a
//! small in-process server, the file mailer, and the delivery worker.

// Integration tests: a failed unwrap is a failed test, in helpers as in tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config;
mod failures;
mod file;
mod flaky;
mod messages;
mod relay;
mod support;
mod worker;

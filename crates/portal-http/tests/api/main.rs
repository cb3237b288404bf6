//! The service's integration tests: the real server on a free port, over
//! HTTP, on SQLite and on PostgreSQL, with emails delivered over SMTP to a
//! test server; and the operator commands on the same state.

// Integration tests: a failed unwrap is a failed test, in helpers as in tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod answers_alike;
mod browser;
mod cli;
mod concurrency;
mod demo;
mod edge;
mod error_pages;
mod errors;
mod flows;
mod hostile;
mod logs;
mod mfa;
mod migrations;
mod operations;
mod pages;
mod passkeys;
mod policies;
mod readme;
mod replace;
mod runbook;
mod settings;

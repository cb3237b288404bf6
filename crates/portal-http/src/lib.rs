//! The Provider Portal service: the JSON API of SPEC §8 on axum, its
//! configuration, hardening and observability, and the operator commands.
//! `main.rs` is a thin shell over this library so that tests can build the
//! same router with [`app::router`] and drive it.

pub mod api;
pub mod app;
pub mod background;
pub mod cli;
pub mod config;
pub mod extract;
pub mod failure_pace;
pub mod hashpool;
pub mod head_deadline;
pub mod mail;
pub mod metrics;
pub mod middleware;
pub mod pages;
pub mod problem;
pub mod ratelimit;
pub mod redact;
pub mod relying_party;
pub mod schema;
pub mod serve;
pub mod state;
pub mod telemetry;

//! The domain's integration tests: one binary (link time is dear on 2 cores).

mod contract_memory;
mod flows;
mod mocked;
mod properties;

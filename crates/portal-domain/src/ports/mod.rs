//! The ports: what the domain needs from the outside world, as traits it owns.
//!
//! Stores own atomicity. Each method that changes several things at once
//! ("account created + activation email queued", "failure counted + lock
//! set", "token redeemed + password changed + sessions revoked + notice
//! queued") is **one** method and must be one transaction (or one locked
//! section) in every adapter. Emails are queued through the store (a
//! transactional outbox); [`Mailer`] is what the delivery worker calls.
//!
//! Every adapter runs the contract suite in `crate::testing::contract`
//! (feature `testing`), so a fake cannot drift from the databases.
//!
//! The store is split into narrow ports, one per file, each named for what
//! it stores; [`UserStore`] is all of them at once. Each atomic operation
//! belongs to the port of its use case's main aggregate (see
//! `docs/decisions.md`).

mod account_settings;
mod accounts;
mod audit_log;
mod clock;
mod credentials;
mod hashing;
mod housekeeping;
mod identity_checks;
mod login_attempts;
mod mailer;
mod outbox;
mod passkeys;
mod registrations;
mod roster;
mod second_factors;
mod sessions;
mod store;
mod tokens;
mod webauthn;

pub use account_settings::*;
pub use accounts::*;
pub use audit_log::*;
pub use clock::*;
pub use credentials::*;
pub use hashing::*;
pub use housekeeping::*;
pub use identity_checks::*;
pub use login_attempts::*;
pub use mailer::*;
pub use outbox::*;
pub use passkeys::*;
pub use registrations::*;
pub use roster::*;
pub use second_factors::*;
pub use sessions::*;
pub use store::*;
pub use tokens::*;
pub use webauthn::*;

/// A store could not do what was asked. The message is for logs only: it
/// never holds a secret, and it never reaches a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out; worth retrying later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The database aborted the transaction to settle a conflict with
    /// another one (a deadlock or a serialization failure). Adapters run
    /// such a transaction again; this reaches a use case only when the
    /// retries ran out.
    #[error("the store aborted a transaction under contention: {0}")]
    Contention(String),
    /// Anything else (corrupt row, broken invariant, driver bug).
    #[error("unexpected store failure: {0}")]
    Unexpected(String),
}

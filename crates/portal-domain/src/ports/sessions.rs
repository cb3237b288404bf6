//! [`Sessions`]: the sessions of logged-in accounts.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{ProviderRead, StoreError};
use crate::account::Account;
use crate::session::Session;
use crate::values::TokenHash;

/// The sessions, stored by token hash. A session is made by a login
/// ([`LoginAttempts::record_login_success`](super::LoginAttempts::record_login_success))
/// and revoked in bulk by the changes that must end them (a reset, a
/// password change, disabling); this port reads, refreshes and ends one.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// The session, the account it belongs to and, where this store keeps
    /// the roster, the account's roster entry: read together, since every
    /// authenticated request needs all three.
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError>;

    /// Moves the session's `last_seen_at` forward to `now` (never back).
    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Deletes the session; revoking an unknown session is not an error.
    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError>;
}

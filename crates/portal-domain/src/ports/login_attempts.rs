//! [`LoginAttempts`]: what logins write on an account: their places in the
//! failure count, locks, and a success with its session.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{CredentialWrite, ProviderRead, StoreError};
use crate::account::{Account, AccountId};
use crate::audit::AuditEvent;
use crate::lockout::{FirstPlace, LockState, LockoutPolicy, RecordedFailure, ReservedAttempt};
use crate::session::Session;
use crate::values::{PasswordHash, Username};

/// What a login's lookup read ([`LoginAttempts::account_for_login`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRead {
    pub account: Account,
    pub provider: ProviderRead,
    /// The attempt's place, when the store took it with the read.
    pub place: Option<ReservedAttempt>,
}

/// The login attempts counted on each account (SPEC §5): the read a login
/// starts with, the places in the failure count, the lock (and the
/// operator's unlock), and the outcome.
///
/// Owns these atomic operations: [`LoginAttempts::reserve_login_attempt`]
/// and [`LoginAttempts::record_login_failure`] (the count, the lock and the
/// lock's audit event), and [`LoginAttempts::record_login_success`] (the
/// account's lock cleared and last login set, the session, a rehash and the
/// login's audit event, together: the session belongs to the login that
/// made it).
#[async_trait]
pub trait LoginAttempts: Send + Sync {
    /// Looks an account up by username for a login, with its provider's
    /// roster entry where this store keeps the roster (one query on the
    /// hottest path instead of two).
    ///
    /// A store may also write `first` with the same statement, only while
    /// the stored state is [`LockState::default`] (no failures, no lock),
    /// and then says so in [`LoginRead::place`]: the login's place is
    /// taken, and the account read is the state before it. Otherwise
    /// (`place` is `None`) the use case takes its place with
    /// [`LoginAttempts::reserve_login_attempt`], as every store may leave it to.
    async fn account_for_login(
        &self,
        username: &Username,
        first: Option<FirstPlace>,
    ) -> Result<Option<LoginRead>, StoreError>;

    /// Atomically gives a login or password-change attempt its place in
    /// the count before its password is verified
    /// ([`LockState::reserve`](crate::lockout::LockState::reserve)). Never
    /// loses a count under concurrency; attempts past the places are
    /// refused and change nothing. An unknown id is `Unexpected`.
    ///
    /// `seen` is the state the caller read with the account: a store may
    /// write the reservation in one statement that applies only while the
    /// state is still `seen`, and must decide under its lock when it is not
    /// (or when `seen` would refuse: a refusal is never made from a stale
    /// read).
    async fn reserve_login_attempt(
        &self,
        id: AccountId,
        seen: LockState,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> Result<ReservedAttempt, StoreError>;

    /// Gives back the place of a reserved attempt that was not judged
    /// ([`LockState::after_release`](crate::lockout::LockState::after_release)).
    async fn release_login_attempt(&self, id: AccountId) -> Result<(), StoreError>;

    /// Atomically records that a reserved attempt's password was wrong
    /// ([`LockState::after_verified_failure`](crate::lockout::LockState::after_verified_failure):
    /// it was counted when reserved, so this only sets the lock when the
    /// count reached the limit) and returns the new state, and whether this
    /// failure set the lock ([`RecordedFailure::between`]). Of failures
    /// racing past the limit exactly one reports `set_lock`; that one also
    /// stores `lock_audit` in the same transaction. An unknown id is
    /// `Unexpected`.
    async fn record_login_failure(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        policy: LockoutPolicy,
        lock_audit: &AuditEvent,
    ) -> Result<RecordedFailure, StoreError>;

    /// In one transaction, only while the account's password hash is still
    /// `verified` (else [`CredentialWrite::Stale`] and nothing is written,
    /// so a login that verified a password a reset has just replaced leaves
    /// no session behind) and no lock is in force at `session.created_at`
    /// (else [`CredentialWrite::Locked`]: a success never lifts a lock): clears the failure count and lock, sets the last
    /// login, stores the session, replaces the password hash when a rehash
    /// is given, and appends the login's audit event (a session never exists
    /// without its record).
    async fn record_login_success(
        &self,
        id: AccountId,
        session: &Session,
        verified: &PasswordHash,
        rehashed: Option<PasswordHash>,
        audit: &AuditEvent,
    ) -> Result<CredentialWrite, StoreError>;

    /// Clears the failure count and the lock.
    async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError>;
}

//! [`UserStore`]: every narrow store port at once, the bound the use cases
//! take; and [`Storage`], what a database adapter provides.

use super::{
    AccountSettings, Accounts, AuditLog, Credentials, Housekeeping, IdentityChecks, LoginAttempts,
    OutboxStore, Passkeys, ProviderRoster, Registrations, SecondFactors, Sessions,
};

/// Accounts, registration flows, credentials, sessions, counters, audit
/// events and purges: everything the use cases persist, as the narrow
/// ports it is made of. It has no methods of its own: a type that
/// implements every narrow port is a `UserStore`.
pub trait UserStore:
    Registrations
    + Accounts
    + LoginAttempts
    + Credentials
    + Sessions
    + SecondFactors
    + Passkeys
    + IdentityChecks
    + Housekeeping
    + AuditLog
    + AccountSettings
{
}

impl<T> UserStore for T where
    T: Registrations
        + Accounts
        + LoginAttempts
        + Credentials
        + Sessions
        + SecondFactors
        + Passkeys
        + IdentityChecks
        + Housekeeping
        + AuditLog
        + AccountSettings
        + ?Sized
{
}

/// Everything a database adapter provides: a binary that picks its store at
/// run time holds an `Arc<dyn Storage>`, which is all three ports at once.
pub trait Storage: UserStore + OutboxStore + ProviderRoster {}

impl<T: UserStore + OutboxStore + ProviderRoster + ?Sized> Storage for T {}

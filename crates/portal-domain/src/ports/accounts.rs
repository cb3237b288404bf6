//! [`Accounts`]: the provider accounts, and the one transaction that
//! creates one.

use async_trait::async_trait;

use super::{LinkToken, StoreError};
use crate::account::{Account, AccountId, NewAccount};
use crate::audit::AuditEvent;
use crate::email::Email;
use crate::registration::{AgreementAcceptance, RegistrationFlow};
use crate::roster::{RegistrantKey, RosterEntry};
use crate::values::Username;

/// Why an account could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateAccountError {
    /// Another account has this username, case-insensitively.
    #[error("username taken")]
    UsernameTaken,
    /// Another account holds this registrant.
    #[error("already registered")]
    AlreadyRegistered,
    /// The flow is not at `finished_flow.version - 1`: another step won.
    #[error("the registration was changed concurrently")]
    FlowConflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An account's roster entry, as a store read it with the account.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, moved once beside an account that is larger still"
)]
pub enum ProviderRead {
    /// Read in the same query: the store keeps the roster its accounts
    /// reference (the database adapters, where a foreign key ties each
    /// account to its entry, so no other roster can hold its provider).
    /// `None`: the entry is gone.
    WithAccount(Option<RosterEntry>),
    /// The store does not keep the roster: the use case asks the
    /// [`ProviderRoster`](super::ProviderRoster).
    Elsewhere,
}

/// The accounts: their look-ups, and the changes an account owns.
///
/// Owns these atomic operations: [`Accounts::create_account`] (the flow
/// finished, a replaced pending account deleted, the account, its
/// activation token, its email and its audit event, together) and
/// [`Accounts::set_disabled`] (the account and the revocation of its
/// sessions).
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Looks an account up by username, case-insensitively.
    async fn account_by_username(&self, username: &Username)
    -> Result<Option<Account>, StoreError>;

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError>;

    /// The account of a registrant, if any (pending or active).
    async fn account_by_registrant(
        &self,
        key: &RegistrantKey,
    ) -> Result<Option<Account>, StoreError>;

    /// In one transaction: finishes the flow (compare-and-set as in
    /// [`Registrations::update_flow`](super::Registrations::update_flow)),
    /// deletes the account of the same registrant that does not hold its
    /// provider
    /// ([`Account::holds_provider`]: never activated, not disabled) with its
    /// tokens and sessions (its links then answer as unknown tokens, its
    /// username is free) and stores
    /// [`AuditEvent::pending_replaced`] for it, creates the account in
    /// `pending_activation`, stores the activation token and queues its email.
    ///
    /// Errors, checked by the database's constraints so that they hold under
    /// concurrency: [`CreateAccountError::UsernameTaken`] (case-insensitive
    /// unique username, held by an account other than the one replaced)
    /// before [`CreateAccountError::AlreadyRegistered`] (unique registrant:
    /// an account that holds the provider, or one a concurrent registration
    /// committed first), and [`CreateAccountError::FlowConflict`] before
    /// both (a double-submitted step is told that its flow moved on, not
    /// that its own account holds the username). `audit` is stored with
    /// the account. On any error nothing is written (the pending account
    /// stays).
    async fn create_account(
        &self,
        finished_flow: &RegistrationFlow,
        account: &NewAccount,
        activation: &LinkToken,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, CreateAccountError>;

    /// Records a new acceptance of the Provider Agreement.
    async fn record_agreement(
        &self,
        id: AccountId,
        acceptance: &AgreementAcceptance,
    ) -> Result<(), StoreError>;

    /// Disables or enables the account; disabling revokes every session of
    /// the account in the same transaction.
    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError>;
}

//! [`Passkeys`]: each account's passkeys (WebAuthn credentials) and the
//! ceremonies waiting for a browser's answer.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::account::AccountId;
use crate::audit::AuditEvent;
use crate::email::Email;
use crate::passkey::{
    CeremonyKind, NewPasskey, Passkey, PasskeyCeremony, PasskeyId, PasskeyName, StoredCredential,
};
use crate::values::TokenHash;

/// The passkeys and their ceremonies (SPEC §4a). A stored credential is a
/// public key, not a secret; a ceremony's id is stored only hashed.
///
/// Owns these atomic operations: [`Passkeys::add_passkey`] and
/// [`Passkeys::remove_passkey`] (the change, the notice queued and the
/// audit event stored, together), [`Passkeys::start_passkey_ceremony`]
/// (expired ones dropped, the cap checked and the state stored under the
/// account's lock), and the single-use guard
/// [`Passkeys::take_passkey_ceremony`]: of two racing finishes of one
/// ceremony, exactly one gets its state, across instances.
#[async_trait]
pub trait Passkeys: Send + Sync {
    /// The account's passkeys, oldest first.
    async fn passkeys_of(&self, id: AccountId) -> Result<Vec<Passkey>, StoreError>;

    /// Under the account's lock: drops the account's expired ceremonies and
    /// one with the same id hash, then stores `ceremony` unless `max` live
    /// ones are stored already (`false`, nothing written).
    async fn start_passkey_ceremony(
        &self,
        ceremony: &PasskeyCeremony,
        max: u32,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes and returns the ceremony of `kind` with this id hash while
    /// it is live at `now`: once, also when racing.
    async fn take_passkey_ceremony(
        &self,
        hash: &TokenHash,
        kind: CeremonyKind,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyCeremony>, StoreError>;

    /// In one transaction, only while the account has fewer than `max`
    /// passkeys and no account has this credential id (else `None` and
    /// nothing written): stores the passkey, queues `notice` and stores
    /// `audit`.
    #[allow(clippy::too_many_arguments)]
    async fn add_passkey(
        &self,
        id: AccountId,
        passkey: &NewPasskey,
        max: usize,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyId>, StoreError>;

    /// Renames the account's passkey: `false` when it has none by that id.
    async fn rename_passkey(
        &self,
        id: AccountId,
        passkey: PasskeyId,
        name: &PasskeyName,
    ) -> Result<bool, StoreError>;

    /// In one transaction: deletes the account's passkey, queues `notice`
    /// and stores `audit`; `false` and nothing written when it has none by
    /// that id.
    async fn remove_passkey(
        &self,
        id: AccountId,
        passkey: PasskeyId,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Records a login with the account's passkey at `now`, with its
    /// credential as the library updated it (a new sign counter), when
    /// given: `false` when the passkey is gone.
    async fn record_passkey_use(
        &self,
        id: AccountId,
        passkey: PasskeyId,
        updated: Option<StoredCredential>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

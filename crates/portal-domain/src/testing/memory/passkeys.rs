//! [`Passkeys`] in memory.

use super::*;
use crate::passkey::{
    CeremonyKind, NewPasskey, Passkey, PasskeyCeremony, PasskeyId, PasskeyName, StoredCredential,
};
use crate::ports::Passkeys;

#[async_trait]
impl Passkeys for InMemoryStore {
    async fn passkeys_of(&self, id: AccountId) -> Result<Vec<Passkey>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .passkeys
            .iter()
            .filter(|p| p.account_id == id)
            .cloned()
            .collect())
    }

    async fn start_passkey_ceremony(
        &self,
        ceremony: &PasskeyCeremony,
        max: u32,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        state.account_mut(ceremony.account_id)?;
        let account = ceremony.account_id;
        state.ceremonies.retain(|hash, c| {
            c.account_id != account || (c.is_live(now) && *hash != ceremony.hash)
        });
        let live = state
            .ceremonies
            .values()
            .filter(|c| c.account_id == account)
            .count();
        if u32::try_from(live).unwrap_or(u32::MAX) >= max
            || state.ceremonies.contains_key(&ceremony.hash)
        {
            return Ok(false);
        }
        state.ceremonies.insert(ceremony.hash, ceremony.clone());
        Ok(true)
    }

    async fn take_passkey_ceremony(
        &self,
        hash: &TokenHash,
        kind: CeremonyKind,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyCeremony>, StoreError> {
        let mut state = lock(&self.state);
        match state.ceremonies.get(hash) {
            Some(c) if c.kind == kind && c.is_live(now) => Ok(state.ceremonies.remove(hash)),
            _ => Ok(None),
        }
    }

    async fn add_passkey(
        &self,
        id: AccountId,
        passkey: &NewPasskey,
        max: usize,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyId>, StoreError> {
        let mut state = lock(&self.state);
        state.account_mut(id)?;
        let owned = state.passkeys.iter().filter(|p| p.account_id == id).count();
        if owned >= max
            || state
                .passkeys
                .iter()
                .any(|p| p.credential_id == passkey.credential_id)
        {
            return Ok(None);
        }
        state.next_passkey += 1;
        let passkey_id = PasskeyId::new(state.next_passkey);
        state.passkeys.push(Passkey {
            id: passkey_id,
            account_id: id,
            name: passkey.name.clone(),
            credential_id: passkey.credential_id.clone(),
            credential: passkey.credential.clone(),
            created_at: now,
            last_used_at: None,
        });
        state.enqueue(notice, now, None);
        state.audit.push(audit.clone());
        Ok(Some(passkey_id))
    }

    async fn rename_passkey(
        &self,
        id: AccountId,
        passkey: PasskeyId,
        name: &PasskeyName,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state
            .passkeys
            .iter_mut()
            .find(|p| p.account_id == id && p.id == passkey)
        {
            Some(p) => {
                p.name = name.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn remove_passkey(
        &self,
        id: AccountId,
        passkey: PasskeyId,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let before = state.passkeys.len();
        state
            .passkeys
            .retain(|p| p.account_id != id || p.id != passkey);
        if state.passkeys.len() == before {
            return Ok(false);
        }
        state.enqueue(notice, now, None);
        state.audit.push(audit.clone());
        Ok(true)
    }

    async fn record_passkey_use(
        &self,
        id: AccountId,
        passkey: PasskeyId,
        updated: Option<StoredCredential>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state
            .passkeys
            .iter_mut()
            .find(|p| p.account_id == id && p.id == passkey)
        {
            Some(p) => {
                p.last_used_at = Some(now);
                if let Some(credential) = updated {
                    p.credential = credential;
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

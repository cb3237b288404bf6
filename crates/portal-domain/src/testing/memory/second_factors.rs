//! [`SecondFactors`] in memory.

use super::*;
use crate::ports::SecondFactors;
use crate::second_factor::{FactorSummary, MfaChallenge, SealedSecret, TimeStep, TotpFactor};

#[async_trait]
impl SecondFactors for InMemoryStore {
    async fn totp_factor(&self, id: AccountId) -> Result<Option<TotpFactor>, StoreError> {
        Ok(lock(&self.state).totp.get(&id).cloned())
    }

    async fn start_totp_enrolment(
        &self,
        id: AccountId,
        sealed: &SealedSecret,
        _now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        state.account_mut(id)?;
        if state.totp.get(&id).is_some_and(|factor| factor.confirmed) {
            return Ok(false);
        }
        state.totp.insert(
            id,
            TotpFactor {
                sealed: sealed.clone(),
                confirmed: false,
                last_step: None,
            },
        );
        Ok(true)
    }

    async fn confirm_totp(
        &self,
        id: AccountId,
        sealed: &SealedSecret,
        step: TimeStep,
        recovery_codes: &[TokenHash],
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(factor) = state
            .totp
            .get_mut(&id)
            .filter(|factor| !factor.confirmed && factor.sealed == *sealed)
        else {
            return Ok(false);
        };
        factor.confirmed = true;
        factor.last_step = Some(step);
        state.recovery_codes.retain(|(owner, _, _)| *owner != id);
        state
            .recovery_codes
            .extend(recovery_codes.iter().map(|hash| (id, *hash, None)));
        state.enqueue(notice, now, None);
        state.audit.push(audit.clone());
        Ok(true)
    }

    async fn accept_totp_step(&self, id: AccountId, step: TimeStep) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state.totp.get_mut(&id) {
            Some(factor) if factor.confirmed && factor.last_step.is_none_or(|last| last < step) => {
                factor.last_step = Some(step);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn use_recovery_code(
        &self,
        id: AccountId,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state
            .recovery_codes
            .iter_mut()
            .find(|(owner, hash, used)| *owner == id && hash == code && used.is_none())
        {
            Some((_, _, used)) => {
                *used = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn second_factors_of(&self, id: AccountId) -> Result<FactorSummary, StoreError> {
        let state = lock(&self.state);
        let left = state
            .recovery_codes
            .iter()
            .filter(|(owner, _, used)| *owner == id && used.is_none())
            .count();
        let passkeys = state.passkeys.iter().filter(|p| p.account_id == id).count();
        Ok(FactorSummary {
            totp: state.totp.get(&id).is_some_and(|factor| factor.confirmed),
            recovery_codes_left: u32::try_from(left).unwrap_or(u32::MAX),
            passkeys: u32::try_from(passkeys).unwrap_or(u32::MAX),
        })
    }

    async fn any_totp_secret(&self) -> Result<bool, StoreError> {
        Ok(!lock(&self.state).totp.is_empty())
    }

    async fn remove_second_factors(
        &self,
        id: AccountId,
        passkeys: bool,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let mut had = state.totp.remove(&id).is_some();
        if passkeys {
            let before = state.passkeys.len();
            state.passkeys.retain(|p| p.account_id != id);
            had |= state.passkeys.len() != before;
            state.ceremonies.retain(|_, c| c.account_id != id);
        }
        state.recovery_codes.retain(|(owner, _, _)| *owner != id);
        state
            .challenges
            .retain(|_, challenge| challenge.account_id != id);
        if had {
            state.enqueue(notice, now, None);
            state.audit.push(audit.clone());
        }
        Ok(had)
    }

    async fn create_mfa_challenge(
        &self,
        challenge: &MfaChallenge,
        verified: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError> {
        let mut state = lock(&self.state);
        let judged =
            CredentialWrite::judge(state.account_mut(challenge.account_id)?, verified, now);
        if judged != CredentialWrite::Applied {
            return Ok(judged);
        }
        state
            .challenges
            .retain(|_, c| c.account_id != challenge.account_id || c.is_live(now));
        state.challenges.insert(challenge.hash, challenge.clone());
        Ok(CredentialWrite::Applied)
    }

    async fn find_mfa_challenge(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        Ok(lock(&self.state).challenges.get(hash).cloned())
    }

    async fn spend_mfa_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state.challenges.get(hash) {
            Some(challenge) if challenge.is_live(now) => {
                state.challenges.remove(hash);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

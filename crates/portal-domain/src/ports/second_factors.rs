//! [`SecondFactors`]: the second factors of each account (TOTP
//! authenticator and recovery codes) and the login challenges waiting for
//! a second step.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{CredentialWrite, StoreError};
use crate::account::AccountId;
use crate::audit::AuditEvent;
use crate::email::Email;
use crate::second_factor::{FactorSummary, MfaChallenge, SealedSecret, TimeStep, TotpFactor};
use crate::values::{PasswordHash, TokenHash};

/// The second factors and login challenges (SPEC §4a). TOTP secrets come
/// sealed (encrypted by the domain), recovery codes and challenge ids only
/// hashed: nothing here can be read back as a secret.
///
/// Owns these atomic operations: [`SecondFactors::confirm_totp`] (the
/// factor confirmed, the recovery codes replaced, the notice queued and
/// the audit event stored, together), [`SecondFactors::remove_second_factors`]
/// (likewise), and the single-use guards [`SecondFactors::accept_totp_step`],
/// [`SecondFactors::use_recovery_code`] and [`SecondFactors::spend_mfa_challenge`]:
/// of two racing uses of one code or challenge, exactly one succeeds, across
/// instances.
#[async_trait]
pub trait SecondFactors: Send + Sync {
    /// The account's TOTP authenticator, confirmed or not.
    async fn totp_factor(&self, id: AccountId) -> Result<Option<TotpFactor>, StoreError>;

    /// Stores `sealed` as the account's unconfirmed TOTP secret, replacing
    /// an unconfirmed one; `false` and nothing written when a confirmed one
    /// exists.
    async fn start_totp_enrolment(
        &self,
        id: AccountId,
        sealed: &SealedSecret,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// In one transaction, only while the account's TOTP secret is still
    /// the unconfirmed `sealed` (else `false` and nothing is written):
    /// confirms it with `step` as its last accepted step, replaces the
    /// account's recovery codes with `recovery_codes`, queues `notice` and
    /// stores `audit`.
    #[allow(clippy::too_many_arguments)]
    async fn confirm_totp(
        &self,
        id: AccountId,
        sealed: &SealedSecret,
        step: TimeStep,
        recovery_codes: &[TokenHash],
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Records `step` as accepted, only while the factor is confirmed and
    /// its last accepted step is older (one guarded write): `true` for the
    /// one use that wrote it, `false` for a replay, also when racing.
    async fn accept_totp_step(&self, id: AccountId, step: TimeStep) -> Result<bool, StoreError>;

    /// Spends the account's unused recovery code `code`: `true` once,
    /// `false` for an unknown or used code, also when racing.
    async fn use_recovery_code(
        &self,
        id: AccountId,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Which factors the account has (a confirmed TOTP, unused recovery
    /// codes, passkeys).
    async fn second_factors_of(&self, id: AccountId) -> Result<FactorSummary, StoreError>;

    /// Whether any account has a TOTP secret stored (confirmed or not):
    /// then the data key is needed to read it.
    async fn any_totp_secret(&self) -> Result<bool, StoreError>;

    /// In one transaction: deletes the account's TOTP secret, recovery codes
    /// and login challenges, and with `passkeys` its passkeys and their
    /// ceremonies too; when there was a secret (or, with `passkeys`, a
    /// passkey), queues `notice` and stores `audit`. Returns whether there
    /// was one.
    async fn remove_second_factors(
        &self,
        id: AccountId,
        passkeys: bool,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Stores a login challenge, and drops the account's expired ones, only
    /// while the account's password hash is still `verified` and no lock is
    /// in force at `now` ([`CredentialWrite::judge`], under the account's
    /// lock): a right password verified after another attempt set the lock
    /// gets no challenge, as it would get no session.
    async fn create_mfa_challenge(
        &self,
        challenge: &MfaChallenge,
        verified: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError>;

    /// The challenge with this id hash, live or expired.
    async fn find_mfa_challenge(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<MfaChallenge>, StoreError>;

    /// Deletes the challenge while it is live at `now`: `true` once, for
    /// the second step that finishes the login.
    async fn spend_mfa_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

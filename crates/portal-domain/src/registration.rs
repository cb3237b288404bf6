//! The registration state machine (SPEC §3).
//!
//! ```text
//!   start (provider verified against the roster)
//!        │
//!        ▼
//!  ┌────────────────────┐  accept_agreement   ┌────────────────────┐
//!  │  ProviderVerified  │ ──────────────────▶ │ AgreementAccepted  │
//!  └────────────────────┘                     └────────────────────┘
//!        │ now ≥ expires_at                         │ complete (account step commits)
//!        ▼                                          ▼
//!   (expired: 410)                            ┌────────────┐
//!                                             │  Finished  │  every later step: 409
//!                                             └────────────┘
//! ```
//!
//! Expiry is not a stored state: a flow that is not finished is expired once
//! `now ≥ expires_at`, and each successful step moves `expires_at` to
//! `now + ttl`. Expiry is checked first, so every step on an expired flow
//! answers [`TransitionError::Expired`]; a finished flow never expires. A step
//! refused for its input returns an error and leaves the flow unchanged: only
//! success advances it, and transitions consume nothing (they take `&self`).

use std::net::IpAddr;

use time::{Duration, OffsetDateTime};

use crate::roster::RosterEntry;
use crate::values::AgreementVersion;

/// The unguessable id of a registration flow: 128 random bits as 32 hex
/// characters. It is a capability, so a malformed id answers as an unknown one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationId(String);

/// A text that is not a well-formed [`RegistrationId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed registration id")]
pub struct MalformedRegistrationId;

impl RegistrationId {
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn parse(raw: &str) -> Result<Self, MalformedRegistrationId> {
        if raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(MalformedRegistrationId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is recorded with the account when the Provider Agreement is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementAcceptance {
    pub version: AgreementVersion,
    /// SHA-256 of the agreement text, hex.
    pub content_hash: String,
    pub accepted_at: OffsetDateTime,
    pub client_addr: Option<IpAddr>,
}

/// The step a flow is at, with the data that step has gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    ProviderVerified {
        provider: RosterEntry,
        expires_at: OffsetDateTime,
    },
    AgreementAccepted {
        provider: RosterEntry,
        acceptance: AgreementAcceptance,
        expires_at: OffsetDateTime,
    },
    Finished {
        finished_at: OffsetDateTime,
    },
}

/// A registration flow: its id, its state and a version that stores use for
/// compare-and-set, so two racing steps cannot both advance it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationFlow {
    pub id: RegistrationId,
    pub state: RegistrationState,
    pub version: u32,
}

/// Why a step cannot be taken in the flow's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the registration has expired")]
    Expired,
    #[error("this step is not allowed now")]
    InvalidTransition,
}

/// The public name of a state, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateName {
    ProviderVerified,
    AgreementAccepted,
    PendingActivation,
}

impl StateName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProviderVerified => "provider_verified",
            Self::AgreementAccepted => "agreement_accepted",
            Self::PendingActivation => "pending_activation",
        }
    }
}

impl RegistrationFlow {
    /// A new flow for a provider the roster has verified.
    pub fn start(
        id: RegistrationId,
        provider: RosterEntry,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Self {
        Self {
            id,
            state: RegistrationState::ProviderVerified {
                provider,
                expires_at: now + ttl,
            },
            version: 0,
        }
    }

    /// When the flow expires; `None` once finished.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        match &self.state {
            RegistrationState::ProviderVerified { expires_at, .. }
            | RegistrationState::AgreementAccepted { expires_at, .. } => Some(*expires_at),
            RegistrationState::Finished { .. } => None,
        }
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at().is_some_and(|at| now >= at)
    }

    pub fn state_name(&self) -> StateName {
        match self.state {
            RegistrationState::ProviderVerified { .. } => StateName::ProviderVerified,
            RegistrationState::AgreementAccepted { .. } => StateName::AgreementAccepted,
            RegistrationState::Finished { .. } => StateName::PendingActivation,
        }
    }

    /// The verified provider, while the flow is open.
    pub fn provider(&self) -> Option<&RosterEntry> {
        match &self.state {
            RegistrationState::ProviderVerified { provider, .. }
            | RegistrationState::AgreementAccepted { provider, .. } => Some(provider),
            RegistrationState::Finished { .. } => None,
        }
    }

    /// Checks expiry (first) and that the flow is at `expected`.
    pub fn ensure_at(
        &self,
        expected: StateName,
        now: OffsetDateTime,
    ) -> Result<(), TransitionError> {
        if self.is_expired(now) {
            return Err(TransitionError::Expired);
        }
        if self.state_name() == expected
            && !matches!(self.state, RegistrationState::Finished { .. })
        {
            Ok(())
        } else {
            Err(TransitionError::InvalidTransition)
        }
    }

    /// Step 2: the agreement was accepted.
    pub fn accept_agreement(
        &self,
        acceptance: AgreementAcceptance,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<Self, TransitionError> {
        self.ensure_at(StateName::ProviderVerified, now)?;
        let RegistrationState::ProviderVerified { provider, .. } = &self.state else {
            return Err(TransitionError::InvalidTransition);
        };
        Ok(self.advanced(RegistrationState::AgreementAccepted {
            provider: provider.clone(),
            acceptance,
            expires_at: now + ttl,
        }))
    }

    /// Step 3 committed: the account exists. Returns the finished flow and
    /// what the account is made from.
    pub fn finish(
        &self,
        now: OffsetDateTime,
    ) -> Result<(Self, RosterEntry, AgreementAcceptance), TransitionError> {
        self.ensure_at(StateName::AgreementAccepted, now)?;
        let RegistrationState::AgreementAccepted {
            provider,
            acceptance,
            ..
        } = &self.state
        else {
            return Err(TransitionError::InvalidTransition);
        };
        Ok((
            self.advanced(RegistrationState::Finished { finished_at: now }),
            provider.clone(),
            acceptance.clone(),
        ))
    }

    fn advanced(&self, state: RegistrationState) -> Self {
        Self {
            id: self.id.clone(),
            state,
            version: self.version + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::tests::practitioner;
    use crate::values::Payee;

    const TTL: Duration = Duration::minutes(30);

    fn t(minutes: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::minutes(minutes)
    }

    fn acceptance(at: OffsetDateTime) -> AgreementAcceptance {
        AgreementAcceptance {
            version: AgreementVersion::parse("1").unwrap(),
            content_hash: "00".repeat(32),
            accepted_at: at,
            client_addr: None,
        }
    }

    fn flow() -> RegistrationFlow {
        RegistrationFlow::start(
            RegistrationId::from_random_bytes([1; 16]),
            practitioner(Payee::Individual),
            t(0),
            TTL,
        )
    }

    #[test]
    fn happy_path_and_each_step_restarts_the_clock() {
        let accepted = flow()
            .accept_agreement(acceptance(t(29)), t(29), TTL)
            .unwrap();
        assert_eq!(accepted.expires_at(), Some(t(59)));
        assert_eq!(accepted.version, 1);
        let (finished, provider, acc) = accepted.finish(t(58)).unwrap();
        assert_eq!(finished.state_name(), StateName::PendingActivation);
        assert_eq!(provider, practitioner(Payee::Individual));
        assert_eq!(acc, acceptance(t(29)));
        assert_eq!(finished.version, 2);
    }

    #[test]
    fn expires_at_the_exact_instant() {
        assert!(
            flow()
                .accept_agreement(acceptance(t(0)), t(30) - Duration::nanoseconds(1), TTL)
                .is_ok()
        );
        assert_eq!(
            flow().accept_agreement(acceptance(t(30)), t(30), TTL),
            Err(TransitionError::Expired)
        );
    }

    #[test]
    fn out_of_order_and_repeated_steps_are_refused() {
        assert_eq!(
            flow().finish(t(1)).err(),
            Some(TransitionError::InvalidTransition)
        );
        let accepted = flow()
            .accept_agreement(acceptance(t(1)), t(1), TTL)
            .unwrap();
        assert_eq!(
            accepted.accept_agreement(acceptance(t(2)), t(2), TTL),
            Err(TransitionError::InvalidTransition)
        );
        let (finished, _, _) = accepted.finish(t(2)).unwrap();
        assert_eq!(
            finished.finish(t(3)).err(),
            Some(TransitionError::InvalidTransition)
        );
    }

    #[test]
    fn expiry_is_checked_before_order_and_finished_never_expires() {
        // Out of order *and* expired: expired wins.
        assert_eq!(flow().finish(t(31)).err(), Some(TransitionError::Expired));
        let (finished, _, _) = flow()
            .accept_agreement(acceptance(t(1)), t(1), TTL)
            .unwrap()
            .finish(t(2))
            .unwrap();
        assert!(!finished.is_expired(t(100_000)));
        assert_eq!(
            finished.finish(t(100_000)).err(),
            Some(TransitionError::InvalidTransition)
        );
    }

    #[test]
    fn registration_ids() {
        let id = RegistrationId::from_random_bytes([0xab; 16]);
        assert_eq!(RegistrationId::parse(id.as_str()), Ok(id));
        assert!(RegistrationId::parse("ABAB").is_err());
        assert!(RegistrationId::parse(&"g".repeat(32)).is_err());
    }
}

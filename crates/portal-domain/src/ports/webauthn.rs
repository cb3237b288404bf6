//! [`WebAuthn`]: the passkey ceremonies, as a maintained WebAuthn library
//! runs them (options, attestation and assertion checks, sign counters).

use std::fmt;
use std::sync::Arc;

use crate::passkey::{
    CeremonyState, NewPasskey, Passkey, PasskeyName, PasskeyUser, StartedCeremony,
    VerifiedAssertion,
};

/// Why a ceremony step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    /// The browser's answer is not a valid credential or assertion for this
    /// ceremony (malformed, another challenge or origin, a bad signature, a
    /// credential not allowed, a sign counter gone backwards). The message
    /// is for logs and never holds key material.
    #[error("the passkey answer was refused: {0}")]
    Refused(String),
    /// A stored state or credential does not read back.
    #[error("a passkey ceremony failed: {0}")]
    Fault(String),
}

/// The relying party's side of WebAuthn Level 2. The relying party id and
/// origin are the adapter's (from `PORTAL_PUBLIC_URL`). Pure computation:
/// the states it returns are kept by the [`Passkeys`](super::Passkeys)
/// store, single use.
pub trait WebAuthn: Send + Sync + fmt::Debug {
    /// Options to create a passkey for `user`, excluding `existing` ones.
    fn start_registration(
        &self,
        user: &PasskeyUser,
        existing: &[Passkey],
    ) -> Result<StartedCeremony, WebAuthnError>;

    /// Verifies the browser's `credential` (JSON) against the state.
    fn finish_registration(
        &self,
        state: &CeremonyState,
        name: PasskeyName,
        credential: &str,
    ) -> Result<NewPasskey, WebAuthnError>;

    /// Options to assert one of `passkeys` (all of one account).
    fn start_authentication(&self, passkeys: &[Passkey]) -> Result<StartedCeremony, WebAuthnError>;

    /// Verifies the browser's assertion (JSON) against the state and finds
    /// the passkey among `passkeys` that made it.
    fn finish_authentication(
        &self,
        state: &CeremonyState,
        assertion: &str,
        passkeys: &[Passkey],
    ) -> Result<VerifiedAssertion, WebAuthnError>;
}

/// A shared [`WebAuthn`] relying party, as the settings hold it: two
/// handles are equal when they are the same one.
#[derive(Clone, Debug)]
pub struct WebAuthnHandle(pub Arc<dyn WebAuthn>);

impl PartialEq for WebAuthnHandle {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl Eq for WebAuthnHandle {}

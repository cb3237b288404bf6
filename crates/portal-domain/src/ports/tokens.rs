//! [`TokenSource`]: unguessable tokens and ids.

use crate::registration::RegistrationId;
use crate::values::RawToken;

/// The OS has no randomness to give (practically never; still not a panic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no randomness available: {0}")]
pub struct RandomnessError(pub String);

/// Unguessable values: tokens and registration ids.
#[cfg_attr(feature = "testing", mockall::automock)]
pub trait TokenSource: Send + Sync {
    fn token(&self) -> Result<RawToken, RandomnessError>;
    fn registration_id(&self) -> Result<RegistrationId, RandomnessError>;
}

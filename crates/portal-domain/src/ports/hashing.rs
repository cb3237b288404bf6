//! [`PasswordHasher`]: the CPU-heavy password work.

use async_trait::async_trait;
use time::Duration;

use crate::password_policy::{PasswordPolicy, PolicyContext, PolicyViolations};
use crate::values::{Password, PasswordHash, SecurityAnswer};

/// Why password work could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The bounded pool's queue is full; try again after `retry_after`.
    #[error("password hashing is saturated")]
    Overloaded { retry_after: Duration },
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The outcome of verifying a secret against its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    /// `needs_rehash` when the hash was made with other parameters.
    Match {
        needs_rehash: bool,
    },
}

impl Verification {
    pub fn is_match(self) -> bool {
        matches!(self, Self::Match { .. })
    }
}

/// All CPU-heavy password work: slow hashing, verification and the strength
/// estimate. An adapter may run it on a bounded pool off the async threads
/// and answer [`HashError::Overloaded`] when the pool is saturated.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash_password(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// A corrupt hash is a mismatch, not an error.
    async fn verify_password(
        &self,
        password: &Password,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError>;

    /// Costs what [`PasswordHasher::verify_password`] costs, for unknown
    /// users, so that timing does not tell who exists.
    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError>;

    async fn hash_answer(&self, answer: &SecurityAnswer) -> Result<PasswordHash, HashError>;

    async fn verify_answer(
        &self,
        answer: &SecurityAnswer,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError>;

    /// Runs [`PasswordPolicy::check`] (zxcvbn is CPU-heavy too).
    async fn check_policy(
        &self,
        policy: &PasswordPolicy,
        password: &Password,
        context: &PolicyContext,
    ) -> Result<Result<(), PolicyViolations>, HashError>;
}

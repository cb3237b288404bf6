//! [`Mailer`]: sends one email now.

use async_trait::async_trait;

use crate::email::Email;

/// Why a mailer could not send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth retrying: connection refused, timeout, 4xx.
    #[error("transient mail failure: {0}")]
    Transient(String),
    /// Will never succeed: 5xx rejection, invalid recipient.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Delivers one email now. Called by the outbox delivery worker only.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

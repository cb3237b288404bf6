//! [`Registrations`]: the registration flows in progress (SPEC §3).

use async_trait::async_trait;

use super::StoreError;
use crate::registration::{RegistrationFlow, RegistrationId};

/// Why a flow update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowUpdateError {
    /// The stored flow is not at `flow.version - 1`: another step won.
    #[error("the registration was changed concurrently")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The registration flows, stored between steps and compared-and-set by
/// version. The last step, which finishes a flow and creates its account
/// in one transaction, is [`Accounts::create_account`](super::Accounts::create_account):
/// its main aggregate is the account.
#[async_trait]
pub trait Registrations: Send + Sync {
    /// Stores a new flow (version 0). Ids are random; a duplicate is `Unexpected`.
    async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError>;

    /// The flow with this id, in whatever state; `None` if unknown or purged.
    async fn load_flow(&self, id: &RegistrationId) -> Result<Option<RegistrationFlow>, StoreError>;

    /// Compare-and-set: replaces the stored flow if it is at
    /// `flow.version - 1`, else [`FlowUpdateError::Conflict`].
    async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError>;
}

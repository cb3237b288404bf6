//! User accounts and what they are made of.

use time::OffsetDateTime;

use crate::lockout::LockState;
use crate::registration::AgreementAcceptance;
use crate::roster::RegistrantKey;
use crate::values::{
    EmailAddress, PasswordHash, ProviderId, ProviderKind, SecurityQuestionId, TaxId, Username,
};

/// A store-assigned account id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(i64);

impl AccountId {
    pub fn new(id: i64) -> Self {
        Self(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Whether the activation link has been used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Pending,
    Active { activated_at: OffsetDateTime },
}

/// The provider an account was registered as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProvider {
    pub kind: ProviderKind,
    pub tax_id: TaxId,
    pub provider_id: ProviderId,
}

impl AccountProvider {
    pub fn registrant_key(&self) -> RegistrantKey {
        match self.kind {
            ProviderKind::Practitioner => RegistrantKey::Practitioner(self.provider_id.clone()),
            ProviderKind::Group => {
                RegistrantKey::Group(self.tax_id.clone(), self.provider_id.clone())
            }
        }
    }
}

/// A stored account. Secrets appear only as slow hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub username: Username,
    pub email: EmailAddress,
    pub password_hash: PasswordHash,
    pub provider: AccountProvider,
    pub activation: Activation,
    pub disabled: bool,
    pub lock: LockState,
    pub agreement: AgreementAcceptance,
    pub security_question: SecurityQuestionId,
    pub security_answer_hash: PasswordHash,
    pub created_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
}

/// The state an operator sees: the first that applies (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Disabled,
    Locked { until: OffsetDateTime },
    PendingActivation,
    Active,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Locked { .. } => "locked",
            Self::PendingActivation => "pending_activation",
            Self::Active => "active",
        }
    }
}

impl Account {
    pub fn status(&self, now: OffsetDateTime) -> AccountStatus {
        if self.disabled {
            AccountStatus::Disabled
        } else if let Some(until) = self.lock.locked_until(now) {
            AccountStatus::Locked { until }
        } else if self.activation == Activation::Pending {
            AccountStatus::PendingActivation
        } else {
            AccountStatus::Active
        }
    }

    pub fn is_activated(&self) -> bool {
        matches!(self.activation, Activation::Active { .. })
    }

    /// Whether this account holds its provider against a new registration
    /// (SPEC §3 step 1): an activated account does, and so does one an
    /// operator disabled (disabling must not be undone by registering
    /// again); an account still pending activation does not: a newer
    /// registration replaces it.
    pub fn holds_provider(&self) -> bool {
        self.is_activated() || self.disabled
    }
}

/// Everything needed to create an account in `pending_activation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub username: Username,
    pub email: EmailAddress,
    pub password_hash: PasswordHash,
    pub provider: AccountProvider,
    pub agreement: AgreementAcceptance,
    pub security_question: SecurityQuestionId,
    pub security_answer_hash: PasswordHash,
    pub created_at: OffsetDateTime,
}

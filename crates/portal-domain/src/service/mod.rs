//! The use cases, generic over the ports.
//!
//! [`Portal`] holds the ports and the settings; each use case is a method in
//! one of the submodules and returns its own error type. Infrastructure
//! failures travel as [`Fault`], which the HTTP edge answers with `500`
//! (or `503` for [`HashError::Overloaded`]).

mod activation;
mod auth;
mod maintenance;
mod mfa;
mod operator;
mod passkeys;
mod password;
mod registration;
mod reset;
mod scope;
mod settings;
mod support;

use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

pub use activation::{ActivationError, LinkActivation};
pub use auth::{AuthError, Authenticated, LoggedIn, LoginError};
pub use maintenance::PurgeReport;
pub use mfa::{IssuedChallenge, MfaLoginError, SecondFactorError, SecondStep, TotpEnrolment};
pub use operator::{AccountReport, OperatorAction, OperatorError};
pub use passkeys::{PasskeyError, StartedPasskeyCeremony};
pub use password::{CurrentPasswordError, PasswordChangeError};
pub use registration::{
    AccountInput, AgreementInput, AgreementStepError, CreateAccountStepError, StartError, Started,
};
pub use reset::ResetConfirmError;
pub use scope::ProviderItem;
pub use settings::{
    EmailChangeError, EmailConfirmError, SecurityQuestionChangeError, SecurityQuestionInput,
};
pub use support::{SupportCheck, SupportError};

use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::lockout::LockoutPolicy;
use crate::password_policy::PasswordPolicy;
use crate::ports::{
    Clock, EmailCap, HashError, PasswordHasher, ProviderRoster, RandomnessError, StoreError,
    TokenSource, UserStore,
};
use crate::session::SessionPolicy;
use crate::values::AgreementVersion;

/// The Provider Agreement currently published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub version: AgreementVersion,
    pub text: String,
    /// SHA-256 of `text`, hex: recorded with every acceptance.
    pub content_hash: String,
}

impl Agreement {
    pub fn new(version: AgreementVersion, text: impl Into<String>) -> Self {
        let text = text.into();
        let content_hash = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            version,
            text,
            content_hash,
        }
    }
}

/// A phone line shown with `provider_not_found` (e.g. Medicaid, 1-855-202-1058).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpLine {
    pub label: String,
    pub phone: String,
}

/// Everything configurable about the rules (SPEC §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSettings {
    pub registration_ttl: Duration,
    pub activation_ttl: Duration,
    pub reset_ttl: Duration,
    pub lockout: LockoutPolicy,
    pub sessions: SessionPolicy,
    /// `provider_mismatch` answers per provider per hour before `proofing_limited`; 0 = off.
    pub proofing_max_failed: u32,
    /// Reset and resend emails per account per hour; 0 = no cap.
    pub emails_per_hour: u32,
    pub pending_purge_after: Duration,
    pub password_policy: PasswordPolicy,
    pub help_lines: Vec<HelpLine>,
    pub agreement: Agreement,
    pub mfa: MfaSettings,
}

/// Second factors (SPEC §4a, §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaSettings {
    /// `PORTAL_MFA_REQUIRED`: every account without a factor must enrol
    /// before it can do anything else.
    pub required: bool,
    /// `PORTAL_DATA_KEY`: seals TOTP secrets; needed once any account enrols.
    pub data_key: Option<crate::second_factor::DataKey>,
    /// The issuer an authenticator app shows (the brand).
    pub issuer: String,
    /// The WebAuthn relying party; `None` when `PORTAL_PUBLIC_URL`'s host
    /// is no domain name (passkeys are unavailable).
    pub passkeys: Option<crate::ports::WebAuthnHandle>,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            required: false,
            data_key: None,
            issuer: "Provider Portal".to_owned(),
            passkeys: None,
        }
    }
}

impl PortalSettings {
    /// The window of the proofing limit and the email cap.
    pub const HOUR: Duration = Duration::hours(1);
    /// Wrong support answers per account per [`Self::SUPPORT_WINDOW`].
    pub const SUPPORT_MAX_FAILED: u32 = 3;
    pub const SUPPORT_WINDOW: Duration = Duration::hours(24);
    /// Policy refusals a reset link survives; the last one spends it.
    pub const RESET_MAX_REFUSALS: u32 = 10;
    /// How long finished and expired flows stay addressable (409 / 410).
    pub const FLOW_RETENTION: Duration = Duration::hours(24);
    /// How long an email change link lives (SPEC §4a).
    pub const EMAIL_CHANGE_TTL: Duration = Duration::hours(1);
    /// How long sent outbox rows are kept.
    pub const SENT_EMAIL_RETENTION: Duration = Duration::days(7);

    /// The per-account email cap: [`Self::emails_per_hour`] within
    /// [`Self::HOUR`].
    pub fn email_cap(&self) -> EmailCap {
        EmailCap {
            max: self.emails_per_hour,
            window: Self::HOUR,
        }
    }
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            registration_ttl: Duration::minutes(30),
            activation_ttl: Duration::hours(24),
            reset_ttl: Duration::hours(1),
            lockout: LockoutPolicy::default(),
            sessions: SessionPolicy::default(),
            proofing_max_failed: 10,
            emails_per_hour: 5,
            pending_purge_after: Duration::days(7),
            password_policy: PasswordPolicy::default(),
            help_lines: vec![
                HelpLine {
                    label: "Medicaid".to_owned(),
                    phone: "1-855-202-1058".to_owned(),
                },
                HelpLine {
                    label: "Marketplace".to_owned(),
                    phone: "1-833-230-2030".to_owned(),
                },
            ],
            agreement: Agreement::new(AgreementVersion::sample(), SAMPLE_AGREEMENT),
            mfa: MfaSettings::default(),
        }
    }
}

/// The built-in sample agreement, version `1`.
pub const SAMPLE_AGREEMENT: &str = "PROVIDER PORTAL AGREEMENT\n\n\
By using the Provider Portal you agree to access member and claims information only for members \
you treat or bill for, to keep your login credentials confidential, to notify the plan promptly \
of any unauthorised use of your account, and to comply with HIPAA and every other law that \
applies to the information you see here.";

/// Who is asking: the client address recorded with audit events and the
/// agreement acceptance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub client_addr: Option<IpAddr>,
}

/// One member of a request that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every invalid or missing member of a request (`422 invalid_input`). The
/// edge parses requests into domain values and collects these; a use case
/// that must check something first (a flow's expiry) receives the parse
/// result and decides the order.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid input")]
pub struct InvalidInput(pub Vec<FieldError>);

impl InvalidInput {
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        Self(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub fn push(&mut self, field: &str, message: impl ToString) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.to_string(),
        });
    }
}

/// An infrastructure failure behind a use case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// A second-factor secret could not be sealed or opened (no data key,
    /// or the wrong one).
    #[error(transparent)]
    Seal(#[from] crate::second_factor::SealError),
    /// A passkey ceremony's stored state or credential did not read back.
    #[error(transparent)]
    WebAuthn(#[from] crate::ports::WebAuthnError),
}

/// Gives a use-case error `From` impls for every fault.
macro_rules! faults_into {
    ($($error:ty),* $(,)?) => {$(
        impl From<$crate::ports::StoreError> for $error {
            fn from(e: $crate::ports::StoreError) -> Self { Self::Fault(e.into()) }
        }
        impl From<$crate::ports::HashError> for $error {
            fn from(e: $crate::ports::HashError) -> Self { Self::Fault(e.into()) }
        }
        impl From<$crate::service::Fault> for $error {
            fn from(e: $crate::service::Fault) -> Self { Self::Fault(e) }
        }
        impl From<$crate::ports::RandomnessError> for $error {
            fn from(e: $crate::ports::RandomnessError) -> Self { Self::Fault(e.into()) }
        }
    )*};
}
pub(crate) use faults_into;

/// The product's use cases over its ports.
///
/// Generic so that tests plug in fakes and mocks with no indirection. Each
/// port is held in an [`Arc`], and may be unsized: the binary, which picks
/// its store at run time, uses `Portal<dyn Storage, dyn Storage, …>`, and a
/// trait object implements its port itself, so no port needs an impl for
/// `Arc<T>` (see `docs/decisions.md`). A test keeps its own `Arc` clone of
/// a fake to move its clock or read its outbox.
#[derive(Debug)]
pub struct Portal<S: ?Sized, R: ?Sized, H: ?Sized, C: ?Sized, T: ?Sized> {
    store: Arc<S>,
    roster: Arc<R>,
    hasher: Arc<H>,
    clock: Arc<C>,
    tokens: Arc<T>,
    settings: PortalSettings,
}

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    pub fn new(
        store: Arc<S>,
        roster: Arc<R>,
        hasher: Arc<H>,
        clock: Arc<C>,
        tokens: Arc<T>,
        settings: PortalSettings,
    ) -> Self {
        Self {
            store,
            roster,
            hasher,
            clock,
            tokens,
            settings,
        }
    }

    pub fn settings(&self) -> &PortalSettings {
        &self.settings
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Records an audit event in the store and under the tracing target
    /// `audit`. The change it describes has already committed, so a store
    /// failure here is logged, not returned: failing the request now would
    /// tell the user that something did not happen which did.
    async fn audit(
        &self,
        action: AuditAction,
        username: Option<&str>,
        ctx: RequestContext,
        outcome: AuditOutcome,
    ) {
        let event = self.audit_event(action, username, ctx, outcome);
        trace_audit(&event);
        if let Err(error) = self.store.append_audit(&event).await {
            tracing::error!(target: "audit", event = action.as_str(), %error, "audit event not stored");
        }
    }

    /// An event for a change that stores its own record in the same
    /// transaction (see [`trace_audit`] once it committed).
    fn audit_event(
        &self,
        action: AuditAction,
        username: Option<&str>,
        ctx: RequestContext,
        outcome: AuditOutcome,
    ) -> AuditEvent {
        AuditEvent {
            at: self.now(),
            action,
            username: username.map(AuditEvent::recorded_name),
            client_addr: ctx.client_addr,
            outcome,
        }
    }
}

/// Writes a stored audit event under the tracing target `audit`.
fn trace_audit(event: &AuditEvent) {
    tracing::info!(
        target: "audit",
        event = event.action.as_str(),
        username = event.username.as_deref(),
        // The address itself, left out when unknown: never Rust's `Some(…)`.
        client_addr = event.client_addr.as_ref().map(tracing::field::display),
        outcome = event.outcome.as_str(),
    );
}

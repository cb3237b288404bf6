//! Provider Portal Accounts: the pure domain.
//!
//! Registration of health-plan providers against the plan's roster,
//! activation, login with lockout, sessions, password reset and support
//! checks, written against ports (traits) that adapters implement. No I/O
//! happens here: time comes from [`ports::Clock`], randomness from
//! [`ports::TokenSource`], persistence from [`ports::UserStore`] and
//! [`ports::ProviderRoster`].
//!
//! The whole flow with the in-memory adapters (feature `testing`):
//!
//! ```
//! # futures::executor::block_on(async {
//! use portal_domain::prelude::*;
//! use portal_domain::testing::{TestPortal, sample};
//!
//! let portal = TestPortal::new(sample::roster());
//! let ctx = RequestContext::default();
//!
//! // Register as a practitioner, accept the agreement, create the account.
//! let started = portal.start_registration(sample::practitioner_request(), ctx).await?;
//! let agreement = AgreementInput { accepted: true, version: started.agreement_version.clone() };
//! portal.accept_agreement(started.id.as_str(), Ok(agreement), ctx).await?;
//! portal.create_account(started.id.as_str(), Ok(sample::account_input()), ctx).await?;
//!
//! // Activate with the link from the activation email.
//! let token = portal.last_link_token().expect("activation email queued");
//! portal.activate(&token, ctx).await?;
//!
//! // Log in.
//! let session = portal.login("dr.doe", sample::PASSWORD, ctx).await?;
//! assert!(portal.authenticate(session.token.expose()).await.is_ok());
//!
//! // Five wrong passwords lock the account; the fifth answers "locked".
//! let wrong = "Not-The-Password-42";
//! for _ in 0..4 {
//!     assert_eq!(portal.login("dr.doe", wrong, ctx).await.err(), Some(LoginError::InvalidCredentials));
//! }
//! assert!(matches!(portal.login("dr.doe", wrong, ctx).await, Err(LoginError::AccountLocked { .. })));
//! assert!(matches!(portal.login("dr.doe", sample::PASSWORD, ctx).await, Err(LoginError::AccountLocked { .. })));
//!
//! // Forgot password? A reset link unlocks the account with a new password.
//! portal.request_password_reset("dr.doe", ctx).await?;
//! let token = portal.last_link_token().expect("reset email queued");
//! let new_password = Password::parse("Saffron-Glacier-88-Tulip")?;
//! portal.confirm_password_reset(&token, &new_password, ctx).await?;
//! assert!(portal.login("dr.doe", new_password.expose(), ctx).await.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod account;
pub mod audit;
pub mod codes;
pub mod delivery;
pub mod email;
pub mod hashing;
pub mod lockout;
pub mod passkey;
pub mod password_policy;
pub mod ports;
pub mod registration;
pub mod roster;
pub mod roster_csv;
pub mod schema;
pub mod second_factor;
pub mod service;
pub mod session;
pub mod stored;
pub mod system;
pub mod values;

#[cfg(feature = "testing")]
pub mod testing;

/// The names most callers need.
pub mod prelude {
    pub use crate::account::{Account, AccountId, AccountStatus};
    pub use crate::password_policy::{PasswordPolicy, PasswordViolation};
    pub use crate::ports::{
        Accounts, AuditLog, Clock, Credentials, Housekeeping, IdentityChecks, LoginAttempts,
        PasswordHasher, ProviderRoster, Registrations, Sessions, TokenSource, UserStore,
    };
    pub use crate::roster::{ProofingRequest, RosterEntry, RosterIdentity};
    pub use crate::service::{
        AccountInput, ActivationError, AgreementInput, AgreementStepError, AuthError,
        CreateAccountStepError, Fault, InvalidInput, LoginError, Portal, PortalSettings,
        RequestContext, ResetConfirmError, StartError,
    };
    pub use crate::values::*;
}

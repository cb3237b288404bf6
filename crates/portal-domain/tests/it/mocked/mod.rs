//! Failure paths of every use case, with mockall mocks of the ports.
//!
//! Each test scripts the ports a use case calls, in order, up to the call
//! that fails, and leaves every later call (above all the writes) without an
//! expectation or with `.never()`, so that reaching it fails the test. The
//! clock is a mock that always answers one instant, which makes the exact
//! expiry instants (`expires_at`, `last_seen + idle`, `locked_until`) easy
//! to hit and to miss by one nanosecond.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use portal_domain::account::{Account, AccountId, AccountProvider, Activation};
use portal_domain::audit::{AuditAction, AuditEvent, AuditOutcome};
use portal_domain::delivery::{BatchReport, DeliveryPolicy, OutboxDelivery};
use portal_domain::email::{Email, EmailKind, OutboxId, QueuedEmail};
use portal_domain::hashing::{Argon2Hasher, Argon2Settings};
use portal_domain::lockout::{
    FirstPlace, LockState, LockoutPolicy, RecordedFailure, ReservedAttempt,
};
use portal_domain::password_policy::{PasswordViolation, PolicyViolations};
use portal_domain::ports::{
    CreateAccountError, CredentialWrite, EmailCap, FlowUpdateError, HashError, IssueOutcome,
    LoginRead, MailError, NewToken, PasswordHasher, ProofingFailures, ProviderRead, PurgeCounts,
    RandomnessError, RedeemError, StoreError, TokenPurpose, Verification, WindowRecord,
};
use portal_domain::registration::{
    AgreementAcceptance, RegistrationFlow, RegistrationId, StateName,
};
use portal_domain::roster::{ProofingRequest, RegistrantKey, RosterEntry};
use portal_domain::service::{
    AccountInput, ActivationError, AgreementInput, AgreementStepError, AuthError, Authenticated,
    CreateAccountStepError, Fault, InvalidInput, LoginError, PasswordChangeError, Portal,
    PortalSettings, ProviderItem, RequestContext, ResetConfirmError, StartError, SupportCheck,
    SupportError,
};
use portal_domain::session::Session;
use portal_domain::testing::{
    MockClock, MockMailer, MockOutboxStore, MockPasswordHasher, MockProviderRoster,
    MockTokenSource, MockUserStore, sample,
};
use portal_domain::values::{
    AgreementVersion, EmailAddress, Password, PasswordHash, PersonName, ProviderId, ProviderKind,
    RawToken, SecurityAnswer, SecurityQuestionId, TaxId, Username, Zip,
};

mod activation;
mod delivery;
mod housekeeping;
mod login;
mod password;
mod registration;
mod sessions;
mod support;

use activation::*;
use login::*;
use sessions::*;

// ---------------------------------------------------------------------------
// Shared values
// ---------------------------------------------------------------------------

/// The instant every mock clock answers unless a test picks another.
const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

/// Unwraps fixed test data: an error here is a bug in this file, reported
/// at once by every test that uses the value.
#[allow(clippy::unwrap_used)]
fn valid<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
    result.unwrap()
}

fn down() -> StoreError {
    StoreError::Unavailable("connection refused".to_owned())
}

fn overloaded() -> HashError {
    HashError::Overloaded {
        retry_after: Duration::seconds(3),
    }
}

fn no_randomness() -> RandomnessError {
    RandomnessError("getrandom failed".to_owned())
}

fn ctx() -> RequestContext {
    RequestContext {
        client_addr: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))),
    }
}

fn nanos(n: i64) -> Duration {
    Duration::nanoseconds(n)
}

fn password(text: &str) -> Password {
    valid(Password::parse(text))
}

fn the_password() -> Password {
    password(sample::PASSWORD)
}

fn username(text: &str) -> Username {
    valid(Username::parse(text))
}

fn raw_token(byte: u8) -> RawToken {
    RawToken::from_random_bytes([byte; RawToken::BYTES])
}

fn stored_hash() -> PasswordHash {
    PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$stored")
}

fn new_hash() -> PasswordHash {
    PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$new")
}

fn argon2() -> Argon2Hasher {
    valid(Argon2Hasher::new(Argon2Settings::minimal(), None))
}

fn current_acceptance(at: OffsetDateTime) -> AgreementAcceptance {
    let agreement = PortalSettings::default().agreement;
    AgreementAcceptance {
        version: agreement.version,
        content_hash: agreement.content_hash,
        accepted_at: at,
        client_addr: None,
    }
}

/// `dr.doe`, Jane Doe's activated account, unlocked.
fn active_account() -> Account {
    let jane = sample::jane_doe();
    Account {
        id: AccountId::new(42),
        username: username("dr.doe"),
        email: valid(EmailAddress::parse("frontdesk@doeclinic.example.org")),
        password_hash: stored_hash(),
        provider: AccountProvider {
            kind: ProviderKind::Practitioner,
            tax_id: jane.tax_id,
            provider_id: jane.provider_id,
        },
        activation: Activation::Active {
            activated_at: NOW - Duration::days(30),
        },
        disabled: false,
        lock: LockState::default(),
        agreement: current_acceptance(NOW - Duration::days(31)),
        security_question: valid(SecurityQuestionId::parse(1)),
        security_answer_hash: PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$answer"),
        created_at: NOW - Duration::days(31),
        last_login_at: None,
    }
}

fn pending_account() -> Account {
    Account {
        activation: Activation::Pending,
        ..active_account()
    }
}

/// The sample active account with `failures` counted.
fn with_failures(failures: u32) -> Account {
    let mut account = active_account();
    account.lock.failed_count = failures;
    account
}

fn locked_until(until: OffsetDateTime) -> Account {
    Account {
        lock: LockState {
            failed_count: 5,
            locked_until: Some(until),
        },
        ..active_account()
    }
}

fn group_account() -> Account {
    let group = sample::acme_group();
    Account {
        provider: AccountProvider {
            kind: ProviderKind::Group,
            tax_id: group.tax_id,
            provider_id: group.provider_id,
        },
        ..active_account()
    }
}

fn inactive(entry: RosterEntry) -> RosterEntry {
    RosterEntry {
        inactive_since: Some(NOW - Duration::days(1)),
        ..entry
    }
}

fn violations(list: Vec<PasswordViolation>) -> PolicyViolations {
    valid(PolicyViolations::from_vec(list).ok_or("no violation"))
}

// ---------------------------------------------------------------------------
// The fixture: a portal over mocks, with a recorded audit trail
// ---------------------------------------------------------------------------

/// Every audit event a portal tried to store.
#[derive(Clone, Default)]
struct AuditLog(Arc<Mutex<Vec<AuditEvent>>>);

impl AuditLog {
    fn push(&self, event: AuditEvent) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }

    fn events(&self) -> Vec<AuditEvent> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn outcomes(&self) -> Vec<(AuditAction, String)> {
        self.events()
            .into_iter()
            .map(|e| (e.action, e.outcome.to_string()))
            .collect()
    }
}

type Mocked<H = MockPasswordHasher> =
    Portal<MockUserStore, MockProviderRoster, H, MockClock, MockTokenSource>;

/// The mocks of one test. Tests set expectations on the fields, then
/// [`Fx::build`] adds the clock and the audit expectation.
struct Fx<H = MockPasswordHasher> {
    store: MockUserStore,
    roster: MockProviderRoster,
    hasher: H,
    tokens: MockTokenSource,
    now: OffsetDateTime,
    settings: PortalSettings,
    audit: AuditLog,
    audit_fails: bool,
}

impl Fx {
    fn new() -> Self {
        Self {
            store: MockUserStore::new(),
            roster: MockProviderRoster::new(),
            hasher: MockPasswordHasher::new(),
            tokens: MockTokenSource::new(),
            now: NOW,
            settings: PortalSettings::default(),
            audit: AuditLog::default(),
            audit_fails: false,
        }
    }

    /// A fixture whose clock answers `now`.
    fn at(now: OffsetDateTime) -> Self {
        Self { now, ..Self::new() }
    }

    fn with_hasher<H: PasswordHasher>(self, hasher: H) -> Fx<H> {
        Fx {
            store: self.store,
            roster: self.roster,
            hasher,
            tokens: self.tokens,
            now: self.now,
            settings: self.settings,
            audit: self.audit,
            audit_fails: self.audit_fails,
        }
    }
}

impl<H: PasswordHasher> Fx<H> {
    fn build(self) -> Mocked<H> {
        let Self {
            mut store,
            roster,
            hasher,
            tokens,
            now,
            settings,
            audit,
            audit_fails,
        } = self;
        store.expect_append_audit().returning(move |event| {
            audit.push(event.clone());
            if audit_fails { Err(down()) } else { Ok(()) }
        });
        // No account here has a second factor (its flows use the memory store).
        store
            .expect_second_factors_of()
            .returning(|_| Ok(portal_domain::second_factor::FactorSummary::default()));
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now);
        Portal::new(
            Arc::new(store),
            Arc::new(roster),
            Arc::new(hasher),
            Arc::new(clock),
            Arc::new(tokens),
            settings,
        )
    }
}

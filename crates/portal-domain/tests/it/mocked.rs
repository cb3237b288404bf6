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

use async_trait::async_trait;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use portal_domain::account::{Account, AccountId, AccountProvider, Activation, NewAccount};
use portal_domain::audit::{AuditAction, AuditEvent, AuditFilter};
use portal_domain::delivery::{BatchReport, DeliveryPolicy, OutboxDelivery};
use portal_domain::email::{Email, EmailKind, OutboxId, QueuedEmail};
use portal_domain::hashing::{Argon2Hasher, Argon2Settings};
use portal_domain::lockout::{LockState, LockoutPolicy, RecordedFailure};
use portal_domain::password_policy::{PasswordViolation, PolicyViolations};
use portal_domain::ports::{
    CreateAccountError, FlowUpdateError, HashError, IssueOutcome, LinkToken, MailError, NewToken,
    OutboxStore, PasswordHasher, ProofingFailures, PurgeCounts, RandomnessError, RedeemError,
    StoreError, TokenPurpose, UserStore, Verification,
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
    MockClock, MockMailer, MockPasswordHasher, MockProviderRoster, MockTokenSource, MockUserStore,
    sample,
};
use portal_domain::values::{
    AgreementVersion, EmailAddress, Password, PasswordHash, PersonName, ProviderId, ProviderKind,
    RawToken, SecurityAnswer, SecurityQuestionId, TaxId, TokenHash, Username, Zip,
};

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
            .map(|e| (e.action, e.outcome))
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
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now);
        Portal::new(store, roster, hasher, clock, tokens, settings)
    }
}

// ---------------------------------------------------------------------------
// start_registration
// ---------------------------------------------------------------------------

/// The port calls of step 1, in the order the use case makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StartCall {
    Proofing,
    Roster,
    Registrant,
    RegistrationId,
    InsertFlow,
    Done,
}

/// Scripts every call of step 1 before `upto` to succeed for Jane Doe.
fn start_until(fx: &mut Fx, upto: StartCall) {
    if upto > StartCall::Proofing {
        fx.store
            .expect_proofing_mismatches_since()
            .return_const(Ok(ProofingFailures::default()));
    }
    if upto > StartCall::Roster {
        fx.roster
            .expect_find()
            .return_const(Ok(Some(sample::jane_doe())));
    }
    if upto > StartCall::Registrant {
        fx.store
            .expect_account_by_registrant()
            .return_const(Ok(None));
    }
    if upto > StartCall::RegistrationId {
        fx.tokens
            .expect_registration_id()
            .return_const(Ok(flow_id()));
    }
    if upto > StartCall::InsertFlow {
        fx.store.expect_insert_flow().times(1).return_const(Ok(()));
    }
}

async fn start(fx: Fx) -> Result<StateName, StartError> {
    fx.build()
        .start_registration(sample::practitioner_request(), ctx())
        .await
        .map(|started| started.state)
}

#[tokio::test]
async fn start_store_error_reading_proofing_failures_is_a_fault() {
    let mut fx = Fx::new();
    fx.store
        .expect_proofing_mismatches_since()
        .return_const(Err(down()));
    assert_eq!(
        start(fx).await,
        Err(StartError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn start_roster_error_is_a_fault() {
    let mut fx = Fx::new();
    start_until(&mut fx, StartCall::Roster);
    fx.roster.expect_find().return_const(Err(down()));
    assert_eq!(
        start(fx).await,
        Err(StartError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn start_registrant_lookup_error_is_a_fault_and_opens_no_flow() {
    let mut fx = Fx::new();
    start_until(&mut fx, StartCall::Registrant);
    fx.store
        .expect_account_by_registrant()
        .return_const(Err(down()));
    fx.store.expect_insert_flow().never();
    assert_eq!(
        start(fx).await,
        Err(StartError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn start_randomness_failure_is_a_fault_and_opens_no_flow() {
    let mut fx = Fx::new();
    start_until(&mut fx, StartCall::RegistrationId);
    fx.tokens
        .expect_registration_id()
        .return_const(Err(no_randomness()));
    fx.store.expect_insert_flow().never();
    assert_eq!(
        start(fx).await,
        Err(StartError::Fault(Fault::Randomness(no_randomness())))
    );
}

#[tokio::test]
async fn start_insert_flow_error_is_a_fault() {
    let mut fx = Fx::new();
    start_until(&mut fx, StartCall::InsertFlow);
    fx.store.expect_insert_flow().return_const(Err(down()));
    assert_eq!(
        start(fx).await,
        Err(StartError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn start_audit_failure_does_not_fail_a_started_flow() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    start_until(&mut fx, StartCall::Done);
    assert_eq!(start(fx).await, Ok(StateName::ProviderVerified));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::RegistrationStarted, "success".to_owned())]
    );
}

#[tokio::test]
async fn start_fault_is_audited_as_internal() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    fx.store
        .expect_proofing_mismatches_since()
        .return_const(Err(down()));
    assert!(start(fx).await.is_err());
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::RegistrationStarted, "internal".to_owned())]
    );
}

#[tokio::test]
async fn start_proofing_limit_refuses_before_the_roster_is_read() {
    let mut fx = Fx::new();
    fx.settings.proofing_max_failed = 10;
    fx.store
        .expect_proofing_mismatches_since()
        .withf(|_, _, since| *since == NOW - Duration::hours(1))
        .return_const(Ok(ProofingFailures {
            count: 10,
            oldest: Some(NOW - Duration::minutes(45)),
        }));
    fx.roster.expect_find().never();
    assert_eq!(
        start(fx).await,
        Err(StartError::ProofingLimited {
            retry_after: Duration::minutes(15)
        })
    );
}

#[tokio::test]
async fn start_unknown_provider_is_not_found_and_counts_no_mismatch() {
    let mut fx = Fx::new();
    start_until(&mut fx, StartCall::Roster);
    fx.roster.expect_find().return_const(Ok(None));
    fx.store.expect_record_proofing_mismatch().never();
    let help_lines = fx.settings.help_lines.clone();
    assert_eq!(
        start(fx).await,
        Err(StartError::ProviderNotFound { help_lines })
    );
}

fn jane_typed_as(last_name: &str) -> ProofingRequest {
    ProofingRequest::Practitioner {
        provider_id: valid(ProviderId::parse("P1001")),
        tax_id: valid(TaxId::parse(sample::TAX_ID)),
        first_name: valid(PersonName::parse("Jane")),
        last_name: valid(PersonName::parse(last_name)),
        zip: valid(Zip::parse("45202")),
    }
}

#[tokio::test]
async fn start_mismatch_is_counted_for_the_provider() {
    let mut fx = Fx::new();
    start_until(&mut fx, StartCall::Registrant);
    fx.store
        .expect_record_proofing_mismatch()
        .withf(|tax_id, provider_id, at| {
            tax_id.as_str() == "123456789" && provider_id.as_str() == "P1001" && *at == NOW
        })
        .times(1)
        .return_const(Ok(()));
    let portal = fx.build();
    let result = portal
        .start_registration(jane_typed_as("Smith"), ctx())
        .await;
    assert_eq!(result, Err(StartError::ProviderMismatch));
}

#[tokio::test]
async fn start_store_error_counting_a_mismatch_is_a_fault() {
    let mut fx = Fx::new();
    start_until(&mut fx, StartCall::Registrant);
    fx.store
        .expect_record_proofing_mismatch()
        .return_const(Err(down()));
    let portal = fx.build();
    let result = portal
        .start_registration(jane_typed_as("Smith"), ctx())
        .await;
    assert_eq!(result, Err(StartError::Fault(Fault::Store(down()))));
}

#[tokio::test]
async fn start_practitioner_paid_under_a_group_is_told_to_register_as_group() {
    let mut fx = Fx::new();
    start_until(&mut fx, StartCall::Roster);
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::john_roe())));
    fx.store.expect_record_proofing_mismatch().never();
    fx.store.expect_insert_flow().never();
    let request = ProofingRequest::Practitioner {
        provider_id: ProviderId::parse("P1002").unwrap(),
        tax_id: TaxId::parse(sample::TAX_ID).unwrap(),
        first_name: PersonName::parse("John").unwrap(),
        last_name: PersonName::parse("Roe").unwrap(),
        zip: Zip::parse("45202").unwrap(),
    };
    let result = fx.build().start_registration(request, ctx()).await;
    assert_eq!(result, Err(StartError::WrongProviderType));
}

#[tokio::test]
async fn start_already_registered_tells_whether_activation_is_pending() {
    for (holder, pending_activation) in [(pending_account(), true), (active_account(), false)] {
        let mut fx = Fx::new();
        start_until(&mut fx, StartCall::Registrant);
        fx.store
            .expect_account_by_registrant()
            .withf(|key| *key == RegistrantKey::Practitioner(ProviderId::parse("P1001").unwrap()))
            .return_const(Ok(Some(holder)));
        fx.store.expect_insert_flow().never();
        assert_eq!(
            start(fx).await,
            Err(StartError::AlreadyRegistered { pending_activation })
        );
    }
}

// ---------------------------------------------------------------------------
// Registration flows for steps 2 and 3
// ---------------------------------------------------------------------------

const TTL: Duration = Duration::minutes(30);

fn flow_id() -> RegistrationId {
    RegistrationId::from_random_bytes([0xab; 16])
}

fn flow_key() -> String {
    flow_id().as_str().to_owned()
}

/// A flow at step 2 (provider verified) that expires at `expires_at`.
fn verified_flow(expires_at: OffsetDateTime) -> RegistrationFlow {
    RegistrationFlow::start(flow_id(), sample::jane_doe(), expires_at - TTL, TTL)
}

/// A flow at step 3 (agreement accepted) that expires at `expires_at`.
fn accepted_flow(expires_at: OffsetDateTime) -> RegistrationFlow {
    let accepted_at = expires_at - TTL;
    valid(
        verified_flow(accepted_at + Duration::minutes(1)).accept_agreement(
            current_acceptance(accepted_at),
            accepted_at,
            TTL,
        ),
    )
}

fn finished_flow() -> RegistrationFlow {
    let finished_at = NOW - Duration::hours(2);
    valid(accepted_flow(finished_at + Duration::minutes(5)).finish(finished_at)).0
}

fn load(fx: &mut Fx, flow: RegistrationFlow) {
    fx.store
        .expect_load_flow()
        .withf(|id| *id == flow_id())
        .return_const(Ok(Some(flow)));
}

// ---------------------------------------------------------------------------
// accept_agreement
// ---------------------------------------------------------------------------

fn agree() -> Result<AgreementInput, InvalidInput> {
    Ok(AgreementInput {
        accepted: true,
        version: AgreementVersion::sample(),
    })
}

async fn accept(
    fx: Fx,
    input: Result<AgreementInput, InvalidInput>,
) -> Result<StateName, AgreementStepError> {
    fx.build().accept_agreement(&flow_key(), input, ctx()).await
}

#[tokio::test]
async fn agreement_malformed_id_is_not_found_without_a_store_call() {
    let portal = Fx::new().build();
    let result = portal
        .accept_agreement("not-a-flow-id", agree(), ctx())
        .await;
    assert_eq!(result, Err(AgreementStepError::NotFound));
}

#[tokio::test]
async fn agreement_unknown_flow_is_not_found() {
    let mut fx = Fx::new();
    fx.store.expect_load_flow().return_const(Ok(None));
    assert_eq!(accept(fx, agree()).await, Err(AgreementStepError::NotFound));
}

#[tokio::test]
async fn agreement_store_error_loading_the_flow_is_a_fault() {
    let mut fx = Fx::new();
    fx.store.expect_load_flow().return_const(Err(down()));
    assert_eq!(
        accept(fx, agree()).await,
        Err(AgreementStepError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn agreement_at_the_exact_expiry_instant_is_expired_before_input_is_looked_at() {
    for input in [agree(), Err(InvalidInput::single("accepted", "required"))] {
        let mut fx = Fx::at(NOW);
        load(&mut fx, verified_flow(NOW));
        fx.store.expect_update_flow().never();
        assert_eq!(accept(fx, input).await, Err(AgreementStepError::Expired));
    }
}

#[tokio::test]
async fn agreement_one_nanosecond_before_expiry_advances_the_flow() {
    let now = NOW - nanos(1);
    let mut fx = Fx::at(now);
    load(&mut fx, verified_flow(NOW));
    fx.store
        .expect_update_flow()
        .withf(move |flow| {
            flow.version == 1
                && flow.state_name() == StateName::AgreementAccepted
                && flow.expires_at() == Some(now + TTL)
        })
        .times(1)
        .return_const(Ok(()));
    assert_eq!(accept(fx, agree()).await, Ok(StateName::AgreementAccepted));
}

#[tokio::test]
async fn agreement_repeated_step_is_an_invalid_transition() {
    let mut fx = Fx::new();
    load(&mut fx, accepted_flow(NOW + Duration::minutes(10)));
    fx.store.expect_update_flow().never();
    assert_eq!(
        accept(fx, agree()).await,
        Err(AgreementStepError::InvalidTransition)
    );
}

#[tokio::test]
async fn agreement_on_a_finished_flow_is_an_invalid_transition_never_expired() {
    let mut fx = Fx::new();
    load(&mut fx, finished_flow());
    fx.store.expect_update_flow().never();
    assert_eq!(
        accept(fx, agree()).await,
        Err(AgreementStepError::InvalidTransition)
    );
}

#[tokio::test]
async fn agreement_invalid_input_changes_nothing() {
    let mut fx = Fx::new();
    load(&mut fx, verified_flow(NOW + Duration::minutes(10)));
    fx.store.expect_update_flow().never();
    let invalid = InvalidInput::single("version", "required");
    assert_eq!(
        accept(fx, Err(invalid.clone())).await,
        Err(AgreementStepError::InvalidInput(invalid))
    );
}

#[tokio::test]
async fn agreement_declined_or_outdated_is_not_accepted_and_changes_nothing() {
    let outdated = AgreementVersion::parse("0.9").unwrap();
    for input in [
        AgreementInput {
            accepted: false,
            version: AgreementVersion::sample(),
        },
        AgreementInput {
            accepted: true,
            version: outdated,
        },
    ] {
        let mut fx = Fx::new();
        load(&mut fx, verified_flow(NOW + Duration::minutes(10)));
        fx.store.expect_update_flow().never();
        assert_eq!(
            accept(fx, Ok(input)).await,
            Err(AgreementStepError::AgreementNotAccepted)
        );
    }
}

#[tokio::test]
async fn agreement_update_conflict_is_an_invalid_transition() {
    let mut fx = Fx::new();
    load(&mut fx, verified_flow(NOW + Duration::minutes(10)));
    fx.store
        .expect_update_flow()
        .return_const(Err(FlowUpdateError::Conflict));
    assert_eq!(
        accept(fx, agree()).await,
        Err(AgreementStepError::InvalidTransition)
    );
}

#[tokio::test]
async fn agreement_update_store_error_is_a_fault() {
    let mut fx = Fx::new();
    load(&mut fx, verified_flow(NOW + Duration::minutes(10)));
    fx.store
        .expect_update_flow()
        .return_const(Err(FlowUpdateError::Store(down())));
    assert_eq!(
        accept(fx, agree()).await,
        Err(AgreementStepError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn agreement_audit_failure_does_not_fail_an_accepted_step() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    load(&mut fx, verified_flow(NOW + Duration::minutes(10)));
    fx.store.expect_update_flow().times(1).return_const(Ok(()));
    assert_eq!(accept(fx, agree()).await, Ok(StateName::AgreementAccepted));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::AgreementAccepted, "success".to_owned())]
    );
}

// ---------------------------------------------------------------------------
// create_account
// ---------------------------------------------------------------------------

/// The port calls of step 3, in the order the use case makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CreateCall {
    LoadFlow,
    Policy,
    Username,
    Registrant,
    HashPassword,
    HashAnswer,
    Token,
    Commit,
}

/// Scripts every call of step 3 before `upto` to succeed, on a flow that
/// expires in ten minutes.
fn create_until(fx: &mut Fx, upto: CreateCall) {
    create_until_on(fx, accepted_flow(NOW + Duration::minutes(10)), upto);
}

fn create_until_on(fx: &mut Fx, flow: RegistrationFlow, upto: CreateCall) {
    if upto > CreateCall::LoadFlow {
        load(fx, flow);
    }
    if upto > CreateCall::Policy {
        fx.hasher.expect_check_policy().return_const(Ok(Ok(())));
    }
    if upto > CreateCall::Username {
        fx.store.expect_account_by_username().return_const(Ok(None));
    }
    if upto > CreateCall::Registrant {
        fx.store
            .expect_account_by_registrant()
            .return_const(Ok(None));
    }
    if upto > CreateCall::HashPassword {
        fx.hasher
            .expect_hash_password()
            .return_const(Ok(new_hash()));
    }
    if upto > CreateCall::HashAnswer {
        fx.hasher
            .expect_hash_answer()
            .return_const(Ok(PasswordHash::from_phc("$argon2id$answer")));
    }
    if upto > CreateCall::Token {
        fx.tokens.expect_token().return_const(Ok(raw_token(1)));
    }
}

async fn create(fx: Fx) -> Result<Account, CreateAccountStepError> {
    create_with(fx, Ok(sample::account_input())).await
}

async fn create_with(
    fx: Fx,
    input: Result<AccountInput, InvalidInput>,
) -> Result<Account, CreateAccountStepError> {
    fx.build().create_account(&flow_key(), input, ctx()).await
}

fn committed(fx: &mut Fx, result: Result<Account, CreateAccountError>) {
    fx.store
        .expect_create_account()
        .times(1)
        .return_const(result);
}

#[tokio::test]
async fn create_store_error_loading_the_flow_is_a_fault() {
    let mut fx = Fx::new();
    fx.store.expect_load_flow().return_const(Err(down()));
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn create_unknown_flow_is_not_found() {
    let mut fx = Fx::new();
    fx.store.expect_load_flow().return_const(Ok(None));
    assert_eq!(create(fx).await, Err(CreateAccountStepError::NotFound));
}

#[tokio::test]
async fn create_at_the_exact_expiry_instant_is_expired_and_costs_no_hashing() {
    let invalid = InvalidInput::single("username", "required");
    for input in [Ok(sample::account_input()), Err(invalid)] {
        let mut fx = Fx::at(NOW);
        load(&mut fx, accepted_flow(NOW));
        fx.hasher.expect_check_policy().never();
        fx.store.expect_create_account().never();
        assert_eq!(
            create_with(fx, input).await,
            Err(CreateAccountStepError::Expired)
        );
    }
}

#[tokio::test]
async fn create_one_nanosecond_before_expiry_commits_the_account() {
    let now = NOW - nanos(1);
    let mut fx = Fx::at(now);
    create_until_on(&mut fx, accepted_flow(NOW), CreateCall::Commit);
    fx.store
        .expect_create_account()
        .withf(move |flow, account, link, email| {
            flow.version == 2
                && flow.state_name() == StateName::PendingActivation
                && account.username.as_str() == "dr.doe"
                && account.password_hash == new_hash()
                && link.hash == raw_token(1).hash()
                && link.expires_at == now + Duration::hours(24)
                && email.kind.token().map(RawToken::hash) == Some(raw_token(1).hash())
        })
        .times(1)
        .return_const(Ok(pending_account()));
    assert_eq!(create(fx).await, Ok(pending_account()));
}

#[tokio::test]
async fn create_on_a_flow_still_at_the_agreement_step_is_an_invalid_transition() {
    let mut fx = Fx::new();
    load(&mut fx, verified_flow(NOW + Duration::minutes(10)));
    fx.hasher.expect_check_policy().never();
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::InvalidTransition)
    );
}

#[tokio::test]
async fn create_on_a_finished_flow_is_an_invalid_transition() {
    let mut fx = Fx::new();
    load(&mut fx, finished_flow());
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::InvalidTransition)
    );
}

#[tokio::test]
async fn create_invalid_input_comes_before_the_password_policy() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Policy);
    fx.hasher.expect_check_policy().never();
    let invalid = InvalidInput::single("email", "required");
    assert_eq!(
        create_with(fx, Err(invalid.clone())).await,
        Err(CreateAccountStepError::InvalidInput(invalid))
    );
}

#[tokio::test]
async fn create_security_answer_equal_to_the_username_is_invalid_input() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Policy);
    fx.hasher.expect_check_policy().never();
    let input = AccountInput {
        security_answer: SecurityAnswer::parse("DR.DOE").unwrap(),
        ..sample::account_input()
    };
    let result = create_with(fx, Ok(input)).await;
    let Err(CreateAccountStepError::InvalidInput(InvalidInput(fields))) = &result else {
        panic!("expected invalid_input, got {result:?}");
    };
    assert_eq!(fields[0].field, "security_answer");
}

#[tokio::test]
async fn create_policy_check_overloaded_is_a_fault_and_writes_nothing() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Policy);
    fx.hasher
        .expect_check_policy()
        .return_const(Err(overloaded()));
    fx.store.expect_account_by_username().never();
    fx.store.expect_create_account().never();
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn create_password_policy_violations_are_reported_and_nothing_written() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Policy);
    let unmet = violations(vec![PasswordViolation::Digit, PasswordViolation::Symbol]);
    fx.hasher
        .expect_check_policy()
        .return_const(Ok(Err(unmet.clone())));
    fx.store.expect_create_account().never();
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::PasswordPolicy(unmet))
    );
}

#[tokio::test]
async fn create_username_taken_before_already_registered() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Username);
    fx.store
        .expect_account_by_username()
        .return_const(Ok(Some(active_account())));
    fx.store.expect_account_by_registrant().never();
    fx.hasher.expect_hash_password().never();
    assert_eq!(create(fx).await, Err(CreateAccountStepError::UsernameTaken));
}

#[tokio::test]
async fn create_username_lookup_error_is_a_fault() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Username);
    fx.store
        .expect_account_by_username()
        .return_const(Err(down()));
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn create_provider_claimed_meanwhile_is_already_registered() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Registrant);
    fx.store
        .expect_account_by_registrant()
        .return_const(Ok(Some(pending_account())));
    fx.hasher.expect_hash_password().never();
    fx.store.expect_create_account().never();
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::AlreadyRegistered {
            pending_activation: true
        })
    );
}

#[tokio::test]
async fn create_registrant_lookup_error_is_a_fault() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Registrant);
    fx.store
        .expect_account_by_registrant()
        .return_const(Err(down()));
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn create_password_hashing_overloaded_is_a_fault_and_writes_nothing() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::HashPassword);
    fx.hasher
        .expect_hash_password()
        .return_const(Err(overloaded()));
    fx.store.expect_create_account().never();
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn create_answer_hashing_overloaded_is_a_fault_and_writes_nothing() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::HashAnswer);
    fx.hasher
        .expect_hash_answer()
        .return_const(Err(overloaded()));
    fx.store.expect_create_account().never();
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn create_randomness_failure_is_a_fault_and_writes_nothing() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Token);
    fx.tokens.expect_token().return_const(Err(no_randomness()));
    fx.store.expect_create_account().never();
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::Fault(Fault::Randomness(
            no_randomness()
        )))
    );
}

#[tokio::test]
async fn create_store_conflicts_map_to_the_step_errors() {
    let cases = [
        (
            CreateAccountError::UsernameTaken,
            CreateAccountStepError::UsernameTaken,
        ),
        (
            CreateAccountError::AlreadyRegistered,
            CreateAccountStepError::AlreadyRegistered {
                pending_activation: true,
            },
        ),
        (
            CreateAccountError::FlowConflict,
            CreateAccountStepError::InvalidTransition,
        ),
        (
            CreateAccountError::Store(down()),
            CreateAccountStepError::Fault(Fault::Store(down())),
        ),
    ];
    for (store_error, expected) in cases {
        let mut fx = Fx::new();
        create_until(&mut fx, CreateCall::Commit);
        committed(&mut fx, Err(store_error));
        assert_eq!(create(fx).await, Err(expected));
    }
}

#[tokio::test]
async fn create_audit_failure_does_not_fail_a_created_account() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    create_until(&mut fx, CreateCall::Commit);
    committed(&mut fx, Ok(pending_account()));
    assert_eq!(create(fx).await, Ok(pending_account()));
    let events = audit.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, AuditAction::AccountCreated);
    assert_eq!(events[0].username.as_deref(), Some("dr.doe"));
    assert_eq!(events[0].outcome, "success");
}

// ---------------------------------------------------------------------------
// activate
// ---------------------------------------------------------------------------

fn live_activation(fx: &mut Fx, found: Result<Option<Account>, StoreError>) {
    fx.store
        .expect_find_live_token()
        .withf(|hash, purpose, now| {
            *hash == raw_token(9).hash() && *purpose == TokenPurpose::Activation && *now == NOW
        })
        .times(1)
        .return_const(found);
}

async fn activate(fx: Fx) -> Result<Account, ActivationError> {
    fx.build().activate(raw_token(9).expose(), ctx()).await
}

#[tokio::test]
async fn activate_malformed_token_is_invalid_without_a_store_call() {
    let portal = Fx::new().build();
    assert_eq!(
        portal.activate("not a token", ctx()).await,
        Err(ActivationError::InvalidToken)
    );
}

#[tokio::test]
async fn activate_unknown_or_dead_token_is_invalid() {
    let mut fx = Fx::new();
    live_activation(&mut fx, Ok(None));
    fx.store.expect_redeem_activation().never();
    assert_eq!(activate(fx).await, Err(ActivationError::InvalidToken));
}

#[tokio::test]
async fn activate_store_error_finding_the_token_is_a_fault() {
    let mut fx = Fx::new();
    live_activation(&mut fx, Err(down()));
    fx.store.expect_redeem_activation().never();
    assert_eq!(
        activate(fx).await,
        Err(ActivationError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn activate_token_redeemed_by_a_racing_request_is_invalid() {
    let mut fx = Fx::new();
    live_activation(&mut fx, Ok(Some(pending_account())));
    fx.store
        .expect_redeem_activation()
        .times(1)
        .return_const(Err(RedeemError::InvalidToken));
    assert_eq!(activate(fx).await, Err(ActivationError::InvalidToken));
}

#[tokio::test]
async fn activate_store_error_redeeming_is_a_fault() {
    let mut fx = Fx::new();
    live_activation(&mut fx, Ok(Some(pending_account())));
    fx.store
        .expect_redeem_activation()
        .return_const(Err(RedeemError::Store(down())));
    assert_eq!(
        activate(fx).await,
        Err(ActivationError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn activate_audit_failure_does_not_fail_an_activation() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    live_activation(&mut fx, Ok(Some(pending_account())));
    fx.store
        .expect_redeem_activation()
        .withf(|_, _, email| matches!(email.kind, EmailKind::EmailVerification))
        .times(1)
        .return_const(Ok(active_account()));
    assert_eq!(activate(fx).await, Ok(active_account()));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::AccountActivated, "success".to_owned())]
    );
}

// ---------------------------------------------------------------------------
// resend_activation
// ---------------------------------------------------------------------------

fn lookup(fx: &mut Fx, found: Result<Option<Account>, StoreError>) {
    fx.store
        .expect_account_by_username()
        .withf(|u| u.key() == "dr.doe")
        .times(1)
        .return_const(found);
}

async fn resend(fx: Fx) -> Result<(), Fault> {
    fx.build().resend_activation("Dr.Doe", ctx()).await
}

#[tokio::test]
async fn resend_store_error_looking_up_the_username_is_a_fault() {
    let mut fx = Fx::new();
    lookup(&mut fx, Err(down()));
    assert_eq!(resend(fx).await, Err(Fault::Store(down())));
}

#[tokio::test]
async fn resend_randomness_failure_is_a_fault_and_issues_nothing() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(Some(pending_account())));
    fx.tokens.expect_token().return_const(Err(no_randomness()));
    fx.store.expect_issue_token().never();
    assert_eq!(resend(fx).await, Err(Fault::Randomness(no_randomness())));
}

#[tokio::test]
async fn resend_store_error_issuing_the_token_is_a_fault() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(Some(pending_account())));
    fx.tokens.expect_token().return_const(Ok(raw_token(3)));
    fx.store.expect_issue_token().return_const(Err(down()));
    assert_eq!(resend(fx).await, Err(Fault::Store(down())));
}

#[tokio::test]
async fn resend_answers_the_same_and_issues_nothing_for_ineligible_usernames() {
    let disabled = Account {
        disabled: true,
        ..pending_account()
    };
    for (found, outcome) in [
        (None, "unknown_username"),
        (Some(active_account()), "not_pending"),
        (Some(disabled), "not_pending"),
    ] {
        let mut fx = Fx::new();
        let audit = fx.audit.clone();
        lookup(&mut fx, Ok(found));
        fx.store.expect_issue_token().never();
        assert_eq!(resend(fx).await, Ok(()));
        assert_eq!(
            audit.outcomes(),
            [(AuditAction::ActivationResent, outcome.to_owned())]
        );
    }
}

#[tokio::test]
async fn resend_malformed_username_answers_the_same_without_a_store_call() {
    let portal = Fx::new().build();
    assert_eq!(portal.resend_activation("no spaces!", ctx()).await, Ok(()));
}

#[tokio::test]
async fn resend_email_cap_reached_answers_the_same() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    lookup(&mut fx, Ok(Some(pending_account())));
    fx.tokens.expect_token().return_const(Ok(raw_token(3)));
    fx.store
        .expect_issue_token()
        .times(1)
        .return_const(Ok(IssueOutcome::CapReached));
    assert_eq!(resend(fx).await, Ok(()));
    assert_eq!(
        audit.outcomes(),
        [(
            AuditAction::ActivationResent,
            "email_cap_reached".to_owned()
        )]
    );
}

#[tokio::test]
async fn resend_audit_failure_does_not_fail_a_sent_link() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    lookup(&mut fx, Ok(Some(pending_account())));
    fx.tokens.expect_token().return_const(Ok(raw_token(3)));
    fx.store
        .expect_issue_token()
        .withf(|token: &NewToken, email: &Email, cap: &u32| {
            token.account_id == AccountId::new(42)
                && token.purpose == TokenPurpose::Activation
                && token.link.hash == raw_token(3).hash()
                && token.link.expires_at == NOW + Duration::hours(24)
                && matches!(email.kind, EmailKind::Activation { .. })
                && *cap == 5
        })
        .times(1)
        .return_const(Ok(IssueOutcome::Issued));
    assert_eq!(resend(fx).await, Ok(()));
}

// ---------------------------------------------------------------------------
// login
// ---------------------------------------------------------------------------

/// The port calls of a login, in the order the use case makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LoginCall {
    Lookup,
    Verify,
    Roster,
    Token,
    Record,
}

/// Scripts every call of a login of `account` before `upto` to succeed.
fn login_until(fx: &mut Fx, account: Account, upto: LoginCall) {
    if upto > LoginCall::Lookup {
        lookup(fx, Ok(Some(account)));
    }
    if upto > LoginCall::Verify {
        fx.hasher
            .expect_verify_password()
            .times(1)
            .return_const(Ok(Verification::Match {
                needs_rehash: false,
            }));
    }
    if upto > LoginCall::Roster {
        fx.roster
            .expect_find()
            .return_const(Ok(Some(sample::jane_doe())));
    }
    if upto > LoginCall::Token {
        fx.tokens.expect_token().return_const(Ok(raw_token(5)));
    }
}

async fn login<H: PasswordHasher>(fx: Fx<H>) -> Result<Account, LoginError> {
    fx.build()
        .login("Dr.Doe", &the_password(), ctx())
        .await
        .map(|logged_in| logged_in.account)
}

fn no_session_written(fx: &mut Fx) {
    fx.store.expect_record_login_success().never();
}

#[tokio::test]
async fn login_store_error_looking_up_the_user_is_a_fault() {
    let mut fx = Fx::new();
    lookup(&mut fx, Err(down()));
    fx.hasher.expect_verify_password().never();
    fx.hasher.expect_verify_dummy().never();
    assert_eq!(
        login(fx).await,
        Err(LoginError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn login_unknown_user_verifies_the_dummy_once_and_is_invalid_credentials() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(None));
    fx.hasher
        .expect_verify_dummy()
        .withf(|p| p.expose() == sample::PASSWORD)
        .times(1)
        .return_const(Ok(()));
    fx.hasher.expect_verify_password().never();
    fx.store.expect_record_login_failure().never();
    assert_eq!(login(fx).await, Err(LoginError::InvalidCredentials));
}

#[tokio::test]
async fn login_malformed_username_verifies_the_dummy_once_without_a_lookup() {
    let mut fx = Fx::new();
    fx.hasher
        .expect_verify_dummy()
        .times(1)
        .return_const(Ok(()));
    let portal = fx.build();
    let result = portal.login("x", &the_password(), ctx()).await;
    assert_eq!(result.err(), Some(LoginError::InvalidCredentials));
}

#[tokio::test]
async fn login_dummy_verification_overloaded_is_a_fault() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(None));
    fx.hasher
        .expect_verify_dummy()
        .return_const(Err(overloaded()));
    assert_eq!(
        login(fx).await,
        Err(LoginError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn login_locked_account_is_refused_without_verifying_the_password() {
    let until = NOW + Duration::hours(3);
    let mut fx = Fx::new();
    login_until(&mut fx, locked_until(until), LoginCall::Verify);
    fx.hasher.expect_verify_password().never();
    fx.hasher.expect_verify_dummy().never();
    fx.store.expect_record_login_failure().never();
    assert_eq!(
        login(fx).await,
        Err(LoginError::AccountLocked {
            locked_until: until
        })
    );
}

#[tokio::test]
async fn login_one_nanosecond_before_the_lock_ends_is_still_refused() {
    let mut fx = Fx::at(NOW - nanos(1));
    login_until(&mut fx, locked_until(NOW), LoginCall::Verify);
    fx.hasher.expect_verify_password().never();
    assert_eq!(
        login(fx).await,
        Err(LoginError::AccountLocked { locked_until: NOW })
    );
}

#[tokio::test]
async fn login_at_the_exact_end_of_the_lock_proceeds_to_verification() {
    let mut fx = Fx::at(NOW);
    login_until(&mut fx, locked_until(NOW), LoginCall::Verify);
    fx.hasher
        .expect_verify_password()
        .times(1)
        .return_const(Ok(Verification::Mismatch));
    fx.store
        .expect_record_login_failure()
        .times(1)
        .returning(|_, now, policy| {
            Ok(RecordedFailure::after(
                LockState {
                    failed_count: 5,
                    locked_until: Some(NOW),
                },
                now,
                policy,
            ))
        });
    assert_eq!(login(fx).await, Err(LoginError::InvalidCredentials));
}

#[tokio::test]
async fn login_at_the_exact_end_of_the_lock_succeeds_with_the_real_hasher() {
    let hasher = argon2();
    let account = Account {
        password_hash: hasher.hash_password(&the_password()).await.unwrap(),
        ..locked_until(NOW)
    };
    let mut fx = Fx::at(NOW);
    lookup(&mut fx, Ok(Some(account)));
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::jane_doe())));
    fx.tokens.expect_token().return_const(Ok(raw_token(5)));
    fx.store
        .expect_record_login_success()
        .withf(|id, session, rehashed| {
            *id == AccountId::new(42) && session.created_at == NOW && rehashed.is_none()
        })
        .times(1)
        .return_const(Ok(()));
    let result = login(fx.with_hasher(hasher)).await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn login_password_verification_overloaded_is_a_fault_and_counts_nothing() {
    let mut fx = Fx::new();
    login_until(&mut fx, active_account(), LoginCall::Verify);
    fx.hasher
        .expect_verify_password()
        .return_const(Err(overloaded()));
    fx.store.expect_record_login_failure().never();
    no_session_written(&mut fx);
    assert_eq!(
        login(fx).await,
        Err(LoginError::Fault(Fault::Hash(overloaded())))
    );
}

fn wrong_password(fx: &mut Fx, failures_before: u32) {
    fx.hasher
        .expect_verify_password()
        .times(1)
        .return_const(Ok(Verification::Mismatch));
    fx.store
        .expect_record_login_failure()
        .withf(|id, now, policy| {
            *id == AccountId::new(42) && *now == NOW && *policy == LockoutPolicy::default()
        })
        .times(1)
        .returning(move |_, now, policy| {
            Ok(RecordedFailure::after(
                LockState {
                    failed_count: failures_before,
                    locked_until: None,
                },
                now,
                policy,
            ))
        });
}

#[tokio::test]
async fn login_wrong_password_below_the_limit_is_invalid_credentials() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    login_until(&mut fx, active_account(), LoginCall::Verify);
    wrong_password(&mut fx, 3);
    no_session_written(&mut fx);
    assert_eq!(login(fx).await, Err(LoginError::InvalidCredentials));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::LoginFailed, "invalid_credentials".to_owned())]
    );
}

#[tokio::test]
async fn login_wrong_password_reaching_the_limit_is_account_locked() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    login_until(&mut fx, active_account(), LoginCall::Verify);
    wrong_password(&mut fx, 4);
    no_session_written(&mut fx);
    assert_eq!(
        login(fx).await,
        Err(LoginError::AccountLocked {
            locked_until: NOW + Duration::hours(24)
        })
    );
    assert_eq!(
        audit.outcomes(),
        [
            (AuditAction::AccountLocked, "locked".to_owned()),
            (AuditAction::LoginFailed, "account_locked".to_owned()),
        ]
    );
}

// A wrong password verified while another attempt locked the account: the
// store finds the lock set, the answer is `account_locked`, and the lockout
// is not audited a second time (found by `cargo xtask chaos two-instances`:
// 100 parallel wrong logins logged 51 lockouts for one lock).
#[tokio::test]
async fn login_wrong_password_racing_the_lock_is_locked_without_a_second_lockout_event() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    login_until(&mut fx, active_account(), LoginCall::Verify);
    fx.hasher
        .expect_verify_password()
        .times(1)
        .return_const(Ok(Verification::Mismatch));
    let locked = LockState {
        failed_count: 5,
        locked_until: Some(NOW + Duration::hours(24)),
    };
    fx.store
        .expect_record_login_failure()
        .times(1)
        .returning(move |_, now, policy| Ok(RecordedFailure::after(locked, now, policy)));
    no_session_written(&mut fx);
    assert_eq!(
        login(fx).await,
        Err(LoginError::AccountLocked {
            locked_until: NOW + Duration::hours(24)
        })
    );
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::LoginFailed, "account_locked".to_owned())]
    );
}

#[tokio::test]
async fn login_lockout_audit_event_carries_the_client_address() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    login_until(&mut fx, active_account(), LoginCall::Verify);
    wrong_password(&mut fx, 4);
    assert!(login(fx).await.is_err());
    let locked = audit
        .events()
        .into_iter()
        .find(|e| e.action == AuditAction::AccountLocked);
    assert_eq!(locked.and_then(|e| e.client_addr), ctx().client_addr);
}

#[tokio::test]
async fn login_store_error_counting_a_failure_is_a_fault() {
    let mut fx = Fx::new();
    login_until(&mut fx, active_account(), LoginCall::Verify);
    fx.hasher
        .expect_verify_password()
        .return_const(Ok(Verification::Mismatch));
    fx.store
        .expect_record_login_failure()
        .return_const(Err(down()));
    assert_eq!(
        login(fx).await,
        Err(LoginError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn login_correct_password_on_a_disabled_or_pending_account_is_refused() {
    let disabled = Account {
        disabled: true,
        ..active_account()
    };
    for (account, expected) in [
        (disabled, LoginError::AccountDisabled),
        (pending_account(), LoginError::AccountNotActivated),
    ] {
        let mut fx = Fx::new();
        login_until(&mut fx, account, LoginCall::Roster);
        no_session_written(&mut fx);
        fx.tokens.expect_token().never();
        assert_eq!(login(fx).await, Err(expected));
    }
}

#[tokio::test]
async fn login_provider_inactive_or_gone_is_refused() {
    for entry in [Some(inactive(sample::jane_doe())), None] {
        let mut fx = Fx::new();
        login_until(&mut fx, active_account(), LoginCall::Roster);
        fx.roster.expect_find().return_const(Ok(entry));
        no_session_written(&mut fx);
        assert_eq!(login(fx).await, Err(LoginError::ProviderInactive));
    }
}

#[tokio::test]
async fn login_roster_error_is_a_fault() {
    let mut fx = Fx::new();
    login_until(&mut fx, active_account(), LoginCall::Roster);
    fx.roster.expect_find().return_const(Err(down()));
    no_session_written(&mut fx);
    assert_eq!(
        login(fx).await,
        Err(LoginError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn login_rehash_overloaded_is_a_fault_and_writes_no_session() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(Some(active_account())));
    fx.hasher
        .expect_verify_password()
        .return_const(Ok(Verification::Match { needs_rehash: true }));
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::jane_doe())));
    fx.hasher
        .expect_hash_password()
        .times(1)
        .return_const(Err(overloaded()));
    no_session_written(&mut fx);
    assert_eq!(
        login(fx).await,
        Err(LoginError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn login_randomness_failure_is_a_fault_and_writes_no_session() {
    let mut fx = Fx::new();
    login_until(&mut fx, active_account(), LoginCall::Token);
    fx.tokens.expect_token().return_const(Err(no_randomness()));
    no_session_written(&mut fx);
    assert_eq!(
        login(fx).await,
        Err(LoginError::Fault(Fault::Randomness(no_randomness())))
    );
}

#[tokio::test]
async fn login_store_error_recording_the_success_is_a_fault() {
    let mut fx = Fx::new();
    login_until(&mut fx, active_account(), LoginCall::Record);
    fx.store
        .expect_record_login_success()
        .return_const(Err(down()));
    assert_eq!(
        login(fx).await,
        Err(LoginError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn login_audit_failure_does_not_fail_a_login() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    login_until(&mut fx, active_account(), LoginCall::Record);
    fx.store
        .expect_record_login_success()
        .withf(|_, session, _| session.token_hash == raw_token(5).hash())
        .times(1)
        .return_const(Ok(()));
    assert_eq!(login(fx).await, Ok(active_account()));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::LoginSucceeded, "success".to_owned())]
    );
}

// ---------------------------------------------------------------------------
// authenticate
// ---------------------------------------------------------------------------

fn session(created_at: OffsetDateTime, last_seen_at: OffsetDateTime) -> Session {
    Session {
        token_hash: raw_token(5).hash(),
        account_id: AccountId::new(42),
        created_at,
        last_seen_at,
    }
}

fn session_found(fx: &mut Fx, found: Result<Option<Session>, StoreError>) {
    fx.store
        .expect_find_session()
        .withf(|hash| *hash == raw_token(5).hash())
        .times(1)
        .return_const(found);
}

fn account_loaded(fx: &mut Fx, found: Result<Option<Account>, StoreError>) {
    fx.store
        .expect_account_by_id()
        .withf(|id| *id == AccountId::new(42))
        .times(1)
        .return_const(found);
}

/// A session seen a minute ago, its account and its provider, all fine.
fn live_session(fx: &mut Fx, account: Account) {
    session_found(
        fx,
        Ok(Some(session(
            NOW - Duration::hours(1),
            NOW - Duration::minutes(1),
        ))),
    );
    account_loaded(fx, Ok(Some(account)));
}

async fn authenticate(fx: Fx) -> Result<Account, AuthError> {
    fx.build()
        .authenticate(raw_token(5).expose())
        .await
        .map(|auth| auth.account)
}

#[tokio::test]
async fn authenticate_malformed_token_is_unauthenticated_without_a_store_call() {
    let portal = Fx::new().build();
    assert_eq!(
        portal.authenticate("garbage").await.err(),
        Some(AuthError::Unauthenticated)
    );
}

#[tokio::test]
async fn authenticate_unknown_session_is_unauthenticated() {
    let mut fx = Fx::new();
    session_found(&mut fx, Ok(None));
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_store_error_finding_the_session_is_a_fault() {
    let mut fx = Fx::new();
    session_found(&mut fx, Err(down()));
    assert_eq!(
        authenticate(fx).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn authenticate_at_exactly_last_seen_plus_idle_is_unauthenticated_and_revokes() {
    let idle = PortalSettings::default().sessions.idle;
    let last_seen = NOW - idle;
    let mut fx = Fx::at(NOW);
    session_found(&mut fx, Ok(Some(session(last_seen, last_seen))));
    fx.store
        .expect_revoke_session()
        .withf(|hash| *hash == raw_token(5).hash())
        .times(1)
        .return_const(Ok(()));
    fx.store.expect_account_by_id().never();
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_one_nanosecond_before_idle_expiry_is_live_and_touched() {
    let idle = PortalSettings::default().sessions.idle;
    let last_seen = NOW - idle;
    let now = NOW - nanos(1);
    let mut fx = Fx::at(now);
    session_found(&mut fx, Ok(Some(session(last_seen, last_seen))));
    account_loaded(&mut fx, Ok(Some(active_account())));
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::jane_doe())));
    fx.store.expect_revoke_session().never();
    fx.store
        .expect_touch_session()
        .withf(move |_, at| *at == now)
        .times(1)
        .return_const(Ok(()));
    assert_eq!(authenticate(fx).await, Ok(active_account()));
}

#[tokio::test]
async fn authenticate_within_the_touch_interval_does_not_write() {
    let mut fx = Fx::at(NOW);
    let last_seen = NOW - Duration::seconds(30);
    session_found(
        &mut fx,
        Ok(Some(session(NOW - Duration::hours(1), last_seen))),
    );
    account_loaded(&mut fx, Ok(Some(active_account())));
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::jane_doe())));
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Ok(active_account()));
}

#[tokio::test]
async fn authenticate_at_exactly_the_absolute_limit_is_unauthenticated() {
    let absolute = PortalSettings::default().sessions.absolute;
    let mut fx = Fx::at(NOW);
    session_found(
        &mut fx,
        Ok(Some(session(NOW - absolute, NOW - Duration::minutes(1)))),
    );
    fx.store
        .expect_revoke_session()
        .times(1)
        .return_const(Ok(()));
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_store_error_revoking_an_expired_session_is_a_fault() {
    let mut fx = Fx::at(NOW);
    session_found(
        &mut fx,
        Ok(Some(session(
            NOW - Duration::days(1),
            NOW - Duration::days(1),
        ))),
    );
    fx.store.expect_revoke_session().return_const(Err(down()));
    assert_eq!(
        authenticate(fx).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn authenticate_store_error_loading_the_account_is_a_fault() {
    let mut fx = Fx::new();
    session_found(
        &mut fx,
        Ok(Some(session(
            NOW - Duration::hours(1),
            NOW - Duration::minutes(1),
        ))),
    );
    account_loaded(&mut fx, Err(down()));
    fx.store.expect_touch_session().never();
    assert_eq!(
        authenticate(fx).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn authenticate_session_of_a_deleted_account_is_unauthenticated() {
    let mut fx = Fx::new();
    session_found(
        &mut fx,
        Ok(Some(session(
            NOW - Duration::hours(1),
            NOW - Duration::minutes(1),
        ))),
    );
    account_loaded(&mut fx, Ok(None));
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_disabled_account_is_unauthenticated() {
    let mut fx = Fx::new();
    live_session(
        &mut fx,
        Account {
            disabled: true,
            ..active_account()
        },
    );
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_inactive_provider_is_unauthenticated() {
    let mut fx = Fx::new();
    live_session(&mut fx, active_account());
    fx.roster
        .expect_find()
        .return_const(Ok(Some(inactive(sample::jane_doe()))));
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_roster_error_is_a_fault() {
    let mut fx = Fx::new();
    live_session(&mut fx, active_account());
    fx.roster.expect_find().return_const(Err(down()));
    fx.store.expect_touch_session().never();
    assert_eq!(
        authenticate(fx).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn authenticate_store_error_touching_the_session_is_a_fault() {
    let mut fx = Fx::new();
    live_session(&mut fx, active_account());
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::jane_doe())));
    fx.store.expect_touch_session().return_const(Err(down()));
    assert_eq!(
        authenticate(fx).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

// ---------------------------------------------------------------------------
// logout
// ---------------------------------------------------------------------------

#[tokio::test]
async fn logout_store_error_is_a_fault() {
    let mut fx = Fx::new();
    fx.store.expect_revoke_session().return_const(Err(down()));
    let result = fx.build().logout(raw_token(5).expose(), ctx()).await;
    assert_eq!(result, Err(Fault::Store(down())));
}

#[tokio::test]
async fn logout_malformed_token_succeeds_without_a_store_call() {
    let mut fx = Fx::new();
    fx.store.expect_revoke_session().never();
    assert_eq!(fx.build().logout("garbage", ctx()).await, Ok(()));
}

#[tokio::test]
async fn logout_audit_failure_does_not_fail_a_logout() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    fx.store
        .expect_revoke_session()
        .withf(|hash| *hash == raw_token(5).hash())
        .times(1)
        .return_const(Ok(()));
    let result = fx.build().logout(raw_token(5).expose(), ctx()).await;
    assert_eq!(result, Ok(()));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::Logout, "success".to_owned())]
    );
}

// ---------------------------------------------------------------------------
// accept_current_agreement
// ---------------------------------------------------------------------------

fn authenticated(account: Account) -> Authenticated {
    Authenticated {
        account,
        provider: sample::jane_doe(),
        session_hash: raw_token(5).hash(),
        session_expires_at: NOW + Duration::minutes(30),
        agreement_required: true,
    }
}

async fn reaccept(fx: Fx, version: AgreementVersion) -> Result<(), AuthError> {
    fx.build()
        .accept_current_agreement(&authenticated(active_account()), &version, ctx())
        .await
}

#[tokio::test]
async fn reaccept_other_version_is_refused_and_records_nothing() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    fx.store.expect_record_agreement().never();
    assert_eq!(
        reaccept(fx, AgreementVersion::parse("0.9").unwrap()).await,
        Err(AuthError::AgreementNotAccepted)
    );
    assert_eq!(
        audit.outcomes(),
        [(
            AuditAction::AgreementReaccepted,
            "agreement_not_accepted".to_owned()
        )]
    );
}

#[tokio::test]
async fn reaccept_store_error_is_a_fault() {
    let mut fx = Fx::new();
    fx.store.expect_record_agreement().return_const(Err(down()));
    assert_eq!(
        reaccept(fx, AgreementVersion::sample()).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn reaccept_audit_failure_does_not_fail_a_recorded_acceptance() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let expected = AgreementAcceptance {
        client_addr: ctx().client_addr,
        ..current_acceptance(NOW)
    };
    fx.store
        .expect_record_agreement()
        .withf(move |id, acceptance| *id == AccountId::new(42) && *acceptance == expected)
        .times(1)
        .return_const(Ok(()));
    assert_eq!(reaccept(fx, AgreementVersion::sample()).await, Ok(()));
}

// ---------------------------------------------------------------------------
// change_password
// ---------------------------------------------------------------------------

const NEW_PASSWORD: &str = "Saffron-Glacier-88-Tulip";

/// The port calls of a password change, in the order the use case makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ChangeCall {
    Load,
    Verify,
    Policy,
    Hash,
    Commit,
}

fn change_until(fx: &mut Fx, account: Account, upto: ChangeCall) {
    if upto > ChangeCall::Load {
        account_loaded(fx, Ok(Some(account)));
    }
    if upto > ChangeCall::Verify {
        fx.hasher
            .expect_verify_password()
            .withf(|p, _| p.expose() == sample::PASSWORD)
            .return_const(Ok(Verification::Match {
                needs_rehash: false,
            }));
    }
    if upto > ChangeCall::Policy {
        fx.hasher.expect_check_policy().return_const(Ok(Ok(())));
    }
    if upto > ChangeCall::Hash {
        fx.hasher
            .expect_hash_password()
            .return_const(Ok(new_hash()));
    }
}

async fn change(fx: Fx) -> Result<(), PasswordChangeError> {
    change_to(fx, NEW_PASSWORD).await
}

async fn change_to(fx: Fx, new: &str) -> Result<(), PasswordChangeError> {
    fx.build()
        .change_password(
            &authenticated(active_account()),
            &the_password(),
            &password(new),
            ctx(),
        )
        .await
}

fn nothing_changed(fx: &mut Fx) {
    fx.store.expect_change_password().never();
}

#[tokio::test]
async fn change_store_error_loading_the_account_is_a_fault() {
    let mut fx = Fx::new();
    account_loaded(&mut fx, Err(down()));
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn change_for_a_deleted_account_is_invalid_credentials() {
    let mut fx = Fx::new();
    account_loaded(&mut fx, Ok(None));
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::InvalidCredentials)
    );
}

#[tokio::test]
async fn change_on_a_locked_account_is_refused_without_verifying() {
    let mut fx = Fx::at(NOW - nanos(1));
    change_until(&mut fx, locked_until(NOW), ChangeCall::Verify);
    fx.hasher.expect_verify_password().never();
    nothing_changed(&mut fx);
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::AccountLocked { locked_until: NOW })
    );
}

#[tokio::test]
async fn change_at_the_exact_end_of_the_lock_proceeds() {
    let mut fx = Fx::at(NOW);
    change_until(&mut fx, locked_until(NOW), ChangeCall::Commit);
    fx.store
        .expect_change_password()
        .times(1)
        .return_const(Ok(()));
    assert_eq!(change(fx).await, Ok(()));
}

#[tokio::test]
async fn change_verification_overloaded_is_a_fault_and_counts_nothing() {
    let mut fx = Fx::new();
    change_until(&mut fx, active_account(), ChangeCall::Verify);
    fx.hasher
        .expect_verify_password()
        .return_const(Err(overloaded()));
    fx.store.expect_record_login_failure().never();
    nothing_changed(&mut fx);
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn change_wrong_current_password_counts_toward_the_lockout() {
    for (failures_before, expected) in [
        (0, PasswordChangeError::InvalidCredentials),
        (
            4,
            PasswordChangeError::AccountLocked {
                locked_until: NOW + Duration::hours(24),
            },
        ),
    ] {
        let mut fx = Fx::new();
        change_until(&mut fx, active_account(), ChangeCall::Verify);
        wrong_password(&mut fx, failures_before);
        fx.hasher.expect_check_policy().never();
        nothing_changed(&mut fx);
        assert_eq!(change(fx).await, Err(expected));
    }
}

#[tokio::test]
async fn change_store_error_counting_a_failure_is_a_fault() {
    let mut fx = Fx::new();
    change_until(&mut fx, active_account(), ChangeCall::Verify);
    fx.hasher
        .expect_verify_password()
        .return_const(Ok(Verification::Mismatch));
    fx.store
        .expect_record_login_failure()
        .return_const(Err(down()));
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn change_policy_check_overloaded_is_a_fault_and_changes_nothing() {
    let mut fx = Fx::new();
    change_until(&mut fx, active_account(), ChangeCall::Policy);
    fx.hasher
        .expect_check_policy()
        .return_const(Err(overloaded()));
    fx.hasher.expect_hash_password().never();
    nothing_changed(&mut fx);
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn change_policy_violations_change_nothing() {
    let mut fx = Fx::new();
    change_until(&mut fx, active_account(), ChangeCall::Policy);
    let unmet = violations(vec![PasswordViolation::Uppercase]);
    fx.hasher
        .expect_check_policy()
        .return_const(Ok(Err(unmet.clone())));
    nothing_changed(&mut fx);
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::PasswordPolicy(unmet))
    );
}

#[tokio::test]
async fn change_to_the_current_password_is_reused() {
    let mut fx = Fx::new();
    change_until(&mut fx, active_account(), ChangeCall::Hash);
    fx.hasher.expect_hash_password().never();
    nothing_changed(&mut fx);
    assert_eq!(
        change_to(fx, sample::PASSWORD).await,
        Err(PasswordChangeError::PasswordPolicy(violations(vec![
            PasswordViolation::Reused
        ])))
    );
}

#[tokio::test]
async fn change_hashing_overloaded_is_a_fault_and_changes_nothing() {
    let mut fx = Fx::new();
    change_until(&mut fx, active_account(), ChangeCall::Hash);
    fx.hasher
        .expect_hash_password()
        .return_const(Err(overloaded()));
    nothing_changed(&mut fx);
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn change_store_error_committing_is_a_fault() {
    let mut fx = Fx::new();
    change_until(&mut fx, active_account(), ChangeCall::Commit);
    fx.store.expect_change_password().return_const(Err(down()));
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn change_audit_failure_does_not_fail_a_changed_password() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    change_until(&mut fx, active_account(), ChangeCall::Commit);
    fx.store
        .expect_change_password()
        .withf(|id, hash, keep, notice, now| {
            *id == AccountId::new(42)
                && *hash == new_hash()
                && *keep == raw_token(5).hash()
                && matches!(notice.kind, EmailKind::PasswordChanged)
                && *now == NOW
        })
        .times(1)
        .return_const(Ok(()));
    assert_eq!(change(fx).await, Ok(()));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::PasswordChanged, "success".to_owned())]
    );
}

// ---------------------------------------------------------------------------
// request_password_reset
// ---------------------------------------------------------------------------

async fn request_reset(fx: Fx) -> Result<(), Fault> {
    fx.build().request_password_reset("Dr.Doe", ctx()).await
}

#[tokio::test]
async fn reset_request_store_error_looking_up_the_username_is_a_fault() {
    let mut fx = Fx::new();
    lookup(&mut fx, Err(down()));
    assert_eq!(request_reset(fx).await, Err(Fault::Store(down())));
}

#[tokio::test]
async fn reset_request_randomness_failure_is_a_fault_and_issues_nothing() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(Some(active_account())));
    fx.tokens.expect_token().return_const(Err(no_randomness()));
    fx.store.expect_issue_token().never();
    assert_eq!(
        request_reset(fx).await,
        Err(Fault::Randomness(no_randomness()))
    );
}

#[tokio::test]
async fn reset_request_store_error_issuing_the_token_is_a_fault() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(Some(active_account())));
    fx.tokens.expect_token().return_const(Ok(raw_token(4)));
    fx.store.expect_issue_token().return_const(Err(down()));
    assert_eq!(request_reset(fx).await, Err(Fault::Store(down())));
}

#[tokio::test]
async fn reset_request_answers_the_same_and_issues_nothing_for_ineligible_usernames() {
    let disabled = Account {
        disabled: true,
        ..active_account()
    };
    for (found, outcome) in [
        (None, "unknown_username"),
        (Some(pending_account()), "not_eligible"),
        (Some(disabled), "not_eligible"),
    ] {
        let mut fx = Fx::new();
        let audit = fx.audit.clone();
        lookup(&mut fx, Ok(found));
        fx.store.expect_issue_token().never();
        assert_eq!(request_reset(fx).await, Ok(()));
        assert_eq!(
            audit.outcomes(),
            [(AuditAction::PasswordResetRequested, outcome.to_owned())]
        );
    }
}

#[tokio::test]
async fn reset_request_malformed_username_answers_the_same_without_a_store_call() {
    let portal = Fx::new().build();
    assert_eq!(portal.request_password_reset("a b", ctx()).await, Ok(()));
}

#[tokio::test]
async fn reset_request_email_cap_reached_answers_the_same() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    lookup(&mut fx, Ok(Some(active_account())));
    fx.tokens.expect_token().return_const(Ok(raw_token(4)));
    fx.store
        .expect_issue_token()
        .times(1)
        .return_const(Ok(IssueOutcome::CapReached));
    assert_eq!(request_reset(fx).await, Ok(()));
    assert_eq!(
        audit.outcomes(),
        [(
            AuditAction::PasswordResetRequested,
            "email_cap_reached".to_owned()
        )]
    );
}

#[tokio::test]
async fn reset_request_audit_failure_does_not_fail_a_sent_link_even_when_locked() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    lookup(&mut fx, Ok(Some(locked_until(NOW + Duration::hours(1)))));
    fx.tokens.expect_token().return_const(Ok(raw_token(4)));
    fx.store
        .expect_issue_token()
        .withf(|token: &NewToken, email: &Email, cap: &u32| {
            token.purpose == TokenPurpose::PasswordReset
                && token.link.hash == raw_token(4).hash()
                && token.link.expires_at == NOW + Duration::hours(1)
                && matches!(email.kind, EmailKind::PasswordReset { .. })
                && *cap == 5
        })
        .times(1)
        .return_const(Ok(IssueOutcome::Issued));
    assert_eq!(request_reset(fx).await, Ok(()));
}

// ---------------------------------------------------------------------------
// confirm_password_reset
// ---------------------------------------------------------------------------

/// The port calls of a reset confirmation, in the order the use case makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ConfirmCall {
    Find,
    Policy,
    Reused,
    Hash,
    Redeem,
}

fn confirm_until(fx: &mut Fx, upto: ConfirmCall) {
    if upto > ConfirmCall::Find {
        fx.store
            .expect_find_live_token()
            .withf(|hash, purpose, now| {
                *hash == raw_token(8).hash()
                    && *purpose == TokenPurpose::PasswordReset
                    && *now == NOW
            })
            .return_const(Ok(Some(locked_until(NOW + Duration::hours(1)))));
    }
    if upto > ConfirmCall::Policy {
        fx.hasher.expect_check_policy().return_const(Ok(Ok(())));
    }
    if upto > ConfirmCall::Reused {
        fx.hasher
            .expect_verify_password()
            .return_const(Ok(Verification::Mismatch));
    }
    if upto > ConfirmCall::Hash {
        fx.hasher
            .expect_hash_password()
            .return_const(Ok(new_hash()));
    }
}

fn nothing_redeemed(fx: &mut Fx) {
    fx.store.expect_redeem_password_reset().never();
}

async fn confirm(fx: Fx) -> Result<(), ResetConfirmError> {
    fx.build()
        .confirm_password_reset(raw_token(8).expose(), &password(NEW_PASSWORD), ctx())
        .await
}

#[tokio::test]
async fn confirm_malformed_token_is_invalid_without_a_store_call() {
    let portal = Fx::new().build();
    let result = portal
        .confirm_password_reset("short", &password(NEW_PASSWORD), ctx())
        .await;
    assert_eq!(result, Err(ResetConfirmError::InvalidToken));
}

#[tokio::test]
async fn confirm_unknown_or_dead_token_is_invalid() {
    let mut fx = Fx::new();
    fx.store.expect_find_live_token().return_const(Ok(None));
    fx.hasher.expect_check_policy().never();
    nothing_redeemed(&mut fx);
    assert_eq!(confirm(fx).await, Err(ResetConfirmError::InvalidToken));
}

#[tokio::test]
async fn confirm_store_error_finding_the_token_is_a_fault() {
    let mut fx = Fx::new();
    fx.store.expect_find_live_token().return_const(Err(down()));
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn confirm_policy_check_overloaded_is_a_fault_and_spends_nothing() {
    let mut fx = Fx::new();
    confirm_until(&mut fx, ConfirmCall::Policy);
    fx.hasher
        .expect_check_policy()
        .return_const(Err(overloaded()));
    nothing_redeemed(&mut fx);
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn confirm_reuse_check_overloaded_is_a_fault_and_spends_nothing() {
    let mut fx = Fx::new();
    confirm_until(&mut fx, ConfirmCall::Reused);
    fx.hasher
        .expect_verify_password()
        .return_const(Err(overloaded()));
    nothing_redeemed(&mut fx);
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn confirm_policy_violations_and_reuse_are_reported_together_and_spend_nothing() {
    let mut fx = Fx::new();
    confirm_until(&mut fx, ConfirmCall::Policy);
    fx.hasher
        .expect_check_policy()
        .return_const(Ok(Err(violations(vec![PasswordViolation::Symbol]))));
    fx.hasher
        .expect_verify_password()
        .return_const(Ok(Verification::Match {
            needs_rehash: false,
        }));
    fx.hasher.expect_hash_password().never();
    nothing_redeemed(&mut fx);
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::PasswordPolicy(violations(vec![
            PasswordViolation::Symbol,
            PasswordViolation::Reused,
        ])))
    );
}

#[tokio::test]
async fn confirm_hashing_overloaded_is_a_fault_and_spends_nothing() {
    let mut fx = Fx::new();
    confirm_until(&mut fx, ConfirmCall::Hash);
    fx.hasher
        .expect_hash_password()
        .return_const(Err(overloaded()));
    nothing_redeemed(&mut fx);
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn confirm_token_redeemed_by_a_racing_request_is_invalid() {
    let mut fx = Fx::new();
    confirm_until(&mut fx, ConfirmCall::Redeem);
    fx.store
        .expect_redeem_password_reset()
        .times(1)
        .return_const(Err(RedeemError::InvalidToken));
    assert_eq!(confirm(fx).await, Err(ResetConfirmError::InvalidToken));
}

#[tokio::test]
async fn confirm_store_error_redeeming_is_a_fault() {
    let mut fx = Fx::new();
    confirm_until(&mut fx, ConfirmCall::Redeem);
    fx.store
        .expect_redeem_password_reset()
        .return_const(Err(RedeemError::Store(down())));
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn confirm_audit_failure_does_not_fail_a_completed_reset() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    confirm_until(&mut fx, ConfirmCall::Redeem);
    fx.store
        .expect_redeem_password_reset()
        .withf(|hash, _, new, notice| {
            *hash == raw_token(8).hash()
                && *new == new_hash()
                && matches!(notice.kind, EmailKind::PasswordChanged)
        })
        .times(1)
        .return_const(Ok(active_account()));
    assert_eq!(confirm(fx).await, Ok(()));
    let events = audit.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, AuditAction::PasswordResetCompleted);
    assert_eq!(events[0].username.as_deref(), Some("dr.doe"));
}

// ---------------------------------------------------------------------------
// verify_security_answer
// ---------------------------------------------------------------------------

fn answer() -> SecurityAnswer {
    valid(SecurityAnswer::parse("Fluffy"))
}

async fn check_answer(fx: Fx) -> Result<SupportCheck, SupportError> {
    fx.build()
        .verify_security_answer("Dr.Doe", &answer(), ctx())
        .await
}

fn support_failures(fx: &mut Fx, result: Result<u32, StoreError>) {
    fx.store
        .expect_support_failures_since()
        .withf(|id, since| *id == AccountId::new(42) && *since == NOW - Duration::hours(24))
        .times(1)
        .return_const(result);
}

#[tokio::test]
async fn support_malformed_or_unknown_username_is_refused() {
    let portal = Fx::new().build();
    let result = portal.verify_security_answer("a b", &answer(), ctx()).await;
    assert_eq!(result, Err(SupportError::UnknownUsername));

    let mut fx = Fx::new();
    lookup(&mut fx, Ok(None));
    assert_eq!(check_answer(fx).await, Err(SupportError::UnknownUsername));
}

#[tokio::test]
async fn support_store_error_looking_up_the_username_is_a_fault() {
    let mut fx = Fx::new();
    lookup(&mut fx, Err(down()));
    assert_eq!(
        check_answer(fx).await,
        Err(SupportError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn support_store_error_counting_failures_is_a_fault() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(Some(active_account())));
    support_failures(&mut fx, Err(down()));
    fx.hasher.expect_verify_answer().never();
    assert_eq!(
        check_answer(fx).await,
        Err(SupportError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn support_three_wrong_answers_refuse_further_checks_without_hashing() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    lookup(&mut fx, Ok(Some(active_account())));
    support_failures(&mut fx, Ok(3));
    fx.hasher.expect_verify_answer().never();
    fx.store.expect_record_support_check().never();
    assert_eq!(check_answer(fx).await, Err(SupportError::TooManyAttempts));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::SupportCheck, "refused".to_owned())]
    );
}

#[tokio::test]
async fn support_verification_overloaded_is_a_fault_and_records_nothing() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(Some(active_account())));
    support_failures(&mut fx, Ok(2));
    fx.hasher
        .expect_verify_answer()
        .return_const(Err(overloaded()));
    fx.store.expect_record_support_check().never();
    assert_eq!(
        check_answer(fx).await,
        Err(SupportError::Fault(Fault::Hash(overloaded())))
    );
}

#[tokio::test]
async fn support_wrong_answer_is_recorded_as_a_failure() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(Some(active_account())));
    support_failures(&mut fx, Ok(2));
    fx.hasher
        .expect_verify_answer()
        .return_const(Ok(Verification::Mismatch));
    fx.store
        .expect_record_support_check()
        .withf(|id, at, matched| *id == AccountId::new(42) && *at == NOW && !*matched)
        .times(1)
        .return_const(Ok(()));
    assert_eq!(check_answer(fx).await, Ok(SupportCheck::NoMatch));
}

#[tokio::test]
async fn support_store_error_recording_the_check_is_a_fault() {
    let mut fx = Fx::new();
    lookup(&mut fx, Ok(Some(active_account())));
    support_failures(&mut fx, Ok(0));
    fx.hasher
        .expect_verify_answer()
        .return_const(Ok(Verification::Match {
            needs_rehash: false,
        }));
    fx.store
        .expect_record_support_check()
        .return_const(Err(down()));
    assert_eq!(
        check_answer(fx).await,
        Err(SupportError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn support_audit_failure_does_not_fail_a_check() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    lookup(&mut fx, Ok(Some(active_account())));
    support_failures(&mut fx, Ok(0));
    fx.hasher
        .expect_verify_answer()
        .return_const(Ok(Verification::Match {
            needs_rehash: false,
        }));
    fx.store
        .expect_record_support_check()
        .withf(|_, _, matched| *matched)
        .times(1)
        .return_const(Ok(()));
    assert_eq!(check_answer(fx).await, Ok(SupportCheck::Match));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::SupportCheck, "match".to_owned())]
    );
}

// ---------------------------------------------------------------------------
// visible_providers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn scope_roster_error_for_a_practitioner_is_a_fault() {
    let mut fx = Fx::new();
    fx.roster.expect_find().return_const(Err(down()));
    let result = fx.build().visible_providers(&active_account()).await;
    assert_eq!(result, Err(Fault::Store(down())));
}

#[tokio::test]
async fn scope_roster_error_for_a_group_is_a_fault() {
    let mut fx = Fx::new();
    fx.roster
        .expect_active_under_tax_id()
        .withf(|tax_id| tax_id.as_str() == "123456789")
        .times(1)
        .return_const(Err(down()));
    fx.roster.expect_find().never();
    let result = fx.build().visible_providers(&group_account()).await;
    assert_eq!(result, Err(Fault::Store(down())));
}

#[tokio::test]
async fn scope_practitioner_whose_entry_is_inactive_or_gone_sees_nothing() {
    for entry in [Some(inactive(sample::jane_doe())), None] {
        let mut fx = Fx::new();
        fx.roster.expect_find().return_const(Ok(entry));
        let result = fx.build().visible_providers(&active_account()).await;
        assert_eq!(result, Ok(Vec::<ProviderItem>::new()));
    }
}

#[tokio::test]
async fn scope_of_a_request_reuses_the_practitioners_authenticated_entry() {
    let mut fx = Fx::new();
    fx.roster.expect_find().never();
    fx.roster.expect_active_under_tax_id().never();
    let mut auth = authenticated(active_account());
    auth.agreement_required = false;
    let result = fx.build().visible_providers_of(&auth).await.unwrap();
    assert_eq!(result, vec![ProviderItem::from(sample::jane_doe())]);
}

#[tokio::test]
async fn scope_of_a_request_reads_a_groups_providers() {
    let mut fx = Fx::new();
    fx.roster
        .expect_active_under_tax_id()
        .times(1)
        .return_const(Ok(vec![sample::jane_doe()]));
    let result = fx
        .build()
        .visible_providers_of(&authenticated(group_account()))
        .await
        .unwrap();
    assert_eq!(result, vec![ProviderItem::from(sample::jane_doe())]);
}

// ---------------------------------------------------------------------------
// purge
// ---------------------------------------------------------------------------

#[tokio::test]
async fn purge_store_error_purging_stale_pending_accounts_is_a_fault() {
    let mut fx = Fx::new();
    fx.store
        .expect_purge_stale_pending()
        .withf(|cutoff| *cutoff == NOW - Duration::days(7))
        .times(1)
        .return_const(Err(down()));
    fx.store.expect_purge_expired().never();
    assert_eq!(fx.build().purge().await, Err(Fault::Store(down())));
}

#[tokio::test]
async fn purge_store_error_purging_expired_rows_is_a_fault() {
    let mut fx = Fx::new();
    fx.store
        .expect_purge_stale_pending()
        .return_const(Ok(Vec::new()));
    fx.store.expect_purge_expired().return_const(Err(down()));
    assert_eq!(fx.build().purge().await, Err(Fault::Store(down())));
}

#[tokio::test]
async fn purge_audit_failure_does_not_fail_a_purge() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    let freed = vec!["dr.typo".to_owned(), "dr.other".to_owned()];
    fx.store
        .expect_purge_stale_pending()
        .return_const(Ok(freed.clone()));
    let counts = PurgeCounts {
        flows: 1,
        tokens: 2,
        sessions: 3,
        sent_emails: 4,
    };
    let sessions = PortalSettings::default().sessions;
    fx.store
        .expect_purge_expired()
        .withf(move |now, flows_before, sent_before, idle, absolute| {
            *now == NOW
                && *flows_before == NOW - Duration::hours(24)
                && *sent_before == NOW - Duration::days(7)
                && *idle == sessions.idle
                && *absolute == sessions.absolute
        })
        .times(1)
        .return_const(Ok(counts));
    let report = fx.build().purge().await.unwrap();
    assert_eq!(report.stale_pending, freed);
    assert_eq!(report.expired, counts);
    let purged: Vec<_> = audit
        .events()
        .into_iter()
        .filter(|e| e.action == AuditAction::PendingAccountPurged)
        .filter_map(|e| e.username)
        .collect();
    assert_eq!(purged, freed);
}

// ---------------------------------------------------------------------------
// OutboxDelivery::deliver_batch
// ---------------------------------------------------------------------------

// The delivery worker needs one store that is both the outbox and the audit
// trail; this mock is that store.
mockall::mock! {
    DeliveryStore {}

    #[async_trait]
    impl OutboxStore for DeliveryStore {
        async fn claim_due(
            &self,
            now: OffsetDateTime,
            limit: u32,
            lease: Duration,
        ) -> Result<Vec<QueuedEmail>, StoreError>;
        async fn mark_sent(&self, id: OutboxId, now: OffsetDateTime) -> Result<(), StoreError>;
        async fn mark_retry(
            &self,
            id: OutboxId,
            retry_at: OffsetDateTime,
            error: &str,
        ) -> Result<(), StoreError>;
        async fn mark_failed(
            &self,
            id: OutboxId,
            now: OffsetDateTime,
            error: &str,
        ) -> Result<(), StoreError>;
        async fn pending_for(&self, username: &Username) -> Result<u64, StoreError>;
    }

    #[async_trait]
    impl UserStore for DeliveryStore {
        async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError>;
        async fn load_flow(
            &self,
            id: &RegistrationId,
        ) -> Result<Option<RegistrationFlow>, StoreError>;
        async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError>;
        async fn record_proofing_mismatch(
            &self,
            tax_id: &TaxId,
            provider_id: &ProviderId,
            at: OffsetDateTime,
        ) -> Result<(), StoreError>;
        async fn proofing_mismatches_since(
            &self,
            tax_id: &TaxId,
            provider_id: &ProviderId,
            since: OffsetDateTime,
        ) -> Result<ProofingFailures, StoreError>;
        async fn account_by_username(
            &self,
            username: &Username,
        ) -> Result<Option<Account>, StoreError>;
        async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
        async fn account_by_registrant(
            &self,
            key: &RegistrantKey,
        ) -> Result<Option<Account>, StoreError>;
        async fn create_account(
            &self,
            finished_flow: &RegistrationFlow,
            account: &NewAccount,
            activation: &LinkToken,
            email: &Email,
        ) -> Result<Account, CreateAccountError>;
        async fn record_login_failure(
            &self,
            id: AccountId,
            now: OffsetDateTime,
            policy: LockoutPolicy,
        ) -> Result<RecordedFailure, StoreError>;
        async fn record_login_success(
            &self,
            id: AccountId,
            session: &Session,
            rehashed: Option<PasswordHash>,
        ) -> Result<(), StoreError>;
        async fn record_agreement(
            &self,
            id: AccountId,
            acceptance: &AgreementAcceptance,
        ) -> Result<(), StoreError>;
        async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError>;
        async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError>;
        async fn issue_token(
            &self,
            token: &NewToken,
            email: &Email,
            max_per_hour: u32,
        ) -> Result<IssueOutcome, StoreError>;
        async fn find_live_token(
            &self,
            hash: &TokenHash,
            purpose: TokenPurpose,
            now: OffsetDateTime,
        ) -> Result<Option<Account>, StoreError>;
        async fn redeem_activation(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
            email: &Email,
        ) -> Result<Account, RedeemError>;
        async fn redeem_password_reset(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
            new_hash: &PasswordHash,
            notice: &Email,
        ) -> Result<Account, RedeemError>;
        async fn change_password(
            &self,
            id: AccountId,
            new_hash: &PasswordHash,
            keep: &TokenHash,
            notice: &Email,
            now: OffsetDateTime,
        ) -> Result<(), StoreError>;
        async fn find_session(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError>;
        async fn touch_session(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
        ) -> Result<(), StoreError>;
        async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError>;
        async fn support_failures_since(
            &self,
            id: AccountId,
            since: OffsetDateTime,
        ) -> Result<u32, StoreError>;
        async fn record_support_check(
            &self,
            id: AccountId,
            at: OffsetDateTime,
            matched: bool,
        ) -> Result<(), StoreError>;
        async fn purge_stale_pending(
            &self,
            cutoff: OffsetDateTime,
        ) -> Result<Vec<String>, StoreError>;
        async fn purge_expired(
            &self,
            now: OffsetDateTime,
            flows_before: OffsetDateTime,
            sent_before: OffsetDateTime,
            session_idle: Duration,
            session_absolute: Duration,
        ) -> Result<PurgeCounts, StoreError>;
        async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
        async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;
    }
}

fn delivery_policy() -> DeliveryPolicy {
    DeliveryPolicy::default()
}

/// Outbox row `id`, addressed to `user{id}`, after `attempts` attempts.
fn queued(id: i64, attempts: u32) -> QueuedEmail {
    QueuedEmail {
        id: OutboxId(id),
        email: Email {
            to: valid(EmailAddress::parse(&format!("user{id}@example.org"))),
            username: username(&format!("user{id}")),
            kind: EmailKind::PasswordChanged,
        },
        attempts,
    }
}

/// What the mailer answers for the email to `user{id}`.
fn mailer_answering(answers: Vec<(i64, Result<(), MailError>)>) -> MockMailer {
    let mut mailer = MockMailer::new();
    for (id, answer) in answers {
        let name = format!("user{id}");
        mailer
            .expect_send()
            .withf(move |email| email.username.as_str() == name)
            .times(1)
            .return_const(answer);
    }
    mailer
}

fn claims(store: &mut MockDeliveryStore, batch: Vec<QueuedEmail>) {
    let policy = delivery_policy();
    store
        .expect_claim_due()
        .withf(move |now, limit, lease| {
            *now == NOW && *limit == policy.batch_size && *lease == policy.lease
        })
        .times(1)
        .return_const(Ok(batch));
}

async fn deliver(store: MockDeliveryStore, mailer: MockMailer) -> Result<BatchReport, StoreError> {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    OutboxDelivery::new(store, mailer, clock, delivery_policy())
        .deliver_batch()
        .await
}

fn transient() -> MailError {
    MailError::Transient("421 try again later".to_owned())
}

fn permanent() -> MailError {
    MailError::Permanent("550 mailbox unavailable".to_owned())
}

#[tokio::test]
async fn delivery_claim_error_fails_the_batch_and_sends_nothing() {
    let mut store = MockDeliveryStore::new();
    store.expect_claim_due().return_const(Err(down()));
    let mut mailer = MockMailer::new();
    mailer.expect_send().never();
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_transient_failure_is_retried_later_not_marked_sent() {
    for attempts in [0, 3] {
        let mut store = MockDeliveryStore::new();
        claims(&mut store, vec![queued(1, attempts)]);
        let policy = delivery_policy();
        // The delay doubles with each attempt made.
        let earliest = NOW + policy.base_backoff * 2_i32.pow(attempts);
        store
            .expect_mark_retry()
            .withf(move |id, retry_at, error| {
                *id == OutboxId(1) && *retry_at >= earliest && error.contains("421")
            })
            .times(1)
            .return_const(Ok(()));
        store.expect_mark_sent().never();
        store.expect_mark_failed().never();
        let mailer = mailer_answering(vec![(1, Err(transient()))]);
        assert_eq!(
            deliver(store, mailer).await,
            Ok(BatchReport {
                sent: 0,
                retried: 1,
                failed: 0
            })
        );
    }
}

#[tokio::test]
async fn delivery_permanent_failure_is_retried_until_the_permanent_limit() {
    let policy = delivery_policy();
    for attempts in 0..policy.max_permanent_attempts - 1 {
        let mut store = MockDeliveryStore::new();
        claims(&mut store, vec![queued(1, attempts)]);
        store
            .expect_mark_retry()
            .withf(|_, retry_at, _| *retry_at > NOW)
            .times(1)
            .return_const(Ok(()));
        store.expect_mark_failed().never();
        store.expect_append_audit().never();
        let mailer = mailer_answering(vec![(1, Err(permanent()))]);
        let report = deliver(store, mailer).await.unwrap();
        assert_eq!(report.retried, 1, "attempt {}", attempts + 1);
    }
}

#[tokio::test]
async fn delivery_permanent_failure_at_the_limit_gives_up_with_an_audit_event() {
    let policy = delivery_policy();
    let mut store = MockDeliveryStore::new();
    claims(
        &mut store,
        vec![queued(1, policy.max_permanent_attempts - 1)],
    );
    store
        .expect_mark_failed()
        .withf(|id, now, error| *id == OutboxId(1) && *now == NOW && error.contains("550"))
        .times(1)
        .return_const(Ok(()));
    store.expect_mark_retry().never();
    store.expect_mark_sent().never();
    store
        .expect_append_audit()
        .withf(|event| {
            event.action == AuditAction::EmailFailed
                && event.username.as_deref() == Some("user1")
                && event.outcome == "password_changed"
                && event.at == NOW
        })
        .times(1)
        .return_const(Ok(()));
    let mailer = mailer_answering(vec![(1, Err(permanent()))]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 0,
            retried: 0,
            failed: 1
        })
    );
}

#[tokio::test]
async fn delivery_transient_failures_give_up_after_max_attempts() {
    let policy = delivery_policy();
    let mut store = MockDeliveryStore::new();
    claims(
        &mut store,
        vec![
            queued(1, policy.max_attempts - 2),
            queued(2, policy.max_attempts - 1),
        ],
    );
    store
        .expect_mark_retry()
        .withf(|id, _, _| *id == OutboxId(1))
        .times(1)
        .return_const(Ok(()));
    store
        .expect_mark_failed()
        .withf(|id, _, _| *id == OutboxId(2))
        .times(1)
        .return_const(Ok(()));
    store
        .expect_append_audit()
        .withf(|event| {
            event.action == AuditAction::EmailFailed && event.username.as_deref() == Some("user2")
        })
        .times(1)
        .return_const(Ok(()));
    let mailer = mailer_answering(vec![(1, Err(transient())), (2, Err(transient()))]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 0,
            retried: 1,
            failed: 1
        })
    );
}

#[tokio::test]
async fn delivery_one_failing_email_does_not_stop_the_others() {
    let policy = delivery_policy();
    let mut store = MockDeliveryStore::new();
    claims(
        &mut store,
        vec![
            queued(1, 0),
            queued(2, 0),
            queued(3, policy.max_permanent_attempts - 1),
            queued(4, 0),
        ],
    );
    store
        .expect_mark_retry()
        .withf(|id, _, _| *id == OutboxId(1))
        .times(1)
        .return_const(Ok(()));
    store
        .expect_mark_sent()
        .withf(|id, now| (*id == OutboxId(2) || *id == OutboxId(4)) && *now == NOW)
        .times(2)
        .return_const(Ok(()));
    store
        .expect_mark_failed()
        .withf(|id, _, _| *id == OutboxId(3))
        .times(1)
        .return_const(Ok(()));
    store.expect_append_audit().times(1).return_const(Ok(()));
    let mailer = mailer_answering(vec![
        (1, Err(transient())),
        (2, Ok(())),
        (3, Err(permanent())),
        (4, Ok(())),
    ]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 2,
            retried: 1,
            failed: 1
        })
    );
}

#[tokio::test]
async fn delivery_store_error_marking_an_email_sent_fails_the_batch() {
    let mut store = MockDeliveryStore::new();
    claims(&mut store, vec![queued(1, 0)]);
    store.expect_mark_sent().return_const(Err(down()));
    let mailer = mailer_answering(vec![(1, Ok(()))]);
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_store_error_scheduling_a_retry_fails_the_batch() {
    let mut store = MockDeliveryStore::new();
    claims(&mut store, vec![queued(1, 0)]);
    store.expect_mark_retry().return_const(Err(down()));
    store.expect_mark_sent().never();
    let mailer = mailer_answering(vec![(1, Err(transient()))]);
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_store_error_giving_up_fails_the_batch_before_auditing() {
    let policy = delivery_policy();
    let mut store = MockDeliveryStore::new();
    claims(
        &mut store,
        vec![queued(1, policy.max_permanent_attempts - 1)],
    );
    store.expect_mark_failed().return_const(Err(down()));
    store.expect_append_audit().never();
    let mailer = mailer_answering(vec![(1, Err(permanent()))]);
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_audit_failure_does_not_fail_the_batch() {
    let policy = delivery_policy();
    let mut store = MockDeliveryStore::new();
    claims(
        &mut store,
        vec![queued(1, policy.max_permanent_attempts - 1), queued(2, 0)],
    );
    store.expect_mark_failed().times(1).return_const(Ok(()));
    store
        .expect_append_audit()
        .times(1)
        .return_const(Err(down()));
    store
        .expect_mark_sent()
        .withf(|id, _| *id == OutboxId(2))
        .times(1)
        .return_const(Ok(()));
    let mailer = mailer_answering(vec![(1, Err(permanent())), (2, Ok(()))]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 1,
            retried: 0,
            failed: 1
        })
    );
}

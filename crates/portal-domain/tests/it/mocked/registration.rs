//! Failure paths of registration: the provider's details, the agreement and
//! the account step.

use super::*;

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

pub(super) fn finished_flow() -> RegistrationFlow {
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

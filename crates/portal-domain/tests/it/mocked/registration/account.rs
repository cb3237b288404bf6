//! Failure paths of step 3, `create_account`.

use super::*;

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
        .withf(move |flow, account, link, email, _| {
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
async fn create_on_a_finished_flow_says_the_account_was_created() {
    let mut fx = Fx::new();
    load(&mut fx, finished_flow());
    fx.hasher.expect_check_policy().never();
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::AlreadyCreated)
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
        .return_const(Ok(Some(active_account())));
    fx.hasher.expect_hash_password().never();
    fx.store.expect_create_account().never();
    assert_eq!(
        create(fx).await,
        Err(CreateAccountStepError::AlreadyRegistered {
            pending_activation: false
        })
    );
}

/// A pending holder does not stop the step: the store replaces it at
/// commit (SPEC §3 step 1).
#[tokio::test]
async fn create_goes_on_past_a_pending_holder() {
    let mut fx = Fx::new();
    create_until(&mut fx, CreateCall::Registrant);
    fx.store
        .expect_account_by_registrant()
        .return_const(Ok(Some(pending_account())));
    fx.hasher
        .expect_hash_password()
        .return_const(Err(HashError::Failed("down".to_owned())));
    fx.store.expect_create_account().never();
    assert!(matches!(
        create(fx).await,
        Err(CreateAccountStepError::Fault(_))
    ));
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
async fn create_stores_its_audit_event_with_the_account() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    create_until(&mut fx, CreateCall::Commit);
    fx.store
        .expect_create_account()
        .withf(|_, _, _, _, event| {
            event.action == AuditAction::AccountCreated
                && event.username.as_deref() == Some("dr.doe")
                && event.outcome == "success"
                && event.client_addr == ctx().client_addr
        })
        .times(1)
        .return_const(Ok(pending_account()));
    assert_eq!(create(fx).await, Ok(pending_account()));
    assert_eq!(audit.outcomes(), [], "nothing appended separately");
}

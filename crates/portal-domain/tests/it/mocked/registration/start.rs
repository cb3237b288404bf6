//! Failure paths of step 1, `start_registration`.

use super::*;

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
        .withf(|tax_id, provider_id, at, since, limit| {
            tax_id.as_str() == "123456789"
                && provider_id.as_str() == "P1001"
                && *at == NOW
                && *since == NOW - Duration::hours(1)
                && *limit == 10
        })
        .times(1)
        .return_const(Ok(WindowRecord::Recorded));
    let portal = fx.build();
    let result = portal
        .start_registration(jane_typed_as("Smith"), ctx())
        .await;
    assert_eq!(result, Err(StartError::ProviderMismatch));
}

/// A mismatch that lost the race for the last place under the limit is
/// answered as limited, not as a mismatch: no more than the limit of
/// these answers ever leaves.
#[tokio::test]
async fn start_mismatch_past_the_limit_is_answered_as_limited() {
    let mut fx = Fx::new();
    start_until(&mut fx, StartCall::Registrant);
    fx.store
        .expect_record_proofing_mismatch()
        .times(1)
        .return_const(Ok(WindowRecord::Limited {
            oldest: NOW - Duration::minutes(45),
        }));
    let portal = fx.build();
    let result = portal
        .start_registration(jane_typed_as("Smith"), ctx())
        .await;
    assert_eq!(
        result,
        Err(StartError::ProofingLimited {
            retry_after: Duration::minutes(15)
        })
    );
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
async fn start_already_registered_only_for_an_account_that_holds_the_provider() {
    let disabled_pending = Account {
        disabled: true,
        ..pending_account()
    };
    for (holder, pending_activation) in [(active_account(), false), (disabled_pending, false)] {
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

//! Failure paths of step 2, `accept_agreement`.

use super::*;

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

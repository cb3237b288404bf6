//! Failure paths of the support check of a security answer.

use super::*;

// ---------------------------------------------------------------------------
// verify_security_answer
// ---------------------------------------------------------------------------

pub(super) fn answer() -> SecurityAnswer {
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
        .withf(|id, at, matched, since, max_failed| {
            *id == AccountId::new(42)
                && *at == NOW
                && !*matched
                && *since == NOW - Duration::hours(24)
                && *max_failed == 3
        })
        .times(1)
        .return_const(Ok(WindowRecord::Recorded));
    assert_eq!(check_answer(fx).await, Ok(SupportCheck::NoMatch));
}

/// A check that lost the race for the last place under the limit is
/// refused, whatever its answer: no more than three wrong answers are told.
#[tokio::test]
async fn support_check_past_the_limit_is_refused() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    lookup(&mut fx, Ok(Some(active_account())));
    support_failures(&mut fx, Ok(2));
    fx.hasher
        .expect_verify_answer()
        .return_const(Ok(Verification::Match {
            needs_rehash: false,
        }));
    fx.store
        .expect_record_support_check()
        .times(1)
        .return_const(Ok(WindowRecord::Limited { oldest: NOW }));
    assert_eq!(check_answer(fx).await, Err(SupportError::TooManyAttempts));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::SupportCheck, "refused".to_owned())]
    );
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
        .withf(|_, _, matched, _, _| *matched)
        .times(1)
        .return_const(Ok(WindowRecord::Recorded));
    assert_eq!(check_answer(fx).await, Ok(SupportCheck::Match));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::SupportCheck, "match".to_owned())]
    );
}

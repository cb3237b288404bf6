//! Failure paths of activation and of resending the activation email.

use super::*;

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
async fn activate_stores_its_audit_event_with_the_activation() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    live_activation(&mut fx, Ok(Some(pending_account())));
    fx.store
        .expect_redeem_activation()
        .withf(|_, _, email, event| {
            matches!(email.kind, EmailKind::EmailVerification)
                && event.action == AuditAction::AccountActivated
                && event.outcome == "success"
                && event.username.as_deref() == Some("dr.doe")
                && event.client_addr == ctx().client_addr
        })
        .times(1)
        .return_const(Ok(active_account()));
    assert_eq!(activate(fx).await, Ok(active_account()));
    assert_eq!(audit.outcomes(), [], "nothing appended separately");
}

// ---------------------------------------------------------------------------
// resend_activation
// ---------------------------------------------------------------------------

pub(super) fn lookup(fx: &mut Fx, found: Result<Option<Account>, StoreError>) {
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
        .withf(|token: &NewToken, email: &Email, cap: &EmailCap| {
            token.account_id == AccountId::new(42)
                && token.purpose == TokenPurpose::Activation
                && token.link.hash == raw_token(3).hash()
                && token.link.expires_at == NOW + Duration::hours(24)
                && matches!(email.kind, EmailKind::Activation { .. })
                && *cap
                    == EmailCap {
                        max: 5,
                        window: Duration::hours(1),
                    }
        })
        .times(1)
        .return_const(Ok(IssueOutcome::Issued));
    assert_eq!(resend(fx).await, Ok(()));
}

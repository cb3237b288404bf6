//! Failure paths of password change, reset request and reset confirmation.

use super::*;

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

fn account_loaded(fx: &mut Fx, found: Result<Option<Account>, StoreError>) {
    fx.store
        .expect_account_by_id()
        .withf(|id| *id == AccountId::new(42))
        .times(1)
        .return_const(found);
}

fn change_until(fx: &mut Fx, account: Account, upto: ChangeCall) {
    if upto > ChangeCall::Load {
        let place = account.lock.failed_count + 1;
        account_loaded(fx, Ok(Some(account)));
        super::login::place_taken_at(fx, place);
    }
    if upto > ChangeCall::Verify {
        fx.hasher
            .expect_verify_password()
            .withf(|p, _| p.expose() == sample::PASSWORD)
            .return_const(Ok(Verification::Match {
                needs_rehash: false,
            }));
        // The right current password is no failure: its place goes back.
        super::login::place_given_back(fx);
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
        .return_const(Ok(CredentialWrite::Applied));
    assert_eq!(change(fx).await, Ok(()));
}

#[tokio::test]
async fn change_verification_overloaded_is_a_fault_and_counts_nothing() {
    let mut fx = Fx::new();
    change_until(&mut fx, active_account(), ChangeCall::Verify);
    super::login::place_given_back(&mut fx);
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
        change_until(&mut fx, with_failures(failures_before), ChangeCall::Verify);
        wrong_password(&mut fx, failures_before);
        fx.hasher.expect_check_policy().never();
        nothing_changed(&mut fx);
        assert_eq!(change(fx).await, Err(expected));
    }
}

#[tokio::test]
async fn change_store_error_counting_a_failure_is_a_fault() {
    let mut fx = Fx::new();
    change_until(&mut fx, with_failures(4), ChangeCall::Verify);
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
async fn change_stores_its_audit_event_with_the_new_password() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    change_until(&mut fx, active_account(), ChangeCall::Commit);
    fx.store
        .expect_change_password()
        .withf(|change, notice, event, now| {
            change.account_id == AccountId::new(42)
                && change.verified == active_account().password_hash
                && change.new_hash == new_hash()
                && change.keep == raw_token(5).hash()
                && matches!(notice.kind, EmailKind::PasswordChanged)
                && event.action == AuditAction::PasswordChanged
                && event.outcome == "success"
                && *now == NOW
        })
        .times(1)
        .return_const(Ok(CredentialWrite::Applied));
    assert_eq!(change(fx).await, Ok(()));
    assert_eq!(audit.outcomes(), [], "nothing appended separately");
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
    for (found, outcome) in [(None, "unknown_username"), (Some(disabled), "not_eligible")] {
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
        .withf(|token: &NewToken, email: &Email, cap: &EmailCap| {
            token.purpose == TokenPurpose::PasswordReset
                && token.link.hash == raw_token(4).hash()
                && token.link.expires_at == NOW + Duration::hours(1)
                && matches!(email.kind, EmailKind::PasswordReset { .. })
                && *cap
                    == EmailCap {
                        max: 5,
                        window: Duration::hours(1),
                    }
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
    Names,
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
    if upto > ConfirmCall::Names {
        fx.roster
            .expect_find()
            .return_const(Ok(Some(sample::jane_doe())));
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
    fx.store
        .expect_record_reset_refusal()
        .withf(|hash, now, max| *hash == raw_token(8).hash() && *now == NOW && *max == 10)
        .times(1)
        .return_const(Ok(()));
    nothing_redeemed(&mut fx);
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::PasswordPolicy(violations(vec![
            PasswordViolation::Symbol,
            PasswordViolation::Reused,
        ])))
    );
}

fn refused_by_policy(fx: &mut Fx) {
    confirm_until(fx, ConfirmCall::Policy);
    fx.hasher
        .expect_check_policy()
        .return_const(Ok(Err(violations(vec![PasswordViolation::Symbol]))));
    fx.hasher
        .expect_verify_password()
        .return_const(Ok(Verification::Mismatch));
    fx.hasher.expect_hash_password().never();
    nothing_redeemed(fx);
}

#[tokio::test]
async fn confirm_refused_on_a_link_spent_meanwhile_is_still_a_policy_answer() {
    let mut fx = Fx::new();
    refused_by_policy(&mut fx);
    fx.store
        .expect_record_reset_refusal()
        .return_const(Err(RedeemError::InvalidToken));
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::PasswordPolicy(violations(vec![
            PasswordViolation::Symbol
        ])))
    );
}

#[tokio::test]
async fn confirm_store_error_counting_a_refusal_is_a_fault() {
    let mut fx = Fx::new();
    refused_by_policy(&mut fx);
    fx.store
        .expect_record_reset_refusal()
        .return_const(Err(RedeemError::Store(down())));
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn confirm_store_error_reading_the_provider_is_a_fault_and_spends_nothing() {
    let mut fx = Fx::new();
    confirm_until(&mut fx, ConfirmCall::Names);
    fx.roster.expect_find().return_const(Err(down()));
    fx.hasher.expect_check_policy().never();
    fx.store.expect_record_reset_refusal().never();
    nothing_redeemed(&mut fx);
    assert_eq!(
        confirm(fx).await,
        Err(ResetConfirmError::Fault(Fault::Store(down())))
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
async fn confirm_stores_its_audit_event_with_the_reset() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    confirm_until(&mut fx, ConfirmCall::Redeem);
    fx.store
        .expect_redeem_password_reset()
        .withf(|hash, _, new, notice, event| {
            *hash == raw_token(8).hash()
                && *new == new_hash()
                && matches!(notice.kind, EmailKind::PasswordChanged)
                && event.action == AuditAction::PasswordResetCompleted
                && event.username.as_deref() == Some("dr.doe")
                && event.outcome == "success"
        })
        .times(1)
        .return_const(Ok(active_account()));
    assert_eq!(confirm(fx).await, Ok(()));
    assert_eq!(audit.outcomes(), [], "nothing appended separately");
}

#[tokio::test]
async fn change_refused_a_place_is_locked_without_verifying() {
    let mut fx = Fx::new();
    account_loaded(&mut fx, Ok(Some(active_account())));
    let until = NOW + Duration::hours(24);
    fx.store
        .expect_reserve_login_attempt()
        .times(1)
        .return_const(Ok(ReservedAttempt::Refused {
            locked_until: until,
        }));
    fx.hasher.expect_verify_password().never();
    nothing_changed(&mut fx);
    assert_eq!(
        change(fx).await,
        Err(PasswordChangeError::AccountLocked {
            locked_until: until
        })
    );
}

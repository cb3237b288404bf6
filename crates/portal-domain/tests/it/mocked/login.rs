//! Failure paths of login.

use super::*;

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
        let place = account.lock.failed_count + 1;
        login_lookup(fx, Ok(Some(account)));
        place_taken_at(fx, place);
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

/// The attempt takes its place in the lockout count before it is verified
/// (an account locked when read never gets this far).
pub(super) fn place_taken(fx: &mut Fx) {
    place_taken_at(fx, 1);
}

/// The attempt is granted `place` (the limit is 5: only the fifth decides
/// the lock, and so writes its verdict when its password is wrong).
pub(super) fn place_taken_at(fx: &mut Fx, place: u32) {
    fx.store
        .expect_reserve_login_attempt()
        .withf(|id, _seen, now, policy| {
            *id == AccountId::new(42) && *now == NOW && *policy == LockoutPolicy::default()
        })
        .return_const(Ok(ReservedAttempt::Granted { place }));
}

/// A right password that did not log in, or a verification that failed,
/// gives the attempt's place back, once.
pub(super) fn place_given_back(fx: &mut Fx) {
    fx.store
        .expect_release_login_attempt()
        .withf(|id| *id == AccountId::new(42))
        .times(1)
        .return_const(Ok(()));
}

/// The store's answer to the login's lookup of `Dr.Doe`, as a store that
/// does not keep the roster gives it.
fn login_lookup(fx: &mut Fx, found: Result<Option<Account>, StoreError>) {
    let found = found.map(|account| {
        account.map(|account| LoginRead {
            account,
            provider: ProviderRead::Elsewhere,
            place: None,
        })
    });
    fx.store
        .expect_account_for_login()
        .withf(|u, first| {
            u.key() == "dr.doe" && *first == FirstPlace::at(NOW, LockoutPolicy::default())
        })
        .times(1)
        .return_const(found);
}

pub(super) async fn login<H: PasswordHasher>(fx: Fx<H>) -> Result<Account, LoginError> {
    fx.build()
        .login("Dr.Doe", the_password().expose(), ctx())
        .await
        .map(|logged_in| logged_in.account)
}

fn no_session_written(fx: &mut Fx) {
    fx.store.expect_record_login_success().never();
}

#[tokio::test]
async fn login_store_error_looking_up_the_user_is_a_fault() {
    let mut fx = Fx::new();
    login_lookup(&mut fx, Err(down()));
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
    login_lookup(&mut fx, Ok(None));
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
    let result = portal.login("x", the_password().expose(), ctx()).await;
    assert_eq!(result.err(), Some(LoginError::InvalidCredentials));
}

#[tokio::test]
async fn login_dummy_verification_overloaded_is_a_fault() {
    let mut fx = Fx::new();
    login_lookup(&mut fx, Ok(None));
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
        .returning(|_, now, policy, _| {
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
    login_lookup(&mut fx, Ok(Some(account)));
    place_taken(&mut fx);
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::jane_doe())));
    fx.tokens.expect_token().return_const(Ok(raw_token(5)));
    fx.store
        .expect_record_login_success()
        .withf(|id, session, verified, rehashed, _| {
            *id == AccountId::new(42)
                && session.created_at == NOW
                && verified.as_phc().starts_with("$argon2id$")
                && rehashed.is_none()
        })
        .times(1)
        .return_const(Ok(CredentialWrite::Applied));
    let result = login(fx.with_hasher(hasher)).await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn login_password_verification_overloaded_is_a_fault_and_counts_nothing() {
    let mut fx = Fx::new();
    login_until(&mut fx, active_account(), LoginCall::Verify);
    place_given_back(&mut fx);
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

pub(super) fn wrong_password(fx: &mut Fx, failures_before: u32) {
    fx.hasher
        .expect_verify_password()
        .times(1)
        .return_const(Ok(Verification::Mismatch));
    if failures_before + 1 < 5 {
        // Below the limit the place counted it: nothing more is written.
        fx.store.expect_record_login_failure().never();
        return;
    }
    fx.store
        .expect_record_login_failure()
        .withf(|id, now, policy, lock_event| {
            *id == AccountId::new(42)
                && *now == NOW
                && *policy == LockoutPolicy::default()
                && lock_event.action == AuditAction::AccountLocked
                && lock_event.outcome == "locked"
                && lock_event.username.as_deref() == Some("dr.doe")
                && lock_event.client_addr == ctx().client_addr
        })
        .times(1)
        .returning(move |_, now, policy, _| {
            // This attempt's place was counted when it was reserved.
            Ok(RecordedFailure::after(
                LockState {
                    failed_count: failures_before + 1,
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
    login_until(&mut fx, with_failures(4), LoginCall::Verify);
    wrong_password(&mut fx, 4);
    no_session_written(&mut fx);
    assert_eq!(
        login(fx).await,
        Err(LoginError::AccountLocked {
            locked_until: NOW + Duration::hours(24)
        })
    );
    // The lockout's own event travels with the failure that set it
    // (`wrong_password` checks it); only the login's refusal is appended.
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::LoginFailed, "account_locked".to_owned())]
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
    login_until(&mut fx, with_failures(4), LoginCall::Verify);
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
        .returning(move |_, now, policy, _| Ok(RecordedFailure::after(locked, now, policy)));
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
    login_until(&mut fx, with_failures(4), LoginCall::Verify);
    fx.hasher
        .expect_verify_password()
        .times(1)
        .return_const(Ok(Verification::Mismatch));
    let stored = Arc::new(Mutex::new(None));
    let seen = stored.clone();
    fx.store
        .expect_record_login_failure()
        .times(1)
        .returning(move |_, now, policy, lock_event| {
            *seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(lock_event.clone());
            Ok(RecordedFailure::after(
                LockState {
                    failed_count: 4,
                    locked_until: None,
                },
                now,
                policy,
            ))
        });
    assert!(login(fx).await.is_err());
    let locked = stored
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(locked.and_then(|e| e.client_addr), ctx().client_addr);
    assert!(
        audit
            .events()
            .iter()
            .all(|e| e.action != AuditAction::AccountLocked),
        "stored with the failure, not appended"
    );
}

#[tokio::test]
async fn login_store_error_counting_a_failure_is_a_fault() {
    let mut fx = Fx::new();
    login_until(&mut fx, with_failures(4), LoginCall::Verify);
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
        place_given_back(&mut fx);
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
        place_given_back(&mut fx);
        fx.roster.expect_find().return_const(Ok(entry));
        no_session_written(&mut fx);
        assert_eq!(login(fx).await, Err(LoginError::ProviderInactive));
    }
}

#[tokio::test]
async fn login_uses_the_provider_read_with_the_account_without_asking_the_roster() {
    for (entry, expected) in [
        (Some(sample::jane_doe()), Ok(active_account())),
        (
            Some(inactive(sample::jane_doe())),
            Err(LoginError::ProviderInactive),
        ),
        (None, Err(LoginError::ProviderInactive)),
    ] {
        let mut fx = Fx::new();
        let read = ProviderRead::WithAccount(entry);
        fx.store
            .expect_account_for_login()
            .times(1)
            .return_const(Ok(Some(LoginRead {
                account: active_account(),
                provider: read,
                place: None,
            })));
        place_taken(&mut fx);
        fx.hasher
            .expect_verify_password()
            .times(1)
            .return_const(Ok(Verification::Match {
                needs_rehash: false,
            }));
        fx.roster.expect_find().never();
        if expected.is_ok() {
            fx.tokens.expect_token().return_const(Ok(raw_token(5)));
            fx.store
                .expect_record_login_success()
                .times(1)
                .return_const(Ok(CredentialWrite::Applied));
        } else {
            no_session_written(&mut fx);
            place_given_back(&mut fx);
        }
        assert_eq!(login(fx).await, expected);
    }
}

#[tokio::test]
async fn login_roster_error_is_a_fault() {
    let mut fx = Fx::new();
    login_until(&mut fx, active_account(), LoginCall::Roster);
    place_given_back(&mut fx);
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
    login_lookup(&mut fx, Ok(Some(active_account())));
    place_taken(&mut fx);
    place_given_back(&mut fx);
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
    place_given_back(&mut fx);
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
    place_given_back(&mut fx);
    fx.store
        .expect_record_login_success()
        .return_const(Err(down()));
    assert_eq!(
        login(fx).await,
        Err(LoginError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn login_success_stores_its_audit_event_with_the_session() {
    let mut fx = Fx::new();
    // A separate audit append would fail: the success must not use one.
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    login_until(&mut fx, active_account(), LoginCall::Record);
    fx.store
        .expect_record_login_success()
        .withf(|_, session, _, _, event| {
            session.token_hash == raw_token(5).hash()
                && event.action == AuditAction::LoginSucceeded
                && event.outcome == "success"
                && event.username.as_deref() == Some("Dr.Doe")
                && event.client_addr == ctx().client_addr
                && event.at == NOW
        })
        .times(1)
        .return_const(Ok(CredentialWrite::Applied));
    assert_eq!(login(fx).await, Ok(active_account()));
    assert_eq!(audit.outcomes(), [], "nothing appended separately");
}

#[tokio::test]
async fn login_refused_a_place_is_locked_without_verifying() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    login_lookup(&mut fx, Ok(Some(active_account())));
    let until = NOW + Duration::hours(24);
    fx.store
        .expect_reserve_login_attempt()
        .times(1)
        .return_const(Ok(ReservedAttempt::Refused {
            locked_until: until,
        }));
    fx.hasher.expect_verify_password().never();
    fx.store.expect_release_login_attempt().never();
    no_session_written(&mut fx);
    assert_eq!(
        login(fx).await,
        Err(LoginError::AccountLocked {
            locked_until: until
        })
    );
    // Refused before verification: only the login's own refusal is audited.
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::LoginFailed, "account_locked".to_owned())]
    );
}

#[tokio::test]
async fn login_reserves_its_place_with_the_state_it_read_with_the_account() {
    let mut fx = Fx::new();
    let mut account = active_account();
    account.lock = LockState {
        failed_count: 3,
        locked_until: None,
    };
    let seen = account.lock;
    login_lookup(&mut fx, Ok(Some(account)));
    fx.store
        .expect_reserve_login_attempt()
        .withf(move |_, read, _, _| *read == seen)
        .times(1)
        .return_const(Ok(ReservedAttempt::Refused {
            locked_until: NOW + Duration::hours(24),
        }));
    fx.hasher.expect_verify_password().never();
    no_session_written(&mut fx);
    assert!(matches!(
        login(fx).await,
        Err(LoginError::AccountLocked { .. })
    ));
}

#[tokio::test]
async fn login_right_password_verified_after_another_attempt_locked_is_locked() {
    let mut fx = Fx::new();
    login_until(&mut fx, active_account(), LoginCall::Record);
    let until = NOW + Duration::hours(24);
    fx.store
        .expect_record_login_success()
        .times(1)
        .return_const(Ok(CredentialWrite::Locked {
            locked_until: until,
        }));
    fx.store.expect_release_login_attempt().never();
    assert_eq!(
        login(fx).await,
        Err(LoginError::AccountLocked {
            locked_until: until
        })
    );
}

/// A place the store took with the read is the attempt's place: no second
/// reservation, and a wrong password below the limit writes nothing more.
#[tokio::test]
async fn login_with_its_place_taken_by_the_read_reserves_nothing_more() {
    let mut fx = Fx::new();
    fx.store
        .expect_account_for_login()
        .times(1)
        .return_const(Ok(Some(LoginRead {
            account: active_account(),
            provider: ProviderRead::Elsewhere,
            place: Some(ReservedAttempt::Granted { place: 1 }),
        })));
    fx.store.expect_reserve_login_attempt().never();
    fx.store.expect_record_login_failure().never();
    fx.store.expect_release_login_attempt().never();
    fx.hasher
        .expect_verify_password()
        .times(1)
        .return_const(Ok(Verification::Mismatch));
    no_session_written(&mut fx);
    assert_eq!(login(fx).await, Err(LoginError::InvalidCredentials));
}

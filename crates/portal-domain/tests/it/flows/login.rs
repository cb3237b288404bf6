//! Logging in: outcomes, lockout, inactive providers, and unknown users answered like wrong passwords.

use super::*;

#[tokio::test]
async fn unknown_user_and_wrong_password_answer_alike() {
    let p = portal();
    active_account(&p).await;
    let wrong = "Not-The-Password-42";
    assert_eq!(
        p.login("nobody", wrong, CTX).await.err(),
        Some(LoginError::InvalidCredentials)
    );
    assert_eq!(
        p.login("a b", wrong, CTX).await.err(),
        Some(LoginError::InvalidCredentials)
    );
    assert_eq!(
        p.login("dr.doe", wrong, CTX).await.err(),
        Some(LoginError::InvalidCredentials)
    );
}

#[tokio::test]
async fn login_finds_the_username_case_insensitively_and_issues_a_session() {
    let p = portal();
    let account = active_account(&p).await;
    let session = p.login("Dr.Doe", sample::PASSWORD, CTX).await.unwrap();
    assert_eq!(session.account.id, account.id);
    assert!(!session.agreement_required);
    assert_eq!(session.expires_at, p.clock.now() + Duration::minutes(30));
    let auth = p.authenticate(session.token.expose()).await.unwrap();
    assert_eq!(auth.account.id, account.id);
    assert_eq!(
        p.store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .last_login_at,
        Some(p.clock.now())
    );
    // A new login, a new token.
    let again = logged_in(&p).await;
    assert_ne!(again.token.expose(), session.token.expose());
}

#[tokio::test]
async fn a_pending_account_is_told_to_activate_and_its_failures_count() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    assert_eq!(
        p.login("dr.doe", sample::PASSWORD, CTX).await.err(),
        Some(LoginError::AccountNotActivated)
    );
    let wrong = "Not-The-Password-42";
    for _ in 0..4 {
        p.login("dr.doe", wrong, CTX).await.unwrap_err();
    }
    assert!(matches!(
        p.login("dr.doe", wrong, CTX).await,
        Err(LoginError::AccountLocked { .. })
    ));
}

#[tokio::test]
async fn the_fifth_failure_locks_for_24_hours_without_extension() {
    let p = portal();
    active_account(&p).await;
    let wrong = "Not-The-Password-42";
    for _ in 0..4 {
        assert_eq!(
            p.login("dr.doe", wrong, CTX).await.err(),
            Some(LoginError::InvalidCredentials)
        );
    }
    let locked_until = p.clock.now() + Duration::hours(24);
    assert_eq!(
        p.login("dr.doe", wrong, CTX).await.err(),
        Some(LoginError::AccountLocked { locked_until })
    );
    p.clock.advance(Duration::hours(23));
    // Attempts during the lock, right or wrong, are refused and change nothing.
    assert_eq!(
        p.login("dr.doe", wrong, CTX).await.err(),
        Some(LoginError::AccountLocked { locked_until })
    );
    assert_eq!(
        p.login("dr.doe", sample::PASSWORD, CTX).await.err(),
        Some(LoginError::AccountLocked { locked_until })
    );
    p.clock.advance(Duration::hours(1));
    // The lock lifted by itself, and the count starts from zero.
    assert_eq!(
        p.login("dr.doe", wrong, CTX).await.err(),
        Some(LoginError::InvalidCredentials)
    );
    assert!(logs_in(&p, sample::PASSWORD).await);
}

#[tokio::test]
async fn a_success_resets_the_count() {
    let p = portal();
    active_account(&p).await;
    let wrong = "Not-The-Password-42";
    for _ in 0..4 {
        p.login("dr.doe", wrong, CTX).await.unwrap_err();
    }
    logged_in(&p).await;
    for _ in 0..4 {
        assert_eq!(
            p.login("dr.doe", wrong, CTX).await.err(),
            Some(LoginError::InvalidCredentials)
        );
    }
}

#[tokio::test]
async fn an_inactive_provider_cannot_log_in_and_loses_its_sessions() {
    let p = portal();
    active_account(&p).await;
    let session = logged_in(&p).await;
    let others = vec![sample::john_roe(), sample::acme_group()];
    p.roster
        .import(
            &mut portal_domain::ports::EntryBatches::new(others.clone()),
            portal_domain::ports::ImportMode::Replace,
            false,
            p.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        p.login("dr.doe", sample::PASSWORD, CTX).await.err(),
        Some(LoginError::ProviderInactive)
    );
    assert_eq!(
        p.authenticate(session.token.expose()).await.err(),
        Some(AuthError::Unauthenticated)
    );
    // Not before the password is right: a wrong one still answers invalid_credentials.
    assert_eq!(
        p.login("dr.doe", "Not-The-Password-42", CTX).await.err(),
        Some(LoginError::InvalidCredentials)
    );
}

/// A text that can never be a password (a control character, more than
/// `Password::MAX_INPUT_LEN` characters) is nobody's password: answered
/// like a wrong one, audited like one, and counted toward the lockout.
#[tokio::test]
async fn an_unparsable_password_is_a_wrong_password() {
    let p = portal();
    active_account(&p).await;
    let too_long = "x".repeat(Password::MAX_INPUT_LEN + 1);
    let control = "Bell-\u{7}-Password-42";
    assert!(Password::parse(&too_long).is_err() && Password::parse(control).is_err());
    assert_eq!(
        p.login("nobody", control, CTX).await.err(),
        Some(LoginError::InvalidCredentials)
    );
    for typed in [control, &too_long, control, &too_long] {
        assert_eq!(
            p.login("dr.doe", typed, CTX).await.err(),
            Some(LoginError::InvalidCredentials)
        );
    }
    assert!(
        matches!(
            p.login("dr.doe", control, CTX).await,
            Err(LoginError::AccountLocked { .. })
        ),
        "the fifth locks: each was counted"
    );
    let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
    let failed = |name: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.action == AuditAction::LoginFailed && e.username.as_deref() == Some(name))
            .map(|e| e.outcome.to_string())
            .collect()
    };
    assert_eq!(failed("nobody"), ["invalid_credentials"]);
    assert_eq!(
        failed("dr.doe"),
        [
            "invalid_credentials",
            "invalid_credentials",
            "invalid_credentials",
            "invalid_credentials",
            "account_locked"
        ]
    );
    assert!(
        events
            .iter()
            .any(|e| e.action == AuditAction::AccountLocked && e.outcome == "locked")
    );
}

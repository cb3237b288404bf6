//! Password reset: requests, links, and what redeeming one changes.

use super::*;

async fn locked_account(p: &TestPortal) {
    active_account(p).await;
    let wrong = "Not-The-Password-42";
    for _ in 0..5 {
        p.login("dr.doe", wrong, CTX).await.unwrap_err();
    }
}

#[tokio::test]
async fn a_reset_unlocks_revokes_and_notifies() {
    let p = portal();
    active_account(&p).await;
    let session = logged_in(&p).await;
    for _ in 0..5 {
        p.login("dr.doe", "Not-The-Password-42", CTX)
            .await
            .unwrap_err();
    }
    p.request_password_reset("DR.DOE", CTX).await.unwrap();
    let reset = p.store.emails().pop().unwrap();
    assert_eq!(
        reset.kind.subject("CareSource"),
        "CareSource Provider Portal Password"
    );
    // Requesting changed nothing: still locked, session still live.
    assert!(matches!(
        p.login("dr.doe", sample::PASSWORD, CTX).await,
        Err(LoginError::AccountLocked { .. })
    ));
    assert!(p.authenticate(session.token.expose()).await.is_ok());

    let token = reset.kind.token().unwrap().expose().to_owned();
    p.confirm_password_reset(&token, &password(NEW_PASSWORD), CTX)
        .await
        .unwrap();
    assert_eq!(
        p.authenticate(session.token.expose()).await.err(),
        Some(AuthError::Unauthenticated)
    );
    assert_eq!(
        p.store.emails().pop().unwrap().kind.subject("X"),
        "Your Provider Portal password was changed"
    );
    assert!(logs_in(&p, NEW_PASSWORD).await);
    assert_eq!(
        p.confirm_password_reset(&token, &password("Another-Fresh-Pass-97"), CTX)
            .await
            .err(),
        Some(ResetConfirmError::InvalidToken)
    );
}

/// Ten refusals are allowed, the tenth spends the link: the eleventh
/// try, even with a good password, finds it spent (SPEC §6).
#[tokio::test]
async fn the_tenth_refused_confirm_spends_the_link() {
    let p = portal();
    locked_account(&p).await;
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    let token = p.last_link_token().unwrap();
    for n in 1..=10 {
        assert!(
            matches!(
                p.confirm_password_reset(&token, &password("weak"), CTX)
                    .await,
                Err(ResetConfirmError::PasswordPolicy(_))
            ),
            "refusal {n} is a policy answer"
        );
    }
    assert_eq!(
        p.confirm_password_reset(&token, &password(NEW_PASSWORD), CTX)
            .await,
        Err(ResetConfirmError::InvalidToken)
    );
    assert!(
        matches!(
            p.login("dr.doe", sample::PASSWORD, CTX).await,
            Err(LoginError::AccountLocked { .. })
        ),
        "a spent link changed nothing"
    );
    // A new link starts a new count.
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    let fresh = p.last_link_token().unwrap();
    for _ in 0..9 {
        p.confirm_password_reset(&fresh, &password("weak"), CTX)
            .await
            .unwrap_err();
    }
    p.confirm_password_reset(&fresh, &password(NEW_PASSWORD), CTX)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_confirm_spends_nothing() {
    let p = portal();
    locked_account(&p).await;
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    let token = p.last_link_token().unwrap();
    let Err(ResetConfirmError::PasswordPolicy(v)) = p
        .confirm_password_reset(&token, &password(sample::PASSWORD), CTX)
        .await
    else {
        panic!()
    };
    assert_eq!(v.codes(), vec!["reused"]);
    assert!(matches!(
        p.confirm_password_reset(&token, &password("weak"), CTX)
            .await,
        Err(ResetConfirmError::PasswordPolicy(_))
    ));
    p.confirm_password_reset(&token, &password(NEW_PASSWORD), CTX)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_newer_request_invalidates_older_links_which_also_expire() {
    let p = portal();
    active_account(&p).await;
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    let older = p.last_link_token().unwrap();
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    let newer = p.last_link_token().unwrap();
    assert_eq!(
        p.confirm_password_reset(&older, &password(NEW_PASSWORD), CTX)
            .await
            .err(),
        Some(ResetConfirmError::InvalidToken)
    );
    p.clock.advance(Duration::hours(1));
    assert_eq!(
        p.confirm_password_reset(&newer, &password(NEW_PASSWORD), CTX)
            .await
            .err(),
        Some(ResetConfirmError::InvalidToken)
    );
}

#[tokio::test]
async fn unknown_usernames_get_nothing_and_an_account_at_most_five_an_hour() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    let before = p.store.emails().len();
    p.request_password_reset("nobody", CTX).await.unwrap();
    p.request_password_reset("", CTX).await.unwrap();
    assert_eq!(p.store.emails().len(), before, "unknown names get nothing");

    p.activate(&p.last_link_token().unwrap(), CTX)
        .await
        .unwrap();
    let before = p.store.emails().len();
    for _ in 0..8 {
        p.request_password_reset("dr.doe", CTX).await.unwrap();
    }
    assert_eq!(p.store.emails().len(), before + 5);
}

#[tokio::test]
async fn a_locked_account_can_reset() {
    let p = portal();
    locked_account(&p).await;
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    p.confirm_password_reset(&p.last_link_token().unwrap(), &password(NEW_PASSWORD), CTX)
        .await
        .unwrap();
    assert!(logs_in(&p, NEW_PASSWORD).await);
}

#[tokio::test]
async fn forgot_password_on_an_account_never_activated_sends_its_activation_link_again() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    let first = p.last_link_token().unwrap();
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    let emails = p.store.emails();
    let last = emails.last().unwrap();
    assert_eq!(last.kind.name(), "activation", "not a reset link");
    let again = p.last_link_token().unwrap();
    assert_ne!(again, first);
    // The new link activates; the older one stopped working.
    assert!(p.activate(&first, CTX).await.is_err());
    p.activate(&again, CTX).await.unwrap();
    // It counts toward the same hourly cap as a resend.
    let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
    assert!(events.iter().any(
        |e| e.action == AuditAction::PasswordResetRequested && e.outcome == "activation_resent"
    ));
}

#[tokio::test]
async fn forgot_password_on_a_pending_account_obeys_the_hourly_cap() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    let before = p.store.emails().len();
    for _ in 0..7 {
        p.request_password_reset("dr.doe", CTX).await.unwrap();
    }
    assert_eq!(
        p.store.emails().len() - before,
        5,
        "PORTAL_EMAILS_PER_HOUR (5) emails, then none"
    );
}

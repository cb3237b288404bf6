//! The audit trail of a whole lifecycle.

use super::*;

#[tokio::test]
async fn the_lifecycle_is_audited_with_address_and_outcome_and_no_secret() {
    let p = portal();
    active_account(&p).await;
    p.login("dr.doe", "Not-The-Password-42", CTX)
        .await
        .unwrap_err();
    let session = logged_in(&p).await;
    let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
    let actions: Vec<AuditAction> = events.iter().map(|e| e.action).collect();
    for expected in [
        AuditAction::RegistrationStarted,
        AuditAction::AgreementAccepted,
        AuditAction::AccountCreated,
        AuditAction::AccountActivated,
        AuditAction::LoginFailed,
        AuditAction::LoginSucceeded,
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} missing from {actions:?}"
        );
    }
    let failed = events
        .iter()
        .find(|e| e.action == AuditAction::LoginFailed)
        .unwrap();
    assert_eq!(
        (failed.outcome.as_str(), failed.client_addr),
        ("invalid_credentials", CTX.client_addr)
    );
    let dump = format!("{events:?}");
    assert!(!dump.contains(sample::PASSWORD) && !dump.contains(session.token.expose()));
}

#[tokio::test]
async fn a_string_that_is_no_username_is_recorded_as_its_first_64_characters() {
    let p = portal();
    active_account(&p).await;
    let junk = "x".repeat(5000);
    let spaced = format!("not a username {}", "é".repeat(100));
    for typed in [junk.as_str(), spaced.as_str()] {
        p.login(typed, "Not-The-Password-42", CTX)
            .await
            .unwrap_err();
        p.request_password_reset(typed, CTX).await.unwrap();
        p.resend_activation(typed, CTX).await.unwrap();
    }
    // A valid username is kept whole, whatever its length.
    p.login("dr.doe", "Not-The-Password-42", CTX)
        .await
        .unwrap_err();
    let names: Vec<String> = p
        .store
        .audit_events(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.username)
        .collect();
    assert!(names.contains(&"x".repeat(64)), "{names:?}");
    let cut: String = spaced.chars().take(64).collect();
    assert!(names.contains(&cut));
    assert!(names.iter().all(|name| name.chars().count() <= 64));
    assert_eq!(
        names.iter().filter(|name| *name == &"x".repeat(64)).count(),
        3,
        "login, reset and resend alike"
    );
    assert!(names.contains(&"dr.doe".to_owned()));
}

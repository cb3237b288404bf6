//! The audit trail of a whole lifecycle.

use super::*;

#[tokio::test]
async fn the_lifecycle_is_audited_with_address_and_outcome_and_no_secret() {
    let p = portal();
    active_account(&p).await;
    p.login("dr.doe", &password("Not-The-Password-42"), CTX)
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

//! Operator actions: show, unlock, disable and enable an account.

use super::*;
use portal_domain::service::{OperatorAction, OperatorError};

#[tokio::test]
async fn show_reports_state_without_secrets() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    let report = p.show_account("DR.DOE", CTX).await.unwrap();
    assert_eq!(report.status, AccountStatus::PendingActivation);
    assert_eq!(report.pending_emails, 1);
    assert_eq!(report.provider.provider_id.as_str(), "P1001");
    let printed = format!("{report:?}");
    assert!(!printed.contains("argon2") && !printed.to_lowercase().contains("fluffy"));
    assert_eq!(
        p.show_account("nobody", CTX).await.err(),
        Some(OperatorError::UnknownUsername)
    );
}

#[tokio::test]
async fn disable_refuses_logins_and_revokes_sessions_until_enabled() {
    let p = portal();
    active_account(&p).await;
    let session = logged_in(&p).await;
    p.operate_account("dr.doe", OperatorAction::Disable, CTX)
        .await
        .unwrap();
    assert_eq!(
        p.show_account("dr.doe", CTX).await.unwrap().status,
        AccountStatus::Disabled
    );
    assert_eq!(
        p.authenticate(session.token.expose()).await.err(),
        Some(AuthError::Unauthenticated)
    );
    assert_eq!(
        p.login("dr.doe", sample::PASSWORD, CTX).await.err(),
        Some(LoginError::AccountDisabled)
    );
    // A wrong password still answers as for everyone: nothing is revealed.
    assert_eq!(
        p.login("dr.doe", "Not-The-Password-42", CTX).await.err(),
        Some(LoginError::InvalidCredentials)
    );
    p.operate_account("dr.doe", OperatorAction::Enable, CTX)
        .await
        .unwrap();
    assert!(logs_in(&p, sample::PASSWORD).await);
}

#[tokio::test]
async fn unlock_clears_the_lock_and_the_count_and_every_command_is_audited() {
    let p = portal();
    active_account(&p).await;
    for _ in 0..5 {
        p.login("dr.doe", "Not-The-Password-42", CTX)
            .await
            .unwrap_err();
    }
    assert!(matches!(
        p.show_account("dr.doe", CTX).await.unwrap().status,
        AccountStatus::Locked { .. }
    ));
    p.operate_account("dr.doe", OperatorAction::Unlock, CTX)
        .await
        .unwrap();
    let report = p.show_account("dr.doe", CTX).await.unwrap();
    assert_eq!(
        (report.status, report.failed_logins),
        (AccountStatus::Active, 0)
    );
    assert!(logs_in(&p, sample::PASSWORD).await);
    assert_eq!(
        p.operate_account("nobody", OperatorAction::Disable, CTX)
            .await
            .err(),
        Some(OperatorError::UnknownUsername)
    );
    let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
    let outcomes: Vec<(AuditAction, &str)> = events
        .iter()
        .filter(|e| {
            matches!(
                e.action,
                AuditAction::AccountUnlocked | AuditAction::AccountDisabled
            )
        })
        .map(|e| (e.action, e.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (AuditAction::AccountUnlocked, "success"),
            (AuditAction::AccountDisabled, "unknown_username")
        ]
    );
}

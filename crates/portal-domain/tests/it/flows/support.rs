//! Support checks of a security answer.

use super::*;

#[tokio::test]
async fn answers_are_compared_normalised_and_limited() {
    let p = portal();
    active_account(&p).await;
    let right = SecurityAnswer::parse("  FLUFFY ").unwrap();
    let wrong = SecurityAnswer::parse("Rex").unwrap();
    assert_eq!(
        p.verify_security_answer("dr.doe", &right, CTX).await,
        Ok(SupportCheck::Match)
    );
    for _ in 0..3 {
        assert_eq!(
            p.verify_security_answer("dr.doe", &wrong, CTX).await,
            Ok(SupportCheck::NoMatch)
        );
    }
    assert_eq!(
        p.verify_security_answer("dr.doe", &right, CTX).await.err(),
        Some(SupportError::TooManyAttempts)
    );
    p.clock.advance(Duration::hours(24));
    assert_eq!(
        p.verify_security_answer("dr.doe", &right, CTX).await,
        Ok(SupportCheck::Match)
    );
    assert_eq!(
        p.verify_security_answer("nobody", &right, CTX).await.err(),
        Some(SupportError::UnknownUsername)
    );
}

#[tokio::test]
async fn checks_are_audited_without_the_answer() {
    let p = portal();
    active_account(&p).await;
    p.verify_security_answer("dr.doe", &SecurityAnswer::parse("Fluffy").unwrap(), CTX)
        .await
        .unwrap();
    let events = p
        .store
        .audit_events(&AuditFilter {
            username: Some("dr.doe".into()),
            since: None,
        })
        .await
        .unwrap();
    let check = events
        .iter()
        .find(|e| e.action == AuditAction::SupportCheck)
        .unwrap();
    assert_eq!(check.outcome, "match");
    assert_eq!(check.client_addr, CTX.client_addr);
    assert!(!format!("{events:?}").to_lowercase().contains("fluffy"));
}

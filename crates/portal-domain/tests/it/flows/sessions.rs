//! Sessions: idle and absolute limits, logout, and agreement re-acceptance.

use super::*;

#[tokio::test]
async fn idle_and_absolute_expiry() {
    let p = portal();
    active_account(&p).await;
    let session = logged_in(&p).await;
    let token = session.token.expose();
    // Activity keeps it alive...
    for _ in 0..24 {
        p.clock.advance(Duration::minutes(29));
        p.authenticate(token).await.unwrap();
    }
    // ... but never past 12 hours.
    p.clock.advance(Duration::minutes(29));
    assert_eq!(
        p.authenticate(token).await.err(),
        Some(AuthError::Unauthenticated)
    );

    let idle = logged_in(&p).await;
    p.clock.advance(Duration::minutes(30));
    assert_eq!(
        p.authenticate(idle.token.expose()).await.err(),
        Some(AuthError::Unauthenticated)
    );
}

#[tokio::test]
async fn logout_revokes_and_garbage_is_unauthenticated() {
    let p = portal();
    active_account(&p).await;
    let session = logged_in(&p).await;
    p.logout(session.token.expose(), CTX).await.unwrap();
    assert_eq!(
        p.authenticate(session.token.expose()).await.err(),
        Some(AuthError::Unauthenticated)
    );
    assert_eq!(p.logout("garbage", CTX).await, Ok(()));
    assert_eq!(
        p.authenticate("garbage").await.err(),
        Some(AuthError::Unauthenticated)
    );
}

#[tokio::test]
async fn a_newer_agreement_restricts_the_session_until_accepted() {
    let p = portal();
    active_account(&p).await;
    let mut settings = p.settings().clone();
    settings.agreement = Agreement::new(
        AgreementVersion::parse("2").unwrap(),
        "Version 2 of the agreement.",
    );
    let republished = p.reconfigured(settings);

    let restricted = republished
        .login("dr.doe", sample::PASSWORD, CTX)
        .await
        .unwrap();
    assert!(restricted.agreement_required, "login succeeds, restricted");
    let auth = republished
        .authenticate(restricted.token.expose())
        .await
        .unwrap();
    assert!(auth.agreement_required);
    assert_eq!(
        republished
            .accept_current_agreement(&auth, &AgreementVersion::parse("1").unwrap(), CTX)
            .await
            .err(),
        Some(AuthError::AgreementNotAccepted)
    );
    republished
        .accept_current_agreement(&auth, &AgreementVersion::parse("2").unwrap(), CTX)
        .await
        .unwrap();
    assert!(
        !republished
            .authenticate(restricted.token.expose())
            .await
            .unwrap()
            .agreement_required
    );
    let account = p
        .store
        .account_by_username(&Username::parse("dr.doe").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.agreement.version.as_str(), "2");
    assert_eq!(
        account.agreement.content_hash,
        republished.settings().agreement.content_hash
    );
}

//! Changing the password while logged in.

use super::*;

#[tokio::test]
async fn keeps_this_session_revokes_the_others_and_notifies() {
    let p = portal();
    active_account(&p).await;
    let this = logged_in(&p).await;
    let other = logged_in(&p).await;
    let auth = p.authenticate(this.token.expose()).await.unwrap();
    p.change_password(
        &auth,
        &password(sample::PASSWORD),
        &password(NEW_PASSWORD),
        CTX,
    )
    .await
    .unwrap();
    assert!(p.authenticate(this.token.expose()).await.is_ok());
    assert_eq!(
        p.authenticate(other.token.expose()).await.err(),
        Some(AuthError::Unauthenticated)
    );
    assert_eq!(
        p.store.emails().pop().unwrap().kind.subject("X"),
        "Your Provider Portal password was changed"
    );
    assert!(logs_in(&p, NEW_PASSWORD).await);
}

#[tokio::test]
async fn wrong_current_passwords_count_toward_the_lockout() {
    let p = portal();
    active_account(&p).await;
    let session = logged_in(&p).await;
    let auth = p.authenticate(session.token.expose()).await.unwrap();
    let wrong = password("Not-The-Password-42");
    for _ in 0..4 {
        assert_eq!(
            p.change_password(&auth, &wrong, &password(NEW_PASSWORD), CTX)
                .await
                .err(),
            Some(PasswordChangeError::InvalidCredentials)
        );
    }
    assert!(matches!(
        p.change_password(&auth, &wrong, &password(NEW_PASSWORD), CTX)
            .await,
        Err(PasswordChangeError::AccountLocked { .. })
    ));
    assert!(matches!(
        p.login("dr.doe", sample::PASSWORD, CTX).await,
        Err(LoginError::AccountLocked { .. })
    ));
}

#[tokio::test]
async fn the_policy_applies_with_reused() {
    let p = portal();
    active_account(&p).await;
    let session = logged_in(&p).await;
    let auth = p.authenticate(session.token.expose()).await.unwrap();
    let Err(PasswordChangeError::PasswordPolicy(v)) = p
        .change_password(
            &auth,
            &password(sample::PASSWORD),
            &password(sample::PASSWORD),
            CTX,
        )
        .await
    else {
        panic!()
    };
    assert_eq!(v.codes(), vec!["reused"]);
    let Err(PasswordChangeError::PasswordPolicy(v)) = p
        .change_password(&auth, &password(sample::PASSWORD), &password("weak"), CTX)
        .await
    else {
        panic!()
    };
    assert!(v.codes().contains(&"min_length"));
}

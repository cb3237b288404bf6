//! Activation: the link, resending it, and tokens that are malformed, unknown or expired.

use super::*;

#[tokio::test]
async fn activates_once_and_sends_email_verification() {
    let p = portal();
    let account = register(&p, sample::practitioner_request(), "dr.doe").await;
    let token = p.last_link_token().unwrap();
    let active = p.activate(&token, CTX).await.unwrap();
    assert_eq!(active.id, account.id);
    assert_eq!(active.status(p.clock.now()), AccountStatus::Active);
    assert_eq!(
        p.activate(&token, CTX).await.err(),
        Some(ActivationError::InvalidToken)
    );
    let last = p.store.emails().pop().unwrap();
    assert_eq!(last.kind.subject("CareSource"), "Email Verification");
    assert_eq!(last.kind.link_path().as_deref(), Some("/login"));
}

/// SPEC §3 step 5: the emailed link activates, and opened again it says
/// "already active" instead of an error; the API's activation keeps
/// `invalid_token` for a used token.
#[tokio::test]
async fn the_link_activates_and_opened_again_is_already_active() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    let first = p.last_link_token().unwrap();
    p.resend_activation("dr.doe", CTX).await.unwrap();
    let link = p.last_link_token().unwrap();
    assert_eq!(
        p.activate_link(&first, CTX).await.err(),
        Some(ActivationError::InvalidToken),
        "superseded while the account is pending: invalid"
    );
    assert_eq!(
        p.activate_link(&link, CTX).await,
        Ok(LinkActivation::Activated)
    );
    assert_eq!(
        p.activate_link(&link, CTX).await,
        Ok(LinkActivation::AlreadyActive)
    );
    assert_eq!(
        p.activate_link(&first, CTX).await,
        Ok(LinkActivation::AlreadyActive),
        "any link of an active account"
    );
    assert_eq!(
        p.activate(&link, CTX).await.err(),
        Some(ActivationError::InvalidToken)
    );
    for bad in ["", "garbage", &"A".repeat(43)] {
        assert_eq!(
            p.activate_link(bad, CTX).await.err(),
            Some(ActivationError::InvalidToken)
        );
    }
    let verifications = p
        .store
        .emails()
        .iter()
        .filter(|e| e.kind.name() == "email_verification")
        .count();
    assert_eq!(verifications, 1, "activated once");
}

#[tokio::test]
async fn malformed_unknown_and_expired_tokens_are_alike() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    let token = p.last_link_token().unwrap();
    for bad in ["", "garbage", &"A".repeat(43)] {
        assert_eq!(
            p.activate(bad, CTX).await.err(),
            Some(ActivationError::InvalidToken)
        );
    }
    p.clock.advance(Duration::hours(24));
    assert_eq!(
        p.activate(&token, CTX).await.err(),
        Some(ActivationError::InvalidToken)
    );
}

#[tokio::test]
async fn resend_issues_a_new_link_that_invalidates_the_old() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    let old = p.last_link_token().unwrap();
    p.resend_activation("DR.DOE", CTX).await.unwrap();
    let new = p.last_link_token().unwrap();
    assert_ne!(old, new);
    assert_eq!(
        p.activate(&old, CTX).await.err(),
        Some(ActivationError::InvalidToken)
    );
    assert!(p.activate(&new, CTX).await.is_ok());
    // Once active, resend sends nothing.
    let before = p.store.emails().len();
    p.resend_activation("dr.doe", CTX).await.unwrap();
    assert_eq!(p.store.emails().len(), before);
}

#[tokio::test]
async fn resend_answers_the_same_for_unknown_users_and_is_capped() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    assert_eq!(p.resend_activation("nobody", CTX).await, Ok(()));
    assert_eq!(p.resend_activation("x", CTX).await, Ok(()));
    for _ in 0..7 {
        assert_eq!(p.resend_activation("dr.doe", CTX).await, Ok(()));
    }
    // The registration email does not count; 5 resends per hour do.
    assert_eq!(p.store.emails().len(), 1 + 5);
    p.clock.advance(Duration::hours(1));
    p.resend_activation("dr.doe", CTX).await.unwrap();
    assert_eq!(p.store.emails().len(), 1 + 6);
}

#[tokio::test]
async fn a_stale_pending_account_frees_its_provider_and_username() {
    let p = portal();
    register(&p, sample::practitioner_request(), "dr.doe").await;
    p.clock
        .advance(Duration::hours(24) + Duration::days(7) - Duration::minutes(1));
    assert!(p.purge().await.unwrap().stale_pending.is_empty());
    assert!(
        p.store
            .account_by_username(&Username::parse("dr.doe").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    p.clock.advance(Duration::minutes(2));
    assert_eq!(
        p.purge().await.unwrap().stale_pending,
        vec!["dr.doe".to_owned()]
    );
    register(&p, sample::practitioner_request(), "dr.doe").await;
}

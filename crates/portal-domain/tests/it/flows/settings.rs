//! Account settings (SPEC §4a): the email change through a link to the new
//! address, and the security question change, each with the current
//! password counted toward the lockout and a notice to the account.

use super::*;
use portal_domain::email::{EmailKind, SecurityNotice};
use portal_domain::service::Authenticated;
use portal_domain::service::{
    EmailChangeError, EmailConfirmError, SecurityQuestionChangeError, SecurityQuestionInput,
};
use portal_domain::values::{SecurityAnswer, SecurityQuestionId};

fn new_address() -> EmailAddress {
    EmailAddress::parse("front.desk@clinic.example.org").unwrap()
}

fn question(answer: &str) -> SecurityQuestionInput {
    SecurityQuestionInput {
        question: SecurityQuestionId::parse(2).unwrap(),
        answer: SecurityAnswer::parse(answer).unwrap(),
    }
}

async fn authenticated(p: &TestPortal) -> Authenticated {
    let session = logged_in(p).await;
    p.authenticate(session.token.expose()).await.unwrap()
}

#[tokio::test]
async fn an_email_changes_only_when_its_link_is_used_and_the_old_address_is_told() {
    let p = portal();
    let account = active_account(&p).await;
    let auth = authenticated(&p).await;
    p.request_email_change(&auth, &password(sample::PASSWORD), &new_address(), CTX)
        .await
        .unwrap();
    let link = p.store.emails().pop().unwrap();
    assert_eq!(link.to, new_address());
    assert!(matches!(link.kind, EmailKind::EmailChange { .. }));
    let token = p.last_link_token().unwrap();
    assert_eq!(
        logged_in(&p).await.account.email,
        account.email,
        "nothing changes before the link is used"
    );

    let changed = p.confirm_email_change(&token, CTX).await.unwrap();
    assert_eq!(changed.email, new_address());
    assert_eq!(logged_in(&p).await.account.email, new_address());
    let notice = p.store.emails().pop().unwrap();
    assert_eq!(notice.to, account.email, "the old address is told");
    assert!(matches!(
        notice.kind,
        EmailKind::Notice(SecurityNotice::EmailChanged)
    ));
    assert!(notice.kind.token().is_none());
    assert_eq!(
        p.confirm_email_change(&token, CTX).await.err(),
        Some(EmailConfirmError::InvalidToken),
        "single use"
    );
    for made_up in ["", "short", &"x".repeat(43), &"A".repeat(10_000)] {
        assert_eq!(
            p.confirm_email_change(made_up, CTX).await.err(),
            Some(EmailConfirmError::InvalidToken)
        );
    }
}

#[tokio::test]
async fn an_email_change_link_lives_an_hour() {
    let p = portal();
    active_account(&p).await;
    let auth = authenticated(&p).await;
    p.request_email_change(&auth, &password(sample::PASSWORD), &new_address(), CTX)
        .await
        .unwrap();
    let token = p.last_link_token().unwrap();
    p.clock.advance(Duration::hours(1));
    assert_eq!(
        p.confirm_email_change(&token, CTX).await.err(),
        Some(EmailConfirmError::InvalidToken)
    );
}

#[tokio::test]
async fn the_account_s_own_address_is_no_change() {
    let p = portal();
    let account = active_account(&p).await;
    let auth = authenticated(&p).await;
    let same = EmailAddress::parse(&account.email.as_str().to_uppercase()).unwrap();
    let answer = p
        .request_email_change(&auth, &password(sample::PASSWORD), &same, CTX)
        .await;
    assert!(
        matches!(answer, Err(EmailChangeError::InvalidInput(_))),
        "{answer:?}"
    );
}

#[tokio::test]
async fn wrong_current_passwords_at_either_change_count_toward_the_lockout() {
    let p = portal();
    active_account(&p).await;
    let auth = authenticated(&p).await;
    let wrong = password("Not-The-Password-42");
    for _ in 0..2 {
        assert_eq!(
            p.request_email_change(&auth, &wrong, &new_address(), CTX)
                .await
                .err(),
            Some(EmailChangeError::InvalidCredentials)
        );
    }
    for _ in 0..2 {
        assert_eq!(
            p.change_security_question(&auth, &wrong, &question("Maple Street"), CTX)
                .await
                .err(),
            Some(SecurityQuestionChangeError::InvalidCredentials)
        );
    }
    assert!(matches!(
        p.request_email_change(&auth, &wrong, &new_address(), CTX)
            .await,
        Err(EmailChangeError::AccountLocked { .. })
    ));
    // Locked: the right password is not even verified.
    assert!(matches!(
        p.change_security_question(
            &auth,
            &password(sample::PASSWORD),
            &question("Maple Street"),
            CTX
        )
        .await,
        Err(SecurityQuestionChangeError::AccountLocked { .. })
    ));
    assert!(!logs_in(&p, sample::PASSWORD).await);
}

#[tokio::test]
async fn a_security_question_change_is_hashed_checked_and_told() {
    let p = portal();
    let account = active_account(&p).await;
    let auth = authenticated(&p).await;
    for revealing in ["dr.doe", account.email.as_str(), sample::PASSWORD] {
        let answer = p
            .change_security_question(
                &auth,
                &password(sample::PASSWORD),
                &question(revealing),
                CTX,
            )
            .await;
        assert!(
            matches!(answer, Err(SecurityQuestionChangeError::InvalidInput(_))),
            "{revealing}: {answer:?}"
        );
    }
    p.change_security_question(
        &auth,
        &password(sample::PASSWORD),
        &question("Maple Street"),
        CTX,
    )
    .await
    .unwrap();
    let notice = p.store.emails().pop().unwrap();
    assert_eq!(notice.to, account.email);
    assert!(matches!(
        notice.kind,
        EmailKind::Notice(SecurityNotice::SecurityQuestionChanged)
    ));
    let events = p.store.audit_events(&AuditFilter::default()).await.unwrap();
    let changes: Vec<String> = events
        .iter()
        .filter(|e| e.action == AuditAction::SecurityQuestionChanged)
        .map(|e| e.outcome.to_string())
        .collect();
    assert_eq!(
        changes,
        ["invalid_input", "invalid_input", "invalid_input", "success"]
    );
}

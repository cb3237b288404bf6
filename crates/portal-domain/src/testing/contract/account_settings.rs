//! The contract of [`AccountSettings`](crate::ports::AccountSettings):
//! email change links (single use, superseded, capped with every other
//! link, the email and its notice at once) and security question changes,
//! each written only while the verified password, the asking session and
//! the absence of a lock still hold.

use super::*;
use crate::email::SecurityNotice;
use crate::ports::{EmailChangeIssue, EmailChangeRequest, SecurityQuestionChange};

fn new_address() -> EmailAddress {
    EmailAddress::parse("new.office@clinic.example.org").unwrap()
}

/// An email change to [`new_address`] with link `n`, issued at `now` from
/// session `session`, for a password verified against `verified`.
fn change_request(
    account: &Account,
    verified: &PasswordHash,
    session: u8,
    n: u8,
    now: OffsetDateTime,
) -> EmailChangeRequest {
    EmailChangeRequest {
        account_id: account.id,
        verified: verified.clone(),
        session: token(session).hash(),
        new_email: new_address(),
        link: LinkToken {
            hash: token(n).hash(),
            issued_at: now,
            expires_at: now + Duration::hours(1),
        },
    }
}

fn change_link(account: &Account, n: u8) -> Email {
    Email {
        to: new_address(),
        username: account.username.clone(),
        kind: EmailKind::EmailChange { token: token(n) },
    }
}

async fn issue_change<S: UserStore>(
    store: &S,
    account: &Account,
    session: u8,
    n: u8,
    now: OffsetDateTime,
    max: u32,
) -> EmailChangeIssue {
    let request = change_request(account, &account.password_hash, session, n, now);
    store
        .issue_email_change(&request, &change_link(account, n), cap(max))
        .await
        .unwrap()
}

async fn redeem_change<S: UserStore>(
    store: &S,
    account: &Account,
    n: u8,
    now: OffsetDateTime,
) -> Result<Account, RedeemError> {
    store
        .redeem_email_change(
            &token(n).hash(),
            now,
            &SecurityNotice::EmailChanged.to(account),
            &audit_of(AuditAction::EmailChanged, account.username.as_str()),
        )
        .await
}

/// The link goes to the new address; its use changes the email, queues the
/// notice to the old one and stores the event, once.
pub async fn an_email_change_link_changes_the_email_once<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    logged_in(&s.store, &account, 20, at(1)).await;
    drain(&s.store, at(1)).await;
    let issued = issue_change(&s.store, &account, 20, 40, at(2), 5).await;
    assert_eq!(issued, EmailChangeIssue::Issued);
    let queued = claim_readable(&s.store, at(2), 10, Duration::minutes(5)).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].email.to, new_address());
    assert_eq!(queued[0].email.kind.name(), "email_change");
    assert_eq!(queued[0].link_expires_at, Some(at(2) + Duration::hours(1)));
    assert_eq!(
        stored_account(&s.store, account.id).await.email,
        account.email,
        "nothing changes before the link is used"
    );
    let found = s
        .store
        .find_live_token(&token(40).hash(), TokenPurpose::EmailChange, at(3))
        .await
        .unwrap();
    assert_eq!(found.map(|a| a.id), Some(account.id));
    // A link of another purpose is not an email change link.
    assert!(
        s.store
            .find_live_token(&token(40).hash(), TokenPurpose::PasswordReset, at(3))
            .await
            .unwrap()
            .is_none()
    );

    let changed = redeem_change(&s.store, &account, 40, at(4)).await.unwrap();
    assert_eq!(changed.email, new_address());
    assert_eq!(
        stored_account(&s.store, account.id).await.email,
        new_address()
    );
    let notices = drain(&s.store, at(100)).await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind.name(), "email_changed");
    assert_eq!(notices[0].to, account.email, "the old address is told");
    assert_eq!(events_of(&s.store, AuditAction::EmailChanged).await, 1);

    assert_eq!(
        redeem_change(&s.store, &account, 40, at(5)).await.err(),
        Some(RedeemError::InvalidToken),
        "single use"
    );
    assert_eq!(
        redeem_change(&s.store, &account, 41, at(5)).await.err(),
        Some(RedeemError::InvalidToken),
        "unknown"
    );
    assert_eq!(events_of(&s.store, AuditAction::EmailChanged).await, 1);
}

/// A newer link supersedes the older; an expired one changes nothing.
pub async fn a_newer_email_change_link_supersedes_and_links_expire<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    logged_in(&s.store, &account, 20, at(1)).await;
    // A reset link stays live: only change links supersede each other.
    issue_reset(&s.store, &account, 30).await;
    assert_eq!(
        issue_change(&s.store, &account, 20, 40, at(4), 0).await,
        EmailChangeIssue::Issued
    );
    assert_eq!(
        issue_change(&s.store, &account, 20, 41, at(5), 0).await,
        EmailChangeIssue::Issued
    );
    assert_eq!(
        redeem_change(&s.store, &account, 40, at(6)).await.err(),
        Some(RedeemError::InvalidToken)
    );
    assert!(
        s.store
            .find_live_token(&token(30).hash(), TokenPurpose::PasswordReset, at(6))
            .await
            .unwrap()
            .is_some()
    );
    let expired = at(5) + Duration::hours(1);
    assert_eq!(
        redeem_change(&s.store, &account, 41, expired).await.err(),
        Some(RedeemError::InvalidToken)
    );
    assert_eq!(
        stored_account(&s.store, account.id).await.email,
        account.email
    );
    assert_eq!(events_of(&s.store, AuditAction::EmailChanged).await, 0);
}

/// Change links and reset links share the per-account cap both ways.
pub async fn email_change_links_count_toward_the_email_cap<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    logged_in(&s.store, &account, 20, at(1)).await;
    drain(&s.store, at(1)).await;
    issue_reset(&s.store, &account, 30).await;
    assert_eq!(
        issue_change(&s.store, &account, 20, 40, at(4), 2).await,
        EmailChangeIssue::Issued
    );
    assert_eq!(
        issue_change(&s.store, &account, 20, 41, at(5), 2).await,
        EmailChangeIssue::CapReached
    );
    let reset = NewToken {
        account_id: account.id,
        purpose: TokenPurpose::PasswordReset,
        link: LinkToken {
            hash: token(31).hash(),
            issued_at: at(6),
            expires_at: at(6) + Duration::hours(1),
        },
    };
    let email = email_to(
        &account.username,
        EmailKind::PasswordReset { token: token(31) },
    );
    assert_eq!(
        s.store.issue_token(&reset, &email, cap(2)).await.unwrap(),
        IssueOutcome::CapReached
    );
    // Nothing of the refused link was written: link 40 is still live.
    assert!(
        s.store
            .find_live_token(&token(40).hash(), TokenPurpose::EmailChange, at(7))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(drain(&s.store, at(7)).await.len(), 2);
    // The window moves on.
    assert_eq!(
        issue_change(&s.store, &account, 20, 42, at(4) + Duration::hours(1), 2).await,
        EmailChangeIssue::Issued
    );
}

/// A change verified against a password that a reset then replaced, from
/// a session that ended, or while a lock is in force, writes nothing.
pub async fn settings_changes_after_a_reset_a_logout_or_a_lock_write_nothing<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    logged_in(&s.store, &account, 20, at(1)).await;
    let before_reset = account.password_hash.clone();
    reset_password(&s.store, &account, hash("victim"), 30, at(2)).await;
    drain(&s.store, at(2)).await;
    let current = stored_account(&s.store, account.id).await;
    logged_in(&s.store, &current, 21, at(3)).await;

    // The verified hash is no longer the account's.
    let stale = change_request(&account, &before_reset, 21, 40, at(4));
    let refused = s
        .store
        .issue_email_change(&stale, &change_link(&account, 40), cap(0))
        .await
        .unwrap();
    assert_eq!(refused, EmailChangeIssue::Refused(CredentialWrite::Stale));
    let question = |verified: &PasswordHash, session: u8| SecurityQuestionChange {
        account_id: account.id,
        verified: verified.clone(),
        session: token(session).hash(),
        question: SecurityQuestionId::parse(2).unwrap(),
        answer_hash: hash("new-answer"),
    };
    let notice = SecurityNotice::SecurityQuestionChanged.to(&account);
    let audit = audit_of(AuditAction::SecurityQuestionChanged, "dr.doe");
    let written = s
        .store
        .change_security_question(&question(&before_reset, 21), &notice, &audit, at(4))
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Stale);

    // The session that asked is gone (the reset revoked session 20).
    let no_session = change_request(&account, &current.password_hash, 20, 41, at(4));
    let refused = s
        .store
        .issue_email_change(&no_session, &change_link(&account, 41), cap(0))
        .await
        .unwrap();
    assert_eq!(refused, EmailChangeIssue::Refused(CredentialWrite::Stale));
    let written = s
        .store
        .change_security_question(
            &question(&current.password_hash, 20),
            &notice,
            &audit,
            at(4),
        )
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Stale);

    // Locked meanwhile: a success never lifts a lock.
    let policy = lockout(1, Duration::hours(24));
    failed_login(&s.store, account.id, at(5), policy)
        .await
        .unwrap();
    let locked_until = at(5) + Duration::hours(24);
    let locked = change_request(&account, &current.password_hash, 21, 42, at(6));
    let refused = s
        .store
        .issue_email_change(&locked, &change_link(&account, 42), cap(0))
        .await
        .unwrap();
    assert_eq!(
        refused,
        EmailChangeIssue::Refused(CredentialWrite::Locked { locked_until })
    );
    let written = s
        .store
        .change_security_question(
            &question(&current.password_hash, 21),
            &notice,
            &audit,
            at(6),
        )
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Locked { locked_until });

    let stored = stored_account(&s.store, account.id).await;
    assert_eq!(stored.security_answer_hash, account.security_answer_hash);
    assert_eq!(stored.security_question, account.security_question);
    for n in [40, 41, 42] {
        assert!(
            s.store
                .find_live_token(&token(n).hash(), TokenPurpose::EmailChange, at(7))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(drain(&s.store, at(7)).await.is_empty(), "nothing queued");
    assert_eq!(
        events_of(&s.store, AuditAction::SecurityQuestionChanged).await,
        0
    );
}

/// A question change sets the question and the answer's hash, queues its
/// notice to the account's address and stores its event, at once.
pub async fn a_security_question_change_writes_its_notice_with_it<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    logged_in(&s.store, &account, 20, at(1)).await;
    drain(&s.store, at(1)).await;
    let change = SecurityQuestionChange {
        account_id: account.id,
        verified: account.password_hash.clone(),
        session: token(20).hash(),
        question: SecurityQuestionId::parse(3).unwrap(),
        answer_hash: hash("new-answer"),
    };
    let written = s
        .store
        .change_security_question(
            &change,
            &SecurityNotice::SecurityQuestionChanged.to(&account),
            &audit_of(AuditAction::SecurityQuestionChanged, "dr.doe"),
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Applied);
    let stored = stored_account(&s.store, account.id).await;
    assert_eq!(stored.security_question, change.question);
    assert_eq!(stored.security_answer_hash, hash("new-answer"));
    assert_eq!(stored.password_hash, account.password_hash);
    assert!(stored_session(&s.store, &token(20).hash()).await.is_some());
    let notices = drain(&s.store, at(3)).await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind.name(), "security_question_changed");
    assert_eq!(notices[0].to, account.email);
    assert_eq!(
        events_of(&s.store, AuditAction::SecurityQuestionChanged).await,
        1
    );
}

/// Many redemptions of one link at once: one changes the email and queues
/// one notice; every other one is refused.
pub async fn parallel_email_change_redemptions_succeed_once<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    logged_in(&s.store, &account, 20, at(1)).await;
    assert_eq!(
        issue_change(&s.store, &account, 20, 40, at(2), 0).await,
        EmailChangeIssue::Issued
    );
    drain(&s.store, at(2)).await;
    let results = join_all((0..16).map(|_| redeem_change(&s.store, &account, 40, at(3)))).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| *e == RedeemError::InvalidToken)
    );
    assert_eq!(drain(&s.store, at(4)).await.len(), 1);
    assert_eq!(events_of(&s.store, AuditAction::EmailChanged).await, 1);
}

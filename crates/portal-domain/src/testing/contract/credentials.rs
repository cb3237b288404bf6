//! The contract of [`Credentials`](crate::ports::Credentials): link tokens
//! superseded, capped, redeemed once; resets, refusals and password changes all
//! at once, and nothing when a change came first.

use super::*;

/// The account a token was issued to, whatever the token's state.
pub async fn issued_tokens_find_their_account_after_use<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let hash = token(1).hash();
    let found = |purpose| s.store.account_by_issued_token(&hash, purpose);
    assert_eq!(
        found(TokenPurpose::Activation).await.unwrap().map(|a| a.id),
        Some(account.id)
    );
    assert_eq!(found(TokenPurpose::PasswordReset).await.unwrap(), None);
    activate(&s.store, 1, "dr.doe").await;
    let used = found(TokenPurpose::Activation).await.unwrap().unwrap();
    assert_eq!(used.id, account.id);
    assert!(used.is_activated(), "read as it is now");
    assert_eq!(
        s.store
            .account_by_issued_token(&token(9).hash(), TokenPurpose::Activation)
            .await
            .unwrap(),
        None
    );
}

pub async fn newer_tokens_supersede_older_and_emails_are_capped<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    drain(&s.store, at(0)).await;
    let reset = |n: u8, t: OffsetDateTime| NewToken {
        account_id: account.id,
        purpose: TokenPurpose::PasswordReset,
        link: LinkToken {
            hash: token(n).hash(),
            issued_at: t,
            expires_at: t + Duration::hours(1),
        },
    };
    let email = |n: u8| {
        email_to(
            &account.username,
            EmailKind::PasswordReset { token: token(n) },
        )
    };
    for n in 10..15 {
        let t = at(i64::from(n));
        assert_eq!(
            s.store
                .issue_token(&reset(n, t), &email(n), cap(5))
                .await
                .unwrap(),
            IssueOutcome::Issued
        );
    }
    assert_eq!(
        s.store
            .issue_token(&reset(15, at(20)), &email(15), cap(5))
            .await
            .unwrap(),
        IssueOutcome::CapReached
    );
    assert_eq!(
        s.store
            .find_live_token(&token(15).hash(), TokenPurpose::PasswordReset, at(21))
            .await
            .unwrap(),
        None
    );
    // Only the newest link works.
    assert!(
        s.store
            .find_live_token(&token(14).hash(), TokenPurpose::PasswordReset, at(21))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        s.store
            .find_live_token(&token(13).hash(), TokenPurpose::PasswordReset, at(21))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        drain(&s.store, at(21)).await.len(),
        5,
        "the capped request queued nothing"
    );
    // An hour after the first, the cap has room again; 0 means no cap.
    assert_eq!(
        s.store
            .issue_token(&reset(16, at(10) + Duration::hours(1)), &email(16), cap(5))
            .await
            .unwrap(),
        IssueOutcome::Issued
    );
    assert_eq!(
        s.store
            .issue_token(&reset(17, at(3700)), &email(17), cap(0))
            .await
            .unwrap(),
        IssueOutcome::Issued
    );
    // The window is the caller's: two tokens of the last hour reach a cap
    // of two, and only one of them is in the last minute.
    let within = |window| EmailCap { max: 2, window };
    assert_eq!(
        s.store
            .issue_token(&reset(18, at(3700)), &email(18), within(Duration::hours(1)))
            .await
            .unwrap(),
        IssueOutcome::CapReached
    );
    assert_eq!(
        s.store
            .issue_token(
                &reset(18, at(3700)),
                &email(18),
                within(Duration::minutes(1))
            )
            .await
            .unwrap(),
        IssueOutcome::Issued
    );
}

pub async fn activation_tokens_redeem_once<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    drain(&s.store, T0).await;
    let verification = email_to(&account.username, EmailKind::EmailVerification);
    // Wrong purpose and expiry are refused.
    assert_eq!(
        s.store
            .redeem_password_reset(
                &token(1).hash(),
                at(1),
                &hash("x"),
                &verification,
                &audit_of(AuditAction::PasswordResetCompleted, "dr.doe")
            )
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
    assert_eq!(
        s.store
            .redeem_activation(
                &token(1).hash(),
                T0 + Duration::hours(24),
                &verification,
                &audit_of(AuditAction::AccountActivated, "dr.doe")
            )
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
    let active = s
        .store
        .redeem_activation(
            &token(1).hash(),
            at(60),
            &verification,
            &audit_of(AuditAction::AccountActivated, "dr.doe"),
        )
        .await
        .unwrap();
    assert!(active.is_activated());
    assert!(stored_account(&s.store, account.id).await.is_activated());
    assert_eq!(
        s.store
            .redeem_activation(
                &token(1).hash(),
                at(61),
                &verification,
                &audit_of(AuditAction::AccountActivated, "dr.doe")
            )
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
    assert_eq!(
        s.store
            .redeem_activation(
                &token(99).hash(),
                at(61),
                &verification,
                &audit_of(AuditAction::AccountActivated, "dr.doe")
            )
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
    let emails = drain(&s.store, at(61)).await;
    assert_eq!(
        emails.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
        vec!["email_verification"]
    );
}

pub async fn parallel_redemptions_succeed_once<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let verification = email_to(&account.username, EmailKind::EmailVerification);
    let hash = token(1).hash();
    let activated = audit_of(AuditAction::AccountActivated, "dr.doe");
    let results = join_all((0..10).map(|_| {
        s.store
            .redeem_activation(&hash, at(5), &verification, &activated)
    }))
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(RedeemError::InvalidToken)))
    );
}

pub async fn password_reset_changes_everything_at_once<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let other = seed_active(&s.store, "group", sample::acme_group(), 2, T0).await;
    let policy = lockout(1, Duration::hours(24));
    logged_in(&s.store, &account, 20, at(1)).await;
    logged_in(&s.store, &account, 21, at(1)).await;
    logged_in(&s.store, &other, 22, at(1)).await;
    assert!(
        failed_login(&s.store, account.id, at(2), policy)
            .await
            .unwrap()
            .state
            .is_locked(at(2))
    );
    let reset = NewToken {
        account_id: account.id,
        purpose: TokenPurpose::PasswordReset,
        link: LinkToken {
            hash: token(30).hash(),
            issued_at: at(3),
            expires_at: at(3) + Duration::hours(1),
        },
    };
    let reset_email = email_to(
        &account.username,
        EmailKind::PasswordReset { token: token(30) },
    );
    s.store
        .issue_token(&reset, &reset_email, cap(5))
        .await
        .unwrap();
    drain(&s.store, at(3)).await;

    let notice = email_to(&account.username, EmailKind::PasswordChanged);
    let changed = s
        .store
        .redeem_password_reset(
            &token(30).hash(),
            at(4),
            &hash("new"),
            &notice,
            &audit_of(AuditAction::PasswordResetCompleted, "dr.doe"),
        )
        .await
        .unwrap();
    assert_eq!(changed.id, account.id);
    let stored = stored_account(&s.store, account.id).await;
    assert_eq!(stored.password_hash, hash("new"));
    assert_eq!(stored.lock, LockState::cleared());
    assert_eq!(stored_session(&s.store, &token(20).hash()).await, None);
    assert_eq!(stored_session(&s.store, &token(21).hash()).await, None);
    assert!(
        stored_session(&s.store, &token(22).hash()).await.is_some(),
        "other accounts keep theirs"
    );
    assert_eq!(
        drain(&s.store, at(4))
            .await
            .iter()
            .map(|e| e.kind.name())
            .collect::<Vec<_>>(),
        vec!["password_changed"]
    );
    assert_eq!(
        s.store
            .redeem_password_reset(
                &token(30).hash(),
                at(5),
                &hash("again"),
                &notice,
                &audit_of(AuditAction::PasswordResetCompleted, "dr.doe")
            )
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
}

/// A refused confirmation spends nothing until the tenth, which spends the
/// link: the eleventh try finds no live token (SPEC §6).
pub async fn reset_links_are_spent_by_the_tenth_refusal<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    issue_reset(&s.store, &account, 30).await;
    let link = token(30).hash();
    for n in 1..10 {
        s.store
            .record_reset_refusal(&link, at(4), 10)
            .await
            .unwrap();
        assert!(
            s.store
                .find_live_token(&link, TokenPurpose::PasswordReset, at(4))
                .await
                .unwrap()
                .is_some(),
            "live after {n} refusals"
        );
    }
    s.store
        .record_reset_refusal(&link, at(4), 10)
        .await
        .unwrap();
    assert_eq!(
        s.store
            .find_live_token(&link, TokenPurpose::PasswordReset, at(4))
            .await
            .unwrap(),
        None,
        "the tenth refusal spends the link"
    );
    assert_eq!(
        s.store.record_reset_refusal(&link, at(4), 10).await,
        Err(RedeemError::InvalidToken)
    );
    let notice = email_to(&account.username, EmailKind::PasswordChanged);
    assert_eq!(
        s.store
            .redeem_password_reset(
                &link,
                at(5),
                &hash("new"),
                &notice,
                &audit_of(AuditAction::PasswordResetCompleted, "dr.doe"),
            )
            .await
            .map(|_| ()),
        Err(RedeemError::InvalidToken)
    );
    // An activation link is no reset link: refusals never touch it.
    let activation = token(1).hash();
    assert_eq!(
        s.store.record_reset_refusal(&activation, at(4), 10).await,
        Err(RedeemError::InvalidToken)
    );
}

/// Racing refusals each count: of 25, ten succeed and spend the link, and
/// the others find it spent.
pub async fn parallel_reset_refusals_spend_the_link_once<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    issue_reset(&s.store, &account, 30).await;
    let link = token(30).hash();
    let results = join_all((0..25).map(|_| s.store.record_reset_refusal(&link, at(4), 10))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        10,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(RedeemError::InvalidToken)))
    );
    assert_eq!(
        s.store
            .find_live_token(&link, TokenPurpose::PasswordReset, at(4))
            .await
            .unwrap(),
        None
    );
}

pub async fn password_change_keeps_only_the_current_session<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    for n in [20, 21, 22] {
        logged_in(&s.store, &account, n, at(1)).await;
    }
    drain(&s.store, at(1)).await;
    change_password_to(&s.store, account.id, hash("changed"), 21, at(2)).await;
    assert_eq!(
        stored_account(&s.store, account.id).await.password_hash,
        hash("changed")
    );
    assert_eq!(stored_session(&s.store, &token(20).hash()).await, None);
    assert!(stored_session(&s.store, &token(21).hash()).await.is_some());
    assert_eq!(stored_session(&s.store, &token(22).hash()).await, None);
    assert_eq!(
        drain(&s.store, at(100))
            .await
            .iter()
            .map(|e| e.kind.name())
            .collect::<Vec<_>>(),
        vec!["password_changed"]
    );
}

/// A change verified the old password; a reset then replaced it and
/// revoked every session. The change writes nothing. So does a change
/// whose own session was revoked (a logout, a disable).
pub async fn a_password_change_after_a_reset_or_a_logout_writes_nothing<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    logged_in(&s.store, &account, 20, at(1)).await;
    let attacker = PasswordChange {
        account_id: account.id,
        verified: account.password_hash.clone(),
        new_hash: hash("attacker"),
        keep: token(20).hash(),
    };
    reset_password(&s.store, &account, hash("victim"), 30, at(2)).await;
    drain(&s.store, at(2)).await;
    let notice = email_to(&account.username, EmailKind::PasswordChanged);
    let changed = audit_of(AuditAction::PasswordChanged, "dr.doe");
    let written = s
        .store
        .change_password(&attacker, &notice, &changed, at(3))
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Stale);
    assert_eq!(
        stored_account(&s.store, account.id).await.password_hash,
        hash("victim")
    );
    assert!(drain(&s.store, at(3)).await.is_empty(), "no notice queued");

    // The right hash, but the session is gone.
    let current = stored_account(&s.store, account.id).await;
    logged_in(&s.store, &current, 21, at(4)).await;
    s.store.revoke_session(&token(21).hash()).await.unwrap();
    let logged_out = PasswordChange {
        account_id: account.id,
        verified: current.password_hash.clone(),
        new_hash: hash("from-a-dead-session"),
        keep: token(21).hash(),
    };
    let written = s
        .store
        .change_password(&logged_out, &notice, &changed, at(5))
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Stale);
    assert_eq!(
        stored_account(&s.store, account.id).await.password_hash,
        hash("victim")
    );
    assert_eq!(events_of(&s.store, AuditAction::PasswordChanged).await, 0);
}

/// The purge deleted a pending account that a resend had read just
/// before: the resend finds no account and writes nothing (no error).
pub async fn a_purged_account_is_sent_no_link<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let stale = seed_account(&s.store, "stale", sample::jane_doe(), 1, T0).await;
    drain(&s.store, T0).await;
    let cutoff = T0 + Duration::days(8);
    assert_eq!(
        s.store.purge_stale_pending(cutoff).await.unwrap(),
        vec!["stale".to_owned()]
    );
    let resend = NewToken {
        account_id: stale.id,
        purpose: TokenPurpose::Activation,
        link: activation_link(2, cutoff),
    };
    let email = email_to(&stale.username, EmailKind::Activation { token: token(2) });
    assert_eq!(
        s.store.issue_token(&resend, &email, cap(5)).await.unwrap(),
        IssueOutcome::NoAccount
    );
    let queued_links: Vec<_> = drain(&s.store, cutoff)
        .await
        .iter()
        .filter_map(|email| email.kind.token().map(RawToken::hash))
        .collect();
    assert!(!queued_links.contains(&token(2).hash()), "no link queued");
    assert_eq!(
        s.store
            .find_live_token(&token(2).hash(), TokenPurpose::Activation, cutoff)
            .await
            .unwrap(),
        None
    );
}

//! Writes that follow a check made earlier: each decides again under the
//! store's lock, so a change that committed in between wins (SPEC §4, §6,
//! docs/storage.md "Concurrency and faults").

use super::*;

/// A login verified the old password; a reset then replaced it. The
/// login's write finds another hash and writes nothing: no session, no
/// rehash of the old password, no success event.
pub async fn a_login_verified_before_a_reset_writes_nothing<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let verified = account.password_hash.clone();
    reset_password(&s.store, &account, hash("after-reset"), 30, at(2)).await;

    let written = s
        .store
        .record_login_success(
            account.id,
            &session_for(&account, 40, at(3)),
            &verified,
            Some(hash("old-password-rehashed")),
            &login_audit(),
        )
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Stale);
    assert_eq!(stored_session(&s.store, &token(40).hash()).await, None);
    let stored = stored_account(&s.store, account.id).await;
    assert_eq!(
        stored.password_hash,
        hash("after-reset"),
        "the reset stands"
    );
    assert_eq!(stored.last_login_at, None);
    assert_eq!(events_of(&s.store, AuditAction::LoginSucceeded).await, 0);
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

/// A double-submitted account step: the second submission is told that
/// its flow moved on, not that its own account took the username.
pub async fn a_finished_flow_is_checked_before_the_username<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let provider = sample::jane_doe();
    let flow = finished_flow(&s.store, flow_id(1, 0xd0), provider.clone(), T0).await;
    let user = username("dr.doe");
    let email = email_to(&user, EmailKind::Activation { token: token(1) });
    let created = audit_of(AuditAction::AccountCreated, "dr.doe");
    let account = new_account("dr.doe", &provider, T0);
    s.store
        .create_account(&flow, &account, &activation_link(1, T0), &email, &created)
        .await
        .unwrap();
    let twin = s
        .store
        .create_account(&flow, &account, &activation_link(2, T0), &email, &created)
        .await;
    assert_eq!(twin.err(), Some(CreateAccountError::FlowConflict));
    assert_eq!(events_of(&s.store, AuditAction::AccountCreated).await, 1);
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

/// Each change stores its audit event in its own transaction: the event
/// exists exactly when the change does.
pub async fn changes_store_their_audit_events_with_them<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    assert_eq!(events_of(&s.store, AuditAction::AccountCreated).await, 1);
    assert_eq!(events_of(&s.store, AuditAction::AccountActivated).await, 1);
    let policy = LockoutPolicy {
        max_failed: 2,
        duration: Duration::hours(1),
    };
    for t in 1..=3 {
        failed_login(&s.store, account.id, at(t), policy)
            .await
            .unwrap();
    }
    assert_eq!(
        events_of(&s.store, AuditAction::AccountLocked).await,
        1,
        "stored by the failure that set the lock, and by no other"
    );
    reset_password(&s.store, &account, hash("reset"), 30, at(4)).await;
    assert_eq!(
        events_of(&s.store, AuditAction::PasswordResetCompleted).await,
        1
    );
    change_password_to(&s.store, account.id, hash("changed"), 31, at(5)).await;
    assert_eq!(events_of(&s.store, AuditAction::PasswordChanged).await, 1);
}

/// Issues reset link `n` for the account and redeems it with `new`.
async fn reset_password<S: UserStore>(
    store: &S,
    account: &Account,
    new: PasswordHash,
    n: u8,
    now: OffsetDateTime,
) {
    let reset = NewToken {
        account_id: account.id,
        purpose: TokenPurpose::PasswordReset,
        link: LinkToken {
            hash: token(n).hash(),
            issued_at: now,
            expires_at: now + Duration::hours(1),
        },
    };
    let email = email_to(
        &account.username,
        EmailKind::PasswordReset { token: token(n) },
    );
    assert_eq!(
        store.issue_token(&reset, &email, cap(0)).await.unwrap(),
        IssueOutcome::Issued
    );
    let notice = email_to(&account.username, EmailKind::PasswordChanged);
    let completed = audit_of(
        AuditAction::PasswordResetCompleted,
        account.username.as_str(),
    );
    store
        .redeem_password_reset(&token(n).hash(), now, &new, &notice, &completed)
        .await
        .unwrap();
}

/// How many stored audit events are of `action`.
async fn events_of<S: UserStore>(store: &S, action: AuditAction) -> usize {
    store
        .audit_events(&AuditFilter::default())
        .await
        .unwrap()
        .iter()
        .filter(|event| event.action == action)
        .count()
}

/// Ten wrong passwords and the right one, all in flight at once: each
/// takes its place before it is verified, so at most `max_failed` are
/// verified, one attempt sets the lock, and the right password verified
/// after it is answered locked and writes nothing (SPEC §4).
pub async fn a_right_password_racing_wrong_ones_never_lifts_the_lock<
    S: UserStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = LockoutPolicy {
        max_failed: 5,
        duration: Duration::hours(24),
    };
    let event = lock_audit();
    // The right password's attempt is among the first to take a place.
    let right = s
        .store
        .reserve_login_attempt(account.id, account.lock, at(1), policy)
        .await
        .unwrap();
    assert_eq!(right, ReservedAttempt::Granted { place: 1 });
    // Each wrong one read the account before the right one took its place.
    let wrong: Vec<ReservedAttempt> = join_all((0..10).map(|_| {
        s.store
            .reserve_login_attempt(account.id, account.lock, at(1), policy)
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let granted = wrong
        .iter()
        .filter(|r| matches!(r, ReservedAttempt::Granted { .. }))
        .count();
    assert_eq!(granted, 4, "five places in all: {wrong:?}");
    // The six refused were not verified and changed nothing: a burst of
    // right passwords must not lock an account.
    assert!(
        !stored_account(&s.store, account.id)
            .await
            .lock
            .is_locked(at(1))
    );
    // The granted wrong ones are verified: the first sets the lock, once.
    let lock_end = at(2) + Duration::hours(24);
    let mut set = 0;
    for _ in 0..granted {
        let recorded = s
            .store
            .record_login_failure(account.id, at(2), policy, &event)
            .await
            .unwrap();
        set += usize::from(recorded.set_lock);
        assert_eq!(recorded.state.locked_until, Some(lock_end));
    }
    assert_eq!(set, 1, "one failure sets the lock");
    // The right password's verification ends now: it cannot log in.
    let written = s
        .store
        .record_login_success(
            account.id,
            &session_for(&account, 30, at(3)),
            &account.password_hash,
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    assert_eq!(
        written,
        CredentialWrite::Locked {
            locked_until: lock_end
        }
    );
    assert_eq!(stored_session(&s.store, &token(30).hash()).await, None);
    assert_eq!(
        stored_account(&s.store, account.id).await.lock.locked_until,
        Some(lock_end),
        "the lock stands"
    );
    assert_eq!(events_of(&s.store, AuditAction::AccountLocked).await, 1);
    assert_eq!(events_of(&s.store, AuditAction::LoginSucceeded).await, 0);

    // A password change verified while the account was locked writes
    // nothing either.
    let change = PasswordChange {
        account_id: account.id,
        verified: account.password_hash.clone(),
        new_hash: hash("during-the-lock"),
        keep: token(30).hash(),
    };
    let notice = email_to(&account.username, EmailKind::PasswordChanged);
    let changed = audit_of(AuditAction::PasswordChanged, "dr.doe");
    assert!(matches!(
        s.store
            .change_password(&change, &notice, &changed, at(4))
            .await
            .unwrap(),
        CredentialWrite::Locked { .. } | CredentialWrite::Stale
    ));
    assert_eq!(
        stored_account(&s.store, account.id).await.password_hash,
        account.password_hash
    );
}

/// A reserved attempt that was not judged (its account may not log in, or
/// verifying failed) gives its place back; a lock is never given back.
pub async fn an_attempt_not_judged_gives_its_place_back<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = LockoutPolicy {
        max_failed: 3,
        duration: Duration::hours(1),
    };
    for _ in 0..2 {
        s.store
            .reserve_login_attempt(account.id, account.lock, at(1), policy)
            .await
            .unwrap();
    }
    s.store.release_login_attempt(account.id).await.unwrap();
    assert_eq!(
        stored_account(&s.store, account.id).await.lock,
        LockState {
            failed_count: 1,
            locked_until: None
        }
    );
    for _ in 0..3 {
        s.store
            .reserve_login_attempt(account.id, account.lock, at(2), policy)
            .await
            .unwrap();
    }
    // Two more places, then none: the third is refused and changes nothing.
    assert_eq!(
        stored_account(&s.store, account.id).await.lock,
        LockState {
            failed_count: 3,
            locked_until: None
        }
    );
    // One given back, then a wrong password takes it and locks; a lock,
    // once set, is never given back.
    s.store.release_login_attempt(account.id).await.unwrap();
    assert!(
        failed_login(&s.store, account.id, at(3), policy)
            .await
            .unwrap()
            .set_lock
    );
    s.store.release_login_attempt(account.id).await.unwrap();
    let locked = stored_account(&s.store, account.id).await.lock;
    assert!(locked.is_locked(at(3)), "{locked:?}");
}

/// A store may write a reservation in one statement guarded by the state
/// the login read; a read that is stale by then must neither lose a count
/// nor refuse: the stored state decides.
pub async fn a_reservation_from_a_stale_read_counts_from_the_stored_state<
    S: UserStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = LockoutPolicy {
        max_failed: 3,
        duration: Duration::hours(1),
    };
    let fresh = account.lock;
    let reserve = |seen: LockState| {
        s.store
            .reserve_login_attempt(account.id, seen, at(1), policy)
    };
    assert_eq!(
        reserve(fresh).await.unwrap(),
        ReservedAttempt::Granted { place: 1 }
    );
    // Read before the first place was taken: still the second place.
    assert_eq!(
        reserve(fresh).await.unwrap(),
        ReservedAttempt::Granted { place: 2 }
    );
    // A read that saw every place taken (stale the other way: two given
    // back since) is no reason to refuse.
    s.store.release_login_attempt(account.id).await.unwrap();
    s.store.release_login_attempt(account.id).await.unwrap();
    let full = LockState {
        failed_count: 3,
        locked_until: None,
    };
    assert_eq!(
        reserve(full).await.unwrap(),
        ReservedAttempt::Granted { place: 1 }
    );
    // A read that saw a lock since lifted (a reset) is no reason either.
    let locked = LockState {
        failed_count: 3,
        locked_until: Some(at(1) + Duration::minutes(30)),
    };
    assert_eq!(
        reserve(locked).await.unwrap(),
        ReservedAttempt::Granted { place: 2 }
    );
    assert_eq!(
        stored_account(&s.store, account.id).await.lock,
        LockState {
            failed_count: 2,
            locked_until: None
        }
    );
}

/// A store may take a login's first place with the read of its account
/// ([`LoginAttempts::account_for_login`](crate::ports::LoginAttempts::account_for_login)'s `first`), only while the account has
/// no failures and no lock. Of lookups racing on a clean account exactly one
/// takes it (none, in a store that leaves every place to
/// `reserve_login_attempt`) and reads the state before it; the count holds
/// exactly the places taken.
pub async fn a_first_place_taken_with_the_read_counts_once<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = LockoutPolicy {
        max_failed: 3,
        duration: Duration::hours(1),
    };
    let first = FirstPlace::at(at(1), policy);
    assert_eq!(
        first,
        Some(FirstPlace {
            after: LockState {
                failed_count: 1,
                locked_until: None
            },
            reserved: ReservedAttempt::Granted { place: 1 },
        })
    );
    let name = username("Dr.Doe");
    let lookup = || s.store.account_for_login(&name, first);
    let reads = join_all((0..8).map(|_| lookup())).await;
    let mut taken = 0;
    for read in reads {
        let read: LoginRead = read.unwrap().unwrap();
        assert_eq!(read.account.id, account.id);
        if let Some(place) = read.place {
            assert_eq!(read.account.lock, LockState::default(), "the state before");
            assert_eq!(place, ReservedAttempt::Granted { place: 1 });
            taken += 1;
        }
    }
    let expected = u32::from(s.takes_first_place_with_read);
    assert_eq!(taken, expected, "places taken with the read");
    let stored = stored_account(&s.store, account.id).await.lock;
    assert_eq!(stored.failed_count, expected);

    // With a failure counted, the read takes nothing: the use case reserves.
    failed_login(&s.store, account.id, at(1), policy)
        .await
        .unwrap();
    let counted = stored_account(&s.store, account.id).await.lock;
    let read = lookup().await.unwrap().unwrap();
    assert_eq!((read.account.lock, read.place), (counted, None));
    assert_eq!(stored_account(&s.store, account.id).await.lock, counted);

    // Locked, and after the lock ended: nothing taken, nothing changed.
    while !stored_account(&s.store, account.id)
        .await
        .lock
        .is_locked(at(1))
    {
        failed_login(&s.store, account.id, at(1), policy)
            .await
            .unwrap();
    }
    let locked = stored_account(&s.store, account.id).await.lock;
    for read_at in [at(2), at(1) + Duration::hours(2)] {
        let read = s
            .store
            .account_for_login(&username("dr.doe"), FirstPlace::at(read_at, policy))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((read.account.lock, read.place), (locked, None));
    }
    assert_eq!(stored_account(&s.store, account.id).await.lock, locked);

    // An unknown username takes nothing anywhere.
    assert_eq!(
        s.store
            .account_for_login(&username("nobody"), first)
            .await
            .unwrap(),
        None
    );
}

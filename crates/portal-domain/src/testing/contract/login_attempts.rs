//! The contract of [`LoginAttempts`](crate::ports::LoginAttempts): exact
//! failure counts and locks, also under racing attempts; a success that clears
//! the lock and stores its session, and that writes nothing when a reset or a
//! lock came first.

use super::*;

pub async fn failures_count_lock_and_restart<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = lockout(3, Duration::hours(24));
    for (minute, count) in [(1, 1), (2, 2)] {
        let recorded = failed_login(&s.store, account.id, at(minute), policy)
            .await
            .unwrap();
        assert_eq!(recorded.state.failed_count, count);
        assert!(!recorded.set_lock);
    }
    let locking = failed_login(&s.store, account.id, at(3), policy)
        .await
        .unwrap();
    let locked = LockState {
        failed_count: 3,
        locked_until: Some(at(3) + Duration::hours(24)),
    };
    assert_eq!(
        locking,
        RecordedFailure {
            state: locked,
            set_lock: true
        }
    );
    // During the lock nothing changes, and the lock is not set again.
    assert_eq!(
        failed_login(&s.store, account.id, at(4), policy)
            .await
            .unwrap(),
        RecordedFailure {
            state: locked,
            set_lock: false
        }
    );
    let stored = stored_account(&s.store, account.id).await;
    assert_eq!(stored.lock, locked);
    // After the lock, the count starts again from zero.
    let after = failed_login(&s.store, account.id, at(3) + Duration::hours(24), policy)
        .await
        .unwrap();
    assert_eq!(
        after,
        RecordedFailure {
            state: LockState {
                failed_count: 1,
                locked_until: None
            },
            set_lock: false
        }
    );
}

pub async fn parallel_failures_count_exactly_and_lock_once<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let counted = seed_active(&s.store, "counted", sample::jane_doe(), 1, T0).await;
    let generous = lockout(1000, Duration::hours(24));
    for result in
        join_all((0..50).map(|i| failed_login(&s.store, counted.id, at(i), generous))).await
    {
        assert!(!result.unwrap().set_lock);
    }
    assert_eq!(
        stored_account(&s.store, counted.id).await.lock,
        LockState {
            failed_count: 50,
            locked_until: None
        },
        "no count lost or doubled"
    );

    let locked = seed_active(&s.store, "locked", sample::acme_group(), 2, T0).await;
    let policy = lockout(5, Duration::hours(24));
    let results = join_all((0..50).map(|i| failed_login(&s.store, locked.id, at(i), policy))).await;
    let recorded: Vec<RecordedFailure> = results.into_iter().map(Result::unwrap).collect();
    let ends: std::collections::BTreeSet<_> = recorded
        .iter()
        .filter_map(|r| r.state.locked_until)
        .collect();
    assert_eq!(ends.len(), 1, "exactly one lock was set: {ends:?}");
    // Only one failure reports that it set the lock (the lockout is audited
    // once), however many raced past the limit.
    assert_eq!(recorded.iter().filter(|r| r.set_lock).count(), 1);
    let stored = stored_account(&s.store, locked.id).await;
    assert_eq!(stored.lock.failed_count, 5);
    assert_eq!(stored.lock.locked_until, ends.into_iter().next());
}

pub async fn login_success_clears_lock_and_stores_session<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = LockoutPolicy::default();
    failed_login(&s.store, account.id, at(1), policy)
        .await
        .unwrap();
    let session = session_for(&account, 9, at(2));
    s.store
        .record_login_success(
            account.id,
            &session,
            &account.password_hash,
            Some(hash("rehashed")),
            &login_audit(),
        )
        .await
        .unwrap();
    let stored = stored_account(&s.store, account.id).await;
    assert_eq!(stored.lock, LockState::cleared());
    assert_eq!(stored.last_login_at, Some(at(2)));
    assert_eq!(stored.password_hash, hash("rehashed"));
    let (found, owner, _) = s
        .store
        .find_session(&session.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found, owner),
        (session, stored),
        "the session comes with its account"
    );
    let audited: Vec<AuditEvent> = s
        .store
        .audit_events(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.action == AuditAction::LoginSucceeded)
        .collect();
    assert_eq!(audited, vec![login_audit()], "stored with the session");
    // Without a rehash the hash stays.
    logged_in(&s.store, &account, 10, at(3)).await;
    assert_eq!(
        stored_account(&s.store, account.id).await.password_hash,
        hash("rehashed")
    );
}

/// A success is judged against the stored lock: refused while it is in
/// force (nothing written), applied from the instant it ends, when the
/// ended lock is still stored and the success clears it.
pub async fn login_success_after_a_lock_ended_clears_it<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = lockout(2, Duration::hours(1));
    for _ in 0..2 {
        failed_login(&s.store, account.id, at(1), policy)
            .await
            .unwrap();
    }
    let lock_end = at(1) + Duration::hours(1);
    let during = session_for(&account, 7, lock_end - Duration::seconds(1));
    let written = s
        .store
        .record_login_success(
            account.id,
            &during,
            &account.password_hash,
            Some(hash("rehashed")),
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
    assert_eq!(stored_session(&s.store, &during.token_hash).await, None);
    let still = stored_account(&s.store, account.id).await;
    assert_eq!(still.lock.locked_until, Some(lock_end), "nothing written");
    assert_eq!(still.password_hash, account.password_hash);
    let after = session_for(&account, 8, lock_end);
    let written = s
        .store
        .record_login_success(
            account.id,
            &after,
            &account.password_hash,
            Some(hash("rehashed")),
            &login_audit(),
        )
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Applied);
    let stored = stored_account(&s.store, account.id).await;
    assert_eq!(stored.lock, LockState::cleared());
    assert_eq!(stored.last_login_at, Some(lock_end));
    assert_eq!(stored.password_hash, hash("rehashed"));
    assert_eq!(
        stored_session(&s.store, &after.token_hash).await,
        Some(after)
    );
}

pub async fn account_reads_for_logins_and_sessions_carry_the_current_provider<
    S: UserStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    logged_in(&s.store, &account, 9, at(1)).await;
    let stored = stored_account(&s.store, account.id).await;
    let login = || async {
        let LoginRead {
            account: found,
            provider: read,
            place,
        } = s
            .store
            .account_for_login(&username("Dr.Doe"), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(place, None, "no first place was offered");
        assert_eq!(found, stored, "case-insensitive, the stored account");
        assert_read_by(s, &read);
        resolve(&s.roster, &found, read).await
    };
    let request = || async {
        let (_, found, read) = s
            .store
            .find_session(&token(9).hash())
            .await
            .unwrap()
            .unwrap();
        assert_read_by(s, &read);
        resolve(&s.roster, &found, read).await
    };
    assert_eq!(login().await, Some(sample::jane_doe()));
    assert_eq!(request().await, Some(sample::jane_doe()));

    // A replacing import without her marks her entry inactive.
    s.roster
        .import(
            &mut EntryBatches::new(vec![sample::john_roe()]),
            ImportMode::Replace,
            false,
            at(2),
        )
        .await
        .unwrap();
    for entry in [login().await, request().await] {
        let entry = entry.unwrap();
        assert_eq!(entry.provider_id, sample::jane_doe().provider_id);
        assert!(!entry.is_active(), "read as it is now: {entry:?}");
    }
    assert_eq!(
        s.store
            .account_for_login(
                &username("nobody"),
                FirstPlace::at(at(1), LockoutPolicy::default())
            )
            .await
            .unwrap(),
        None
    );
}

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
    let policy = lockout(5, Duration::hours(24));
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
    let policy = lockout(3, Duration::hours(1));
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
    let policy = lockout(3, Duration::hours(1));
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
/// ([`LoginAttempts::account_for_login`]'s `first`), only while the account
/// has no failures and no lock. Of lookups racing on a clean account
/// exactly one takes it (none, in a store that leaves every place to
/// `reserve_login_attempt`) and reads the state before it; the count holds
/// exactly the places taken.
///
/// [`LoginAttempts::account_for_login`]: crate::ports::LoginAttempts::account_for_login
pub async fn a_first_place_taken_with_the_read_counts_once<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = lockout(3, Duration::hours(1));
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

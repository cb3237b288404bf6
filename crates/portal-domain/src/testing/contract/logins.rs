//! Logins and sessions: failure counting and locks, success, touch and revoke, agreement, disabling.

use super::*;

pub async fn failures_count_lock_and_restart<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = LockoutPolicy {
        max_failed: 3,
        duration: Duration::hours(24),
    };
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
    let generous = LockoutPolicy {
        max_failed: 1000,
        duration: Duration::hours(24),
    };
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
    let policy = LockoutPolicy {
        max_failed: 5,
        duration: Duration::hours(24),
    };
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
    let policy = LockoutPolicy {
        max_failed: 2,
        duration: Duration::hours(1),
    };
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

/// A store that keeps the roster reads the entry with the account.
fn assert_read_by<S, R>(s: &Subject<S, R>, read: &ProviderRead) {
    let with_account = matches!(read, ProviderRead::WithAccount(_));
    assert_eq!(with_account, s.store_keeps_roster, "{read:?}");
}

pub async fn sessions_touch_forward_and_revoke<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let session = session_for(&account, 9, at(0));
    s.store
        .record_login_success(
            account.id,
            &session,
            &account.password_hash,
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    s.store
        .touch_session(&session.token_hash, at(100))
        .await
        .unwrap();
    s.store
        .touch_session(&session.token_hash, at(50))
        .await
        .unwrap();
    let (touched, owner, _) = s
        .store
        .find_session(&session.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.id, account.id);
    assert_eq!(touched.last_seen_at, at(100), "never moves back");
    assert_eq!(touched.created_at, at(0));
    s.store.revoke_session(&session.token_hash).await.unwrap();
    assert_eq!(stored_session(&s.store, &session.token_hash).await, None);
    s.store.revoke_session(&session.token_hash).await.unwrap();
    assert_eq!(stored_session(&s.store, &token(77).hash()).await, None);
}

pub async fn agreement_acceptance_is_recorded<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let newer = AgreementAcceptance {
        version: AgreementVersion::parse("2026-02").unwrap(),
        content_hash: "cd".repeat(32),
        accepted_at: at(5),
        client_addr: None,
    };
    s.store.record_agreement(account.id, &newer).await.unwrap();
    assert_eq!(stored_account(&s.store, account.id).await.agreement, newer);
}

pub async fn disabling_revokes_sessions_and_unlock_clears<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let other = seed_active(&s.store, "group", sample::acme_group(), 2, T0).await;
    logged_in(&s.store, &account, 20, at(1)).await;
    logged_in(&s.store, &other, 21, at(1)).await;
    s.store.set_disabled(account.id, true).await.unwrap();
    assert!(stored_account(&s.store, account.id).await.disabled);
    assert_eq!(stored_session(&s.store, &token(20).hash()).await, None);
    assert!(stored_session(&s.store, &token(21).hash()).await.is_some());
    s.store.set_disabled(account.id, false).await.unwrap();
    assert!(!stored_account(&s.store, account.id).await.disabled);

    let policy = LockoutPolicy {
        max_failed: 2,
        duration: Duration::hours(24),
    };
    failed_login(&s.store, account.id, at(2), policy)
        .await
        .unwrap();
    failed_login(&s.store, account.id, at(3), policy)
        .await
        .unwrap();
    s.store.clear_lock(account.id).await.unwrap();
    assert_eq!(
        stored_account(&s.store, account.id).await.lock,
        LockState::cleared()
    );
}

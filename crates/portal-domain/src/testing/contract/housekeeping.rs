//! The contract of [`Housekeeping`](crate::ports::Housekeeping): what the
//! purges delete, and what they keep.

use super::*;

pub async fn stale_pending_accounts_are_purged<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let stale = seed_account(&s.store, "stale", sample::jane_doe(), 1, T0).await;
    let resent = seed_account(&s.store, "resent", sample::acme_group(), 2, T0).await;
    let active = seed_active(&s.store, "active", sample::john_roe(), 3, T0).await;
    // A resend gives `resent` a newer link, which keeps it.
    let newer = NewToken {
        account_id: resent.id,
        purpose: TokenPurpose::Activation,
        link: activation_link(4, T0 + Duration::days(7) + Duration::hours(1)),
    };
    s.store
        .issue_token(
            &newer,
            &email_to(&resent.username, EmailKind::Activation { token: token(4) }),
            cap(5),
        )
        .await
        .unwrap();
    // Links from T0 expired at T0 + 24h; the cutoff is 7 days after that.
    let cutoff = T0 + Duration::hours(24) + Duration::days(7) + Duration::seconds(1);
    let purged = s.store.purge_stale_pending(cutoff).await.unwrap();
    assert_eq!(purged, vec!["stale".to_owned()]);
    assert_eq!(s.store.account_by_id(stale.id).await.unwrap(), None);
    assert!(s.store.account_by_id(resent.id).await.unwrap().is_some());
    assert!(s.store.account_by_id(active.id).await.unwrap().is_some());
    // Provider and username are free again.
    assert_eq!(
        s.store
            .account_by_registrant(&sample::jane_doe().registrant_key())
            .await
            .unwrap(),
        None
    );
    seed_account(&s.store, "stale", sample::jane_doe(), 5, cutoff).await;
}

/// A purged account's id is never given out again: an operation still
/// holding it (a resend in flight) must find the account gone, not its
/// successor. (SQLite gives a deleted highest rowid out again unless told.)
pub async fn a_purged_accounts_id_is_not_given_out_again<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let stale = seed_account(&s.store, "stale", sample::jane_doe(), 1, T0).await;
    let cutoff = T0 + Duration::hours(24) + Duration::days(7) + Duration::seconds(1);
    let purged = s.store.purge_stale_pending(cutoff).await.unwrap();
    assert_eq!(purged, vec!["stale".to_owned()]);
    let next = seed_account(&s.store, "next", sample::john_roe(), 2, cutoff).await;
    assert_ne!(
        next.id, stale.id,
        "the purged account's id was given out again"
    );
    assert_eq!(s.store.account_by_id(stale.id).await.unwrap(), None);
}

pub async fn expired_things_are_purged<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let idle = Duration::minutes(30);
    let absolute = Duration::hours(12);
    logged_in(&s.store, &account, 20, at(0)).await;
    logged_in(&s.store, &account, 21, at(3600)).await;
    // Busy all along: only its absolute age ends it.
    logged_in(&s.store, &account, 22, at(0)).await;
    s.store
        .touch_session(&token(22).hash(), at(3600 + 30))
        .await
        .unwrap();
    let open = RegistrationFlow::start(
        flow_id(9, 9),
        sample::acme_group(),
        T0,
        Duration::minutes(30),
    );
    s.store.insert_flow(&open).await.unwrap();
    drain(&s.store, T0).await;
    let now = at(3600 + 60);
    let counts = s
        .store
        .purge_expired(
            now,
            now - Duration::hours(24),
            now - Duration::days(7),
            now - Duration::hours(1),
            idle,
            absolute,
        )
        .await
        .unwrap();
    assert_eq!(counts.sessions, 1);
    assert_eq!(stored_session(&s.store, &token(20).hash()).await, None);
    assert!(stored_session(&s.store, &token(21).hash()).await.is_some());
    assert!(stored_session(&s.store, &token(22).hash()).await.is_some());
    assert!(
        s.store.load_flow(&open.id).await.unwrap().is_some(),
        "kept 24 h after expiry"
    );
    let later = T0 + Duration::hours(25);
    s.store
        .touch_session(&token(22).hash(), later - Duration::minutes(1))
        .await
        .unwrap();
    let counts = s
        .store
        .purge_expired(
            later,
            later - Duration::hours(24),
            later - Duration::days(7),
            later - Duration::hours(1),
            idle,
            absolute,
        )
        .await
        .unwrap();
    // 21 is idle and over age (counted once), 22 over age only.
    assert_eq!(counts.sessions, 2);
    assert_eq!(stored_session(&s.store, &token(21).hash()).await, None);
    assert_eq!(stored_session(&s.store, &token(22).hash()).await, None);
    assert!(counts.flows >= 1);
    assert_eq!(s.store.load_flow(&open.id).await.unwrap(), None);
    assert!(s.store.account_by_id(account.id).await.unwrap().is_some());
}

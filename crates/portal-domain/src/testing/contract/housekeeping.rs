//! Counters in time windows, purges and the audit trail.

use super::*;

pub async fn proofing_mismatches_are_counted_in_the_window<S: UserStore, R>(s: &Subject<S, R>) {
    let (tax, id) = (
        TaxId::parse(sample::TAX_ID).unwrap(),
        ProviderId::parse("P1001").unwrap(),
    );
    let other = ProviderId::parse("P1002").unwrap();
    for t in [0, 10, 20] {
        assert_eq!(
            s.store
                .record_proofing_mismatch(&tax, &id, at(t), at(-1), 0)
                .await
                .unwrap(),
            WindowRecord::Recorded
        );
    }
    s.store
        .record_proofing_mismatch(&tax, &other, at(5), at(-1), 0)
        .await
        .unwrap();
    let all = s
        .store
        .proofing_mismatches_since(&tax, &id, at(-1))
        .await
        .unwrap();
    assert_eq!((all.count, all.oldest), (3, Some(at(0))));
    let recent = s
        .store
        .proofing_mismatches_since(&tax, &id, at(9))
        .await
        .unwrap();
    assert_eq!((recent.count, recent.oldest), (2, Some(at(10))));
    let none = s
        .store
        .proofing_mismatches_since(&tax, &id, at(20))
        .await
        .unwrap();
    assert_eq!((none.count, none.oldest), (0, None));

    // At the limit within the window nothing more is recorded; what left
    // the window no longer counts.
    assert_eq!(
        s.store
            .record_proofing_mismatch(&tax, &id, at(30), at(-1), 3)
            .await
            .unwrap(),
        WindowRecord::Limited { oldest: at(0) }
    );
    assert_eq!(
        s.store
            .record_proofing_mismatch(&tax, &id, at(30), at(0), 3)
            .await
            .unwrap(),
        WindowRecord::Recorded
    );
    let counted = s
        .store
        .proofing_mismatches_since(&tax, &id, at(-1))
        .await
        .unwrap();
    assert_eq!(counted.count, 4);
}

/// Racing mismatches for one provider: exactly `limit` are recorded, the
/// others are told the limit was reached (SPEC §8: count and record in
/// one transaction).
pub async fn parallel_proofing_mismatches_stop_at_the_limit<S: UserStore, R>(s: &Subject<S, R>) {
    let (tax, id) = (
        TaxId::parse(sample::TAX_ID).unwrap(),
        ProviderId::parse("P1001").unwrap(),
    );
    let results = join_all((0..30).map(|n| {
        s.store
            .record_proofing_mismatch(&tax, &id, at(n / 10), at(-1), 10)
    }))
    .await;
    let recorded = results
        .iter()
        .filter(|r| matches!(r, Ok(WindowRecord::Recorded)))
        .count();
    assert_eq!(recorded, 10, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(WindowRecord::Recorded | WindowRecord::Limited { .. })))
    );
    let counted = s
        .store
        .proofing_mismatches_since(&tax, &id, at(-1))
        .await
        .unwrap();
    assert_eq!(counted.count, 10);
}

pub async fn support_failures_are_counted_in_the_window<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    for (t, matched) in [(0, false), (10, true), (20, false)] {
        assert_eq!(
            s.store
                .record_support_check(account.id, at(t), matched, at(-1), 3)
                .await
                .unwrap(),
            WindowRecord::Recorded
        );
    }
    assert_eq!(
        s.store
            .support_failures_since(account.id, at(-1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.store
            .support_failures_since(account.id, at(0))
            .await
            .unwrap(),
        1
    );
    // Two failures in the window: a limit of two refuses even a match.
    assert_eq!(
        s.store
            .record_support_check(account.id, at(30), true, at(-1), 2)
            .await
            .unwrap(),
        WindowRecord::Limited { oldest: at(0) }
    );
    assert_eq!(
        s.store
            .support_failures_since(account.id, at(-1))
            .await
            .unwrap(),
        2
    );
}

/// Racing wrong answers for one account: exactly `max_failed` are
/// recorded, the others refused.
pub async fn parallel_support_checks_stop_at_the_limit<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let results = join_all((0..20).map(|n| {
        s.store
            .record_support_check(account.id, at(n / 5), false, at(-1), 3)
    }))
    .await;
    let recorded = results
        .iter()
        .filter(|r| matches!(r, Ok(WindowRecord::Recorded)))
        .count();
    assert_eq!(recorded, 3, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(WindowRecord::Recorded | WindowRecord::Limited { .. })))
    );
    assert_eq!(
        s.store
            .support_failures_since(account.id, at(-1))
            .await
            .unwrap(),
        3
    );
}

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

pub async fn expired_things_are_purged<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let idle = Duration::minutes(30);
    let absolute = Duration::hours(12);
    logged_in(&s.store, &account, 20, at(0)).await;
    logged_in(&s.store, &account, 21, at(3600)).await;
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
    assert!(
        s.store.load_flow(&open.id).await.unwrap().is_some(),
        "kept 24 h after expiry"
    );
    let later = T0 + Duration::hours(25);
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
    assert!(counts.flows >= 1);
    assert_eq!(s.store.load_flow(&open.id).await.unwrap(), None);
    assert!(s.store.account_by_id(account.id).await.unwrap().is_some());
}

pub async fn audit_events_are_listed_oldest_first<S: UserStore, R>(s: &Subject<S, R>) {
    let event = |t: i64, action: AuditAction, user: Option<&str>| AuditEvent {
        at: at(t),
        action,
        username: user.map(str::to_owned),
        client_addr: Some(std::net::IpAddr::from([198, 51, 100, 1])),
        outcome: AuditOutcome::Success,
    };
    s.store
        .append_audit(&event(20, AuditAction::LoginFailed, Some("Dr.Doe")))
        .await
        .unwrap();
    s.store
        .append_audit(&event(10, AuditAction::RegistrationStarted, None))
        .await
        .unwrap();
    s.store
        .append_audit(&event(30, AuditAction::LoginSucceeded, Some("other")))
        .await
        .unwrap();
    let all = s.store.audit_events(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![at(10), at(20), at(30)]
    );
    assert_eq!(all[1], event(20, AuditAction::LoginFailed, Some("Dr.Doe")));
    let mine = s
        .store
        .audit_events(&AuditFilter {
            username: Some("dr.doe".to_owned()),
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    let recent = s
        .store
        .audit_events(&AuditFilter {
            username: None,
            since: Some(at(20)),
        })
        .await
        .unwrap();
    assert_eq!(recent.len(), 2);
}

/// A listing reads the trail page by page: every matching event once, in
/// order, also when several share one instant.
pub async fn audit_pages_cover_the_trail_once_in_order<S: UserStore, R>(s: &Subject<S, R>) {
    for n in 0..25_i64 {
        let event = AuditEvent {
            // Pairs of events share an instant.
            at: at(n / 2),
            action: AuditAction::LoginFailed,
            username: Some(if n % 5 == 0 { "other" } else { "dr.doe" }.to_owned()),
            client_addr: None,
            // Texts no build names: a store keeps and returns them as they are.
            outcome: AuditOutcome::Other(format!("event-{n:02}")),
        };
        s.store.append_audit(&event).await.unwrap();
    }
    let read_all = |filter: AuditFilter| {
        let store = &s.store;
        async move {
            let mut pages = Vec::new();
            let mut after = None;
            loop {
                let page = store.audit_page(&filter, after, 10).await.unwrap();
                assert!(page.len() <= 10);
                after = page.last().map(|(cursor, _)| *cursor);
                let outcomes: Vec<String> = page
                    .into_iter()
                    .map(|(_, e)| e.outcome.to_string())
                    .collect();
                let last_page = outcomes.len() < 10;
                pages.push(outcomes);
                if last_page {
                    return pages;
                }
            }
        }
    };
    let pages = read_all(AuditFilter::default()).await;
    assert_eq!(pages.len(), 3);
    let listed: Vec<String> = pages.concat();
    let expected: Vec<String> = (0..25).map(|n| format!("event-{n:02}")).collect();
    assert_eq!(listed, expected, "every event once, oldest first");
    let mine = read_all(AuditFilter {
        username: Some("DR.DOE".to_owned()),
        since: Some(at(3)),
    })
    .await
    .concat();
    let expected: Vec<String> = (6..25)
        .filter(|n| n % 5 != 0)
        .map(|n| format!("event-{n:02}"))
        .collect();
    assert_eq!(mine, expected);
}

//! The contract of [`IdentityChecks`](crate::ports::IdentityChecks): proofing
//! mismatches and support checks counted in their windows, exactly up to the
//! limit under racing answers.

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

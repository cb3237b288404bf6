//! The email outbox: claims, leases, retries and parallel claimers.

use super::*;

pub async fn outbox_claims_lease_retry_and_finish<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let lease = Duration::minutes(5);
    let claimed = s.store.claim_due(T0, 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 0);
    assert!(
        s.store
            .claim_due(at(1), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "hidden while leased"
    );
    s.store
        .mark_retry(claimed[0].id, at(30), "connection refused")
        .await
        .unwrap();
    assert!(
        s.store
            .claim_due(at(29), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "not due before the retry time"
    );
    let again = s.store.claim_due(at(30), 10, lease).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    assert_eq!(s.store.pending_for(&account.username).await.unwrap(), 1);
    s.store.mark_sent(again[0].id, at(31)).await.unwrap();
    assert_eq!(s.store.pending_for(&account.username).await.unwrap(), 0);
    assert!(
        s.store
            .claim_due(at(31) + Duration::hours(1), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "sent is final"
    );
    // A lease that runs out (a worker died) makes the email due again.
    change_password_to(&s.store, account.id, hash("x"), 50, at(40)).await;
    let first = s.store.claim_due(at(40), 10, lease).await.unwrap();
    assert_eq!(first.len(), 1);
    let reclaimed = s.store.claim_due(at(40) + lease, 10, lease).await.unwrap();
    assert_eq!(
        reclaimed.iter().map(|q| q.id).collect::<Vec<_>>(),
        vec![first[0].id]
    );
    s.store
        .mark_failed(first[0].id, at(400), "550 no such user")
        .await
        .unwrap();
    assert!(
        s.store
            .claim_due(at(4000), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "failed is final"
    );
}

pub async fn parallel_claimers_get_each_email_once<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    drain(&s.store, T0).await;
    for n in 0..20u8 {
        change_password_to(&s.store, account.id, hash(&format!("h{n}")), 200, at(10)).await;
    }
    let lease = Duration::minutes(5);
    let worker = || async {
        let mut mine = Vec::new();
        loop {
            let batch = s.store.claim_due(at(10), 3, lease).await.unwrap();
            if batch.is_empty() {
                return mine;
            }
            for queued in batch {
                s.store.mark_sent(queued.id, at(10)).await.unwrap();
                mine.push(queued.id);
            }
        }
    };
    let (a, b) = futures::join!(worker(), worker());
    let mut all: Vec<_> = a.into_iter().chain(b).collect();
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(claimed, 20, "every email claimed");
    assert_eq!(all.len(), 20, "no email claimed twice");
}

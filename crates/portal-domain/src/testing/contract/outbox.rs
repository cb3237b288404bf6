//! The email outbox: claims, leases, retries, parallel claimers, and the
//! faults a claim must survive (stale claims, unreadable rows, unknown kinds).

use super::*;

pub async fn outbox_claims_lease_retry_and_finish<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let lease = Duration::minutes(5);
    let claimed = claim_readable(&s.store, T0, 10, lease).await;
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
    assert!(
        s.store
            .mark_retry(claimed[0].claim, at(30), "connection refused")
            .await
            .unwrap()
    );
    assert!(
        s.store
            .claim_due(at(29), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "not due before the retry time"
    );
    let again = claim_readable(&s.store, at(30), 10, lease).await;
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    // An operator asking why an email has not arrived reads the relay's answer.
    assert_eq!(
        s.store.pending_for(&account.username).await.unwrap(),
        PendingEmails {
            count: 1,
            last_error: Some("connection refused".to_owned()),
        }
    );
    assert!(s.store.mark_sent(again[0].claim, at(31)).await.unwrap());
    assert_eq!(
        s.store.pending_for(&account.username).await.unwrap(),
        PendingEmails::default()
    );
    assert_eq!(
        s.faults.last_error(again[0].id()).await,
        None,
        "a success forgets the failure before it"
    );
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
    let first = claim_readable(&s.store, at(40), 10, lease).await;
    assert_eq!(first.len(), 1);
    let reclaimed = claim_readable(&s.store, at(40) + lease, 10, lease).await;
    assert_eq!(
        reclaimed.iter().map(QueuedEmail::id).collect::<Vec<_>>(),
        vec![first[0].id()]
    );
    assert!(
        s.store
            .mark_failed(reclaimed[0].claim, at(400), "550 no such user")
            .await
            .unwrap()
    );
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
            let batch = claim_readable(&s.store, at(10), 3, lease).await;
            if batch.is_empty() {
                return mine;
            }
            for queued in batch {
                assert!(s.store.mark_sent(queued.claim, at(10)).await.unwrap());
                mine.push(queued.id());
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

/// A worker whose lease ran out while it was still sending comes back to
/// marks that change nothing: the email, its attempts and the new
/// claimant's lease stay as the new claim left them.
pub async fn stale_claims_mark_nothing<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let lease = Duration::minutes(2);
    let stale = claim_readable(&s.store, T0, 10, lease).await.remove(0);
    let current = claim_readable(&s.store, T0 + lease, 10, lease)
        .await
        .remove(0);
    assert_eq!(current.id(), stale.id());
    assert_ne!(current.claim, stale.claim, "a claim is a new generation");
    let id = stale.id();
    let now = T0 + lease + Duration::seconds(1);
    assert!(!s.store.mark_sent(stale.claim, now).await.unwrap());
    assert!(!s.store.mark_failed(stale.claim, now, "550").await.unwrap());
    assert!(!s.store.mark_retry(stale.claim, now, "421").await.unwrap());
    assert_eq!(s.faults.attempts(id).await, 0, "no attempt counted");
    assert_eq!(
        s.store.pending_for(&account.username).await.unwrap().count,
        1
    );
    assert!(
        claim_readable(&s.store, now, 10, lease).await.is_empty(),
        "the stale retry did not end the current lease"
    );
    assert!(
        s.store
            .mark_retry(current.claim, now + Duration::seconds(5), "421")
            .await
            .unwrap()
    );
    assert_eq!(s.faults.attempts(id).await, 1);
    let next = claim_readable(&s.store, now + Duration::seconds(5), 10, lease).await;
    assert_eq!((next.len(), next[0].attempts), (1, 1));
    assert!(
        !s.store.mark_sent(current.claim, now).await.unwrap(),
        "a retried claim is over once the email is claimed again"
    );
    assert!(s.store.mark_sent(next[0].claim, now).await.unwrap());
    assert!(
        !s.store.mark_sent(next[0].claim, now).await.unwrap(),
        "a finished email takes no second mark"
    );
    assert_eq!(s.faults.attempts(id).await, 2);
}

/// A claimed email says when its link expires (the token's expiry, given
/// where it is queued) and whether its account still exists.
pub async fn claims_carry_link_expiry_and_account<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let lease = Duration::minutes(2);
    let pending = seed_account(&s.store, "pending", sample::jane_doe(), 1, T0).await;
    let active = seed_active(&s.store, "active", sample::john_roe(), 2, T0).await;
    let reset = NewToken {
        account_id: active.id,
        purpose: TokenPurpose::PasswordReset,
        link: LinkToken {
            hash: token(3).hash(),
            issued_at: at(10),
            expires_at: at(10) + Duration::hours(1),
        },
    };
    let reset_email = email_to(
        &active.username,
        EmailKind::PasswordReset { token: token(3) },
    );
    s.store
        .issue_token(&reset, &reset_email, cap(5))
        .await
        .unwrap();
    let claimed = claim_readable(&s.store, at(10), 10, lease).await;
    let seen: Vec<_> = claimed
        .iter()
        .map(|q| (q.email.kind.name(), q.link_expires_at, q.account_exists))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("activation", Some(T0 + Duration::hours(24)), true),
            ("activation", Some(T0 + Duration::hours(24)), true),
            ("email_verification", None, true),
            ("password_reset", Some(at(10) + Duration::hours(1)), true),
        ]
    );
    for sent in &claimed[1..] {
        assert!(s.store.mark_sent(sent.claim, at(11)).await.unwrap());
    }
    // The pending account is purged while its email waits for a retry.
    let pending_email = &claimed[0];
    assert_eq!(pending_email.email.username, pending.username);
    assert!(
        s.store
            .mark_retry(pending_email.claim, at(20), "421")
            .await
            .unwrap()
    );
    let cutoff = T0 + Duration::hours(24) + Duration::days(7) + Duration::seconds(1);
    assert_eq!(
        s.store.purge_stale_pending(cutoff).await.unwrap(),
        vec!["pending".to_owned()]
    );
    let orphan = claim_readable(&s.store, cutoff, 10, lease).await;
    assert_eq!(orphan.len(), 1);
    assert_eq!(orphan[0].id(), pending_email.id());
    assert!(!orphan[0].account_exists, "its account is gone");
}

/// One row that cannot be read is claimed on its own, as an unreadable
/// row that can be marked failed; the rows around it are read as usual.
pub async fn unreadable_rows_are_claimed_alone<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    seed_account(&s.store, "first", sample::jane_doe(), 1, T0).await;
    seed_account(&s.store, "second", sample::john_roe(), 2, T0).await;
    seed_account(&s.store, "third", sample::acme_group(), 3, T0).await;
    let lease = Duration::minutes(2);
    let rows = s.store.claim_due(T0, 10, lease).await.unwrap();
    let ids: Vec<_> = rows
        .iter()
        .map(|row| row.as_ref().map_or_else(|e| e.claim.id, QueuedEmail::id))
        .collect();
    for row in rows {
        let claim = row.map_or_else(|e| e.claim, |q| q.claim);
        assert!(s.store.mark_retry(claim, T0, "421").await.unwrap());
    }
    s.faults.make_unreadable(ids[1]).await;
    let rows = s.store.claim_due(T0, 10, lease).await.unwrap();
    assert_eq!(rows.len(), 3, "the unreadable row does not fail the claim");
    let unreadable = rows[1].as_ref().map(QueuedEmail::id).unwrap_err();
    assert_eq!(unreadable.claim.id, ids[1]);
    assert_eq!(unreadable.kind, "activation");
    assert!(
        unreadable.error.to_string().contains("recipient"),
        "{}",
        unreadable.error
    );
    let readable: Vec<_> = [&rows[0], &rows[2]]
        .iter()
        .map(|row| row.as_ref().map(QueuedEmail::id).unwrap())
        .collect();
    assert_eq!(readable, vec![ids[0], ids[2]]);
    assert!(
        s.store
            .mark_failed(unreadable.claim, T0, "unreadable")
            .await
            .unwrap()
    );
    assert!(
        s.store
            .claim_due(T0 + lease, 10, lease)
            .await
            .unwrap()
            .iter()
            .all(|row| row.as_ref().is_ok_and(|q| q.id() != ids[1])),
        "a failed unreadable row is never claimed again"
    );
}

/// Rows of a kind this build does not know (a newer build queued them
/// during a rolling deploy) are never claimed: they stay queued, with no
/// attempt counted, for an instance that knows them.
pub async fn unknown_kinds_are_left_queued<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    for queued in claim_readable(&s.store, T0, 10, Duration::minutes(2)).await {
        assert!(s.store.mark_sent(queued.claim, T0).await.unwrap());
    }
    let unknown = s.faults.queue_unknown_kind("dr.doe", at(1)).await;
    change_password_to(&s.store, account.id, hash("x"), 9, at(2)).await;
    let lease = Duration::minutes(2);
    let claimed = claim_readable(&s.store, at(2), 10, lease).await;
    assert_eq!(
        claimed
            .iter()
            .map(|q| q.email.kind.name())
            .collect::<Vec<_>>(),
        vec!["password_changed"]
    );
    assert!(s.store.mark_sent(claimed[0].claim, at(3)).await.unwrap());
    assert!(
        s.store
            .claim_due(at(3) + Duration::days(1), 10, lease)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.faults.attempts(unknown).await, 0);
    assert_eq!(
        s.store.pending_for(&account.username).await.unwrap().count,
        1,
        "still queued for a newer build"
    );
}

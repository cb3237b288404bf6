//! Interleavings forced with PostgreSQL's own row locks: a raw transaction
//! plays one side (a Forgot password? or a resend in flight, holding the
//! account) and stops at the exact point, while the store runs the other.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use portal_adapters_postgres::PgStore;
use portal_domain::hashing::{Argon2Hasher, Argon2Settings};
use portal_domain::lockout::ReservedAttempt;
use portal_domain::prelude::*;
use portal_domain::testing::{ManualClock, SequentialTokens, sample};
use sqlx::PgPool;
use time::Duration;

type PgPortal = Portal<PgStore, PgStore, Argon2Hasher, ManualClock, SequentialTokens>;

const CTX: RequestContext = RequestContext { client_addr: None };

async fn portal(pool: &PgPool) -> (Arc<PgPortal>, Arc<ManualClock>) {
    let store = PgStore::from_pool(pool.clone());
    store
        .import(
            &mut portal_domain::ports::EntryBatches::new(sample::entries()),
            portal_domain::ports::ImportMode::Upsert,
            false,
            time::macros::datetime!(2026-01-01 00:00 UTC),
        )
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::fixed());
    let store = Arc::new(store);
    let portal = Portal::new(
        store.clone(),
        store,
        Arc::new(Argon2Hasher::new(Argon2Settings::minimal(), None).unwrap()),
        clock.clone(),
        Arc::new(SequentialTokens::new()),
        PortalSettings::default(),
    );
    (Arc::new(portal), clock)
}

/// Registers Jane Doe as `dr.doe`, pending activation; returns the account id.
async fn register(portal: &PgPortal) -> i64 {
    let started = portal
        .start_registration(sample::practitioner_request(), CTX)
        .await
        .unwrap();
    portal
        .accept_agreement(
            started.id.as_str(),
            Ok(AgreementInput {
                accepted: true,
                version: started.agreement_version.clone(),
            }),
            CTX,
        )
        .await
        .unwrap();
    portal
        .create_account(started.id.as_str(), Ok(sample::account_input()), CTX)
        .await
        .unwrap()
        .id
        .get()
}

/// The raw token of the newest queued email that carries one.
async fn newest_link(pool: &PgPool) -> String {
    sqlx::query_scalar(
        "SELECT token FROM email_outbox WHERE token IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits until some statement of this database is waiting for a row lock.
async fn someone_waits_for_a_lock(pool: &PgPool) {
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    panic!("nothing waited for a lock");
}

/// A reset confirmed while another Forgot password? for the account is in
/// flight: the request holds the account and then supersedes the reset
/// tokens. With the account locked first everywhere, the confirmation waits
/// for it and then finds its link superseded; nobody deadlocks, nothing
/// answers 500.
#[sqlx::test(migrator = "portal_adapters_postgres::MIGRATOR")]
async fn a_reset_confirmed_during_another_reset_request_does_not_deadlock(pool: PgPool) {
    let (portal, _) = portal(&pool).await;
    let id = register(&portal).await;
    let activation = newest_link(&pool).await;
    portal.activate(&activation, CTX).await.unwrap();
    portal.request_password_reset("dr.doe", CTX).await.unwrap();
    let link = newest_link(&pool).await;

    // The other request, as issue_token runs it: the account first…
    let mut request = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_one(&mut *request)
        .await
        .unwrap();
    let confirm = tokio::spawn({
        let portal = portal.clone();
        async move {
            let new = Password::parse("Saffron-Glacier-88-Tulip").unwrap();
            portal.confirm_password_reset(&link, &new, CTX).await
        }
    });
    someone_waits_for_a_lock(&pool).await;
    // …then the live tokens. Had the confirmation locked its token before
    // the account, this would wait for it while it waits for the account.
    let superseded = tokio::time::timeout(
        StdDuration::from_secs(5),
        sqlx::query(
            "UPDATE link_tokens SET superseded_at = now() WHERE account_id = $1 \
             AND purpose = 'password_reset' AND superseded_at IS NULL AND used_at IS NULL",
        )
        .bind(id)
        .execute(&mut *request),
    )
    .await
    .expect("the request was blocked by the confirmation")
    .expect("the request was aborted");
    assert_eq!(superseded.rows_affected(), 1);
    request.commit().await.unwrap();

    let answer = tokio::time::timeout(StdDuration::from_secs(5), confirm)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, Err(ResetConfirmError::InvalidToken));
}

/// The purge reaches a pending account while a resend holds it and has
/// stored a fresh link: the purge waits, then sees the link and keeps the
/// account (its username is not freed, the link is not dead).
#[sqlx::test(migrator = "portal_adapters_postgres::MIGRATOR")]
async fn the_purge_keeps_an_account_a_resend_in_flight_just_sent_a_link(pool: PgPool) {
    let (portal, clock) = portal(&pool).await;
    let id = register(&portal).await;
    // Its link expired long ago: the account is stale.
    clock.advance(Duration::days(9));
    let now = clock.now();
    let cutoff = now - Duration::days(7);

    let mut resend = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_one(&mut *resend)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO link_tokens (token_hash, account_id, purpose, issued_at, expires_at, counts_toward_cap) \
         VALUES ($1, $2, 'activation', $3, $4, true)",
    )
    .bind(vec![7_u8; 32])
    .bind(id)
    .bind(now)
    .bind(now + Duration::hours(24))
    .execute(&mut *resend)
    .await
    .unwrap();
    let purge = tokio::spawn({
        let store = PgStore::from_pool(pool.clone());
        async move { store.purge_stale_pending(cutoff).await }
    });
    someone_waits_for_a_lock(&pool).await;
    resend.commit().await.unwrap();

    let purged = tokio::time::timeout(StdDuration::from_secs(5), purge)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(purged, Vec::<String>::new());
    let store = PgStore::from_pool(pool.clone());
    assert!(
        store
            .account_by_id(portal_domain::account::AccountId::new(id))
            .await
            .unwrap()
            .is_some()
    );
}

/// Two instances (two pools) on one database take places in one account's
/// lockout count at once: exactly `max_failed` are granted, and the
/// refused ones change nothing.
#[sqlx::test(migrator = "portal_adapters_postgres::MIGRATOR")]
async fn two_instances_share_one_exact_lockout_count(pool: PgPool) {
    let (portal, clock) = portal(&pool).await;
    let id = portal_domain::account::AccountId::new(register(&portal).await);
    // Each instance has its own pool of connections to the one database.
    let connect = || async {
        let options = (*pool.connect_options()).clone();
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .unwrap();
        PgStore::from_pool(own)
    };
    let (first, second) = (connect().await, connect().await);
    let policy = portal_domain::lockout::LockoutPolicy::default();
    let now = clock.now();
    let attempts = (0..20).map(|n| {
        let store = if n % 2 == 0 { &first } else { &second };
        // Every attempt read the account before any took a place.
        store.reserve_login_attempt(
            id,
            portal_domain::lockout::LockState::default(),
            now,
            policy,
        )
    });
    let answers: Vec<ReservedAttempt> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let granted = answers
        .iter()
        .filter(|a| matches!(a, ReservedAttempt::Granted { .. }))
        .count();
    assert_eq!(granted, 5, "{answers:?}");
    // The refused fifteen changed nothing: the count is the five places.
    let count: i32 = sqlx::query_scalar("SELECT failed_logins FROM accounts WHERE id = $1")
        .bind(id.get())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 5);
}

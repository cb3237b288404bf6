//! Concurrency: racing wrong logins count exactly and lock once; racing
//! registrations of one provider create one account.

use crate::helpers::{Db, PASSWORD, both, spawn_app};

both!(parallel_wrong_logins_lock_exactly);
async fn parallel_wrong_logins_lock_exactly(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let attempts = (0..50).map(|_| app.login("dr.doe", "Wrong-Password-123!"));
    let answers = futures::future::join_all(attempts).await;
    let mut unauthorized = 0;
    for answer in &answers {
        match answer.status {
            401 => {
                answer.problem(401, "invalid_credentials");
                unauthorized += 1;
            }
            423 => {
                answer.problem(423, "account_locked");
            }
            other => panic!("{other}: {}", answer.text),
        }
    }
    // Each attempt takes its place before its password is verified: at
    // most five are verified, and those verified after the lock was set
    // answer locked too (SPEC §4).
    assert!(
        unauthorized <= 4,
        "at most four answered before the lock: {unauthorized}"
    );
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
    assert_eq!(
        lockouts_audited(&app).await,
        1,
        "the lockout is audited once"
    );
}

// The attack from the field: ten wrong passwords at once and the right one
// right after, with one hashing thread so that they all wait in its queue.
// The right password must not log in, nor lift the lock the others set.
// "Right after" is once the wrong ones hold every place in the count (read
// from the store: a fixed 20 ms sleep let a busy machine send the right one
// first, when it may rightly log in). The timed field attack itself is
// `cargo xtask attack racing`; the interleavings are forced in the domain's
// `flows/races.rs` and the contract suite.
both!(a_right_password_racing_wrong_ones_cannot_lift_the_lock);
async fn a_right_password_racing_wrong_ones_cannot_lift_the_lock(db: Db) {
    let app = spawn_app(db, &[("PORTAL_HASH_WORKERS", "1")]).await;
    app.register_active(false, "dr.doe").await;
    let wrong =
        futures::future::join_all((0..10).map(|_| app.login("dr.doe", "Wrong-Password-123!")));
    let right = async {
        let username = portal_domain::values::Username::parse("dr.doe").unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let account = app
                .state
                .storage
                .account_by_username(&username)
                .await
                .unwrap()
                .unwrap();
            if account.lock.failed_count >= 5 || account.lock.locked_until.is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the wrong passwords never took every place"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        app.login("dr.doe", PASSWORD).await
    };
    let (wrong, right) = tokio::join!(wrong, right);
    right.problem(423, "account_locked");
    let unauthorized = wrong.iter().filter(|a| a.status == 401).count();
    assert!(unauthorized <= 4, "{unauthorized} answered 401");
    assert!(wrong.iter().all(|a| a.status == 401 || a.status == 423));
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
    assert_eq!(lockouts_audited(&app).await, 1);
}

/// How many `account_locked` events the audit trail holds for dr.doe.
async fn lockouts_audited(app: &crate::helpers::TestApp) -> usize {
    let mut out = Vec::new();
    crate::cli::run(app, "audit list --username dr.doe", "", &mut out).await;
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|line| line.contains("\"event\":\"account_locked\""))
        .count()
}

both!(parallel_wrong_logins_lose_no_count);
async fn parallel_wrong_logins_lose_no_count(db: Db) {
    let app = spawn_app(db, &[("PORTAL_LOCKOUT_MAX_FAILED", "100")]).await;
    app.register_active(false, "dr.doe").await;
    let attempts = (0..50).map(|_| app.login("dr.doe", "Wrong-Password-123!"));
    for answer in futures::future::join_all(attempts).await {
        answer.problem(401, "invalid_credentials");
    }
    let mut out = Vec::new();
    crate::cli::run(&app, "account show --username dr.doe", "", &mut out).await;
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("(50 failed logins)"), "{out}");
    // 49 more fail, the 50th locks.
    for _ in 0..49 {
        app.login("dr.doe", "Wrong-Password-123!")
            .await
            .problem(401, "invalid_credentials");
    }
    app.login("dr.doe", "Wrong-Password-123!")
        .await
        .problem(423, "account_locked");
}

both!(parallel_registrations_claim_once);
async fn parallel_registrations_claim_once(db: Db) {
    let app = spawn_app(db, &[]).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        let started = app.start_practitioner().await;
        ids.push(app.accept(&started).await);
    }
    let attempts = ids.iter().enumerate().map(|(i, id)| {
        let app = &app;
        async move { app.create_account(id, &format!("doe.{i}")).await }
    });
    let answers = futures::future::join_all(attempts).await;
    // Each one either replaced the pending account of one that committed
    // before it (SPEC §3 step 1) or was told that one committed meanwhile.
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert!(created >= 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != 201) {
        answer.problem(409, "already_registered");
    }
    // One account is left: every other created one was replaced.
    let mut out = Vec::new();
    crate::cli::run(&app, "audit list", "", &mut out).await;
    let replaced = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|line| line.contains("\"event\":\"pending_account_replaced\""))
        .count();
    assert_eq!(replaced, created - 1);
    let mut held = 0;
    for i in 0..20 {
        let mut out = Vec::new();
        let args = format!("account show --username doe.{i}");
        crate::cli::run(&app, &args, "", &mut out).await;
        held += usize::from(
            String::from_utf8(out)
                .unwrap()
                .contains("pending_activation"),
        );
    }
    assert_eq!(held, 1, "one account per provider");
}

// Cheap refusal: a login the hash pool cannot take is refused before it
// reads anything. With the pool's room all taken and the accounts table
// locked by another transaction (PostgreSQL), the refusal still comes after
// the pool's wait (1 s here): it never waited for the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_the_pool_cannot_take_is_refused_before_any_database_work() {
    use sqlx::Connection;
    let app = spawn_app(
        crate::helpers::Db::Postgres,
        &[
            ("PORTAL_HASH_WORKERS", "1"),
            ("PORTAL_HASH_QUEUE", "0"),
            ("PORTAL_HASH_WAIT", "1s"),
        ],
    )
    .await;
    app.register_active(false, "dr.doe").await;
    let held = app.state.hash_pool.admit().await.unwrap();
    let mut lock = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    #[allow(
        clippy::disallowed_methods,
        reason = "the answer's wall time is what the test measures"
    )]
    let started = std::time::Instant::now();
    let refused = app.login("dr.doe", PASSWORD).await;
    let took = started.elapsed();
    refused.problem(503, "overloaded");
    assert!(
        took >= std::time::Duration::from_secs(1) && took < std::time::Duration::from_secs(3),
        "refused after {took:?}: not after the pool's wait, or it waited for the locked table"
    );
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    drop(held);
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
}

//! Forgot password? and resend answer before any work that depends on
//! whether the account exists (SPEC §6, §8): the account's row is held
//! locked by another transaction, and the answer still comes at once; the
//! email follows once the lock is released.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;

use crate::helpers::{ACTIVATION, Db, RESET, TestApp, both, spawn_app};

/// Holds dr.doe's account row (PostgreSQL) or the whole database's write
/// lock (SQLite) until dropped, as a slow transaction would.
enum Held {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

async fn hold_the_account(app: &TestApp) -> Held {
    if app.database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("SELECT id FROM accounts WHERE lower(username) = 'dr.doe' FOR UPDATE")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        Held::Postgres(conn)
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        Held::Sqlite(conn)
    }
}

async fn release(held: Held) {
    match held {
        Held::Postgres(mut conn) => {
            sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
        }
        Held::Sqlite(mut conn) => {
            sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
        }
    }
}

/// POSTs `body` to `path` and returns its status and how long it took.
#[allow(
    clippy::disallowed_methods,
    reason = "the answer's wall time is what the test measures"
)]
async fn timed_post(app: &TestApp, path: &str, body: serde_json::Value) -> (u16, Duration) {
    let started = Instant::now();
    let answer = app.post(path, &body).await;
    (answer.status, started.elapsed())
}

both!(a_reset_request_answers_before_touching_the_account);
async fn a_reset_request_answers_before_touching_the_account(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let held = hold_the_account(&app).await;
    let (status, took) = timed_post(
        &app,
        "/api/v1/password-resets",
        json!({"username": "dr.doe"}),
    )
    .await;
    assert_eq!(status, 202);
    // Done inline, the request would wait for the lock (seconds).
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    assert_eq!(app.mail_count("dr.doe", RESET), 0, "nothing sent yet");
    release(held).await;
    // The work went on in the background: the link arrives.
    app.token_in("dr.doe", RESET, 1).await;
}

both!(a_resend_answers_before_touching_the_account);
async fn a_resend_answers_before_touching_the_account(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    app.token_in("dr.doe", ACTIVATION, 1).await;
    let held = hold_the_account(&app).await;
    let (status, took) = timed_post(
        &app,
        "/api/v1/activations/resend",
        json!({"username": "dr.doe"}),
    )
    .await;
    assert_eq!(status, 202);
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    release(held).await;
    app.token_in("dr.doe", ACTIVATION, 2).await;
}

/// A wrong password waits for the failure pace, for a known and an unknown
/// username alike; a right password does not (`failure_pace.rs`). The
/// recent failures are made to have taken the longest floor, so that the
/// wait is unmistakable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_answers_at_the_failure_pace_and_a_right_one_does_not() {
    use portal_http::failure_pace::{MAX_FLOOR, WINDOW};
    let app = spawn_app(Db::Sqlite, &[]).await;
    app.register_active(false, "dr.doe").await;
    for _ in 0..WINDOW {
        app.state.failure_pace.floor_after(MAX_FLOOR);
    }
    let login = |username: &'static str, password: &'static str| {
        timed_post(
            &app,
            "/api/v1/sessions",
            json!({"username": username, "password": password}),
        )
    };
    for username in ["dr.doe", "nobody.here"] {
        let (status, took) = login(username, "Wrong-Harbor-71-Lantern").await;
        assert_eq!(status, 401);
        assert!(took >= MAX_FLOOR, "{username}: answered after {took:?}");
    }
    let (status, took) = login("dr.doe", crate::helpers::PASSWORD).await;
    assert_eq!(status, 201);
    assert!(took < MAX_FLOOR, "a right password waited {took:?}");
}

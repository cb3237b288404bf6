//! Content negotiation on errors: a browser (`Accept: text/html…`) gets
//! every error it can reach (404, 405, 413, 429, 500, 503) as a page in the
//! portal's layout with a way back; an API client keeps
//! `application/problem+json`.

use axum::routing::get;
use portal_http::problem::ApiError;
use portal_http::state::Database;
use reqwest::header::ACCEPT;
use serde_json::json;

use crate::helpers::{Answer, Db, PASSWORD, TestApp, serve_with_layers, spawn_app};

/// What Chromium sends when it navigates to a page.
const BROWSER: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

/// Asserts a portal page for `status` with `heading`, the request id to
/// quote, and a link back, keeping the problem's `Retry-After`.
#[track_caller]
fn assert_page(answer: &Answer, status: u16, heading: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("text/html; charset=utf-8"),
        "{}",
        answer.text
    );
    assert_eq!(answer.header("vary").as_deref(), Some("accept"));
    let text = &answer.text;
    assert!(text.starts_with("<!DOCTYPE html>"), "{text}");
    assert!(
        text.contains(r#"<link rel="stylesheet" href="/static/portal.css">"#),
        "{text}"
    );
    assert!(text.contains(&format!("<h1>{heading}</h1>")), "{text}");
    assert!(text.contains(r#"role="alert""#), "{text}");
    assert!(
        text.contains(r#"<a class="button" href="/">"#),
        "a way back: {text}"
    );
    let id = answer.header("x-request-id").unwrap();
    assert!(text.contains(&id), "the reference to quote: {text}");
    assert!(!text.contains(r#""code":"#), "no JSON in the page: {text}");
}

async fn send(app: &TestApp, request: reqwest::RequestBuilder, accept: &str) -> Answer {
    app.send(request.header(ACCEPT, accept)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_pages_and_api_clients_problems() {
    let app = spawn_app(Db::Sqlite, &[]).await;

    // 404: an unknown page.
    let page = send(&app, app.client.get(app.url("/nope")), BROWSER).await;
    assert_page(&page, 404, "Page not found");
    for api in ["*/*", "application/json", "application/problem+json"] {
        send(&app, app.client.get(app.url("/nope")), api)
            .await
            .problem(404, "not_found");
    }
    app.get("/nope").await.problem(404, "not_found");

    // 405: a method a route does not have.
    let page = send(&app, app.client.delete(app.url("/login")), BROWSER).await;
    assert_page(&page, 405, "This action is not available here");
    send(&app, app.client.delete(app.url("/login")), "*/*")
        .await
        .problem(405, "method_not_allowed");

    // 413: a body past the limit.
    let big = || {
        app.client
            .post(app.url("/api/v1/password-resets/confirm"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"token":"{}"}}"#, "a".repeat(20 * 1024)))
    };
    let page = send(&app, big(), BROWSER).await;
    assert_page(&page, 413, "Too much data");
    send(&app, big(), "application/json")
        .await
        .problem(413, "body_too_large");

    // 503: the database is gone.
    let Database::Sqlite(store) = &app.state.database else {
        unreachable!("a SQLite app")
    };
    store.pool().close().await;
    let page = send(&app, login_to(&app), BROWSER).await;
    assert_page(&page, 503, "The portal is busy");
    assert_eq!(page.header("retry-after").as_deref(), Some("2"));
    send(&app, login_to(&app), "application/json")
        .await
        .problem(503, "overloaded");
    app.stop().await;

    // 429: the per-address limit (one account-changing request a minute).
    let app = spawn_app(Db::Sqlite, &[("PORTAL_RATE_LIMIT_PER_MINUTE", "1")]).await;
    assert_eq!(send(&app, login_to(&app), "*/*").await.status, 401);
    let page = send(&app, login_to(&app), BROWSER).await;
    assert_page(&page, 429, "Too many requests");
    assert!(page.header("retry-after").is_some());
    let problem = send(&app, login_to(&app), "*/*").await;
    problem.problem(429, "rate_limited");
    assert!(problem.header("retry-after").is_some());
    app.stop().await;
}

fn login_to(app: &TestApp) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({"username": "nobody.here", "password": PASSWORD}))
}

/// A 500 cannot be provoked through the real routes, so a route that fails
/// runs behind the same layers (`app::with_layers`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_is_a_page_too() {
    let app = spawn_app(Db::Sqlite, &[]).await;
    let routes = axum::Router::new().route(
        "/fails",
        get(|| async { ApiError::Internal("a test failure".to_owned()) }),
    );
    let (base, server) = serve_with_layers(routes, app.state.clone()).await;
    let url = format!("{base}/fails");

    let client = reqwest::Client::new();
    let html = client
        .get(&url)
        .header(ACCEPT, BROWSER)
        .send()
        .await
        .unwrap();
    let page = Answer::of(html).await;
    assert_page(&page, 500, "Something went wrong");
    assert!(
        !page.text.contains("a test failure"),
        "the cause stays in the log"
    );

    let json = client.get(&url).header(ACCEPT, "*/*").send().await.unwrap();
    let problem = Answer::of(json).await;
    assert_eq!(problem.status, 500);
    assert_eq!(
        problem.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(problem.json()["code"], "internal");
    server.abort();
    app.stop().await;
}

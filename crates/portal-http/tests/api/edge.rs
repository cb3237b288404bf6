//! The edge every answer passes (`middleware`, `app::with_layers`): the
//! service's own request id whatever the client sent, and the id, the
//! security headers, `Cache-Control` and the metric on every kind of
//! answer, the ones no handler makes included (an unknown method's `405`,
//! a panic's `500`).

use axum::routing::get;
use portal_http::middleware::CONTENT_SECURITY_POLICY;
use reqwest::Method;

use crate::helpers::{Answer, Db, serve_with_layers, spawn_app};

/// What a client might send as its own request id.
const CLIENT_ID: &str = "0123456789abcdef01234567";

/// Asserts the headers every answer of the service carries, and returns
/// its request id.
#[track_caller]
fn assert_edge(answer: &Answer) -> String {
    let ids: Vec<_> = answer.headers.get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1, "{:?}", answer.headers);
    let id = answer.header("x-request-id").unwrap();
    assert_eq!(id.len(), 24, "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    assert_ne!(id, CLIENT_ID, "the client's id was echoed");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("cross-origin-opener-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            answer.header(name).as_deref(),
            Some(value),
            "{name}: {:?}",
            answer.headers
        );
    }
    assert!(answer.header("strict-transport-security").is_none());
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sent_request_id_is_never_echoed() {
    let app = spawn_app(Db::Sqlite, &[]).await;
    let with_id = |method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("x-request-id", CLIENT_ID)
    };

    let healthy = app.send(with_id(Method::GET, "/healthz")).await;
    assert_eq!(healthy.status, 200);
    assert_edge(&healthy);
    // `problem` checks the body's `request_id` is the header's.
    let missing = app.send(with_id(Method::GET, "/api/v1/nothing")).await;
    let body = missing.problem(404, "not_found");
    assert_ne!(body["request_id"], CLIENT_ID);
    assert_edge(&missing);
    let junk = Method::from_bytes(b"BREW").unwrap();
    let refused = app.send(with_id(junk, "/healthz")).await;
    refused.problem(405, "method_not_allowed");
    assert_edge(&refused);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_no_handler_makes_get_the_id_headers_and_metric() {
    let app = spawn_app(Db::Sqlite, &[]).await;
    let junk = Method::from_bytes(b"BREW").unwrap();
    for path in ["/api/v1/sessions", "/no/such/path"] {
        let answer = app
            .send(app.client.request(junk.clone(), app.url(path)))
            .await;
        answer.problem(405, "method_not_allowed");
        assert_edge(&answer);
    }
    let answer = app.send(app.client.delete(app.url("/login"))).await;
    answer.problem(405, "method_not_allowed");
    assert_edge(&answer);
    let answer = app.get("/no/such/path").await;
    answer.problem(404, "not_found");
    assert_edge(&answer);
    let answer = app
        .send(
            app.client
                .post(app.url("/api/v1/password-resets/confirm"))
                .header("content-type", "application/json")
                .body(format!(r#"{{"token":"{}"}}"#, "a".repeat(20 * 1024))),
        )
        .await;
    answer.problem(413, "body_too_large");
    assert_edge(&answer);

    // A panic cannot be provoked through the real routes: a route that
    // panics runs behind the same layers.
    let panics = axum::Router::new().route("/test/panics", get(panics));
    let (base, server) = serve_with_layers(panics, app.state.clone()).await;
    let panicked = reqwest::get(format!("{base}/test/panics")).await.unwrap();
    let answer = Answer::of(panicked).await;
    let body = answer.problem(500, "internal");
    assert!(!answer.text.contains("a test panic"), "{}", answer.text);
    assert_eq!(body["request_id"], assert_edge(&answer));
    server.abort();

    let metrics = app.state.metrics.render();
    for series in [
        r#"method="other",route="unmatched",status="405""#,
        r#"method="GET",route="unmatched",status="404""#,
        r#"method="GET",route="/test/panics",status="500""#,
    ] {
        assert!(metrics.contains(series), "{series}:\n{metrics}");
    }
    assert!(!metrics.contains("BREW"), "a method became a label");
    app.stop().await;
}

/// A handler that panics.
pub async fn panics() -> &'static str {
    panic!("a test panic")
}

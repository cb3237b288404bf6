//! The OpenAPI document and the operational endpoints: `/healthz`,
//! `/readyz`, `/metrics` and the headers every answer carries.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Db, NEW_PASSWORD, PASSWORD, both, group, spawn_app};

both!(openapi_documents_every_route);
async fn openapi_documents_every_route(db: Db) {
    let app = spawn_app(db, &[]).await;
    let answer = app.get("/api/v1/openapi.json").await;
    assert_eq!(answer.status, 200);
    let doc = answer.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let routes = [
        ("get", "/api/v1/security-questions"),
        ("get", "/api/v1/password-policy"),
        ("get", "/api/v1/agreement"),
        ("post", "/api/v1/me/agreement"),
        ("post", "/api/v1/registrations"),
        ("post", "/api/v1/registrations/{id}/agreement"),
        ("post", "/api/v1/registrations/{id}/account"),
        ("post", "/api/v1/activations"),
        ("post", "/api/v1/activations/resend"),
        ("post", "/api/v1/sessions"),
        ("delete", "/api/v1/sessions/current"),
        ("get", "/api/v1/me"),
        ("post", "/api/v1/me/password"),
        ("post", "/api/v1/me/email"),
        ("post", "/api/v1/me/email/confirm"),
        ("post", "/api/v1/me/security-question"),
        ("post", "/api/v1/password-resets"),
        ("post", "/api/v1/password-resets/confirm"),
        ("get", "/api/v1/openapi.json"),
    ];
    let missing: Vec<_> = routes
        .iter()
        .filter(|(method, path)| doc["paths"][path][method].is_null())
        .collect();
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}

// Found by `cargo xtask schemathesis`: every JSON route answered 400, 413
// and 415 from the body extractor and 422 for a missing member, any route
// may answer 429 or 503, yet the document listed few of them; and it marked
// every member optional and nullable, though the API requires them.
both!(openapi_documents_the_answers_every_route_may_give);
async fn openapi_documents_the_answers_every_route_may_give(db: Db) {
    let app = spawn_app(db, &[]).await;
    let doc = app.get("/api/v1/openapi.json").await.json();
    let mut with_body = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            let mut expected = vec!["429", "503"];
            if !operation["requestBody"].is_null() {
                with_body += 1;
                expected.extend(["400", "413", "415", "422"]);
            }
            for status in expected {
                assert!(
                    responses[status].is_object(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
    assert!(with_body >= 10, "{with_body} operations with a body");
    let login = &doc["paths"]["/api/v1/sessions"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let login = match login["$ref"].as_str() {
        Some(reference) => &doc["components"]["schemas"][reference.rsplit('/').next().unwrap()],
        None => login,
    };
    assert_eq!(
        login["required"],
        json!(["username", "password"]),
        "{login}"
    );
    assert_eq!(login["properties"]["username"]["type"], "string", "{login}");
    // What the document now promises is what the service answers.
    app.post_raw("/api/v1/sessions", "text/plain", b"{}".to_vec())
        .await
        .problem(415, "unsupported_media_type");
    app.post_raw("/api/v1/sessions", "application/json", b"\x00".to_vec())
        .await
        .problem(400, "malformed_request");
}

// While PostgreSQL cannot be reached, `/readyz` answers 503 within its
// bound instead of waiting out the pool's acquire timeout (and then, after a
// short outage, answering 200 as if nothing happened). Found by
// `cargo xtask chaos pg-restart` (docs/chaos.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_promptly_while_the_database_is_unreachable() {
    use portal_adapters_postgres::PgStore;
    use portal_http::app::READY_WITHIN;
    use portal_http::config::Config;
    use portal_http::state::{AppState, Database};

    let port = portal_adapters_smtp::testing::closed_port();
    // A pool as the service makes one, but waiting longer for a connection
    // than the probe may.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{port}/gone"))
        .unwrap();
    let env = [("PORTAL_LOG_FORMAT", "json")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let config = Config::load(&env, |path| std::fs::read_to_string(path)).unwrap();
    let state = AppState::new(config, Database::Postgres(PgStore::from_pool(pool))).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(portal_http::serve::serve(
        state,
        listener,
        std::future::pending(),
        Vec::new(),
    ));
    let started = tokio::time::Instant::now();
    let answer = reqwest::get(format!("{base}/readyz")).await.unwrap();
    let took = started.elapsed();
    assert_eq!(answer.status().as_u16(), 503);
    assert!(
        took < READY_WITHIN + Duration::from_secs(1),
        "/readyz took {took:?}"
    );
    server.abort();
}

both!(operational_endpoints_and_headers);
async fn operational_endpoints_and_headers(db: Db) {
    let app = spawn_app(db, &[]).await;
    for path in ["/healthz", "/readyz"] {
        let answer = app.get(path).await;
        assert_eq!(answer.status, 200, "{path}");
    }
    for path in [
        "/api/v1/security-questions",
        "/api/v1/password-policy",
        "/api/v1/agreement",
        "/api/v1/openapi.json",
    ] {
        let answer = app.get(path).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_ne!(
            answer.header("cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
        assert!(answer.header("x-request-id").is_some());
    }
    let questions = app.get("/api/v1/security-questions").await.json();
    assert!(questions.as_array().unwrap().len() >= 3);
    assert!(questions[0]["id"].is_number() && questions[0]["text"].is_string());
    let policy = app.get("/api/v1/password-policy").await.json();
    assert_eq!(policy["min_length"], 12);
    assert_eq!(policy["max_length"], 128);

    for answer in [
        app.login("nobody.here", PASSWORD).await,
        app.get("/api/v1/me").await,
        app.post("/api/v1/password-resets", &json!({"username": "x"}))
            .await,
        app.get("/api/v1/nothing").await,
    ] {
        assert_eq!(
            answer.header("cache-control").as_deref(),
            Some("no-store"),
            "{answer:?}"
        );
    }
    let a = app.get("/healthz").await.header("x-request-id").unwrap();
    let b = app.get("/healthz").await.header("x-request-id").unwrap();
    assert_ne!(a, b);

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text.contains("portal_http_requests"),
        "{}",
        metrics.text
    );
    let _ = (group(), NEW_PASSWORD);
}

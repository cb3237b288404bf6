//! The problem bodies of SPEC §8, bad input and the rate limits.

use std::collections::BTreeSet;
use std::time::Duration;

use portal_domain::ports::{Clock, ImportMode};
use portal_domain::system::SystemClock;
use serde_json::json;

use crate::helpers::{
    ACTIVATION, Auth, Db, NEW_PASSWORD, PASSWORD, account, both, group, login_failures,
    practitioner, spawn_app, start, unparsable_passwords,
};

// Every code of SPEC §8 but `internal`, each with its exact status and
// body.
both!(every_error_code);
async fn every_error_code(db: Db) {
    let app = spawn_app(db, &[("PORTAL_PROOFING_MAX_FAILED", "2")]).await;
    let mut seen = BTreeSet::new();
    let mut saw = |code: &str| seen.insert(code.to_owned());

    // The generic ones.
    app.post_raw(
        "/api/v1/sessions",
        "application/json",
        b"{not json".to_vec(),
    )
    .await
    .problem(400, "malformed_request");
    saw("malformed_request");
    app.post_raw("/api/v1/sessions", "text/plain", b"{}".to_vec())
        .await
        .problem(415, "unsupported_media_type");
    saw("unsupported_media_type");
    let big = format!("{{\"username\": \"{}\"}}", "a".repeat(64 * 1024));
    app.post_raw("/api/v1/sessions", "application/json", big.into_bytes())
        .await
        .problem(413, "body_too_large");
    saw("body_too_large");
    let body = app
        .post(
            "/api/v1/registrations",
            &json!({"provider_type": "dentist"}),
        )
        .await
        .problem(422, "invalid_input");
    let fields: BTreeSet<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["message"].is_string(), "{e}");
            e["field"].as_str().unwrap()
        })
        .collect();
    for field in ["provider_type", "provider_id", "tax_id", "zip"] {
        assert!(fields.contains(field), "{body}");
    }
    saw("invalid_input");
    app.get("/api/v1/me").await.problem(401, "unauthenticated");
    app.get_as("/api/v1/me", Auth::Bearer("not-a-token"))
        .await
        .problem(401, "unauthenticated");
    saw("unauthenticated");
    app.get("/api/v1/nothing-here")
        .await
        .problem(404, "not_found");
    app.post(
        "/api/v1/registrations/unknown-id/agreement",
        &json!({"accepted": true, "agreement_version": "1"}),
    )
    .await
    .problem(404, "not_found");
    saw("not_found");
    app.send(app.client.put(app.url("/api/v1/me")))
        .await
        .problem(405, "method_not_allowed");

    // Registration.
    let body = app
        .post(
            "/api/v1/registrations",
            &json!({"provider_type": "practitioner", "provider_id": "P4040", "tax_id": "12-3456789",
                    "first_name": "Jane", "last_name": "Doe", "zip": "45202"}),
        )
        .await
        .problem(404, "provider_not_found");
    assert_eq!(
        body["help_lines"],
        json!([{"label": "Medicaid", "phone": "1-855-202-1058"},
               {"label": "Marketplace", "phone": "1-833-230-2030"}])
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("1-855-202-1058") && detail.contains("1-833-230-2030"));
    saw("provider_not_found");
    let mut wrong_zip = practitioner();
    wrong_zip["zip"] = json!("99999");
    let body = app
        .post("/api/v1/registrations", &wrong_zip)
        .await
        .problem(422, "provider_mismatch");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Explanation of Benefit (EOB) or welcome letter")
    );
    saw("provider_mismatch");
    let mut named_practitioner = group();
    named_practitioner["provider_id"] = json!("P1001");
    app.post("/api/v1/registrations", &named_practitioner)
        .await
        .problem(422, "provider_mismatch");
    let body = app
        .post("/api/v1/registrations", &wrong_zip)
        .await
        .problem(429, "proofing_limited");
    let _ = body;
    saw("proofing_limited");
    let roe = json!({"provider_type": "practitioner", "provider_id": "P1002", "tax_id": "12-3456789",
                     "first_name": "John", "last_name": "Roe", "zip": "45202"});
    app.post("/api/v1/registrations", &roe)
        .await
        .problem(422, "wrong_provider_type");
    saw("wrong_provider_type");

    let started = app.start_group().await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json()["registration_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/v1/registrations/{id}/account"),
        &account("acme.admin", PASSWORD),
    )
    .await
    .problem(409, "invalid_transition");
    saw("invalid_transition");
    app.post(
        &format!("/api/v1/registrations/{id}/agreement"),
        &json!({"accepted": false, "agreement_version": "1"}),
    )
    .await
    .problem(422, "agreement_not_accepted");
    app.post(
        &format!("/api/v1/registrations/{id}/agreement"),
        &json!({"accepted": true, "agreement_version": "0"}),
    )
    .await
    .problem(422, "agreement_not_accepted");
    saw("agreement_not_accepted");
    let id = app.accept(&started).await;
    let body = app
        .post(
            &format!("/api/v1/registrations/{id}/account"),
            &json!({"username": "a", "email": "bad", "security_question_id": 99}),
        )
        .await
        .problem(422, "invalid_input");
    let fields: BTreeSet<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "username",
            "password",
            "email",
            "security_question_id",
            "security_answer"
        ]),
        "{body}"
    );
    let body = app
        .post(
            &format!("/api/v1/registrations/{id}/account"),
            &account("acme.admin", "Password1234!"),
        )
        .await
        .problem(422, "password_policy");
    assert!(
        body["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["code"] == "too_weak"),
        "{body}"
    );
    saw("password_policy");
    // Refusals changed nothing: the same flow finishes.
    let created = app.create_account(&id, "acme.admin").await;
    assert_eq!(created.status, 201, "{}", created.text);
    app.post(
        &format!("/api/v1/registrations/{id}/account"),
        &account("acme.other", PASSWORD),
    )
    .await
    .problem(409, "invalid_transition");
    // A pending account does not hold the provider (an activated one
    // does: below).
    assert_eq!(app.start_group().await.status, 201);

    // (P1001 is now proofing-limited: use P3001.)
    let started = app.post("/api/v1/registrations", &maria()).await;
    let mary_flow = app.accept(&started).await;
    app.create_account(&mary_flow, "ACME.ADMIN")
        .await
        .problem(409, "username_taken");
    saw("username_taken");

    app.post("/api/v1/activations", &json!({"token": "x".repeat(43)}))
        .await
        .problem(400, "invalid_token");
    app.post("/api/v1/activations", &json!({"token": "short"}))
        .await
        .problem(400, "invalid_token");
    app.post(
        "/api/v1/password-resets/confirm",
        &json!({"token": "x".repeat(43), "new_password": NEW_PASSWORD}),
    )
    .await
    .problem(400, "invalid_token");
    saw("invalid_token");

    app.login("acme.admin", PASSWORD)
        .await
        .problem(403, "account_not_activated");
    saw("account_not_activated");
    app.login("nobody.here", PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    saw("invalid_credentials");
    let token = app.token_in("acme.admin", ACTIVATION, 1).await;
    assert_eq!(
        app.post("/api/v1/activations", &json!({"token": token}))
            .await
            .status,
        200
    );
    let body = app.start_group().await.problem(409, "already_registered");
    assert_eq!(body["resend_available"], false, "{body}");
    saw("already_registered");
    let session = app.login("acme.admin", PASSWORD).await.token();
    app.post_as(
        "/api/v1/me/password",
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        Auth::Cookie(&session),
    )
    .await
    .problem(403, "csrf_rejected");
    saw("csrf_rejected");

    let mut out = Vec::new();
    crate::cli::run(&app, "account disable --username acme.admin", "", &mut out).await;
    app.login("acme.admin", PASSWORD)
        .await
        .problem(403, "account_disabled");
    saw("account_disabled");
    crate::cli::run(&app, "account enable --username acme.admin", "", &mut out).await;

    // The group leaves the roster.
    portal_domain::roster_csv::import(
        app.state.storage.as_ref(),
        "without-acme.csv",
        "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n\
          P3001,987654321,practitioner,María José,\"O'Brien, Jr.\",,10001;10002;10003,individual,\n"
            .as_bytes(),
        ImportMode::Replace,
        false,
        SystemClock.now(),
    )
    .await
    .unwrap();
    app.login("acme.admin", PASSWORD)
        .await
        .problem(403, "provider_inactive");
    saw("provider_inactive");

    for _ in 0..4 {
        app.login("acme.admin", "Wrong-Password-123!").await;
    }
    let body = app
        .login("acme.admin", "Wrong-Password-123!")
        .await
        .problem(423, "account_locked");
    assert!(body["locked_until"].as_str().unwrap().ends_with('Z'));
    saw("account_locked");

    // The rest need other settings, on the same database.
    let sink = std::sync::Arc::clone(&app.sink);
    let url = app.database_url.clone();
    let other = start(
        url.clone(),
        std::sync::Arc::clone(&sink),
        &[("PORTAL_REGISTRATION_TTL", "1s")],
    )
    .await;
    let started = other.post("/api/v1/registrations", &maria()).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json()["registration_id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    other
        .post(
            &format!("/api/v1/registrations/{id}/agreement"),
            &json!({"accepted": true, "agreement_version": "1"}),
        )
        .await
        .problem(410, "registration_expired");
    saw("registration_expired");

    let limited = start(
        url.clone(),
        std::sync::Arc::clone(&sink),
        &[("PORTAL_RATE_LIMIT_PER_MINUTE", "1")],
    )
    .await;
    limited.login("nobody.here", PASSWORD).await;
    let answer = limited.login("nobody.here", PASSWORD).await;
    answer.problem(429, "rate_limited");
    let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    saw("rate_limited");

    // A newer agreement restricts an existing session.
    let session = mary_session(&app, &mary_flow, "mary.major").await;
    let restart = app
        .restart(&[("PORTAL_AGREEMENT_FILE", &agreement_v2())])
        .await;
    restart
        .get_as("/api/v1/me", Auth::Bearer(&session))
        .await
        .problem(403, "agreement_required");
    saw("agreement_required");

    let busy = restart
        .restart(&[
            ("PORTAL_HASH_WORKERS", "1"),
            ("PORTAL_HASH_QUEUE", "0"),
            ("PORTAL_HASH_WAIT", "0s"),
            ("PORTAL_ARGON2_M_KIB", "65536"),
            ("PORTAL_ARGON2_T", "3"),
        ])
        .await;
    let attempts = (0..16).map(|i| {
        let busy = &busy;
        async move { busy.login(&format!("nobody{i}"), PASSWORD).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let overloaded: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(!overloaded.is_empty(), "no 503 among {answers:?}");
    for answer in &overloaded {
        answer.problem(503, "overloaded");
        let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=5).contains(&retry), "{retry}");
    }
    assert!(answers.iter().all(|a| a.status == 503 || a.status == 401));
    saw("overloaded");

    let expected = [
        "malformed_request",
        "unsupported_media_type",
        "body_too_large",
        "invalid_input",
        "unauthenticated",
        "not_found",
        "rate_limited",
        "overloaded",
        "provider_not_found",
        "provider_mismatch",
        "wrong_provider_type",
        "already_registered",
        "proofing_limited",
        "agreement_not_accepted",
        "agreement_required",
        "invalid_transition",
        "registration_expired",
        "password_policy",
        "username_taken",
        "invalid_token",
        "invalid_credentials",
        "account_not_activated",
        "provider_inactive",
        "account_disabled",
        "account_locked",
        "csrf_rejected",
    ];
    let missing: Vec<_> = expected.iter().filter(|c| !seen.contains(**c)).collect();
    assert!(missing.is_empty(), "not walked: {missing:?}");
}

/// María José O'Brien, Jr. (P3001), under another Tax ID.
fn maria() -> serde_json::Value {
    json!({"provider_type": "practitioner", "provider_id": "P3001", "tax_id": "987654321",
           "first_name": "María José", "last_name": "O'Brien, Jr.", "zip": "10002"})
}

/// Finishes `flow` (P3001's, at the account step) as `username`, activates
/// and logs in.
async fn mary_session(app: &crate::helpers::TestApp, flow: &str, username: &str) -> String {
    let created = app.create_account(flow, username).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let token = app.token_in(username, ACTIVATION, 1).await;
    let activated = app
        .post("/api/v1/activations", &json!({"token": token}))
        .await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    app.login(username, PASSWORD).await.token()
}

fn agreement_v2() -> String {
    let dir = std::env::temp_dir().join("portal-http-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("agreement-v2-codes-{}.txt", std::process::id()));
    std::fs::write(&path, "2\nThe second Provider Agreement.\n").unwrap();
    path.display().to_string()
}

both!(bad_input_is_a_4xx_problem);
async fn bad_input_is_a_4xx_problem(db: Db) {
    let app = spawn_app(db, &[]).await;
    let routes = [
        "/api/v1/registrations",
        "/api/v1/registrations/some-id/agreement",
        "/api/v1/registrations/some-id/account",
        "/api/v1/activations",
        "/api/v1/activations/resend",
        "/api/v1/sessions",
        "/api/v1/password-resets",
        "/api/v1/password-resets/confirm",
    ];
    let bodies: [(&str, &[u8], u16, &str); 8] = [
        (
            "application/json",
            b"{\"username\":",
            400,
            "malformed_request",
        ),
        ("application/json", b"[1, 2]", 400, "malformed_request"),
        ("application/json", b"\"text\"", 400, "malformed_request"),
        ("application/json", b"", 400, "malformed_request"),
        ("application/json", b"\xff\xfe{}", 400, "malformed_request"),
        (
            "application/json",
            b"{\"surprise\": 1}",
            400,
            "malformed_request",
        ),
        ("text/plain", b"{}", 415, "unsupported_media_type"),
        (
            "application/x-www-form-urlencoded",
            b"a=b",
            415,
            "unsupported_media_type",
        ),
    ];
    for route in routes {
        for (content_type, body, status, code) in bodies {
            app.post_raw(route, content_type, body.to_vec())
                .await
                .problem(status, code);
        }
        app.send(app.client.post(app.url(route)))
            .await
            .problem(415, "unsupported_media_type");
        let big = format!("{{\"token\": \"{}\"}}", "a".repeat(64 * 1024));
        app.post_raw(route, "application/json", big.into_bytes())
            .await
            .problem(413, "body_too_large");
        let answer = app
            .post_raw(route, "application/json; charset=utf-8", b"{}".to_vec())
            .await;
        assert!((400..500).contains(&answer.status), "{route}: {answer:?}");
        answer.problem(answer.status, answer.json()["code"].as_str().unwrap());
    }
    // Members of the wrong JSON type.
    for (route, body) in [
        ("/api/v1/sessions", json!({"username": 5, "password": "x"})),
        (
            "/api/v1/sessions",
            json!({"username": "a", "password": ["x"]}),
        ),
        ("/api/v1/registrations", json!({"provider_type": true})),
        (
            "/api/v1/registrations/some-id/agreement",
            json!({"accepted": "yes", "agreement_version": "1"}),
        ),
        ("/api/v1/activations", json!({"token": {"a": 1}})),
        ("/api/v1/password-resets", json!({"username": null, "x": 1})),
    ] {
        app.post(route, &body)
            .await
            .problem(400, "malformed_request");
    }
    // Missing members.
    let body = app
        .post("/api/v1/sessions", &json!({}))
        .await
        .problem(422, "invalid_input");
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    app.post("/api/v1/password-resets", &json!({}))
        .await
        .problem(422, "invalid_input");

    // CR/LF in an email.
    let started = app.start_practitioner().await;
    let id = app.accept(&started).await;
    for email in [
        "dr.doe@example.org\r\nBcc: everyone@example.org",
        "dr.doe@exam\nple.org",
        "dr.doe\r@example.org",
        &format!("{}@example.org", "a".repeat(250)),
    ] {
        let mut body = account("dr.doe", PASSWORD);
        body["email"] = json!(email);
        let problem = app
            .post(&format!("/api/v1/registrations/{id}/account"), &body)
            .await
            .problem(422, "invalid_input");
        assert_eq!(problem["errors"][0]["field"], "email", "{problem}");
    }
    // Huge and odd passwords are refused, never a 5xx.
    for password in ["x".repeat(200), "\u{0}abc".to_owned(), "é".repeat(129)] {
        let answer = app.login("dr.doe", &password).await;
        assert!((400..500).contains(&answer.status), "{answer:?}");
    }
    // A wrong Host changes nothing.
    let answer = app
        .send(
            app.client
                .post(app.url("/api/v1/password-resets"))
                .header("host", "evil.example")
                .header("x-forwarded-host", "evil.example")
                .json(&json!({"username": "dr.doe"})),
        )
        .await;
    assert_eq!(answer.status, 202);
}

both!(an_unparsable_password_at_login_is_a_wrong_password);
/// A password no account can have is answered, audited and counted as a
/// wrong one: the fifth locks the account.
async fn an_unparsable_password_at_login_is_a_wrong_password(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let [control, too_long, nul, newline] = unparsable_passwords();
    app.login("nobody.here", &control)
        .await
        .problem(401, "invalid_credentials");
    for password in [&control, &too_long, &nul, &newline] {
        app.login("dr.doe", password)
            .await
            .problem(401, "invalid_credentials");
    }
    app.login("dr.doe", &control)
        .await
        .problem(423, "account_locked");
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
    assert_eq!(
        login_failures(&app, "dr.doe").await,
        [
            "invalid_credentials",
            "invalid_credentials",
            "invalid_credentials",
            "invalid_credentials",
            "account_locked",
            "account_locked"
        ]
    );
    assert_eq!(
        login_failures(&app, "nobody.here").await,
        ["invalid_credentials"]
    );
}

both!(rate_limit_applies_per_address);
async fn rate_limit_applies_per_address(db: Db) {
    let app = spawn_app(db, &[("PORTAL_RATE_LIMIT_PER_MINUTE", "3")]).await;
    // Reads are not limited.
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/security-questions").await.status, 200);
    }
    for _ in 0..3 {
        app.login("nobody.here", PASSWORD)
            .await
            .problem(401, "invalid_credentials");
    }
    let answer = app.login("nobody.here", PASSWORD).await;
    answer.problem(429, "rate_limited");
    let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Every account-changing route shares the budget.
    app.post("/api/v1/password-resets", &json!({"username": "x"}))
        .await
        .problem(429, "rate_limited");
    app.post("/api/v1/registrations", &practitioner())
        .await
        .problem(429, "rate_limited");
}

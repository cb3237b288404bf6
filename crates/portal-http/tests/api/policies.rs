//! Settings that shape the flows: session expiry, email caps, HTTPS,
//! trusted proxies, proofing limits, and the rules around them.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    ACTIVATION, Auth, Db, NEW_PASSWORD, PASSWORD, RESET, account, both, email_of, practitioner,
    spawn_app,
};

both!(idle_sessions_expire);
async fn idle_sessions_expire(db: Db) {
    let app = spawn_app(db, &[("PORTAL_SESSION_IDLE", "2s")]).await;
    let token = app.session(false, "dr.doe").await;
    // Every authenticated request starts the idle time again.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            app.get_as("/api/v1/me", Auth::Bearer(&token)).await.status,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.get_as("/api/v1/me", Auth::Bearer(&token))
        .await
        .problem(401, "unauthenticated");
}

both!(absolute_session_lifetime);
async fn absolute_session_lifetime(db: Db) {
    let app = spawn_app(db, &[("PORTAL_SESSION_MAX", "2s")]).await;
    let token = app.session(false, "dr.doe").await;
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Bearer(&token)).await.status,
        200
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.get_as("/api/v1/me", Auth::Bearer(&token))
        .await
        .problem(401, "unauthenticated");
}

both!(emails_per_hour_are_capped);
async fn emails_per_hour_are_capped(db: Db) {
    let app = spawn_app(db, &[("PORTAL_EMAILS_PER_HOUR", "2")]).await;
    app.register(false, "dr.doe").await;
    app.mail("dr.doe", ACTIVATION, 1).await;
    for _ in 0..4 {
        let answer = app
            .post("/api/v1/activations/resend", &json!({"username": "dr.doe"}))
            .await;
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
    // The registration's email does not count: 1 + 2.
    app.mail("dr.doe", ACTIVATION, 3).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(app.mail_count("dr.doe", ACTIVATION), 3);
}

both!(no_reset_email_for_an_account_not_activated);
async fn no_reset_email_for_an_account_not_activated(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    app.mail("dr.doe", ACTIVATION, 1).await;
    let answer = app
        .post("/api/v1/password-resets", &json!({"username": "dr.doe"}))
        .await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.json(), json!({"status": "accepted"}));
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(app.mail_count("dr.doe", RESET), 0);
}

both!(https_public_url_makes_secure_cookies);
async fn https_public_url_makes_secure_cookies(db: Db) {
    let app = spawn_app(db, &[("PORTAL_PUBLIC_URL", "https://portal.example")]).await;
    app.register(false, "dr.doe").await;
    let mail = app.mail("dr.doe", ACTIVATION, 1).await;
    let token = mail.token().unwrap();
    assert!(
        mail.links()
            .contains(&format!("https://portal.example/activate?token={token}")),
        "{:?}",
        mail.links()
    );
    app.post("/api/v1/activations", &json!({"token": token}))
        .await;
    let login = app.login("dr.doe", PASSWORD).await;
    assert_eq!(login.status, 201, "{}", login.text);
    let cookie = login.header("set-cookie").unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(
        login
            .header("strict-transport-security")
            .is_some_and(|h| h.contains("max-age=")),
        "{:?}",
        login.headers
    );
    let session = login.token();
    // Cookie writes must come from the https origin.
    let out = app
        .delete_as(
            "/api/v1/sessions/current",
            Auth::CookieFrom(&session, "https://portal.example"),
        )
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
}

both!(trusted_proxies_name_the_client);
async fn trusted_proxies_name_the_client(db: Db) {
    let app = spawn_app(
        db,
        &[
            ("PORTAL_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("PORTAL_RATE_LIMIT_PER_MINUTE", "2"),
        ],
    )
    .await;
    let from = |addr: &'static str| {
        app.client
            .post(app.url("/api/v1/password-resets"))
            .header("x-forwarded-for", addr)
            .json(&json!({"username": "nobody.here"}))
    };
    for _ in 0..2 {
        assert_eq!(app.send(from("203.0.113.7")).await.status, 202);
    }
    app.send(from("203.0.113.7"))
        .await
        .problem(429, "rate_limited");
    // The rightmost address that is not a trusted proxy counts.
    app.send(from("203.0.113.7, 127.0.0.1"))
        .await
        .problem(429, "rate_limited");
    assert_eq!(
        app.send(from("203.0.113.7, 198.51.100.9")).await.status,
        202
    );
    // A forged header from the left is ignored.
    assert_eq!(
        app.send(from("203.0.113.7, 198.51.100.10")).await.status,
        202
    );
}

both!(untrusted_peers_cannot_choose_their_address);
async fn untrusted_peers_cannot_choose_their_address(db: Db) {
    let app = spawn_app(db, &[("PORTAL_RATE_LIMIT_PER_MINUTE", "2")]).await;
    for addr in ["203.0.113.1", "203.0.113.2"] {
        let answer = app
            .send(
                app.client
                    .post(app.url("/api/v1/password-resets"))
                    .header("x-forwarded-for", addr)
                    .json(&json!({"username": "nobody.here"})),
            )
            .await;
        assert_eq!(answer.status, 202);
    }
    app.send(
        app.client
            .post(app.url("/api/v1/password-resets"))
            .header("x-forwarded-for", "203.0.113.3")
            .json(&json!({"username": "nobody.here"})),
    )
    .await
    .problem(429, "rate_limited");
}

both!(proofing_limit_says_when_to_retry);
async fn proofing_limit_says_when_to_retry(db: Db) {
    let app = spawn_app(db, &[("PORTAL_PROOFING_MAX_FAILED", "3")]).await;
    let mut wrong = practitioner();
    wrong["last_name"] = json!("Dough");
    for _ in 0..3 {
        app.post("/api/v1/registrations", &wrong)
            .await
            .problem(422, "provider_mismatch");
    }
    for body in [&wrong, &practitioner()] {
        let answer = app.post("/api/v1/registrations", body).await;
        answer.problem(429, "proofing_limited");
        let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
    }
    // Other providers are not limited.
    let group = app.start_group().await;
    assert_eq!(group.status, 201, "{}", group.text);
}

both!(proofing_limit_can_be_turned_off);
async fn proofing_limit_can_be_turned_off(db: Db) {
    let app = spawn_app(db, &[("PORTAL_PROOFING_MAX_FAILED", "0")]).await;
    let mut wrong = practitioner();
    wrong["zip"] = json!("11111");
    for _ in 0..12 {
        app.post("/api/v1/registrations", &wrong)
            .await
            .problem(422, "provider_mismatch");
    }
    assert_eq!(app.start_practitioner().await.status, 201);
}

both!(registration_rules);
async fn registration_rules(db: Db) {
    let app = spawn_app(db, &[]).await;
    let started = app.start_practitioner().await;
    let id = app.accept(&started).await;
    // The agreement step again is out of order.
    app.post(
        &format!("/api/v1/registrations/{id}/agreement"),
        &json!({"accepted": true, "agreement_version": "1"}),
    )
    .await
    .problem(409, "invalid_transition");
    // The answer may not repeat the username, email or password.
    for answer in ["dr.doe", &email_of("dr.doe"), PASSWORD] {
        let mut body = account("dr.doe", PASSWORD);
        body["security_answer"] = json!(answer);
        let problem = app
            .post(&format!("/api/v1/registrations/{id}/account"), &body)
            .await
            .problem(422, "invalid_input");
        assert_eq!(
            problem["errors"][0]["field"], "security_answer",
            "{problem}"
        );
    }
    // The password may not contain the username.
    let body = app
        .post(
            &format!("/api/v1/registrations/{id}/account"),
            &account("harbor", PASSWORD),
        )
        .await
        .problem(422, "password_policy");
    assert!(
        body["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["code"] == "contains_username"),
        "{body}"
    );
    // Every unmet rule at once.
    let body = app
        .post(
            &format!("/api/v1/registrations/{id}/account"),
            &account("dr.doe", "abc"),
        )
        .await
        .problem(422, "password_policy");
    let codes: Vec<&str> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    for code in ["min_length", "uppercase", "digit", "symbol"] {
        assert!(codes.contains(&code), "{body}");
    }
    let created = app.create_account(&id, "dr.doe").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let token = app.token_in("dr.doe", ACTIVATION, 1).await;
    app.post("/api/v1/activations", &json!({"token": token}))
        .await;
    // An active account's provider: log in instead, no resend offered.
    let body = app
        .start_practitioner()
        .await
        .problem(409, "already_registered");
    assert_eq!(body["resend_available"], false, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("log in"),
        "{body}"
    );
}

both!(security_headers_on_every_answer);
async fn security_headers_on_every_answer(db: Db) {
    let app = spawn_app(db, &[]).await;
    for answer in [
        app.get("/healthz").await,
        app.get("/api/v1/agreement").await,
        app.get("/api/v1/me").await,
        app.login("nobody.here", PASSWORD).await,
        app.get("/activate?token=abc").await,
    ] {
        assert_eq!(
            answer.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(
            answer.header("referrer-policy").as_deref(),
            Some("no-referrer")
        );
        assert_eq!(
            answer.header("cross-origin-opener-policy").as_deref(),
            Some("same-origin")
        );
        let csp = answer.header("content-security-policy").unwrap();
        assert!(csp.contains("object-src 'none'"), "{csp}");
        assert!(answer.header("strict-transport-security").is_none());
    }
}

// SPEC §8's server-rendered pages.
both!(html_pages);
async fn html_pages(db: Db) {
    let app = spawn_app(db, &[]).await;
    for (path, status) in [
        ("/login", 200),
        ("/register", 200),
        // The link activates at once: an unknown token is refused.
        ("/activate?token=abc", 400),
        ("/forgot-password", 200),
        ("/reset-password?token=abc", 200),
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, status, "{path}");
        assert!(
            page.header("content-type")
                .is_some_and(|t| t.starts_with("text/html")),
            "{path}"
        );
        assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    }
}

both!(failures_while_pending_count);
async fn failures_while_pending_count(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    for _ in 0..4 {
        app.login("dr.doe", "Wrong-Password-123!")
            .await
            .problem(401, "invalid_credentials");
    }
    app.login("dr.doe", "Wrong-Password-123!")
        .await
        .problem(423, "account_locked");
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
}

both!(links_expire);
async fn links_expire(db: Db) {
    // Long enough for the worker (polling every second) to send each email
    // before its link expires: an email whose link expired is never sent.
    let app = spawn_app(
        db,
        &[("PORTAL_ACTIVATION_TTL", "4s"), ("PORTAL_RESET_TTL", "4s")],
    )
    .await;
    app.register(false, "dr.doe").await;
    let expired = app.token_in("dr.doe", ACTIVATION, 1).await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    app.post("/api/v1/activations", &json!({"token": expired}))
        .await
        .problem(400, "invalid_token");
    app.post("/api/v1/activations/resend", &json!({"username": "Dr.Doe"}))
        .await;
    let fresh = app.token_in("dr.doe", ACTIVATION, 2).await;
    assert_eq!(
        app.post("/api/v1/activations", &json!({"token": fresh}))
            .await
            .status,
        200
    );

    app.post("/api/v1/password-resets", &json!({"username": "dr.doe"}))
        .await;
    let reset = app.token_in("dr.doe", RESET, 1).await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    app.post(
        "/api/v1/password-resets/confirm",
        &json!({"token": reset, "new_password": "Velvet-Canyon-58-Orchard"}),
    )
    .await
    .problem(400, "invalid_token");
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
}

both!(stale_pending_accounts_free_the_provider);
async fn stale_pending_accounts_free_the_provider(db: Db) {
    let app = spawn_app(
        db,
        &[
            ("PORTAL_ACTIVATION_TTL", "1s"),
            ("PORTAL_PENDING_PURGE_AFTER", "1s"),
        ],
    )
    .await;
    app.register(false, "dr.doe").await;
    // The username is held while the account waits (by another provider's
    // registration too).
    let started = app.start_group().await;
    let id = app.accept(&started).await;
    app.create_account(&id, "dr.doe")
        .await
        .problem(409, "username_taken");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // What the background job runs at least once a minute.
    app.state.portal.purge().await.unwrap();
    let created = app.create_account(&id, "dr.doe").await;
    assert_eq!(created.status, 201, "{}", created.text);
}

both!(passwords_are_nfkc_normalised);
async fn passwords_are_nfkc_normalised(db: Db) {
    let app = spawn_app(db, &[]).await;
    let composed = "Caf\u{e9}-Harbor-71-Lantern";
    let decomposed = "Cafe\u{301}-Harbor-71-Lantern";
    let started = app.start_practitioner().await;
    let id = app.accept(&started).await;
    let created = app
        .post(
            &format!("/api/v1/registrations/{id}/account"),
            &account("dr.doe", composed),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let token = app.token_in("dr.doe", ACTIVATION, 1).await;
    app.post("/api/v1/activations", &json!({"token": token}))
        .await;
    assert_eq!(app.login("dr.doe", decomposed).await.status, 201);
    assert_eq!(app.login("dr.doe", composed).await.status, 201);
}

// ASVS 5.0 V7.2.4: a login ends the session the client already held, by
// bearer token or by cookie; a login that fails ends nothing.
both!(a_login_ends_the_session_the_client_already_held);
async fn a_login_ends_the_session_the_client_already_held(db: Db) {
    let app = spawn_app(db, &[]).await;
    let first = app.session(false, "dr.doe").await;
    let body = json!({"username": "dr.doe", "password": PASSWORD});
    let second = app
        .post_as("/api/v1/sessions", &body, Auth::Bearer(&first))
        .await
        .token();
    app.get_as("/api/v1/me", Auth::Bearer(&first))
        .await
        .problem(401, "unauthenticated");
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Bearer(&second)).await.status,
        200
    );
    let third = app
        .post_as("/api/v1/sessions", &body, Auth::Cookie(&second))
        .await
        .token();
    app.get_as("/api/v1/me", Auth::Bearer(&second))
        .await
        .problem(401, "unauthenticated");
    let wrong = json!({"username": "dr.doe", "password": NEW_PASSWORD});
    app.post_as("/api/v1/sessions", &wrong, Auth::Bearer(&third))
        .await
        .problem(401, "invalid_credentials");
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Bearer(&third)).await.status,
        200,
        "a failed login ends nothing"
    );
}

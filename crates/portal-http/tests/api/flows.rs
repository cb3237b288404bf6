//! End-to-end flows: registration, activation over SMTP, login, the access
//! scope, lockout, password reset and change, agreement re-acceptance, CSRF.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    ACTIVATION, ANSWER, Auth, CHANGED, Db, NEW_PASSWORD, PASSWORD, RESET, VERIFIED, both, email_of,
    spawn_app,
};

fn provider_ids(me: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = me["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

both!(practitioner_registers_activates_and_logs_in);
async fn practitioner_registers_activates_and_logs_in(db: Db) {
    let app = spawn_app(db, &[]).await;
    let started = app.start_practitioner().await;
    assert_eq!(started.status, 201, "{}", started.text);
    let body = started.json();
    assert_eq!(body["state"], "provider_verified");
    assert_eq!(body["agreement_version"], "1");
    assert!(
        body["expires_at"].as_str().unwrap().ends_with('Z'),
        "{body}"
    );
    let id = app.accept(&started).await;
    let created = app.create_account(&id, "dr.doe").await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json(), json!({"state": "pending_activation"}));

    // Not yet activated: the right password is told so.
    app.login("dr.doe", PASSWORD)
        .await
        .problem(403, "account_not_activated");

    let mail = app.mail("dr.doe", ACTIVATION, 1).await;
    assert!(mail.from.starts_with("webmaster "), "{}", mail.from);
    let link = mail
        .links()
        .into_iter()
        .find(|l| l.contains("token="))
        .unwrap();
    let token = mail.token().unwrap();
    assert_eq!(link, format!("{}/activate?token={token}", app.base));
    // A GET of the link's page does nothing; the POST activates once.
    let activated = app
        .post("/api/v1/activations", &json!({"token": token}))
        .await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    assert_eq!(activated.json(), json!({"state": "active"}));
    app.post("/api/v1/activations", &json!({"token": token}))
        .await
        .problem(400, "invalid_token");

    let verified = app.mail("dr.doe", VERIFIED, 1).await;
    assert!(
        verified.links().contains(&format!("{}/login", app.base)),
        "{:?}",
        verified.links()
    );

    let login = app.login("DR.DOE", PASSWORD).await;
    assert_eq!(login.status, 201, "{}", login.text);
    let token = login.token();
    assert!(login.json()["expires_at"].as_str().unwrap().ends_with('Z'));
    let cookie = login.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with(&format!("portal_session={token};")),
        "{cookie}"
    );
    for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(login.header("cache-control").as_deref(), Some("no-store"));

    for auth in [Auth::Bearer(&token), Auth::Cookie(&token)] {
        let me = app.get_as("/api/v1/me", auth).await;
        assert_eq!(me.status, 200, "{}", me.text);
        let body = me.json();
        assert_eq!(body["username"], "dr.doe");
        assert_eq!(body["email"], email_of("dr.doe"));
        assert_eq!(body["provider_type"], "practitioner");
        assert_eq!(
            body["providers"],
            json!([{"provider_id": "P1001", "kind": "practitioner", "name": "Jane Doe",
                    "zips": ["45202", "45011"], "lines_of_business": ["medicaid"]}])
        );
    }

    // A new login is a new token.
    let second = app.login("dr.doe", PASSWORD).await.token();
    assert_ne!(second, token);

    // Logout revokes only that session.
    let out = app
        .delete_as("/api/v1/sessions/current", Auth::Bearer(&token))
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    app.get_as("/api/v1/me", Auth::Bearer(&token))
        .await
        .problem(401, "unauthenticated");
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Bearer(&second)).await.status,
        200
    );
}

both!(group_sees_every_provider_under_its_tax_id);
async fn group_sees_every_provider_under_its_tax_id(db: Db) {
    let app = spawn_app(db, &[]).await;
    let token = app.session(true, "acme.admin").await;
    for auth in [Auth::Bearer(&token), Auth::Cookie(&token)] {
        let me = app.get_as("/api/v1/me", auth).await;
        assert_eq!(me.status, 200, "{}", me.text);
        let body = me.json();
        assert_eq!(body["provider_type"], "group");
        assert_eq!(provider_ids(&body), ["G2001", "P1001", "P1002"]);
    }
}

both!(resend_activation_invalidates_the_older_link);
async fn resend_activation_invalidates_the_older_link(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    let first = app.token_in("dr.doe", ACTIVATION, 1).await;
    for username in ["dr.doe", "nobody.here"] {
        let answer = app
            .post("/api/v1/activations/resend", &json!({"username": username}))
            .await;
        assert_eq!(answer.status, 202, "{}", answer.text);
        assert_eq!(answer.json(), json!({"status": "accepted"}));
    }
    let second = app.token_in("dr.doe", ACTIVATION, 2).await;
    assert_ne!(first, second);
    app.post("/api/v1/activations", &json!({"token": first}))
        .await
        .problem(400, "invalid_token");
    assert_eq!(
        app.post("/api/v1/activations", &json!({"token": second}))
            .await
            .status,
        200
    );
}

both!(lockout_lifts_when_its_time_is_up);
async fn lockout_lifts_when_its_time_is_up(db: Db) {
    let app = spawn_app(db, &[("PORTAL_LOCKOUT_DURATION", "2s")]).await;
    app.register_active(false, "dr.doe").await;
    for _ in 0..4 {
        app.login("dr.doe", "Wrong-Password-123!")
            .await
            .problem(401, "invalid_credentials");
    }
    let locked = app.login("dr.doe", "Wrong-Password-123!").await;
    let body = locked.problem(423, "account_locked");
    let until = body["locked_until"].as_str().unwrap();
    assert!(until.ends_with('Z'), "{body}");
    // The right password during the lock is refused too.
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let login = app.login("dr.doe", PASSWORD).await;
    assert_eq!(login.status, 201, "{}", login.text);
    // The count started again: 4 more failures do not lock.
    for _ in 0..4 {
        app.login("dr.doe", "Wrong-Password-123!")
            .await
            .problem(401, "invalid_credentials");
    }
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
}

both!(reset_unlocks_and_revokes_sessions);
async fn reset_unlocks_and_revokes_sessions(db: Db) {
    let app = spawn_app(db, &[]).await;
    let old_session = app.session(false, "dr.doe").await;
    for _ in 0..5 {
        app.login("dr.doe", "Wrong-Password-123!").await;
    }
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");

    // Unknown usernames get the same answer, and no email.
    for username in ["dr.doe", "nobody.here"] {
        let answer = app
            .post("/api/v1/password-resets", &json!({"username": username}))
            .await;
        assert_eq!(answer.status, 202, "{}", answer.text);
        assert_eq!(answer.json(), json!({"status": "accepted"}));
    }
    let first = app.token_in("dr.doe", RESET, 1).await;
    let mail = app.mail("dr.doe", RESET, 1).await;
    assert!(
        mail.links()
            .contains(&format!("{}/reset-password?token={first}", app.base)),
        "{:?}",
        mail.links()
    );
    // Requesting changes nothing yet: still locked, session still alive.
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Bearer(&old_session))
            .await
            .status,
        200
    );

    // A newer link invalidates the older.
    app.post("/api/v1/password-resets", &json!({"username": "DR.DOE"}))
        .await;
    let second = app.token_in("dr.doe", RESET, 2).await;
    assert_ne!(first, second);
    app.post(
        "/api/v1/password-resets/confirm",
        &json!({"token": first, "new_password": NEW_PASSWORD}),
    )
    .await
    .problem(400, "invalid_token");

    // A confirm refused by the policy spends nothing.
    let refused = app
        .post(
            "/api/v1/password-resets/confirm",
            &json!({"token": second, "new_password": PASSWORD}),
        )
        .await;
    let body = refused.problem(422, "password_policy");
    assert!(
        body["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["code"] == "reused" && v["message"].is_string()),
        "{body}"
    );
    let done = app
        .post(
            "/api/v1/password-resets/confirm",
            &json!({"token": second, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    app.post(
        "/api/v1/password-resets/confirm",
        &json!({"token": second, "new_password": "Another-Fine-Pass-42"}),
    )
    .await
    .problem(400, "invalid_token");

    app.get_as("/api/v1/me", Auth::Bearer(&old_session))
        .await
        .problem(401, "unauthenticated");
    app.login("dr.doe", PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    assert_eq!(app.login("dr.doe", NEW_PASSWORD).await.status, 201);
    let notice = app.mail("dr.doe", CHANGED, 1).await;
    assert!(notice.token().is_none(), "{}", notice.body);
    assert_eq!(app.mail_count("nobody.here", RESET), 0);
}

both!(cookie_writes_need_the_portal_origin);
async fn cookie_writes_need_the_portal_origin(db: Db) {
    let app = spawn_app(db, &[]).await;
    let token = app.session(false, "dr.doe").await;
    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    app.post_as("/api/v1/me/password", &change, Auth::Cookie(&token))
        .await
        .problem(403, "csrf_rejected");
    app.post_as(
        "/api/v1/me/password",
        &change,
        Auth::CookieFrom(&token, "http://evil.example"),
    )
    .await
    .problem(403, "csrf_rejected");
    app.delete_as("/api/v1/sessions/current", Auth::Cookie(&token))
        .await
        .problem(403, "csrf_rejected");
    // Reads need no origin.
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Cookie(&token)).await.status,
        200
    );
    let base = app.base.clone();
    let changed = app
        .post_as(
            "/api/v1/me/password",
            &change,
            Auth::CookieFrom(&token, &base),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    let out = app
        .delete_as("/api/v1/sessions/current", Auth::CookieFrom(&token, &base))
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
}

both!(a_new_agreement_must_be_accepted);
async fn a_new_agreement_must_be_accepted(db: Db) {
    let dir = std::env::temp_dir().join("portal-http-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let v1 = dir.join(format!("agreement-v1-{db:?}-{}.txt", std::process::id()));
    let v2 = dir.join(format!("agreement-v2-{db:?}-{}.txt", std::process::id()));
    std::fs::write(&v1, "2024-01\nThe first Provider Agreement.\n").unwrap();
    std::fs::write(&v2, "2025-06\nThe second Provider Agreement.\n").unwrap();
    let v1 = v1.display().to_string();
    let v2 = v2.display().to_string();

    let app = spawn_app(db, &[("PORTAL_AGREEMENT_FILE", &v1)]).await;
    let agreement = app.get("/api/v1/agreement").await;
    assert_eq!(agreement.json()["version"], "2024-01");
    assert!(
        agreement.json()["text"]
            .as_str()
            .unwrap()
            .contains("first Provider Agreement")
    );
    let started = app.start_practitioner().await;
    assert_eq!(started.json()["agreement_version"], "2024-01");
    app.register_active(false, "dr.doe").await;
    let before = app.login("dr.doe", PASSWORD).await.token();

    let app = app.restart(&[("PORTAL_AGREEMENT_FILE", &v2)]).await;
    assert_eq!(
        app.get("/api/v1/agreement").await.json()["version"],
        "2025-06"
    );
    // An existing session is restricted as well.
    app.get_as("/api/v1/me", Auth::Bearer(&before))
        .await
        .problem(403, "agreement_required");
    let login = app.login("dr.doe", PASSWORD).await;
    assert_eq!(login.status, 201, "{}", login.text);
    let token = login.token();
    app.get_as("/api/v1/me", Auth::Bearer(&token))
        .await
        .problem(403, "agreement_required");
    app.post_as(
        "/api/v1/me/password",
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        Auth::Bearer(&token),
    )
    .await
    .problem(403, "agreement_required");
    assert_eq!(
        app.get_as("/api/v1/agreement", Auth::Bearer(&token))
            .await
            .status,
        200
    );
    app.post_as(
        "/api/v1/me/agreement",
        &json!({"agreement_version": "2024-01"}),
        Auth::Bearer(&token),
    )
    .await
    .problem(422, "agreement_not_accepted");
    let accepted = app
        .post_as(
            "/api/v1/me/agreement",
            &json!({"agreement_version": "2025-06"}),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(accepted.status, 204, "{}", accepted.text);
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Bearer(&token)).await.status,
        200
    );
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Bearer(&before)).await.status,
        200
    );
    // Logout is allowed while an agreement awaits, too.
    let app = app.restart(&[("PORTAL_AGREEMENT_FILE", &v1)]).await;
    let out = app
        .delete_as("/api/v1/sessions/current", Auth::Bearer(&token))
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
}

both!(password_change_revokes_other_sessions);
async fn password_change_revokes_other_sessions(db: Db) {
    let app = spawn_app(db, &[]).await;
    let current = app.session(false, "dr.doe").await;
    let other = app.login("dr.doe", PASSWORD).await.token();

    app.post_as(
        "/api/v1/me/password",
        &json!({"current_password": "Wrong-Password-123!", "new_password": NEW_PASSWORD}),
        Auth::Bearer(&current),
    )
    .await
    .problem(401, "invalid_credentials");
    let mut shown = Vec::new();
    crate::cli::run(&app, "account show --username dr.doe", "", &mut shown).await;
    assert!(
        String::from_utf8(shown)
            .unwrap()
            .contains("(1 failed logins)"),
        "a wrong current password counts"
    );

    let reused = app
        .post_as(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": PASSWORD}),
            Auth::Bearer(&current),
        )
        .await;
    let body = reused.problem(422, "password_policy");
    let codes: Vec<&str> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"reused"), "{body}");

    let weak = app
        .post_as(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "short"}),
            Auth::Bearer(&current),
        )
        .await;
    let body = weak.problem(422, "password_policy");
    let codes: Vec<&str> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    for code in ["min_length", "uppercase", "digit", "symbol"] {
        assert!(codes.contains(&code), "{body}");
    }

    let changed = app
        .post_as(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            Auth::Bearer(&current),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    app.get_as("/api/v1/me", Auth::Bearer(&other))
        .await
        .problem(401, "unauthenticated");
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Bearer(&current))
            .await
            .status,
        200
    );
    let notice = app.mail("dr.doe", CHANGED, 1).await;
    assert!(notice.token().is_none(), "{}", notice.body);
    assert!(!notice.body.contains(NEW_PASSWORD));
    app.login("dr.doe", PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    assert_eq!(app.login("dr.doe", NEW_PASSWORD).await.status, 201);
    let _ = ANSWER;
}

both!(wrong_current_passwords_lock_the_account);
async fn wrong_current_passwords_lock_the_account(db: Db) {
    let app = spawn_app(db, &[]).await;
    let token = app.session(false, "dr.doe").await;
    let wrong = json!({"current_password": "Wrong-Password-123!", "new_password": NEW_PASSWORD});
    for _ in 0..4 {
        app.post_as("/api/v1/me/password", &wrong, Auth::Bearer(&token))
            .await
            .problem(401, "invalid_credentials");
    }
    let body = app
        .post_as("/api/v1/me/password", &wrong, Auth::Bearer(&token))
        .await
        .problem(423, "account_locked");
    assert!(body["locked_until"].is_string(), "{body}");
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
}

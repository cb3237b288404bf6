//! Account settings (SPEC §4a) over HTTP: the email change (a link to the
//! new address, confirmed without a session, the old address told) and
//! the security question change, with every refusal, the lockout they
//! share with `/api/v1/me/password`, the email cap and CSRF.

use serde_json::{Value, json};

use crate::helpers::{Auth, Db, NEW_PASSWORD, PASSWORD, TestApp, both, email_of, spawn_app};

const CONFIRM: &str = "Confirm Your New Provider Portal Email";
const EMAIL_CHANGED: &str = "Your Provider Portal email was changed";
const QUESTION_CHANGED: &str = "Your Provider Portal security question was changed";
const NEW_ADDRESS: &str = "front.desk@clinic.example.org";
const WRONG: &str = "Wrong-Password-123!";

fn email_change(current: &str, new_email: &str) -> Value {
    json!({"current_password": current, "new_email": new_email})
}

fn question_change(current: &str, id: i64, answer: &str) -> Value {
    json!({"current_password": current, "security_question_id": id, "security_answer": answer})
}

/// The outcomes of `username`'s events of `action`, oldest first.
async fn outcomes(app: &TestApp, username: &str, action: &str) -> Vec<String> {
    use portal_domain::audit::AuditFilter;
    let filter = AuditFilter {
        username: Some(username.to_owned()),
        since: None,
    };
    app.state
        .storage
        .audit_events(&filter)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.action.as_str() == action)
        .map(|event| event.outcome.to_string())
        .collect()
}

async fn my_email(app: &TestApp, token: &str) -> String {
    let me = app.get_as("/api/v1/me", Auth::Bearer(token)).await;
    me.json()["email"].as_str().unwrap().to_owned()
}

both!(an_email_change_is_confirmed_at_the_new_address_and_told_to_the_old);
async fn an_email_change_is_confirmed_at_the_new_address_and_told_to_the_old(db: Db) {
    let app = spawn_app(db, &[]).await;
    let token = app.session(false, "dr.doe").await;
    let asked = app
        .post_as(
            "/api/v1/me/email",
            &email_change(PASSWORD, NEW_ADDRESS),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    assert_eq!(asked.json(), json!({"status": "accepted"}));
    let link_mail = app.mail_to(NEW_ADDRESS, CONFIRM, 1).await;
    assert!(
        link_mail.from.starts_with("webmaster <"),
        "{}",
        link_mail.from
    );
    let link = link_mail
        .links()
        .into_iter()
        .find(|l| l.contains("/confirm-email?token="))
        .unwrap_or_else(|| panic!("{}", link_mail.body));
    let link_token = link_mail.token().unwrap();
    assert!(link.ends_with(&link_token), "{link}");
    assert_eq!(
        my_email(&app, &token).await,
        email_of("dr.doe"),
        "nothing changes before the link is used"
    );

    // The token is the proof: no session needed.
    let confirmed = app
        .post("/api/v1/me/email/confirm", &json!({"token": link_token}))
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert_eq!(confirmed.json(), json!({"email": NEW_ADDRESS}));
    assert_eq!(my_email(&app, &token).await, NEW_ADDRESS);
    let notice = app.mail("dr.doe", EMAIL_CHANGED, 1).await;
    assert!(notice.from.starts_with("webmaster <"), "{}", notice.from);
    assert!(notice.token().is_none(), "{}", notice.body);

    // Single use; unknown and malformed tokens answer alike.
    for token in [link_token.clone(), "x".repeat(43), "short".to_owned()] {
        app.post("/api/v1/me/email/confirm", &json!({"token": token}))
            .await
            .problem(400, "invalid_token");
    }
    app.post("/api/v1/me/email/confirm", &json!({}))
        .await
        .problem(422, "invalid_input");
    assert_eq!(
        outcomes(&app, "dr.doe", "email_change_requested").await,
        ["sent"]
    );
    assert_eq!(outcomes(&app, "dr.doe", "email_changed").await, ["success"]);
    // Later mail goes to the new address.
    app.post("/api/v1/password-resets", &json!({"username": "dr.doe"}))
        .await;
    app.mail_to(NEW_ADDRESS, "CareSource Provider Portal Password", 1)
        .await;
}

both!(email_change_refusals);
async fn email_change_refusals(db: Db) {
    let app = spawn_app(db, &[]).await;
    let token = app.session(false, "dr.doe").await;
    app.post("/api/v1/me/email", &email_change(PASSWORD, NEW_ADDRESS))
        .await
        .problem(401, "unauthenticated");
    app.post_as(
        "/api/v1/me/email",
        &email_change(WRONG, NEW_ADDRESS),
        Auth::Bearer(&token),
    )
    .await
    .problem(401, "invalid_credentials");
    let body = app
        .post_as(
            "/api/v1/me/email",
            &json!({"new_email": "not an address"}),
            Auth::Bearer(&token),
        )
        .await
        .problem(422, "invalid_input");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["current_password", "new_email"], "{body}");
    let body = app
        .post_as(
            "/api/v1/me/email",
            &email_change(PASSWORD, &email_of("DR.DOE")),
            Auth::Bearer(&token),
        )
        .await
        .problem(422, "invalid_input");
    assert_eq!(body["errors"][0]["field"], "new_email", "{body}");
    app.post_as(
        "/api/v1/me/email",
        &json!({"current_password": PASSWORD, "new_email": NEW_ADDRESS, "extra": 1}),
        Auth::Bearer(&token),
    )
    .await
    .problem(400, "malformed_request");
    // A cookie session needs the portal's origin (CSRF).
    app.post_as(
        "/api/v1/me/email",
        &email_change(PASSWORD, NEW_ADDRESS),
        Auth::Cookie(&token),
    )
    .await
    .problem(403, "csrf_rejected");
    assert_eq!(app.mail_count("dr.doe", CONFIRM), 0);
    assert_eq!(my_email(&app, &token).await, email_of("dr.doe"));
    assert_eq!(
        outcomes(&app, "dr.doe", "email_change_requested").await,
        ["invalid_credentials", "invalid_input"]
    );
}

both!(a_newer_email_change_link_replaces_the_older_and_links_share_the_cap);
async fn a_newer_email_change_link_replaces_the_older_and_links_share_the_cap(db: Db) {
    let app = spawn_app(db, &[("PORTAL_EMAILS_PER_HOUR", "2")]).await;
    let token = app.session(false, "dr.doe").await;
    for n in 1..=2 {
        let asked = app
            .post_as(
                "/api/v1/me/email",
                &email_change(PASSWORD, NEW_ADDRESS),
                Auth::Bearer(&token),
            )
            .await;
        assert_eq!(asked.status, 202, "{}", asked.text);
        app.mail_to(NEW_ADDRESS, CONFIRM, n).await;
    }
    let links: Vec<String> = app
        .sink
        .received()
        .iter()
        .map(|r| crate::helpers::Mail::parse(&r.data))
        .filter(|m| m.subject == CONFIRM)
        .filter_map(|m| m.token())
        .collect();
    assert_eq!(links.len(), 2);
    // Past the cap the answer is the same, and nothing is sent; a reset
    // request is capped by the same count.
    let capped = app
        .post_as(
            "/api/v1/me/email",
            &email_change(PASSWORD, NEW_ADDRESS),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(capped.status, 202);
    assert_eq!(capped.json(), json!({"status": "accepted"}));
    assert_eq!(
        outcomes(&app, "dr.doe", "email_change_requested").await,
        ["sent", "sent", "email_cap_reached"]
    );
    app.post("/api/v1/password-resets", &json!({"username": "dr.doe"}))
        .await;
    // The reset runs after its answer: wait for its event.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while outcomes(&app, "dr.doe", "password_reset_requested")
        .await
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "no reset event");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        outcomes(&app, "dr.doe", "password_reset_requested").await,
        ["email_cap_reached"]
    );
    // The first link was superseded by the second.
    app.post("/api/v1/me/email/confirm", &json!({"token": links[0]}))
        .await
        .problem(400, "invalid_token");
    let confirmed = app
        .post("/api/v1/me/email/confirm", &json!({"token": links[1]}))
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
}

both!(a_security_question_change_needs_the_current_password_and_is_told);
async fn a_security_question_change_needs_the_current_password_and_is_told(db: Db) {
    let app = spawn_app(db, &[]).await;
    let token = app.session(false, "dr.doe").await;
    app.post(
        "/api/v1/me/security-question",
        &question_change(PASSWORD, 2, "Maple Street"),
    )
    .await
    .problem(401, "unauthenticated");
    app.post_as(
        "/api/v1/me/security-question",
        &question_change(WRONG, 2, "Maple Street"),
        Auth::Bearer(&token),
    )
    .await
    .problem(401, "invalid_credentials");
    let body = app
        .post_as(
            "/api/v1/me/security-question",
            &question_change(PASSWORD, 99, "ab"),
            Auth::Bearer(&token),
        )
        .await
        .problem(422, "invalid_input");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["security_question_id", "security_answer"],
        "{body}"
    );
    // The answer may not be the username, the email or the password.
    for answer in ["DR.DOE", &email_of("dr.doe"), PASSWORD] {
        let body = app
            .post_as(
                "/api/v1/me/security-question",
                &question_change(PASSWORD, 2, answer),
                Auth::Bearer(&token),
            )
            .await
            .problem(422, "invalid_input");
        assert_eq!(body["errors"][0]["field"], "security_answer", "{body}");
    }
    app.post_as(
        "/api/v1/me/security-question",
        &question_change(PASSWORD, 2, "Maple Street"),
        Auth::Cookie(&token),
    )
    .await
    .problem(403, "csrf_rejected");

    let changed = app
        .post_as(
            "/api/v1/me/security-question",
            &question_change(PASSWORD, 2, "Maple Street"),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    let notice = app.mail("dr.doe", QUESTION_CHANGED, 1).await;
    assert!(notice.from.starts_with("webmaster <"), "{}", notice.from);
    assert!(notice.token().is_none(), "{}", notice.body);
    assert!(!notice.body.contains("Maple"), "{}", notice.body);
    // Hashed as at registration: the support check matches the new
    // answer, normalised, and no longer the old one.
    let check = "support verify-answer --username dr.doe";
    let mut out = Vec::new();
    crate::cli::run(&app, check, "  maple   STREET \n", &mut out).await;
    assert_eq!(String::from_utf8(out).unwrap().trim(), "match");
    let mut out = Vec::new();
    crate::cli::run(&app, check, "Fluffy\n", &mut out).await;
    assert_eq!(String::from_utf8(out).unwrap().trim(), "no match");
    assert_eq!(
        outcomes(&app, "dr.doe", "security_question_changed").await,
        [
            "invalid_credentials",
            "invalid_input",
            "invalid_input",
            "invalid_input",
            "success"
        ]
    );
}

both!(wrong_current_passwords_at_settings_count_toward_the_lockout);
async fn wrong_current_passwords_at_settings_count_toward_the_lockout(db: Db) {
    let app = spawn_app(db, &[]).await;
    let token = app.session(false, "dr.doe").await;
    // One count for every route that asks for the current password.
    app.post_as(
        "/api/v1/me/password",
        &json!({"current_password": WRONG, "new_password": NEW_PASSWORD}),
        Auth::Bearer(&token),
    )
    .await
    .problem(401, "invalid_credentials");
    for _ in 0..2 {
        app.post_as(
            "/api/v1/me/email",
            &email_change(WRONG, NEW_ADDRESS),
            Auth::Bearer(&token),
        )
        .await
        .problem(401, "invalid_credentials");
    }
    app.post_as(
        "/api/v1/me/security-question",
        &question_change(WRONG, 2, "Maple Street"),
        Auth::Bearer(&token),
    )
    .await
    .problem(401, "invalid_credentials");
    let body = app
        .post_as(
            "/api/v1/me/security-question",
            &question_change(WRONG, 2, "Maple Street"),
            Auth::Bearer(&token),
        )
        .await
        .problem(423, "account_locked");
    assert!(body["locked_until"].is_string(), "{body}");
    // Locked: the right password changes nothing either.
    app.post_as(
        "/api/v1/me/email",
        &email_change(PASSWORD, NEW_ADDRESS),
        Auth::Bearer(&token),
    )
    .await
    .problem(423, "account_locked");
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
    assert_eq!(app.mail_count("dr.doe", CONFIRM), 0);
}

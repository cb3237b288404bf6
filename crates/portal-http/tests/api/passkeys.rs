//! Passkeys over HTTP (SPEC §4a): every route under `/api/v1/me/passkeys`
//! and `/api/v1/sessions/mfa/passkey`, and every refusal: unknown, expired,
//! used and another account's ceremonies, made-up, huge and garbage
//! credentials (a 4xx problem, never a 500), failed assertions counted
//! toward the lockout, passkeys unavailable on an IP address, the
//! operator's reset, `PORTAL_MFA_REQUIRED`. A real ceremony end to end is
//! the Chromium walk's (`browser/passkeys.rs`); here a passkey is put in
//! the store as the library serialized one (a P-256 public key whose
//! private key is gone), so that the login side can be refused for real.

use portal_domain::passkey::{NewPasskey, PasskeyName, StoredCredential};
use portal_domain::ports::Clock as _;
use portal_domain::system::SystemClock;
use portal_domain::values::Username;
use serde_json::{Value, json};

use crate::helpers::{Auth, Db, LOCALHOST, PASSWORD, TestApp, both, spawn_app};

const WRONG: &str = "Wrong-Password-123!";

/// A passkey as webauthn-rs 0.5 serialized it (from a virtual
/// authenticator's registration).
const STORED: &str = r#"{"cred":{"cred_id":"NZyUEhDhyNytowHCfulfksxpe9cuTJYLqGuyZeMDJW8","cred":{"type_":"ES256","key":{"EC_EC2":{"curve":"SECP256R1","x":"0k8U5LdHpRAoALFr3afM3Oz3Qbssw3fU6NHg5yUuv4A","y":"wt_-UI6llK2iHbGQi3LD9Hh34Emb7HM_QVL4EpeRKws"}}},"counter":1,"transports":null,"user_verified":true,"backup_eligible":false,"backup_state":false,"registration_policy":"required","extensions":{"cred_protect":"Ignored","hmac_create_secret":"NotRequested","appid":"NotRequested","cred_props":{"Unsigned":{"rk":null}}},"attestation":{"data":"None","metadata":"None"},"attestation_format":"none"}}"#;

async fn app(db: Db) -> TestApp {
    spawn_app(db, &[("PORTAL_PUBLIC_URL", LOCALHOST)]).await
}

/// Stores the fixture passkey on `username`'s account, as a finished
/// registration would.
pub async fn with_stored_passkey(app: &TestApp, username: &str) {
    let store = &app.state.storage;
    let account = store
        .account_by_username(&Username::parse(username).unwrap())
        .await
        .unwrap()
        .unwrap();
    let notice = portal_domain::email::SecurityNotice::FactorAdded(
        portal_domain::email::SecondFactor::Passkey,
    )
    .to(&account);
    let audit = portal_domain::audit::AuditEvent {
        at: SystemClock.now(),
        action: portal_domain::audit::AuditAction::SecondFactorAdded,
        username: Some(username.to_owned()),
        client_addr: None,
        outcome: portal_domain::audit::AuditOutcome::Success,
    };
    let passkey = NewPasskey {
        name: PasskeyName::parse("Laptop").unwrap(),
        credential_id: b"fixture".to_vec(),
        credential: StoredCredential::from_stored(STORED.as_bytes().to_vec()),
    };
    store
        .add_passkey(account.id, &passkey, 10, &notice, &audit, SystemClock.now())
        .await
        .unwrap()
        .unwrap();
}

async fn start_registration(app: &TestApp, token: &str, password: &str) -> crate::helpers::Answer {
    app.post_as(
        "/api/v1/me/passkeys/registrations",
        &json!({"current_password": password}),
        Auth::Bearer(token),
    )
    .await
}

/// Garbage credentials: never a 500.
fn garbage() -> Vec<Value> {
    vec![
        json!({}),
        json!("text"),
        json!([1, 2, 3]),
        json!({"id": "x", "rawId": "!!!", "type": "public-key", "response": {}}),
        json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}, "extensions": {}}),
        json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"authenticatorData": "AAAA", "clientDataJSON": "e30", "signature": "AAAA", "userHandle": null},
            "extensions": {}}),
        json!({"nested": [[[[[[[[[[[[[[[[{"deep": 1}]]]]]]]]]]]]]]]]}),
    ]
}

both!(registration_options_and_every_refusal_of_a_finish);
async fn registration_options_and_every_refusal_of_a_finish(db: Db) {
    let app = app(db).await;
    let token = app.session(false, "dr.doe").await;
    start_registration(&app, &token, WRONG)
        .await
        .problem(401, "invalid_credentials");
    let started = start_registration(&app, &token, PASSWORD).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let body = started.json();
    let options = &body["options"]["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost", "{options}");
    assert_eq!(options["user"]["name"], "dr.doe");
    assert!(options["challenge"].as_str().unwrap().len() >= 43);
    let ceremony = body["ceremony_id"].as_str().unwrap().to_owned();
    // Garbage credentials are refused as invalid_passkey (and spend the
    // ceremony they name: each try starts another).
    for credential in garbage() {
        let started = start_registration(&app, &token, PASSWORD).await.json();
        app.post_as(
            "/api/v1/me/passkeys",
            &json!({"ceremony_id": started["ceremony_id"], "name": "Laptop", "credential": credential}),
            Auth::Bearer(&token),
        )
        .await
        .problem(422, "invalid_passkey");
    }
    // Made-up and used ceremonies.
    for made_up in ["", "nonsense", &"A".repeat(43), &"x".repeat(5000)] {
        let answer = app
            .post_as(
                "/api/v1/me/passkeys",
                &json!({"ceremony_id": made_up, "name": "Laptop", "credential": {}}),
                Auth::Bearer(&token),
            )
            .await;
        assert!(
            [422, 413].contains(&answer.status),
            "{made_up:.10}: {}",
            answer.text
        );
    }
    app.post_as(
        "/api/v1/me/passkeys",
        &json!({"ceremony_id": ceremony, "name": "Laptop", "credential": {}}),
        Auth::Bearer(&token),
    )
    .await
    .problem(422, "invalid_passkey");
    // Another account's ceremony.
    let other = app.session(true, "acme.admin").await;
    let theirs = start_registration(&app, &other, PASSWORD).await.json();
    app.post_as(
        "/api/v1/me/passkeys",
        &json!({"ceremony_id": theirs["ceremony_id"], "name": "Laptop", "credential": {}}),
        Auth::Bearer(&token),
    )
    .await
    .problem(422, "invalid_passkey");
    // Missing and invalid members.
    let invalid = app
        .post_as(
            "/api/v1/me/passkeys",
            &json!({"name": "\u{7}"}),
            Auth::Bearer(&token),
        )
        .await
        .problem(422, "invalid_input");
    let fields: Vec<&str> = invalid["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["ceremony_id", "name", "credential"]);
    // A huge credential is the body limit's.
    let huge =
        json!({"ceremony_id": "x", "name": "n", "credential": {"id": "A".repeat(64 * 1024)}});
    app.post_as("/api/v1/me/passkeys", &huge, Auth::Bearer(&token))
        .await
        .problem(413, "body_too_large");
    // Nothing was registered, and no session is needed to be refused.
    let list = app
        .get_as("/api/v1/me/passkeys", Auth::Bearer(&token))
        .await;
    assert_eq!(list.json(), json!({"passkeys": []}));
    app.get("/api/v1/me/passkeys")
        .await
        .problem(401, "unauthenticated");
}

both!(ceremonies_are_capped_per_account);
async fn ceremonies_are_capped_per_account(db: Db) {
    let app = app(db).await;
    let token = app.session(false, "dr.doe").await;
    for _ in 0..5 {
        assert_eq!(start_registration(&app, &token, PASSWORD).await.status, 201);
    }
    start_registration(&app, &token, PASSWORD)
        .await
        .problem(409, "passkey_limit");
}

both!(a_passkey_only_account_needs_its_passkey_and_failed_assertions_lock_it);
async fn a_passkey_only_account_needs_its_passkey_and_failed_assertions_lock_it(db: Db) {
    let app = app(db).await;
    app.register_active(false, "dr.doe").await;
    app.register_active(true, "acme.admin").await;
    with_stored_passkey(&app, "dr.doe").await;
    let answer = app.login("dr.doe", PASSWORD).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let challenge = answer.json();
    assert_eq!(challenge["methods"], json!(["passkey"]));
    let started = app
        .post(
            "/api/v1/sessions/mfa/passkey",
            &json!({"challenge_id": challenge["challenge_id"]}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    let options = &started.json()["options"]["publicKey"];
    // Only the challenge's account's passkeys are allowed.
    let allowed = options["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "{options}");
    assert_eq!(
        allowed[0]["id"],
        "NZyUEhDhyNytowHCfulfksxpe9cuTJYLqGuyZeMDJW8"
    );
    assert_eq!(options["rpId"], "localhost");
    // Unknown challenges; an account without passkeys.
    for made_up in ["", "nonsense", &"A".repeat(43)] {
        let answer = app
            .post(
                "/api/v1/sessions/mfa/passkey",
                &json!({"challenge_id": made_up}),
            )
            .await;
        assert!([401, 422].contains(&answer.status), "{}", answer.text);
    }
    // Garbage assertions: each one a failure counted toward the lockout
    // (5 by default), the fifth answers account_locked.
    let mut answers = Vec::new();
    for credential in garbage().into_iter().take(5) {
        app.post(
            "/api/v1/sessions/mfa/passkey",
            &json!({"challenge_id": challenge["challenge_id"]}),
        )
        .await;
        answers.push(
            app.post(
                "/api/v1/sessions/mfa",
                &json!({"challenge_id": challenge["challenge_id"], "credential": credential}),
            )
            .await,
        );
    }
    for answer in &answers[..4] {
        answer.problem(401, "invalid_code");
    }
    answers[4].problem(423, "account_locked");
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
    // Both a code and a credential: refused before anything is counted.
    app.post(
        "/api/v1/sessions/mfa",
        &json!({"challenge_id": challenge["challenge_id"], "code": "123456", "credential": {}}),
    )
    .await
    .problem(422, "invalid_input");
}

both!(an_assertion_without_a_started_ceremony_is_a_failure);
async fn an_assertion_without_a_started_ceremony_is_a_failure(db: Db) {
    let app = app(db).await;
    app.register_active(false, "dr.doe").await;
    with_stored_passkey(&app, "dr.doe").await;
    let challenge = app.login("dr.doe", PASSWORD).await.json();
    app.post(
        "/api/v1/sessions/mfa",
        &json!({"challenge_id": challenge["challenge_id"], "credential": {"id": "x"}}),
    )
    .await
    .problem(401, "invalid_code");
    let account = app
        .state
        .storage
        .account_by_username(&Username::parse("dr.doe").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.lock.failed_count, 1, "counted as a wrong code");
}

both!(list_rename_remove_and_the_operators_reset);
async fn list_rename_remove_and_the_operators_reset(db: Db) {
    let app = app(db).await;
    let token = app.session(false, "dr.doe").await;
    with_stored_passkey(&app, "dr.doe").await;
    let list = app
        .get_as("/api/v1/me/passkeys", Auth::Bearer(&token))
        .await
        .json();
    let item = &list["passkeys"][0];
    assert_eq!(item["name"], "Laptop");
    assert_eq!(item["last_used_at"], Value::Null);
    assert_eq!(
        item.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["created_at", "id", "last_used_at", "name"],
        "never key material"
    );
    let id = item["id"].as_i64().unwrap();
    let rename = |path: String, name: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.send(
                app.client
                    .patch(app.url(&path))
                    .bearer_auth(&token)
                    .json(&json!({"name": name})),
            )
            .await
        }
    };
    assert_eq!(
        rename(format!("/api/v1/me/passkeys/{id}"), json!("Desk key"))
            .await
            .status,
        204
    );
    rename(format!("/api/v1/me/passkeys/{id}"), json!(""))
        .await
        .problem(422, "invalid_input");
    for other in ["999999", "abc", "-1", &"9".repeat(40)] {
        rename(format!("/api/v1/me/passkeys/{other}"), json!("X"))
            .await
            .problem(404, "not_found");
    }
    let remove = |password: &str| {
        app.send(
            app.client
                .delete(app.url(&format!("/api/v1/me/passkeys/{id}")))
                .bearer_auth(&token)
                .json(&json!({"current_password": password})),
        )
    };
    remove(WRONG).await.problem(401, "invalid_credentials");
    assert_eq!(remove(PASSWORD).await.status, 204);
    remove(PASSWORD).await.problem(404, "not_found");
    app.mail(
        "dr.doe",
        "A second factor was removed from your Provider Portal account",
        1,
    )
    .await;
    // The operator's reset takes passkeys too.
    with_stored_passkey(&app, "dr.doe").await;
    assert!(
        app.state
            .portal
            .reset_second_factors("dr.doe", Default::default())
            .await
            .unwrap()
    );
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
}

both!(passkeys_are_unavailable_on_an_ip_address);
async fn passkeys_are_unavailable_on_an_ip_address(db: Db) {
    let app = spawn_app(db, &[]).await;
    assert!(app.base.starts_with("http://127.0.0.1:"));
    let token = app.session(false, "dr.doe").await;
    start_registration(&app, &token, PASSWORD)
        .await
        .problem(409, "passkeys_unavailable");
    app.post_as(
        "/api/v1/me/passkeys",
        &json!({"ceremony_id": "A".repeat(43), "name": "n", "credential": {}}),
        Auth::Bearer(&token),
    )
    .await
    .problem(409, "passkeys_unavailable");
    app.post(
        "/api/v1/sessions/mfa/passkey",
        &json!({"challenge_id": "A".repeat(43)}),
    )
    .await
    .problem(409, "passkeys_unavailable");
}

both!(mfa_required_leaves_the_passkey_routes_open);
async fn mfa_required_leaves_the_passkey_routes_open(db: Db) {
    let app = spawn_app(
        db,
        &[
            ("PORTAL_PUBLIC_URL", LOCALHOST),
            ("PORTAL_MFA_REQUIRED", "true"),
            ("PORTAL_DATA_KEY", crate::mfa::DATA_KEY),
        ],
    )
    .await;
    let token = app.session(false, "dr.doe").await;
    app.get_as("/api/v1/me", Auth::Bearer(&token))
        .await
        .problem(403, "mfa_enrolment_required");
    let list = app
        .get_as("/api/v1/me/passkeys", Auth::Bearer(&token))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(start_registration(&app, &token, PASSWORD).await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_show_names_the_passkeys_and_reset_mfa_removes_them() {
    let app = app(Db::Sqlite).await;
    app.register_active(false, "dr.doe").await;
    with_stored_passkey(&app, "dr.doe").await;
    let mut out = Vec::new();
    crate::cli::run(&app, "account show --username dr.doe", "", &mut out).await;
    let shown = String::from_utf8(out).unwrap();
    assert!(
        shown.contains("second factors:  passkeys: \"Laptop\""),
        "{shown}"
    );
    assert!(!shown.contains("NZyUEhDh"), "no key material: {shown}");
    let mut out = Vec::new();
    let exit = crate::cli::run(&app, "account reset-mfa --username dr.doe", "", &mut out).await;
    assert_eq!(exit, std::process::ExitCode::SUCCESS);
    app.mail(
        "dr.doe",
        "A second factor was removed from your Provider Portal account",
        1,
    )
    .await;
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
    let mut out = Vec::new();
    crate::cli::run(&app, "account show --username dr.doe", "", &mut out).await;
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("second factors:  none")
    );
}

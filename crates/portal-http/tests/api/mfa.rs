//! Second factors over HTTP (SPEC §4a): TOTP enrolment, the login's second
//! step with TOTP and recovery codes, every refusal, the attacker's races
//! and replays, removal, `PORTAL_MFA_REQUIRED`, the operator's reset and
//! the start-up check of `PORTAL_DATA_KEY`. The tests play the
//! authenticator app: they compute codes from the secret they were given.

use portal_domain::second_factor::{TotpSecret, time_step};
use portal_domain::system::SystemClock;
use serde_json::{Value, json};

use crate::helpers::{Answer, Auth, Db, PASSWORD, TestApp, both, spawn_app};

/// 32 bytes in base64, as `openssl rand -base64 32` writes them.
pub const DATA_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

const WRONG: &str = "Wrong-Password-123!";
const ADDED: &str = "A second factor was added to your Provider Portal account";
const REMOVED: &str = "A second factor was removed from your Provider Portal account";

pub async fn app(db: Db) -> TestApp {
    spawn_app(db, &[("PORTAL_DATA_KEY", DATA_KEY)]).await
}

/// The code the app shows now, `drift` steps off.
pub fn code(secret: &TotpSecret, drift: i64) -> String {
    use portal_domain::ports::Clock as _;
    secret.code_at(time_step(SystemClock.now()) + drift)
}

/// Enrols `token`'s account; its secret and recovery codes. The step now
/// is spent by the confirmation: the next login uses the next step's code
/// (one step of drift is accepted).
pub async fn enrol(app: &TestApp, token: &str) -> (TotpSecret, Vec<String>) {
    let started = app
        .post_as(
            "/api/v1/me/mfa/totp",
            &json!({"current_password": PASSWORD}),
            Auth::Bearer(token),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let body = started.json();
    let secret = TotpSecret::from_base32(body["secret"].as_str().unwrap()).unwrap();
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/CareSource:"), "{uri}");
    assert!(uri.contains(body["secret"].as_str().unwrap()), "{uri}");
    let confirmed = app
        .post_as(
            "/api/v1/me/mfa/totp/confirm",
            &json!({"code": code(&secret, 0)}),
            Auth::Bearer(token),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let codes: Vec<String> = confirmed.json()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// The password step: the `202 mfa_required` body.
pub async fn challenged(app: &TestApp, username: &str) -> Value {
    let answer = app.login(username, PASSWORD).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.header("set-cookie"), None, "no session yet");
    answer.json()
}

pub async fn second_step(app: &TestApp, challenge: &Value, code: &str) -> Answer {
    app.post(
        "/api/v1/sessions/mfa",
        &json!({"challenge_id": challenge["challenge_id"], "code": code}),
    )
    .await
}

async fn remove(app: &TestApp, token: &str, password: &str, code: &str) -> Answer {
    app.send(
        app.client
            .delete(app.url("/api/v1/me/mfa/totp"))
            .bearer_auth(token)
            .json(&json!({"current_password": password, "code": code})),
    )
    .await
}

both!(totp_enrolment_then_login_with_a_code_and_a_recovery_code);
async fn totp_enrolment_then_login_with_a_code_and_a_recovery_code(db: Db) {
    let app = app(db).await;
    let token = app.session(false, "dr.doe").await;
    app.post_as(
        "/api/v1/me/mfa/totp",
        &json!({"current_password": WRONG}),
        Auth::Bearer(&token),
    )
    .await
    .problem(401, "invalid_credentials");
    app.post_as(
        "/api/v1/me/mfa/totp/confirm",
        &json!({"code": "123456"}),
        Auth::Bearer(&token),
    )
    .await
    .problem(422, "invalid_code");
    let (secret, codes) = enrol(&app, &token).await;
    assert_eq!(codes.len(), 10);
    app.mail("dr.doe", ADDED, 1).await;
    app.post_as(
        "/api/v1/me/mfa/totp",
        &json!({"current_password": PASSWORD}),
        Auth::Bearer(&token),
    )
    .await
    .problem(409, "mfa_already_enrolled");

    let challenge = challenged(&app, "dr.doe").await;
    assert_eq!(challenge["status"], "mfa_required");
    assert_eq!(challenge["methods"], json!(["totp", "recovery_code"]));
    assert!(challenge["expires_at"].as_str().unwrap().ends_with('Z'));
    let next = code(&secret, 1);
    let logged = second_step(&app, &challenge, &next).await;
    assert_eq!(logged.status, 201, "{}", logged.text);
    assert!(
        logged
            .header("set-cookie")
            .is_some_and(|c| c.starts_with("portal_session="))
    );
    let me = app
        .get_as("/api/v1/me", Auth::Bearer(&logged.token()))
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    // The challenge is spent; the code too, on a new challenge.
    second_step(&app, &challenge, &code(&secret, 0))
        .await
        .problem(401, "invalid_code");
    let again = challenged(&app, "dr.doe").await;
    second_step(&app, &again, &next)
        .await
        .problem(401, "invalid_code");
    // A recovery code logs in once.
    assert_eq!(second_step(&app, &again, &codes[0]).await.status, 201);
    let third = challenged(&app, "dr.doe").await;
    second_step(&app, &third, &codes[0])
        .await
        .problem(401, "invalid_code");
}

both!(refusals_of_the_second_step);
async fn refusals_of_the_second_step(db: Db) {
    let app = app(db).await;
    let token = app.session(false, "dr.doe").await;
    let (secret, _) = enrol(&app, &token).await;
    // Unknown user and wrong password answer as without a factor.
    app.login("dr.doe", WRONG)
        .await
        .problem(401, "invalid_credentials");
    app.login("nobody.here", WRONG)
        .await
        .problem(401, "invalid_credentials");
    // Made-up challenge ids: malformed ones answer as unknown ones.
    for made_up in [
        "x".to_owned(),
        "A".repeat(43),
        "%2F..%2F".to_owned(),
        "é".repeat(4000),
    ] {
        second_step(&app, &json!({"challenge_id": made_up}), &code(&secret, 1))
            .await
            .problem(401, "invalid_code");
    }
    let missing = app.post("/api/v1/sessions/mfa", &json!({})).await;
    let body = missing.problem(422, "invalid_input");
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    app.post(
        "/api/v1/sessions/mfa",
        &json!({"challenge_id": 7, "code": "123456"}),
    )
    .await
    .problem(400, "malformed_request");
    let challenge = challenged(&app, "dr.doe").await;
    for wrong in ["000000", "not a code", &"9".repeat(2000)] {
        second_step(&app, &challenge, wrong)
            .await
            .problem(401, "invalid_code");
    }
    // An expired challenge: its end moved into the past in the database.
    if let portal_http::state::Database::Sqlite(store) = &app.state.database {
        sqlx::query("UPDATE mfa_challenges SET expires_at = 0")
            .execute(store.pool())
            .await
            .unwrap();
    } else if let portal_http::state::Database::Postgres(store) = &app.state.database {
        sqlx::query("UPDATE mfa_challenges SET expires_at = now() - interval '1 second'")
            .execute(store.pool())
            .await
            .unwrap();
    }
    second_step(&app, &challenge, &code(&secret, 1))
        .await
        .problem(401, "invalid_code");
}

both!(racing_wrong_codes_never_verify_more_than_the_limit);
async fn racing_wrong_codes_never_verify_more_than_the_limit(db: Db) {
    let app = app(db).await;
    let token = app.session(false, "dr.doe").await;
    let (secret, _) = enrol(&app, &token).await;
    let challenge = challenged(&app, "dr.doe").await;
    let codes: Vec<String> = (0..30).map(|i| format!("{:06}", 100_000 + i)).collect();
    let wrong = codes.iter().map(|c| second_step(&app, &challenge, c));
    let answers = futures::future::join_all(wrong).await;
    let mut invalid = 0;
    for answer in &answers {
        match answer.status {
            401 => {
                answer.problem(401, "invalid_code");
                invalid += 1;
            }
            423 => {
                answer.problem(423, "account_locked");
            }
            other => panic!("{other}: {}", answer.text),
        }
    }
    assert!(
        invalid <= 4,
        "{invalid} wrong codes answered before the lock"
    );
    // Locked: the right code does not log in.
    second_step(&app, &challenge, &code(&secret, 1))
        .await
        .problem(423, "account_locked");
    app.login("dr.doe", PASSWORD)
        .await
        .problem(423, "account_locked");
}

both!(one_code_racing_on_two_challenges_logs_in_once);
async fn one_code_racing_on_two_challenges_logs_in_once(db: Db) {
    let app = app(db).await;
    let token = app.session(false, "dr.doe").await;
    let (secret, codes) = enrol(&app, &token).await;
    let first = challenged(&app, "dr.doe").await;
    let second = challenged(&app, "dr.doe").await;
    let next = code(&secret, 1);
    let (a, b) = tokio::join!(
        second_step(&app, &first, &next),
        second_step(&app, &second, &next)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 401], "{} / {}", a.text, b.text);
    // One recovery code racing on two challenges: once too.
    let third = challenged(&app, "dr.doe").await;
    let fourth = challenged(&app, "dr.doe").await;
    let (a, b) = tokio::join!(
        second_step(&app, &third, &codes[5]),
        second_step(&app, &fourth, &codes[5])
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 401], "{} / {}", a.text, b.text);
}

both!(removal_needs_the_password_and_a_code_and_notifies);
async fn removal_needs_the_password_and_a_code_and_notifies(db: Db) {
    let app = app(db).await;
    let token = app.session(false, "dr.doe").await;
    let (_, codes) = enrol(&app, &token).await;
    remove(&app, &token, WRONG, &codes[0])
        .await
        .problem(401, "invalid_credentials");
    remove(&app, &token, PASSWORD, "000000")
        .await
        .problem(422, "invalid_code");
    let body = remove(&app, &token, PASSWORD, "").await;
    body.problem(422, "invalid_input");
    assert_eq!(remove(&app, &token, PASSWORD, &codes[0]).await.status, 204);
    app.mail("dr.doe", REMOVED, 1).await;
    remove(&app, &token, PASSWORD, &codes[1])
        .await
        .problem(409, "mfa_not_enrolled");
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
}

both!(mfa_required_restricts_sessions_until_the_account_enrols);
async fn mfa_required_restricts_sessions_until_the_account_enrols(db: Db) {
    let app = spawn_app(
        db,
        &[
            ("PORTAL_DATA_KEY", DATA_KEY),
            ("PORTAL_MFA_REQUIRED", "true"),
        ],
    )
    .await;
    let token = app.session(false, "dr.doe").await;
    app.get_as("/api/v1/me", Auth::Bearer(&token))
        .await
        .problem(403, "mfa_enrolment_required");
    app.post_as(
        "/api/v1/me/password",
        &json!({"current_password": PASSWORD, "new_password": "Velvet-Canyon-58-Orchard"}),
        Auth::Bearer(&token),
    )
    .await
    .problem(403, "mfa_enrolment_required");
    enrol(&app, &token).await;
    let me = app.get_as("/api/v1/me", Auth::Bearer(&token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_resets_the_factors_and_start_up_needs_the_key() {
    let app = app(Db::Sqlite).await;
    let token = app.session(false, "dr.doe").await;
    enrol(&app, &token).await;
    let mut out = Vec::new();
    crate::cli::run(&app, "account show --username dr.doe", "", &mut out).await;
    let shown = String::from_utf8(out).unwrap();
    assert!(
        shown.contains("second factors:  authenticator app, 10 unused recovery codes"),
        "{shown}"
    );
    // Without the key, a service with stored secrets refuses to start and
    // names the variable.
    let keyless = app.restart(&[]).await;
    let refusal = portal_http::serve::data_key_check(&keyless.state)
        .await
        .unwrap_err();
    assert!(refusal.contains("PORTAL_DATA_KEY"), "{refusal}");
    let app = keyless.restart(&[("PORTAL_DATA_KEY", DATA_KEY)]).await;
    assert!(portal_http::serve::data_key_check(&app.state).await.is_ok());
    let mut out = Vec::new();
    let exit = crate::cli::run(&app, "account reset-mfa --username dr.doe", "", &mut out).await;
    assert_eq!(exit, std::process::ExitCode::SUCCESS);
    let said = String::from_utf8(out).unwrap();
    assert!(said.contains("second factors removed"), "{said}");
    app.mail("dr.doe", REMOVED, 1).await;
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
    let mut out = Vec::new();
    crate::cli::run(&app, "account show --username dr.doe", "", &mut out).await;
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("second factors:  none")
    );
    let events = portal_domain::ports::AuditLog::audit_events(
        app.state.storage.as_ref(),
        &portal_domain::audit::AuditFilter::default(),
    )
    .await
    .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action.as_str() == "second_factors_reset")
    );
}

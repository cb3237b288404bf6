//! No secret reaches the logs: passwords, security answers, session tokens,
//! second-factor secrets, codes and challenges, and (with SMTP) the links'
//! tokens. And every field is a plain value an
//! operator can read: no Rust `Debug` forms, addresses as addresses.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use portal_http::config::LogFormat;
use serde_json::json;

use crate::helpers::{
    ACTIVATION, Answer, Auth, Db, RESET, both, email_of, serve_with_layers, spawn_app,
};

/// A writer into the shared buffer.
#[derive(Debug, Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The logs of this process, captured from the first call on.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(Arc::clone(&buffer));
        portal_http::telemetry::init(LogFormat::Json, move || writer.clone());
        buffer
    }))
}

both!(no_secret_in_the_logs);
async fn no_secret_in_the_logs(db: Db) {
    let logs = captured();
    let password = "Sentinel-Passw0rd-Zebra-9931";
    let new_password = "Sentinel-Renewed-Otter-4472";
    let answer = "sentinel answer mongoose";
    let app = spawn_app(db, &[]).await;

    let started = app.start_practitioner().await;
    let id = app.accept(&started).await;
    let created = app
        .post(
            &format!("/api/v1/registrations/{id}/account"),
            &json!({"username": "dr.doe", "password": password, "email": email_of("dr.doe"),
                    "security_question_id": 2, "security_answer": answer}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let activation = app.token_in("dr.doe", ACTIVATION, 1).await;
    // The emailed link activates (its token is in the query string).
    let activated = app.get(&format!("/activate?token={activation}")).await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    assert!(activated.text.contains("Account activated"));
    app.login("dr.doe", "Sentinel-Wrong-Walrus-1")
        .await
        .problem(401, "invalid_credentials");
    let session = app.login("dr.doe", password).await.token();
    assert_eq!(
        app.get_as("/api/v1/me", Auth::Bearer(&session))
            .await
            .status,
        200
    );
    app.get_as("/api/v1/me", Auth::Cookie(&session)).await;
    app.post("/api/v1/password-resets", &json!({"username": "dr.doe"}))
        .await;
    let reset = app.token_in("dr.doe", RESET, 1).await;
    assert_eq!(
        app.post(
            "/api/v1/password-resets/confirm",
            &json!({"token": reset, "new_password": new_password}),
        )
        .await
        .status,
        204
    );
    let mut out = Vec::new();
    crate::cli::run(
        &app,
        "support verify-answer --username dr.doe",
        answer,
        &mut out,
    )
    .await;
    // Let the outbox worker log its deliveries.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(text.contains("request finished"), "logs were captured");
    let mut audit_lines = 0;
    for line in text.lines() {
        let parsed: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(parsed.is_object());
        assert_plain_values(&parsed, line);
        if parsed["target"] == "audit" && parsed.get("event").is_some() {
            audit_lines += 1;
            // The walk came from loopback over HTTP; the CLI knows no address.
            match parsed.get("client_addr") {
                Some(addr) => assert_eq!(addr, "127.0.0.1", "{line}"),
                None => assert!(
                    parsed["event"].as_str().unwrap().starts_with("support"),
                    "an HTTP audit line without its address: {line}"
                ),
            }
        }
    }
    assert!(audit_lines >= 5, "audit events were logged:\n{text}");
    for (what, secret) in [
        ("password", password),
        ("new password", new_password),
        ("wrong password", "Sentinel-Wrong-Walrus-1"),
        ("security answer", answer),
        ("security answer", "mongoose"),
        ("session token", &session),
        ("activation token", &activation),
        ("reset token", &reset),
    ] {
        assert!(!text.contains(secret), "the {what} is in the logs");
    }
    assert!(!text.contains("token="), "a link is in the logs");
}

both!(no_second_factor_secret_in_the_logs);
async fn no_second_factor_secret_in_the_logs(db: Db) {
    let logs = captured();
    let app = crate::mfa::app(db).await;
    let session = app.session(false, "dr.doe").await;
    let (secret, recovery_codes) = crate::mfa::enrol(&app, &session).await;
    let challenge = crate::mfa::challenged(&app, "dr.doe").await;
    let challenge_id = challenge["challenge_id"].as_str().unwrap().to_owned();
    let wrong = crate::mfa::second_step(&app, &challenge, "000000").await;
    let code = crate::mfa::code(&secret, 1);
    let logged = crate::mfa::second_step(&app, &challenge, &code).await;
    assert_eq!(logged.status, 201, "{}", logged.text);
    let again = crate::mfa::challenged(&app, "dr.doe").await;
    let recovered = crate::mfa::second_step(&app, &again, &recovery_codes[0]).await;
    assert_eq!(recovered.status, 201, "{}", recovered.text);
    assert!(wrong.status >= 400, "{}", wrong.text);
    // Let the outbox worker log the notice's delivery.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("second_factor_added"),
        "the enrolment's audit line was captured:\n{text}"
    );
    let base32 = secret.expose_base32();
    let mut secrets = vec![
        ("TOTP secret", base32.clone()),
        ("otpauth URI", "otpauth://".to_owned()),
        ("challenge id", challenge_id),
        (
            "second challenge id",
            again["challenge_id"].as_str().unwrap().to_owned(),
        ),
        ("session token", logged.token()),
    ];
    secrets.extend(recovery_codes.iter().map(|c| ("recovery code", c.clone())));
    // Recovery codes are also accepted without their grouping dashes.
    secrets.extend(
        recovery_codes
            .iter()
            .map(|c| ("recovery code", c.replace('-', ""))),
    );
    for (what, secret) in &secrets {
        assert!(!text.contains(secret.as_str()), "the {what} is in the logs");
    }
    // Six digits also occur inside timestamps and latencies: only a whole
    // number counts.
    let digits_around = |at: usize| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        [before, after]
            .into_iter()
            .flatten()
            .any(|c| c.is_ascii_digit())
    };
    assert!(
        text.match_indices(code.as_str())
            .all(|(at, _)| digits_around(at)),
        "the TOTP code is in the logs"
    );
}

/// Every request ends in one `request finished` line, in its span: the
/// service's request id, the method and route as labels (never the URI),
/// the client address, the status and the latency. A 5xx's cause has a line
/// of its own; the layers log nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_line_per_request_in_its_span() {
    let logs = captured();
    let app = spawn_app(Db::Sqlite, &[]).await;
    let activate = app.get("/activate?token=sentinel-4242").await;
    assert_eq!(activate.status, 400, "{}", activate.text);
    let junk = reqwest::Method::from_bytes(b"BREW").unwrap();
    let refused = app
        .send(app.client.request(junk, app.url("/no/such/path")))
        .await;
    assert_eq!(refused.status, 405, "{}", refused.text);
    let panics = axum::Router::new().route("/test/panics", axum::routing::get(crate::edge::panics));
    let (base, server) = serve_with_layers(panics, app.state.clone()).await;
    let panicked = Answer::of(reqwest::get(format!("{base}/test/panics")).await.unwrap()).await;
    assert_eq!(panicked.status, 500, "{}", panicked.text);
    server.abort();
    app.stop().await;

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(!text.contains("sentinel-4242"), "a URI is in the logs");
    let lines_of = |answer: &Answer| -> Vec<serde_json::Value> {
        let id = answer.header("x-request-id").unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|line| line["span"]["request_id"] == id.as_str())
            .collect()
    };
    let finished = |lines: &[serde_json::Value]| -> serde_json::Value {
        let ends: Vec<_> = lines
            .iter()
            .filter(|line| line["message"] == "request finished")
            .collect();
        assert_eq!(ends.len(), 1, "{lines:#?}");
        let end = ends[0].clone();
        assert_eq!(end["level"], "INFO", "{end}");
        assert_eq!(end["span"]["name"], "request", "{end}");
        assert!(end["latency_ms"].is_f64(), "{end}");
        end
    };

    let end = finished(&lines_of(&activate));
    assert_eq!(end["status"], 400, "{end}");
    assert_eq!(end["span"]["method"], "GET", "{end}");
    assert_eq!(end["span"]["route"], "/activate", "{end}");
    assert_eq!(end["span"]["client_addr"], "127.0.0.1", "{end}");

    let lines = lines_of(&refused);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let end = finished(&lines);
    assert_eq!(end["status"], 405, "{end}");
    assert_eq!(end["span"]["method"], "other", "{end}");
    assert_eq!(end["span"]["route"], "unmatched", "{end}");

    let lines = lines_of(&panicked);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["message"], "internal error", "{lines:#?}");
    assert_eq!(lines[0]["level"], "ERROR", "{lines:#?}");
    assert_eq!(lines[0]["cause"], "a handler panicked", "{lines:#?}");
    let end = finished(&lines);
    assert_eq!(end["status"], 500, "{end}");
    assert_eq!(end["span"]["route"], "/test/panics", "{end}");
}

/// Fails on any value in Rust's `Debug` form (`Some(…)`, `None`, `Ok(…)`,
/// `Err(…)`) anywhere in a log line's fields, and on a `timestamp` that is
/// not RFC 3339.
fn assert_plain_values(value: &serde_json::Value, line: &str) {
    match value {
        serde_json::Value::String(text) => {
            for rust in ["Some(", "None", "Ok(", "Err("] {
                assert!(!text.contains(rust), "{rust} in a log field: {line}");
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| assert_plain_values(v, line)),
        serde_json::Value::Object(fields) => {
            for (name, field) in fields {
                if name == "timestamp" {
                    let at = field.as_str().unwrap_or_default();
                    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                        .unwrap_or_else(|e| {
                            panic!("timestamp {at:?} is not RFC 3339 ({e}): {line}")
                        });
                }
                assert_plain_values(field, line);
            }
        }
        _ => {}
    }
}

both!(no_secret_in_the_logs_of_the_passkey_flows);
/// The passkey flows: the current password, the ceremony and challenge ids,
/// the options' challenge and the credentials sent never reach the logs
/// (a refused credential's reason is logged at debug level, without it).
async fn no_secret_in_the_logs_of_the_passkey_flows(db: Db) {
    let logs = captured();
    let app = spawn_app(db, &[("PORTAL_PUBLIC_URL", crate::helpers::LOCALHOST)]).await;
    let session = app.session(false, "dr.doe").await;
    let started = app
        .post_as(
            "/api/v1/me/passkeys/registrations",
            &json!({"current_password": crate::helpers::PASSWORD}),
            Auth::Bearer(&session),
        )
        .await
        .json();
    let ceremony = started["ceremony_id"].as_str().unwrap().to_owned();
    let challenge_text = started["options"]["publicKey"]["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let credential_sentinel = "SentinelCredentialBlob0042";
    app.post_as(
        "/api/v1/me/passkeys",
        &json!({"ceremony_id": ceremony, "name": "Laptop",
                "credential": {"id": credential_sentinel, "rawId": credential_sentinel}}),
        Auth::Bearer(&session),
    )
    .await
    .problem(422, "invalid_passkey");
    crate::passkeys::with_stored_passkey(&app, "dr.doe").await;
    let challenge = app.login("dr.doe", crate::helpers::PASSWORD).await.json()["challenge_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let options = app
        .post(
            "/api/v1/sessions/mfa/passkey",
            &json!({"challenge_id": challenge}),
        )
        .await
        .json();
    let login_challenge = options["options"]["publicKey"]["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        "/api/v1/sessions/mfa",
        &json!({"challenge_id": challenge,
                "credential": {"id": credential_sentinel, "response": {"signature": credential_sentinel}}}),
    )
    .await
    .problem(401, "invalid_code");
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("second_factor_added"),
        "audit lines were captured"
    );
    for (what, secret) in [
        ("password", crate::helpers::PASSWORD),
        ("session token", session.as_str()),
        ("ceremony id", ceremony.as_str()),
        ("registration challenge", challenge_text.as_str()),
        ("login challenge id", challenge.as_str()),
        ("assertion challenge", login_challenge.as_str()),
        ("credential", credential_sentinel),
    ] {
        assert!(!text.contains(secret), "the {what} is in the logs");
    }
}

//! The operator commands (SPEC §7, §7a, §9), run on the service's state.

use std::process::ExitCode;

use clap::Parser;
use portal_http::cli::Cli;
use serde_json::json;

use crate::helpers::{ANSWER, Auth, Db, PASSWORD, TestApp, both, spawn_app};

/// Runs `portal-http ARGS` with `input` as standard input; the exit code.
pub async fn run(app: &TestApp, args: &str, input: &str, out: &mut Vec<u8>) -> ExitCode {
    let cli = Cli::try_parse_from(std::iter::once("portal-http").chain(args.split_whitespace()))
        .unwrap_or_else(|e| panic!("{args}: {e}"));
    let mut input = input.as_bytes();
    portal_http::cli::run(&app.state, cli.command.unwrap(), out, &mut input).await
}

/// The exit code and standard output of `portal-http ARGS`.
async fn output(app: &TestApp, args: &str, input: &str) -> (String, String) {
    let mut out = Vec::new();
    let code = run(app, args, input, &mut out).await;
    (format!("{code:?}"), String::from_utf8(out).unwrap())
}

fn code(code: u8) -> String {
    format!("{:?}", ExitCode::from(code))
}

fn roster_file(name: &str, rows: &str) -> String {
    let dir = std::env::temp_dir().join("portal-http-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.csv", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n{rows}"
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn new_provider(provider_id: &str) -> serde_json::Value {
    json!({"provider_type": "practitioner", "provider_id": provider_id, "tax_id": "555555555",
           "first_name": "Ada", "last_name": "Byron", "zip": "30301"})
}

both!(roster_import_is_all_or_nothing);
async fn roster_import_is_all_or_nothing(db: Db) {
    let app = spawn_app(db, &[]).await;
    let bad = roster_file(
        &format!("bad-{db:?}"),
        "P9001,555555555,practitioner,Ada,Byron,,30301,individual,medicaid\nP9002,not-a-tax-id,practitioner,,,,,,\n",
    );
    let (exit, _) = output(&app, &format!("roster import {bad}"), "").await;
    assert_eq!(exit, code(1));
    app.post("/api/v1/registrations", &new_provider("P9001"))
        .await
        .problem(404, "provider_not_found");

    let good = roster_file(
        &format!("good-{db:?}"),
        "P9001,555555555,practitioner,Ada,Byron,,30301,individual,medicaid\n",
    );
    let (exit, out) = output(&app, &format!("roster import {good} --dry-run"), "").await;
    assert_eq!(exit, code(0), "{out}");
    assert!(out.contains("1 added"), "{out}");
    assert!(out.contains("nothing was written"), "{out}");
    app.post("/api/v1/registrations", &new_provider("P9001"))
        .await
        .problem(404, "provider_not_found");

    let (exit, out) = output(&app, &format!("roster import {good}"), "").await;
    assert_eq!(exit, code(0), "{out}");
    assert!(out.contains("1 added"), "{out}");
    assert_eq!(
        app.post("/api/v1/registrations", &new_provider("P9001"))
            .await
            .status,
        201
    );
    // --replace makes the file the whole roster: Jane Doe becomes inactive.
    app.register_active(false, "dr.doe").await;
    let (exit, out) = output(&app, &format!("roster import {good} --replace"), "").await;
    assert_eq!(exit, code(0), "{out}");
    assert!(out.contains("deactivated"), "{out}");
    app.login("dr.doe", PASSWORD)
        .await
        .problem(403, "provider_inactive");
    let missing = format!("{good}.missing");
    let (exit, _) = output(&app, &format!("roster import {missing}"), "").await;
    assert_eq!(exit, code(1));
}

both!(account_commands);
async fn account_commands(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    let (exit, out) = output(&app, "account show --username DR.DOE", "").await;
    assert_eq!(exit, code(0), "{out}");
    assert!(out.contains("pending_activation"), "{out}");
    assert!(out.contains("P1001"), "{out}");
    assert!(!out.contains(PASSWORD) && !out.contains(ANSWER), "{out}");

    let token = app.token_in("dr.doe", crate::helpers::ACTIVATION, 1).await;
    app.post("/api/v1/activations", &json!({"token": token}))
        .await;
    let session = app.login("dr.doe", PASSWORD).await.token();
    let (_, out) = output(&app, "account show --username dr.doe", "").await;
    assert!(out.contains("active"), "{out}");
    assert!(!out.contains("last login:      never"), "{out}");

    for _ in 0..5 {
        app.login("dr.doe", "Wrong-Password-123!").await;
    }
    let (_, out) = output(&app, "account show --username dr.doe", "").await;
    assert!(out.contains("state:           locked"), "{out}");
    assert!(out.contains("locked until"), "{out}");
    let (exit, _) = output(&app, "account unlock --username dr.doe", "").await;
    assert_eq!(exit, code(0));
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);

    let (exit, _) = output(&app, "account disable --username dr.doe", "").await;
    assert_eq!(exit, code(0));
    let (_, out) = output(&app, "account show --username dr.doe", "").await;
    assert!(out.contains("state:           disabled"), "{out}");
    app.login("dr.doe", PASSWORD)
        .await
        .problem(403, "account_disabled");
    app.get_as("/api/v1/me", Auth::Bearer(&session))
        .await
        .problem(401, "unauthenticated");
    let (exit, _) = output(&app, "account enable --username dr.doe", "").await;
    assert_eq!(exit, code(0));
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);

    for command in ["show", "unlock", "disable", "enable"] {
        let (exit, _) = output(&app, &format!("account {command} --username nobody"), "").await;
        assert_eq!(exit, code(1), "{command}");
    }
}

both!(account_show_names_the_last_delivery_error);
async fn account_show_names_the_last_delivery_error(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.sink
        .set_mode(portal_adapters_smtp::testing::Mode::Defer);
    app.register(false, "dr.doe").await;
    // The worker tries the activation email and the relay defers it.
    let mut out = String::new();
    for _ in 0..100 {
        out = output(&app, "account show --username dr.doe", "").await.1;
        if out.contains("last delivery error:") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(out.contains("pending emails:  1"), "{out}");
    let line = out
        .lines()
        .find(|line| line.starts_with("last delivery error: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("451"), "the relay's answer: {line}");
    // (A success clears it: the port contract suite checks that.)
}

both!(support_verify_answer);
async fn support_verify_answer(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    let check = "support verify-answer --username dr.doe";
    let (exit, out) = output(&app, check, "  fluffy \n").await;
    assert_eq!(exit, code(0), "{out}");
    assert_eq!(out.trim(), "match");
    let (exit, out) = output(&app, check, "Rex\n").await;
    assert_eq!(exit, code(1), "{out}");
    assert_eq!(out.trim(), "no match");
    let (exit, _) = output(&app, "support verify-answer --username nobody", "Fluffy\n").await;
    assert_eq!(exit, code(2));
    let (exit, _) = output(&app, check, "ab\n").await;
    assert_eq!(exit, code(2), "too short to be an answer");
    // Three wrong answers in 24 hours: refused, even the right one.
    output(&app, check, "Rex\n").await;
    output(&app, check, "Rex\n").await;
    let (exit, _) = output(&app, check, "Fluffy\n").await;
    assert_eq!(exit, code(2));
}

both!(audit_list_prints_json_lines);
async fn audit_list_prints_json_lines(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    app.login("dr.doe", "Wrong-Password-123!").await;
    app.login("dr.doe", PASSWORD).await.token();
    output(&app, "support verify-answer --username dr.doe", "Fluffy\n").await;

    let (exit, out) = output(&app, "audit list --username dr.doe", "").await;
    assert_eq!(exit, code(0), "{out}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 4, "{out}");
    let mut previous = String::new();
    for line in &lines {
        for key in ["time", "event", "username", "client_addr", "outcome"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
        let time = line["time"].as_str().unwrap().to_owned();
        assert!(time.ends_with('Z'), "{line}");
        assert!(time >= previous, "oldest first: {out}");
        previous = time;
        assert!(
            line["username"]
                .as_str()
                .is_none_or(|u| u.eq_ignore_ascii_case("dr.doe")),
            "{line}"
        );
    }
    assert!(!out.contains(PASSWORD) && !out.contains(ANSWER), "{out}");
    assert!(
        lines.iter().any(|l| l["client_addr"] == "127.0.0.1"),
        "{out}"
    );

    let (exit, all) = output(&app, "audit list --since 1h", "").await;
    assert_eq!(exit, code(0));
    assert!(all.lines().count() >= lines.len());
    let (exit, _) = output(&app, "audit list --since soon", "").await;
    assert_eq!(exit, code(1));
}

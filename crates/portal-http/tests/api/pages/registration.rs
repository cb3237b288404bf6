//! Registration through the pages, and its edge pages.

use super::*;
use crate::helpers::{Auth, RESET};
use serde_json::{Value, json};

both!(registration_through_the_pages);
async fn registration_through_the_pages(db: Db) {
    let app = spawn_app(db, &[]).await;
    let choice = app.get("/register").await;
    assert_eq!(choice.status, 200);
    assert!(
        choice
            .text
            .contains(r#"href="/register?type=practitioner""#)
    );
    assert!(choice.text.contains(r#"href="/register?type=group""#));
    assert!(choice.text.contains("welcome letter"));
    let (_, csrf) = open(&app, "/register?type=practitioner").await;
    let jar = format!("portal_csrf={csrf}");
    let mut details = vec![
        ("csrf", csrf.as_str()),
        ("provider_type", "practitioner"),
        ("provider_id", "P9999"),
        ("tax_id", "12-3456789"),
        ("first_name", "Jane"),
        ("last_name", "Doe"),
        ("zip", "45202"),
    ];
    let unknown = submit(&app, "/register", &jar, &details).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.text.contains(r#"role="alert""#));
    assert!(unknown.text.contains("does not exist in Provider Portal"));
    assert!(unknown.text.contains("CareSource Provider Number"));
    assert!(unknown.text.contains("1-855-202-1058"));

    details[2] = ("provider_id", "P1001");
    let agreement = submit(&app, "/register", &jar, &details).await;
    assert_eq!(agreement.status, 200, "{}", agreement.text);
    assert!(agreement.text.contains(">Next</button>"));
    let id = hidden(&agreement, "registration_id");
    let version = hidden(&agreement, "agreement_version");
    let step2 = [
        ("csrf", csrf.as_str()),
        ("registration_id", id.as_str()),
        ("agreement_version", version.as_str()),
    ];
    let unticked = submit(&app, "/register/agreement", &jar, &step2).await;
    assert_eq!(unticked.status, 422);
    assert!(unticked.text.contains(r#"role="alert""#));
    let mut ticked = step2.to_vec();
    ticked.push(("accepted", "true"));
    let account = submit(&app, "/register/agreement", &jar, &ticked).await;
    assert_eq!(account.status, 200, "{}", account.text);
    assert!(account.text.contains(r#"id="password-rules""#));
    assert!(account.text.contains(">Finish Registration</button>"));

    let mut step3 = vec![
        ("csrf", csrf.as_str()),
        ("registration_id", id.as_str()),
        ("username", "dr.doe"),
        ("password", "short"),
        ("email", "dr.doe@example.org"),
        ("security_question_id", "1"),
        ("security_answer", "Fluffy"),
    ];
    let weak = submit(&app, "/register/account", &jar, &step3).await;
    assert_eq!(weak.status, 422);
    assert!(weak.text.contains(r#"role="alert""#));
    assert!(
        weak.text
            .contains("Must be at least 12 characters long. This one has 5."),
        "{}",
        weak.text
    );
    step3[3] = ("password", PASSWORD);
    let done = submit(&app, "/register/account", &jar, &step3).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("spam"));
    assert!(
        done.text
            .contains("Entered the wrong email? Register again")
    );
    let token = app.token_in("dr.doe", ACTIVATION, 1).await;
    assert!(!token.is_empty());
}

both!(a_practitioner_paid_under_a_group_is_told_to_register_as_a_group);
async fn a_practitioner_paid_under_a_group_is_told_to_register_as_a_group(db: Db) {
    let app = spawn_app(db, &[]).await;
    let (_, csrf) = open(&app, "/register?type=practitioner").await;
    let jar = format!("portal_csrf={csrf}");
    let refused = submit(
        &app,
        "/register",
        &jar,
        &[
            ("csrf", csrf.as_str()),
            ("provider_type", "practitioner"),
            ("provider_id", "P1002"),
            ("tax_id", "123456789"),
            ("first_name", "John"),
            ("last_name", "Roe"),
            ("zip", "45202"),
        ],
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(refused.text.contains(r#"role="alert""#));
    assert!(refused.text.contains("Register as a Group"));
    // The typed values are kept.
    assert!(refused.text.contains(r#"value="P1002""#));

    let (group, _) = open(&app, "/register?type=group").await;
    assert!(group.text.contains(r#"<label for="group_name">"#));
    assert!(!group.text.contains(r#"id="first_name""#));
}

both!(registration_edge_pages_offer_to_start_again);
async fn registration_edge_pages_offer_to_start_again(db: Db) {
    let app = spawn_app(db, &[]).await;
    let (id, csrf, jar) = start_through_the_page(&app).await;
    let account = |id: &str| {
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("registration_id".to_owned(), id.to_owned()),
            ("username".to_owned(), "dr.doe".to_owned()),
            ("password".to_owned(), PASSWORD.to_owned()),
            ("email".to_owned(), "dr.doe@example.org".to_owned()),
            ("security_question_id".to_owned(), "1".to_owned()),
            ("security_answer".to_owned(), "Fluffy".to_owned()),
        ]
    };
    let post = |path: &'static str, fields: Vec<(String, String)>| {
        let (app, jar) = (&app, jar.clone());
        async move {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            submit(app, path, &jar, &fields).await
        }
    };

    // The account step before the agreement was accepted: out of order.
    let early = post("/register/account", account(&id)).await;
    assert_start_again(&early, 409, "steps are done in order");
    // Unknown, malformed and missing flow ids.
    for unknown in ["00000000-0000-0000-0000-000000000000", "not-a-flow"] {
        let page = post("/register/account", account(unknown)).await;
        assert_start_again(&page, 404, "could not find this registration");
        let page = post(
            "/register/agreement",
            vec![
                ("csrf".to_owned(), csrf.clone()),
                ("registration_id".to_owned(), unknown.to_owned()),
                ("agreement_version".to_owned(), "1".to_owned()),
                ("accepted".to_owned(), "true".to_owned()),
            ],
        )
        .await;
        assert_start_again(&page, 404, "could not find this registration");
    }
    let page = post(
        "/register/agreement",
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("accepted".to_owned(), "true".to_owned()),
        ],
    )
    .await;
    assert_start_again(&page, 404, "could not find this registration");
    // The refusals changed nothing: the flow goes on, then is done once.
    let accepted = post(
        "/register/agreement",
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("registration_id".to_owned(), id.clone()),
            (
                "agreement_version".to_owned(),
                app.state
                    .config
                    .portal
                    .agreement
                    .version
                    .as_str()
                    .to_owned(),
            ),
            ("accepted".to_owned(), "true".to_owned()),
        ],
    )
    .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let done = post("/register/account", account(&id)).await;
    assert_eq!(done.status, 200, "{}", done.text);
    // Submitted twice (a double click, a reload): the second submission
    // shows what the first did, never "username taken" for its own account.
    let again = post("/register/account", account(&id)).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(
        again.text.contains("Registration complete"),
        "{}",
        again.text
    );
    assert!(!again.text.contains("taken"), "{}", again.text);
    app.stop().await;

    // A flow left longer than PORTAL_REGISTRATION_TTL has expired.
    let app = spawn_app(db, &[("PORTAL_REGISTRATION_TTL", "1s")]).await;
    let (id, csrf, jar) = start_through_the_page(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let version = app
        .state
        .config
        .portal
        .agreement
        .version
        .as_str()
        .to_owned();
    let expired = submit(
        &app,
        "/register/agreement",
        &jar,
        &[
            ("csrf", csrf.as_str()),
            ("registration_id", id.as_str()),
            ("agreement_version", version.as_str()),
            ("accepted", "true"),
        ],
    )
    .await;
    assert_start_again(&expired, 410, "This registration has expired.");
}

/// The account step for Jane Doe's flow `id` with this username and email.
fn jane_account<'a>(
    csrf: &'a str,
    id: &'a str,
    username: &'a str,
    email: &'a str,
) -> [(&'a str, &'a str); 7] {
    [
        ("csrf", csrf),
        ("registration_id", id),
        ("username", username),
        ("password", PASSWORD),
        ("email", email),
        ("security_question_id", "1"),
        ("security_answer", "Fluffy"),
    ]
}

/// Steps 2 and 3 through the pages for flow `id`: the confirmation page.
async fn finish_through_the_pages(
    app: &TestApp,
    id: &str,
    csrf: &str,
    jar: &str,
    username: &str,
    email: &str,
) -> Answer {
    let agreement = app.get("/api/v1/agreement").await.json();
    let version = agreement["version"].as_str().unwrap_or_default().to_owned();
    let accepted = submit(
        app,
        "/register/agreement",
        jar,
        &[
            ("csrf", csrf),
            ("registration_id", id),
            ("agreement_version", &version),
            ("accepted", "true"),
        ],
    )
    .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    submit(
        app,
        "/register/account",
        jar,
        &jane_account(csrf, id, username, email),
    )
    .await
}

both!(a_mistyped_email_is_corrected_by_registering_again);
/// SPEC §3 step 1: a pending account does not hold the provider. Registering
/// again replaces it: its link is dead, its username free, and the
/// replacement is audited.
async fn a_mistyped_email_is_corrected_by_registering_again(db: Db) {
    let app = spawn_app(db, &[]).await;
    let (id, csrf, jar) = start_through_the_page(&app).await;
    let first =
        finish_through_the_pages(&app, &id, &csrf, &jar, "dr.doe", "dr.doe.typo@example.org").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let old_link = app.token_in("dr.doe.typo", ACTIVATION, 1).await;

    // The same provider again: not `already_registered`, the flow goes on.
    let (id, _, _) = start_through_the_page(&app).await;
    let second =
        finish_through_the_pages(&app, &id, &csrf, &jar, "dr.doe", "dr.doe@example.org").await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert!(second.text.contains("Registration complete"));
    let link = app.token_in("dr.doe", ACTIVATION, 1).await;

    let dead = app
        .send(browser().get(app.url(&format!("/activate?token={old_link}"))))
        .await;
    assert_eq!(dead.status, 400, "the old link is unknown now");
    assert!(dead.text.contains(r#"action="/activation/resend""#));
    let done = visit(&app, &format!("/activate?token={link}")).await;
    assert!(done.text.contains("Account activated"));
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
    let me = app
        .get_as(
            "/api/v1/me",
            Auth::Bearer(&app.login("dr.doe", PASSWORD).await.token()),
        )
        .await;
    assert_eq!(me.json()["email"], "dr.doe@example.org");

    let mut out = Vec::new();
    crate::cli::run(&app, "audit list", "", &mut out).await;
    let audit: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let replaced: Vec<_> = audit
        .iter()
        .filter(|e| e["event"] == "pending_account_replaced")
        .collect();
    assert_eq!(replaced.len(), 1, "{audit:?}");
    assert_eq!(replaced[0]["username"], "dr.doe");

    // Now activated, the provider is held: the page says what to do.
    let (_, csrf) = open(&app, "/register?type=practitioner").await;
    let jar = format!("portal_csrf={csrf}");
    let held = submit(&app, "/register", &jar, &jane_details(&csrf)).await;
    assert_eq!(held.status, 409, "{}", held.text);
    assert!(held.text.contains("already registered"));
    assert!(held.text.contains(r#"href="/login""#));
    assert!(
        held.text.contains("never activated does not count"),
        "{}",
        held.text
    );
}

both!(the_seeds_tips_are_on_the_registration_pages);
/// The seed's instructions, on screen (issue 17, item 4).
async fn the_seeds_tips_are_on_the_registration_pages(db: Db) {
    let app = spawn_app(db, &[]).await;
    let welcome = [
        "If it shows a Group Payee ID, register as a",
        "If you are registered as an individual, register as a",
    ];
    let choice = visit(&app, "/register").await;
    assert!(
        choice
            .text
            .contains("<title>User Registration — CareSource Provider Portal</title>"),
        "{}",
        choice.text
    );
    assert!(choice.text.contains("<h1>User Registration</h1>"));
    assert!(
        choice
            .text
            .contains("A Group sees every provider under the Group Tax ID.")
    );
    let (practitioner, _) = open(&app, "/register?type=practitioner").await;
    let (group, csrf) = open(&app, "/register?type=group").await;
    for page in [&choice, &practitioner, &group] {
        for tip in welcome {
            assert!(page.text.contains(tip), "{tip:?} in {}", page.text);
        }
    }
    for page in [&practitioner, &group] {
        assert!(page.text.contains(r#"aria-describedby="zip-tip""#));
        assert!(
            page.text
                .contains("Any ZIP code from your provider profile works.")
        );
    }
    assert!(
        group
            .text
            .contains("A Group sees every provider under the Group Tax ID.")
    );
    assert!(!practitioner.text.contains("A Group sees every provider"));
    // The Group form's fields in the seed's order.
    let at = |name: &str| {
        group
            .text
            .find(&format!(r#"name="{name}""#))
            .unwrap_or_else(|| panic!("{name} on the group form"))
    };
    assert!(at("group_name") < at("tax_id"));
    assert!(at("tax_id") < at("provider_id"));
    assert!(at("provider_id") < at("zip"));

    // The account step: the email and security question tips.
    let _ = csrf;
    let (id, csrf, jar2) = start_through_the_page(&app).await;
    let agreement = app.get("/api/v1/agreement").await.json();
    let version = agreement["version"].as_str().unwrap_or_default().to_owned();
    let account = submit(
        &app,
        "/register/agreement",
        &jar2,
        &[
            ("csrf", csrf.as_str()),
            ("registration_id", id.as_str()),
            ("agreement_version", &version),
            ("accepted", "true"),
        ],
    )
    .await;
    assert!(account.text.contains(r#"aria-describedby="email-tip""#));
    assert!(
        account
            .text
            .contains("The email you enter is used to send your account activation.")
    );
    assert!(account.text.contains(r#"aria-describedby="security-tip""#));
    assert!(
        account
            .text
            .contains("you may need them to confirm your identity when calling for support")
    );
}

both!(password_rules_are_listed_with_reasons_and_refusals_repeat_them);
/// Issue 17, item 5: the seed's two rules first, each extra rule with its
/// reason, `reused` only where a password is replaced, and a refusal in
/// the words of the rule it names.
async fn password_rules_are_listed_with_reasons_and_refusals_repeat_them(db: Db) {
    let app = spawn_app(db, &[]).await;
    let (id, csrf, jar) = start_through_the_page(&app).await;
    let agreement = app.get("/api/v1/agreement").await.json();
    let version = agreement["version"].as_str().unwrap_or_default().to_owned();
    let account = submit(
        &app,
        "/register/agreement",
        &jar,
        &[
            ("csrf", csrf.as_str()),
            ("registration_id", id.as_str()),
            ("agreement_version", &version),
            ("accepted", "true"),
        ],
    )
    .await;
    let rules = [
        "Must be at least 12 characters long.",
        "Must contain an uppercase letter, a lowercase letter, a number and a special character.",
        "Must not contain your username or email.",
        "Must not be a common or easily guessed password.",
    ];
    let mut last = 0;
    for rule in rules {
        let at = account
            .text
            .find(rule)
            .unwrap_or_else(|| panic!("{rule:?} in {}", account.text));
        assert!(at > last, "{rule:?} in order");
        last = at;
    }
    assert!(account.text.contains(r#"<span class="reason">"#));
    assert!(
        !account
            .text
            .contains("Must not be a password you used before.")
    );

    let refused = submit(
        &app,
        "/register/account",
        &jar,
        &[
            ("csrf", csrf.as_str()),
            ("registration_id", id.as_str()),
            ("username", "dr.doe"),
            ("password", "Password1234!"),
            ("email", "dr.doe@example.org"),
            ("security_question_id", "1"),
            ("security_answer", "Fluffy"),
        ],
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .text
            .contains("<li>Must not be a common or easily guessed password."),
        "{}",
        refused.text
    );
    let mine = submit(
        &app,
        "/register/account",
        &jar,
        &[
            ("csrf", csrf.as_str()),
            ("registration_id", id.as_str()),
            ("username", "quartzman"),
            ("password", "Quartzman-Harbor-71-Lantern"),
            ("email", "dr.doe@example.org"),
            ("security_question_id", "1"),
            ("security_answer", "Fluffy"),
        ],
    )
    .await;
    assert!(
        mine.text
            .contains("<li>Must not contain your username or email."),
        "{}",
        mine.text
    );

    // Where a password is replaced, `reused` is listed too.
    app.register_active(true, "acme.office").await;
    app.post(
        "/api/v1/password-resets",
        &json!({"username": "acme.office"}),
    )
    .await;
    let token = app.token_in("acme.office", RESET, 1).await;
    let (reset, _) = open(&app, &format!("/reset-password?token={token}")).await;
    assert!(
        reset
            .text
            .contains("Must not be a password you used before.")
    );
    assert!(reset.text.find(rules[0]) < reset.text.find(rules[3]));
}

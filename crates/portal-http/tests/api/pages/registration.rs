//! Registration through the pages, and its edge pages.

use super::*;

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
    assert!(weak.text.contains("Use at least"), "{}", weak.text);
    step3[3] = ("password", PASSWORD);
    let done = submit(&app, "/register/account", &jar, &step3).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("spam"));
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

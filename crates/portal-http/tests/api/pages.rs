//! The server-rendered pages: forms posted as a browser without JavaScript
//! would, cookies carried by hand, redirects not followed.

use crate::helpers::{
    ACTIVATION, Answer, CHANGED, Db, NEW_PASSWORD, PASSWORD, RESET, TestApp, both, spawn_app,
};

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The value of the cookie `name` set by `answer`.
fn set_cookie(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The value of the hidden `csrf` field of a page.
fn csrf_field(page: &Answer) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.text.find(marker).expect("a csrf field") + marker.len();
    let end = page.text[start..].find('"').unwrap() + start;
    page.text[start..end].to_owned()
}

/// A page and its CSRF token (cookie and field agree).
async fn open(app: &TestApp, path: &str) -> (Answer, String) {
    let page = app.send(browser().get(app.url(path))).await;
    assert_eq!(page.status, 200, "{path}: {}", page.text);
    let cookie = set_cookie(&page, "portal_csrf").expect("the CSRF cookie");
    assert_eq!(cookie.len(), 64);
    assert_eq!(csrf_field(&page), cookie);
    (page, cookie)
}

/// Posts a form with these cookies (`name=value; …`).
async fn submit(app: &TestApp, path: &str, cookies: &str, fields: &[(&str, &str)]) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    app.send(
        browser()
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookies)
            .body(body),
    )
    .await
}

fn is_html(answer: &Answer) -> bool {
    answer
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html"))
}

both!(login_page_links);
async fn login_page_links(db: Db) {
    let app = spawn_app(db, &[]).await;
    let (page, _) = open(&app, "/login").await;
    assert!(is_html(&page));
    assert!(
        page.text
            .contains(r#"<a class="register-here" href="/register">Register Here</a>"#)
    );
    assert!(
        page.text
            .contains(r#"<a href="/forgot-password">Forgot password?</a>"#)
    );
    assert!(page.text.contains(r#"<label for="username">"#));
    assert!(page.text.contains(r#"id="username""#));
    assert!(
        page.text
            .contains(r#"<span class="required" aria-hidden="true">*</span>"#)
    );
    let css = app.get("/static/portal.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(css.text.contains(".register-here"));
}

both!(forms_without_a_matching_token_are_refused);
async fn forms_without_a_matching_token_are_refused(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let (_, token) = open(&app, "/login").await;
    let login = [("username", "dr.doe"), ("password", PASSWORD)];
    // No token at all.
    let refused = submit(&app, "/login", "", &login).await;
    assert_eq!(refused.status, 403);
    assert!(is_html(&refused));
    assert!(set_cookie(&refused, "portal_session").is_none());
    // The cookie, and a field that differs.
    let wrong = "0".repeat(64);
    let mut fields = login.to_vec();
    fields.push(("csrf", &wrong));
    let refused = submit(&app, "/login", &format!("portal_csrf={token}"), &fields).await;
    assert_eq!(refused.status, 403);
    assert!(set_cookie(&refused, "portal_session").is_none());
    // The field without the cookie.
    let mut fields = login.to_vec();
    fields.push(("csrf", &token));
    assert_eq!(submit(&app, "/login", "", &fields).await.status, 403);
    // Both, but posted from another origin.
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    let foreign = app
        .send(
            browser()
                .post(app.url("/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", format!("portal_csrf={token}"))
                .header("origin", "https://evil.example")
                .body(body),
        )
        .await;
    assert_eq!(foreign.status, 403);
}

both!(login_through_the_form);
async fn login_through_the_form(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    // Home without a session goes to the login page.
    let home = app.send(browser().get(app.url("/"))).await;
    assert_eq!(home.status, 303);
    assert_eq!(home.header("location").as_deref(), Some("/login"));

    let (_, csrf) = open(&app, "/login").await;
    let jar = format!("portal_csrf={csrf}");
    let wrong = submit(
        &app,
        "/login",
        &jar,
        &[
            ("csrf", &csrf),
            ("username", "dr.doe"),
            ("password", "Wrong-Password-123!"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(is_html(&wrong));
    assert!(wrong.text.contains(r#"role="alert""#));
    assert!(
        wrong
            .text
            .contains("The username or password is incorrect.")
    );
    assert!(set_cookie(&wrong, "portal_session").is_none());

    let ok = submit(
        &app,
        "/login",
        &jar,
        &[
            ("csrf", &csrf),
            ("username", "dr.doe"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert_eq!(ok.header("location").as_deref(), Some("/"));
    let session = set_cookie(&ok, "portal_session").expect("the session cookie");
    let set = ok.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );

    let jar = format!("portal_csrf={csrf}; portal_session={session}");
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    assert_eq!(home.status, 200, "{}", home.text);
    assert!(home.text.contains("P1001"), "{}", home.text);
    assert!(home.text.contains(r#"action="/logout""#));

    let out = submit(&app, "/logout", &jar, &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    assert_eq!(home.status, 303, "the session is revoked");
}

both!(forgot_and_reset_through_the_pages);
async fn forgot_and_reset_through_the_pages(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let (_, csrf) = open(&app, "/forgot-password").await;
    let jar = format!("portal_csrf={csrf}");
    let sent = submit(
        &app,
        "/forgot-password",
        &jar,
        &[("csrf", &csrf), ("username", "dr.doe")],
    )
    .await;
    assert_eq!(sent.status, 200);
    assert!(sent.text.contains("spam"));
    // An unknown account gets the same page.
    let unknown = submit(
        &app,
        "/forgot-password",
        &jar,
        &[("csrf", &csrf), ("username", "nobody")],
    )
    .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(
        unknown.text.replace("nobody", ""),
        sent.text.replace("dr.doe", "")
    );

    let token = app.token_in("dr.doe", RESET, 1).await;
    let (form, csrf) = open(&app, &format!("/reset-password?token={token}")).await;
    assert_eq!(
        form.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    // Opening the form changed nothing.
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
    let jar = format!("portal_csrf={csrf}");

    let weak = submit(
        &app,
        "/reset-password",
        &jar,
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("new_password", "short"),
        ],
    )
    .await;
    assert_eq!(weak.status, 422);
    assert!(weak.text.contains(r#"role="alert""#));
    assert!(weak.text.contains("Use at least"), "{}", weak.text);

    let done = submit(
        &app,
        "/reset-password",
        &jar,
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains(">Login</a>"));
    assert_eq!(app.login("dr.doe", NEW_PASSWORD).await.status, 201);

    let used = submit(
        &app,
        "/reset-password",
        &jar,
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(used.status, 400);
    assert!(used.text.contains(r#"href="/forgot-password""#));
}

both!(activation_through_the_page);
async fn activation_through_the_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    let token = app.token_in("dr.doe", ACTIVATION, 1).await;
    let (page, csrf) = open(&app, &format!("/activate?token={token}")).await;
    assert!(page.text.contains(">Activate</button>"));
    // The GET activated nothing.
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 403);

    let jar = format!("portal_csrf={csrf}");
    let done = submit(
        &app,
        "/activate",
        &jar,
        &[("csrf", &csrf), ("token", &token)],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains(r#"href="/login""#));
    assert!(done.text.contains(">Login</a>"));
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);

    // Used again: the page offers a new email by username.
    let again = submit(
        &app,
        "/activate",
        &jar,
        &[("csrf", &csrf), ("token", &token)],
    )
    .await;
    assert_eq!(again.status, 400);
    assert!(again.text.contains(r#"action="/activation/resend""#));
    let resent = submit(
        &app,
        "/activation/resend",
        &jar,
        &[("csrf", &csrf), ("username", "dr.doe")],
    )
    .await;
    assert_eq!(resent.status, 200);
    assert!(resent.text.contains("spam"));
}

/// The value of the hidden field `name` of a page.
fn hidden(page: &Answer, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.text.find(&marker).expect("the field") + marker.len();
    let end = page.text[start..].find('"').unwrap() + start;
    page.text[start..end].to_owned()
}

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

both!(locked_and_rate_limited_pages);
async fn locked_and_rate_limited_pages(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let (_, csrf) = open(&app, "/login").await;
    let jar = format!("portal_csrf={csrf}");
    let wrong = [
        ("csrf", csrf.as_str()),
        ("username", "dr.doe"),
        ("password", "Wrong-Password-123!"),
    ];
    let mut last = submit(&app, "/login", &jar, &wrong).await;
    for _ in 0..4 {
        last = submit(&app, "/login", &jar, &wrong).await;
    }
    assert_eq!(last.status, 423, "{}", last.text);
    assert!(last.text.contains(r#"role="alert""#));
    assert!(last.text.contains("24 hours"));
    // The locked page's own advice, with its link (the login form's
    // Forgot password? link is on every login page).
    assert!(last.text.contains(
        r#"Use <a href="/forgot-password">Forgot password?</a> to set a new password now"#
    ));
    app.stop().await;

    let limited = spawn_app(db, &[("PORTAL_RATE_LIMIT_PER_MINUTE", "2")]).await;
    let (_, csrf) = open(&limited, "/forgot-password").await;
    let jar = format!("portal_csrf={csrf}");
    let form = [("csrf", csrf.as_str()), ("username", "nobody")];
    for _ in 0..2 {
        assert_eq!(
            submit(&limited, "/forgot-password", &jar, &form)
                .await
                .status,
            200
        );
    }
    let refused = submit(&limited, "/forgot-password", &jar, &form).await;
    assert_eq!(refused.status, 429);
    assert!(is_html(&refused));
    assert!(refused.header("retry-after").is_some());
    // Pages themselves are not counted.
    assert_eq!(limited.get("/forgot-password").await.status, 200);
}

both!(a_new_agreement_is_accepted_from_the_home_page);
async fn a_new_agreement_is_accepted_from_the_home_page(db: Db) {
    let dir = std::env::temp_dir().join("portal-http-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let v2 = dir.join(format!(
        "agreement-v2-pages-{db:?}-{}.txt",
        std::process::id()
    ));
    std::fs::write(&v2, "2025-06\nThe second Provider Agreement.\n").unwrap();
    let v2 = v2.display().to_string();
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let app = app.restart(&[("PORTAL_AGREEMENT_FILE", &v2)]).await;
    let session = app.login("dr.doe", PASSWORD).await.token();
    let (_, csrf) = open(&app, "/login").await;
    let jar = format!("portal_csrf={csrf}; portal_session={session}");
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    assert_eq!(home.status, 200);
    assert!(home.text.contains("second Provider Agreement"));
    assert!(!home.text.contains("P1001"));
    let fields = [("csrf", csrf.as_str()), ("agreement_version", "2025-06")];
    let unticked = submit(&app, "/agreement", &jar, &fields).await;
    assert_eq!(unticked.status, 422);
    let mut ticked = fields.to_vec();
    ticked.push(("accepted", "true"));
    let accepted = submit(&app, "/agreement", &jar, &ticked).await;
    assert_eq!(accepted.status, 303, "{}", accepted.text);
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    assert!(home.text.contains("P1001"), "{}", home.text);
}

both!(unreadable_forms_answer_a_page);
async fn unreadable_forms_answer_a_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    let json = app
        .send(
            browser()
                .post(app.url("/login"))
                .header("content-type", "application/json")
                .body(r#"{"username": "dr.doe"}"#),
        )
        .await;
    assert_eq!(json.status, 400);
    assert!(is_html(&json));
    assert!(json.text.contains(r#"role="alert""#));
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

both!(a_pending_registration_offers_the_resend_form);
async fn a_pending_registration_offers_the_resend_form(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    let (_, csrf) = open(&app, "/register?type=practitioner").await;
    let jar = format!("portal_csrf={csrf}");
    let again = submit(
        &app,
        "/register",
        &jar,
        &[
            ("csrf", csrf.as_str()),
            ("provider_type", "practitioner"),
            ("provider_id", "P1001"),
            ("tax_id", "12-3456789"),
            ("first_name", "Jane"),
            ("last_name", "Doe"),
            ("zip", "45202"),
        ],
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(again.text.contains("already registered"));
    assert!(again.text.contains(r#"action="/activation/resend""#));
}

both!(the_password_is_changed_from_the_home_page);
async fn the_password_is_changed_from_the_home_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let this = app.login("dr.doe", PASSWORD).await.token();
    let other = app.login("dr.doe", PASSWORD).await.token();
    let (_, csrf) = open(&app, "/login").await;
    let jar = format!("portal_csrf={csrf}; portal_session={this}");
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    assert!(home.text.contains(r#"action="/password""#), "{}", home.text);
    assert!(home.text.contains(r#"<label for="new_password">"#));

    let change = |current: &'static str, new: &'static str| {
        let (app, jar, csrf) = (&app, jar.clone(), csrf.clone());
        async move {
            submit(
                app,
                "/password",
                &jar,
                &[
                    ("csrf", &csrf),
                    ("current_password", current),
                    ("new_password", new),
                ],
            )
            .await
        }
    };
    let wrong = change("Wrong-Password-123!", NEW_PASSWORD).await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.text.contains(r#"role="alert""#) && wrong.text.contains("incorrect"),
        "{}",
        wrong.text
    );
    let reused = change(PASSWORD, PASSWORD).await;
    assert_eq!(reused.status, 422);
    assert!(
        reused.text.contains("different from your current one"),
        "{}",
        reused.text
    );

    let changed = change(PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert!(changed.text.contains("Your password was changed"));
    // This session is kept, the other one revoked, the notice sent.
    assert_eq!(
        app.send(browser().get(app.url("/")).header("cookie", &jar))
            .await
            .status,
        200
    );
    let other_jar = format!("portal_session={other}");
    assert_eq!(
        app.send(browser().get(app.url("/")).header("cookie", &other_jar))
            .await
            .status,
        303
    );
    app.mail("dr.doe", CHANGED, 1).await;
    assert_eq!(app.login("dr.doe", NEW_PASSWORD).await.status, 201);
}

both!(malformed_queries_answer_a_page);
async fn malformed_queries_answer_a_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    // A parameter given twice cannot be read: a page, not axum's plain text.
    for (path, back) in [
        (
            "/register?type=practitioner&type=group",
            r#"href="/register""#,
        ),
        ("/activate?token=a&token=b", r#"href="/login""#),
        (
            "/reset-password?token=a&token=b",
            r#"href="/forgot-password""#,
        ),
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.text);
        assert!(is_html(&page), "{path}: {:?}", page.headers);
        assert!(page.text.contains(r#"<main id="main">"#), "{path}");
        assert!(page.text.contains(r#"role="alert""#), "{path}");
        assert!(page.text.contains("This address cannot be used"), "{path}");
        assert!(page.text.contains(back), "{path}: {}", page.text);
        assert!(set_cookie(&page, "portal_csrf").is_some(), "{path}");
    }
    // An unknown type offers the choice; a badly encoded token is only
    // carried into the form (the POST refuses it).
    let choice = app.get("/register?type=bogus").await;
    assert_eq!(choice.status, 200);
    assert!(
        choice
            .text
            .contains(r#"href="/register?type=practitioner""#)
    );
    let activate = app.get("/activate?token=%ZZ").await;
    assert_eq!(activate.status, 200, "{}", activate.text);
    assert!(activate.text.contains(">Activate</button>"));
    let reset = app.get("/reset-password?token=%ZZ").await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert!(reset.text.contains(r#"id="password-rules""#));
}

/// Step 1 through the page; the flow's id and the CSRF cookie jar.
async fn start_through_the_page(app: &TestApp) -> (String, String, String) {
    let (_, csrf) = open(app, "/register?type=practitioner").await;
    let jar = format!("portal_csrf={csrf}");
    let agreement = submit(
        app,
        "/register",
        &jar,
        &[
            ("csrf", csrf.as_str()),
            ("provider_type", "practitioner"),
            ("provider_id", "P1001"),
            ("tax_id", "12-3456789"),
            ("first_name", "Jane"),
            ("last_name", "Doe"),
            ("zip", "45202"),
        ],
    )
    .await;
    assert_eq!(agreement.status, 200, "{}", agreement.text);
    (hidden(&agreement, "registration_id"), csrf, jar)
}

/// A "Registration cannot continue" page with this status, saying `why`,
/// with a way to start again.
#[track_caller]
fn assert_start_again(page: &Answer, status: u16, why: &str) {
    assert_eq!(page.status, status, "{}", page.text);
    assert!(is_html(page));
    assert!(page.text.contains("Registration cannot continue"));
    assert!(page.text.contains(r#"role="alert""#));
    assert!(page.text.contains(why), "{why:?} in {}", page.text);
    assert!(
        page.text
            .contains(r#"<a class="button" href="/register">Start again</a>"#),
        "{}",
        page.text
    );
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
    let again = post("/register/account", account(&id)).await;
    assert_start_again(&again, 409, "steps are done in order");
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

both!(forms_posted_with_a_null_origin_are_accepted);
async fn forms_posted_with_a_null_origin_are_accepted(db: Db) {
    // Our pages are `Referrer-Policy: no-referrer`, so a browser posts
    // their forms with `Origin: null` and `Sec-Fetch-Site: same-origin`.
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let (_, csrf) = open(&app, "/login").await;
    let post = |fields: Vec<(&'static str, String)>, site: &'static str| {
        let (app, csrf) = (&app, csrf.clone());
        async move {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&fields)
                .finish();
            app.send(
                browser()
                    .post(app.url("/login"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("cookie", format!("portal_csrf={csrf}"))
                    .header("origin", "null")
                    .header("sec-fetch-site", site)
                    .body(body),
            )
            .await
        }
    };
    let login = vec![
        ("csrf", csrf.clone()),
        ("username", "dr.doe".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let ok = post(login.clone(), "same-origin").await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert!(set_cookie(&ok, "portal_session").is_some());
    // The token is still required, and a cross-site post is refused.
    let mut tokenless = login.clone();
    tokenless.remove(0);
    assert_eq!(post(tokenless, "same-origin").await.status, 403);
    let cross = post(login.clone(), "cross-site").await;
    assert_eq!(cross.status, 403);
    assert!(set_cookie(&cross, "portal_session").is_none());
    assert_eq!(post(login, "same-site").await.status, 403);
}

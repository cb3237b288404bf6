//! Logging in and out, the CSRF defences, lockout and rate-limit pages, and the home page (agreement, password change).

use super::*;

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
    assert!(wrong.text.contains(r#"role="alert""#));
    assert_wrong_password_page(&wrong);

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

    let out = submit(&app, "/logout", &jar, &[("csrf", &csrf_field(&home))]).await;
    assert_eq!(out.status, 303);
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    assert_eq!(home.status, 303, "the session is revoked");
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
    // One message, said once: the advice with its link and the lock's end
    // (the login form's Forgot password? link is on every login page).
    assert_eq!(
        last.text.matches(r#"role="alert""#).count(),
        1,
        "{}",
        last.text
    );
    assert_eq!(last.text.matches("locked").count(), 1, "{}", last.text);
    assert_eq!(last.text.matches("24 hours").count(), 1, "{}", last.text);
    assert!(last.text.contains(
        r#"Use <a href="/forgot-password">Forgot password?</a> to set a new password now, or try again in 24 hours, after <time datetime=""#
    ), "{}", last.text);
    assert!(last.text.contains(" UTC on "), "{}", last.text);
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

both!(an_unparsable_password_is_a_wrong_password_on_the_login_page);
/// The login form answers a password no account can have as a wrong one,
/// and the use case audits and counts it: the fifth locks the account.
async fn an_unparsable_password_is_a_wrong_password_on_the_login_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let (_, csrf) = open(&app, "/login").await;
    let jar = format!("portal_csrf={csrf}");
    let [control, too_long, nul, newline] = crate::helpers::unparsable_passwords();
    for password in [&control, &too_long, &nul, &newline] {
        let wrong = submit(
            &app,
            "/login",
            &jar,
            &[
                ("csrf", &csrf),
                ("username", "dr.doe"),
                ("password", password),
            ],
        )
        .await;
        assert_wrong_password_page(&wrong);
    }
    let locked = submit(
        &app,
        "/login",
        &jar,
        &[
            ("csrf", &csrf),
            ("username", "dr.doe"),
            ("password", &control),
        ],
    )
    .await;
    assert_eq!(locked.status, 423, "{}", locked.text);
    assert_eq!(
        crate::helpers::login_failures(&app, "dr.doe").await,
        [
            "invalid_credentials",
            "invalid_credentials",
            "invalid_credentials",
            "invalid_credentials",
            "account_locked"
        ]
    );
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
    let jar = format!("portal_session={session}");
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    assert_eq!(home.status, 200);
    let csrf = csrf_field(&home);
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

both!(the_password_is_changed_from_the_home_page);
async fn the_password_is_changed_from_the_home_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let this = app.login("dr.doe", PASSWORD).await.token();
    let other = app.login("dr.doe", PASSWORD).await.token();
    let jar = format!("portal_session={this}");
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    let csrf = csrf_field(&home);
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
        reused
            .text
            .contains("Must not be a password you used before. This is your current password."),
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

both!(form_tokens_are_bound_to_the_session_and_renewed_at_login_and_logout);
async fn form_tokens_are_bound_to_the_session_and_renewed_at_login_and_logout(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let (_, before) = open(&app, "/login").await;
    let login = submit(
        &app,
        "/login",
        &format!("portal_csrf={before}"),
        &[
            ("csrf", &before),
            ("username", "dr.doe"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(login.status, 303, "{}", login.text);
    let session = set_cookie(&login, "portal_session").expect("the session cookie");
    let renewed = set_cookie(&login, "portal_csrf").expect("a fresh CSRF cookie at login");
    assert_ne!(renewed, before);

    // The token from before the login is refused now, with its cookie or
    // with the renewed one.
    for cookie in [&before, &renewed] {
        let jar = format!("portal_csrf={cookie}; portal_session={session}");
        let refused = submit(&app, "/logout", &jar, &[("csrf", cookie)]).await;
        assert_eq!(refused.status, 403, "{}", refused.text);
    }
    let jar = format!("portal_session={session}");
    assert_eq!(
        app.send(browser().get(app.url("/")).header("cookie", &jar))
            .await
            .status,
        200,
        "the refused logouts revoked nothing"
    );

    // The session's forms carry its own token; another session's differ.
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    let bound = csrf_field(&home);
    assert_ne!(bound, before);
    let other = app.login("dr.doe", PASSWORD).await.token();
    let other_home = app
        .send(
            browser()
                .get(app.url("/"))
                .header("cookie", format!("portal_session={other}")),
        )
        .await;
    assert_ne!(csrf_field(&other_home), bound);
    let crossed = submit(
        &app,
        "/logout",
        &format!("portal_session={other}"),
        &[("csrf", &bound)],
    )
    .await;
    assert_eq!(crossed.status, 403, "another session's token is refused");

    let out = submit(&app, "/logout", &jar, &[("csrf", &bound)]).await;
    assert_eq!(out.status, 303, "{}", out.text);
    let after = set_cookie(&out, "portal_csrf").expect("a fresh CSRF cookie at logout");
    assert_ne!(after, bound);
    assert_ne!(after, before);
    // Logged out, the session's token is no double-submit token either.
    let stale = submit(
        &app,
        "/login",
        &format!("portal_csrf={after}"),
        &[
            ("csrf", &bound),
            ("username", "dr.doe"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(stale.status, 403, "{}", stale.text);
    let fresh = submit(
        &app,
        "/login",
        &format!("portal_csrf={after}"),
        &[
            ("csrf", &after),
            ("username", "dr.doe"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(fresh.status, 303, "{}", fresh.text);
}

both!(over_https_the_csrf_cookie_has_the_host_prefix);
async fn over_https_the_csrf_cookie_has_the_host_prefix(db: Db) {
    let app = spawn_app(db, &[("PORTAL_PUBLIC_URL", "https://portal.example")]).await;
    app.register_active(false, "dr.doe").await;
    let page = app.send(browser().get(app.url("/login"))).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(set_cookie(&page, "portal_csrf").is_none());
    let token = set_cookie(&page, "__Host-portal_csrf").expect("the __Host- cookie");
    assert_eq!(csrf_field(&page), token);
    let set = page
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-portal_csrf="))
        .unwrap()
        .to_owned();
    let attributes: Vec<&str> = set.split(';').map(str::trim).skip(1).collect();
    assert!(attributes.contains(&"Secure"), "{set}");
    assert!(attributes.contains(&"Path=/"), "{set}");
    assert!(
        !attributes
            .iter()
            .any(|a| a.to_ascii_lowercase().starts_with("domain")),
        "{set}"
    );
    // The prefixed cookie is the one checked: the unprefixed name is not.
    let fields = [
        ("csrf", token.as_str()),
        ("username", "dr.doe"),
        ("password", PASSWORD),
    ];
    let plain = submit(&app, "/login", &format!("portal_csrf={token}"), &fields).await;
    assert_eq!(plain.status, 403, "{}", plain.text);
    let prefixed = submit(
        &app,
        "/login",
        &format!("__Host-portal_csrf={token}"),
        &fields,
    )
    .await;
    assert_eq!(prefixed.status, 303, "{}", prefixed.text);
    assert!(set_cookie(&prefixed, "__Host-portal_csrf").is_some());
}

// ASVS 5.0 V7.2.4: the login form ends the session the browser still held.
both!(the_login_form_ends_the_session_the_browser_held);
async fn the_login_form_ends_the_session_the_browser_held(db: Db) {
    let app = spawn_app(db, &[]).await;
    let held = app.session(false, "dr.doe").await;
    let page = app
        .send(
            browser()
                .get(app.url("/login"))
                .header("cookie", format!("portal_session={held}")),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = set_cookie(&page, "portal_csrf").expect("the CSRF cookie");
    let answer = submit(
        &app,
        "/login",
        &format!("portal_session={held}; portal_csrf={csrf}"),
        &[
            ("csrf", &csrf_field(&page)),
            ("username", "dr.doe"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.text);
    let new = set_cookie(&answer, "portal_session").expect("a new session");
    assert_ne!(new, held);
    app.get_as("/api/v1/me", crate::helpers::Auth::Bearer(&held))
        .await
        .problem(401, "unauthenticated");
    assert_eq!(
        app.get_as("/api/v1/me", crate::helpers::Auth::Bearer(&new))
            .await
            .status,
        200
    );
}

/// The login page answering a wrong password: 401, the one message, no
/// session.
fn assert_wrong_password_page(answer: &Answer) {
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert!(is_html(answer));
    assert!(
        answer
            .text
            .contains("The username or password is incorrect.")
    );
    assert!(set_cookie(answer, "portal_session").is_none());
}

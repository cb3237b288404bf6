//! The account settings forms of the home page and the `/confirm-email`
//! page (SPEC §4a), posted as a browser without JavaScript would.

use super::*;

const CONFIRM: &str = "Confirm Your New Provider Portal Email";
const NEW_ADDRESS: &str = "front.desk@clinic.example.org";

both!(the_email_is_changed_from_the_home_page_and_the_link_page);
async fn the_email_is_changed_from_the_home_page_and_the_link_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let session = app.login("dr.doe", PASSWORD).await.token();
    let jar = format!("portal_session={session}");
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    for marker in [
        r#"action="/email""#,
        r#"<label for="new_email">"#,
        r#"<label for="email_current_password">"#,
    ] {
        assert!(home.text.contains(marker), "{marker}: {}", home.text);
    }
    let csrf = csrf_field(&home);
    let change = |current: &'static str| {
        let (app, jar, csrf) = (&app, jar.clone(), csrf.clone());
        async move {
            submit(
                app,
                "/email",
                &jar,
                &[
                    ("csrf", &csrf),
                    ("current_password", current),
                    ("new_email", NEW_ADDRESS),
                ],
            )
            .await
        }
    };
    let wrong = change("Wrong-Password-123!").await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert!(wrong.text.contains(r#"role="alert""#), "{}", wrong.text);
    // A forged post (no CSRF field) changes nothing.
    let forged = submit(
        &app,
        "/email",
        &jar,
        &[("current_password", PASSWORD), ("new_email", NEW_ADDRESS)],
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.text);

    let asked = change(PASSWORD).await;
    assert_eq!(asked.status, 200, "{}", asked.text);
    assert!(asked.text.contains(NEW_ADDRESS), "{}", asked.text);
    let token = app.mail_to(NEW_ADDRESS, CONFIRM, 1).await.token().unwrap();

    // The link opens a page; nothing changes on GET.
    let (page, cookie) = open(&app, &format!("/confirm-email?token={token}")).await;
    assert_eq!(
        page.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    assert_eq!(hidden(&page, "token"), token);
    let me = app
        .get_as("/api/v1/me", crate::helpers::Auth::Bearer(&session))
        .await;
    assert_eq!(me.json()["email"], crate::helpers::email_of("dr.doe"));
    let jar_csrf = format!("portal_csrf={cookie}");
    let confirmed = submit(
        &app,
        "/confirm-email",
        &jar_csrf,
        &[("csrf", &cookie), ("token", &token)],
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert!(confirmed.text.contains(NEW_ADDRESS), "{}", confirmed.text);
    let me = app
        .get_as("/api/v1/me", crate::helpers::Auth::Bearer(&session))
        .await;
    assert_eq!(me.json()["email"], NEW_ADDRESS);
    // Used: the same form now says the link cannot be used.
    let again = submit(
        &app,
        "/confirm-email",
        &jar_csrf,
        &[("csrf", &cookie), ("token", &token)],
    )
    .await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert!(again.text.contains("This link cannot be used"));
    let (_, cookie) = open(&app, "/login").await;
    let missing = app
        .send(
            browser()
                .get(app.url("/confirm-email"))
                .header("cookie", format!("portal_csrf={cookie}")),
        )
        .await;
    assert_eq!(missing.status, 400, "{}", missing.text);
}

both!(the_security_question_is_changed_from_the_home_page);
async fn the_security_question_is_changed_from_the_home_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register_active(false, "dr.doe").await;
    let session = app.login("dr.doe", PASSWORD).await.token();
    let jar = format!("portal_session={session}");
    let home = app
        .send(browser().get(app.url("/")).header("cookie", &jar))
        .await;
    for marker in [
        r#"action="/security-question""#,
        r#"<label for="security_question_id">"#,
        r#"<label for="question_current_password">"#,
        r#"<label for="security_answer">"#,
    ] {
        assert!(home.text.contains(marker), "{marker}: {}", home.text);
    }
    let csrf = csrf_field(&home);
    let change = |id: &'static str, answer: &'static str| {
        let (app, jar, csrf) = (&app, jar.clone(), csrf.clone());
        async move {
            submit(
                app,
                "/security-question",
                &jar,
                &[
                    ("csrf", &csrf),
                    ("current_password", PASSWORD),
                    ("security_question_id", id),
                    ("security_answer", answer),
                ],
            )
            .await
        }
    };
    let invalid = change("x", "ab").await;
    assert_eq!(invalid.status, 422, "{}", invalid.text);
    assert!(
        invalid.text.contains("Security question:"),
        "{}",
        invalid.text
    );
    assert!(
        invalid.text.contains("Security answer:"),
        "{}",
        invalid.text
    );
    let changed = change("3", "Maple Street").await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert!(
        changed.text.contains("Your security question was changed"),
        "{}",
        changed.text
    );
    app.mail(
        "dr.doe",
        "Your Provider Portal security question was changed",
        1,
    )
    .await;
}

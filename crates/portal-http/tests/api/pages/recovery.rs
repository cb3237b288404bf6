//! Forgot password and reset through the pages.

use super::*;

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
    assert!(
        weak.text.contains("Must be at least 12 characters long."),
        "{}",
        weak.text
    );

    let reset = [
        ("csrf", csrf.as_str()),
        ("token", token.as_str()),
        ("new_password", NEW_PASSWORD),
    ];
    let done = submit(&app, "/reset-password", &jar, &reset).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains(">Login</a>"));
    assert_eq!(app.login("dr.doe", NEW_PASSWORD).await.status, 201);

    let used = submit(&app, "/reset-password", &jar, &reset).await;
    assert_eq!(used.status, 400);
    assert!(used.text.contains(r#"href="/forgot-password""#));
}

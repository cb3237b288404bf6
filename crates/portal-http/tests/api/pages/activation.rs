//! The activation page and the resend form.

use super::*;

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

both!(a_pending_registration_offers_the_resend_form);
async fn a_pending_registration_offers_the_resend_form(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    let (_, csrf) = open(&app, "/register?type=practitioner").await;
    let jar = format!("portal_csrf={csrf}");
    let again = submit(&app, "/register", &jar, &jane_details(&csrf)).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(again.text.contains("already registered"));
    assert!(again.text.contains(r#"action="/activation/resend""#));
}

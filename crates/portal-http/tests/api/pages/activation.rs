//! The activation link's page and the resend form.

use super::*;
use crate::helpers::VERIFIED;
use serde_json::json;

both!(the_activation_link_activates_at_once_and_again_says_already_active);
/// SPEC §3 step 5: opening the emailed link activates the account, with a
/// **Login** link; opened again it says "already active", never an error.
async fn the_activation_link_activates_at_once_and_again_says_already_active(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    let token = app.token_in("dr.doe", ACTIVATION, 1).await;
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 403);

    let done = visit(&app, &format!("/activate?token={token}")).await;
    assert!(
        done.text.contains("<h1>Account activated</h1>"),
        "{}",
        done.text
    );
    assert!(
        done.text
            .contains(r#"<a class="button" href="/login">Login</a>"#)
    );
    assert!(!done.text.contains(r#"role="alert""#), "{}", done.text);
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 201);
    app.mail("dr.doe", VERIFIED, 1).await;

    // Opened again (a second click, or after a mail scanner): not an error.
    let again = visit(&app, &format!("/activate?token={token}")).await;
    let csrf = set_cookie(&again, "portal_csrf").expect("the CSRF cookie");
    assert!(
        again
            .text
            .contains("<h1>This account is already active</h1>"),
        "{}",
        again.text
    );
    assert!(
        again
            .text
            .contains(r#"<a class="button" href="/login">Login</a>"#)
    );
    assert!(!again.text.contains(r#"role="alert""#));
    // The form of the earlier pages answers alike.
    let jar = format!("portal_csrf={csrf}");
    let posted = submit(
        &app,
        "/activate",
        &jar,
        &[("csrf", &csrf), ("token", &token)],
    )
    .await;
    assert_eq!(posted.status, 200, "{}", posted.text);
    assert!(posted.text.contains("already active"));
    // Activated once: one Email Verification message.
    assert_eq!(app.mail_count("dr.doe", VERIFIED), 1);
    // The API keeps `invalid_token` for a used token (SPEC §8).
    app.post("/api/v1/activations", &json!({"token": token}))
        .await
        .problem(400, "invalid_token");
}

both!(an_unknown_activation_link_offers_the_resend_form);
async fn an_unknown_activation_link_offers_the_resend_form(db: Db) {
    let app = spawn_app(db, &[]).await;
    app.register(false, "dr.doe").await;
    for path in [
        "/activate?token=garbage",
        "/activate",
        &format!("/activate?token={}", "A".repeat(43)),
    ] {
        let page = app.send(browser().get(app.url(path))).await;
        assert_eq!(page.status, 400, "{path}: {}", page.text);
        assert!(page.text.contains(r#"role="alert""#));
        assert!(page.text.contains(r#"action="/activation/resend""#));
    }
    assert_eq!(
        app.login("dr.doe", PASSWORD).await.status,
        403,
        "nothing activated"
    );
    let csrf = csrf_field(&app.send(browser().get(app.url("/activate"))).await);
    assert_eq!(csrf.len(), 64);
    let jar = format!("portal_csrf={csrf}");
    let resent = submit(
        &app,
        "/activation/resend",
        &jar,
        &[("csrf", &csrf), ("username", "dr.doe")],
    )
    .await;
    assert_eq!(resent.status, 200);
    assert!(resent.text.contains("spam"));
    let token = app.token_in("dr.doe", ACTIVATION, 2).await;
    let done = visit(&app, &format!("/activate?token={token}")).await;
    assert!(done.text.contains("Account activated"));
}

both!(the_activation_link_counts_against_the_rate_limit);
/// `GET /activate` changes accounts, so it shares the forms' limit.
async fn the_activation_link_counts_against_the_rate_limit(db: Db) {
    let app = spawn_app(db, &[("PORTAL_RATE_LIMIT_PER_MINUTE", "2")]).await;
    for _ in 0..2 {
        let page = app
            .send(browser().get(app.url("/activate?token=garbage")))
            .await;
        assert_eq!(page.status, 400);
    }
    // A HEAD runs the same handler: it counts too.
    let limited = app
        .send(browser().head(app.url("/activate?token=garbage")))
        .await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.header("retry-after").is_some());
    // Other pages are not counted.
    assert_eq!(app.send(browser().get(app.url("/login"))).await.status, 200);
}

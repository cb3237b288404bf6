//! Second factors on the pages: the login's second step, and setting up
//! the authenticator app from the home page (the QR code inline).

use super::*;
use crate::mfa::{DATA_KEY, code, enrol};
use portal_domain::second_factor::TotpSecret;

both!(the_second_step_through_the_pages);
async fn the_second_step_through_the_pages(db: Db) {
    let app = spawn_app(db, &[("PORTAL_DATA_KEY", DATA_KEY)]).await;
    let token = app.session(false, "dr.doe").await;
    let (secret, _) = enrol(&app, &token).await;
    let (_, csrf) = open(&app, "/login").await;
    let cookies = format!("portal_csrf={csrf}");
    let login = [
        ("csrf", csrf.as_str()),
        ("username", "dr.doe"),
        ("password", PASSWORD),
    ];
    let step = submit(&app, "/login", &cookies, &login).await;
    assert_eq!(step.status, 200, "{}", step.text);
    assert!(
        step.text.contains("<h1>Enter your code</h1>"),
        "{}",
        step.text
    );
    assert!(
        set_cookie(&step, "portal_session").is_none(),
        "no session yet"
    );
    let challenge = hidden(&step, "challenge_id");
    let csrf = csrf_field(&step);
    let cookies = format!("portal_csrf={csrf}");
    let wrong = submit(
        &app,
        "/login/mfa",
        &cookies,
        &[
            ("csrf", &csrf),
            ("challenge_id", &challenge),
            ("code", "000000"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text.contains("The code is wrong"), "{}", wrong.text);
    assert_eq!(hidden(&wrong, "challenge_id"), challenge, "another try");
    let made_up = submit(
        &app,
        "/login/mfa",
        &cookies,
        &[
            ("csrf", &csrf),
            ("challenge_id", "made-up"),
            ("code", &code(&secret, 1)),
        ],
    )
    .await;
    assert_eq!(made_up.status, 401);
    let done = submit(
        &app,
        "/login/mfa",
        &cookies,
        &[
            ("csrf", &csrf),
            ("challenge_id", &challenge),
            ("code", &code(&secret, 1)),
        ],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.text);
    assert_eq!(done.header("location").as_deref(), Some("/"));
    let session = set_cookie(&done, "portal_session").expect("a session");
    let home = app
        .send(
            browser()
                .get(app.url("/"))
                .header("cookie", format!("portal_session={session}")),
        )
        .await;
    assert_eq!(home.status, 200);
    assert!(
        home.text.contains("10 unused recovery codes"),
        "{}",
        home.text
    );
}

both!(the_authenticator_app_is_set_up_from_the_home_page);
async fn the_authenticator_app_is_set_up_from_the_home_page(db: Db) {
    let app = spawn_app(db, &[("PORTAL_DATA_KEY", DATA_KEY)]).await;
    let token = app.session(false, "dr.doe").await;
    let home = app
        .send(
            browser()
                .get(app.url("/"))
                .header("cookie", format!("portal_session={token}")),
        )
        .await;
    assert!(
        home.text.contains("Set up authenticator app"),
        "{}",
        home.text
    );
    let csrf = csrf_field(&home);
    let cookies = format!("portal_csrf={csrf}; portal_session={token}");
    let refused = submit(
        &app,
        "/mfa/totp",
        &cookies,
        &[("csrf", &csrf), ("current_password", "Wrong-Password-123!")],
    )
    .await;
    assert_eq!(refused.status, 401);
    let setup = submit(
        &app,
        "/mfa/totp",
        &cookies,
        &[("csrf", &csrf), ("current_password", PASSWORD)],
    )
    .await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    assert!(setup.text.contains("<svg role=\"img\""), "inline SVG");
    assert!(!setup.text.contains("<?xml"));
    assert!(!setup.text.contains("<script"));
    let marker = "id=\"totp-secret\" type=\"text\" readonly value=\"";
    let start = setup.text.find(marker).unwrap() + marker.len();
    let key = &setup.text[start..start + setup.text[start..].find('"').unwrap()];
    let secret = TotpSecret::from_base32(key).unwrap();
    let csrf = csrf_field(&setup);
    let cookies = format!("portal_csrf={csrf}; portal_session={token}");
    let codes = submit(
        &app,
        "/mfa/totp/confirm",
        &cookies,
        &[("csrf", &csrf), ("code", &code(&secret, 0))],
    )
    .await;
    assert_eq!(codes.status, 200, "{}", codes.text);
    assert_eq!(codes.text.matches("<li><code>").count(), 10);
    assert_eq!(app.login("dr.doe", PASSWORD).await.status, 202);
}

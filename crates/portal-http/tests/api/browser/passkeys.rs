//! Passkeys in Chromium with chromedriver's virtual authenticator (the
//! WebDriver WebAuthn extension): an account registers a passkey on its
//! home page, logs out, logs in with its password and the passkey, and its
//! account page shows the passkey used. The app is served as
//! `http://localhost:PORT`: a relying party id must be a domain name.

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::json;

use super::*;

/// `POST /session/{id}/webauthn/authenticator`: a platform authenticator
/// with resident keys and user verification, which verifies the user.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
        });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_registered_on_the_home_page_logs_in_in_chromium() {
    let shots = screenshot_dir_named("e2e-passkeys");
    let driver = Chromedriver::start().await;
    let client = driver.browser().await;
    let app = spawn_app(
        Db::Sqlite,
        &[("PORTAL_PUBLIC_URL", crate::helpers::LOCALHOST)],
    )
    .await;
    assert!(app.base.starts_with("http://localhost:"), "{}", app.base);
    app.register_active(false, USERNAME).await;
    let mut walk = Walk {
        client: &client,
        app: &app,
        shots,
        taken: 0,
        checked: Vec::new(),
    };
    let outcome = AssertUnwindSafe(passkey_walk(&mut walk))
        .catch_unwind()
        .await;
    if !matches!(outcome, Ok(Ok(()))) {
        walk.show_failure().await;
    }
    let _ = client.close().await;
    drop(driver);
    // The notices went to the account's address, from webmaster.
    if matches!(outcome, Ok(Ok(()))) {
        app.mail(
            USERNAME,
            "A second factor was added to your Provider Portal account",
            1,
        )
        .await;
    }
    app.stop().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("WebDriver: {e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn passkey_walk(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    walk.client.issue_cmd(AddVirtualAuthenticator).await?;
    walk.goto("/login").await?;
    walk.log_in(USERNAME, PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.step("passkeys-none").await?;
    // Registered by the page's script: the ceremony, then the home page.
    walk.fill("passkey_current_password", PASSWORD).await?;
    walk.fill("passkey_name", "Work laptop").await?;
    walk.click_and_load("//main//button[normalize-space()='Add a passkey']")
        .await?;
    walk.wait_for("//td[normalize-space()='Work laptop']")
        .await?;
    walk.step("passkey-added").await?;
    let listed = walk.body().await?;
    assert!(listed.contains("never"), "not used yet: {listed}");
    // Logged out, then in again: the password, then the passkey.
    walk.submit("Log out").await?;
    walk.goto("/login").await?;
    walk.log_in(USERNAME, PASSWORD).await?;
    walk.wait_heading("Enter your code").await?;
    // The code form is there too (it works without scripts).
    walk.wait_for("//input[@id='code']").await?;
    walk.step("mfa-login-passkey").await?;
    walk.click_and_load("//main//button[normalize-space()='Use a passkey']")
        .await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.wait_for("//td[normalize-space()='Work laptop']")
        .await?;
    let used = walk.body().await?;
    assert!(!used.contains("never"), "used now: {used}");
    walk.step("passkey-used").await?;
    // Renamed with the plain form.
    walk.fill("rename_1", "Desk laptop").await?;
    walk.submit("Rename").await?;
    walk.wait_for("//td[normalize-space()='Desk laptop']")
        .await?;
    Ok(())
}

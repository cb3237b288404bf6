//! The web pages end to end in a real headless Chromium, driven over
//! WebDriver (`chromedriver`, started here on a free port), walking the
//! seed's printed instructions step by step: a practitioner registers with
//! a mistyped email, asks Forgot password? while pending, registers again
//! with the right one, activates with one click, logs in, locks itself out
//! and resets its password from the emailed link; a group's office staff
//! registers with the keyboard only (Tab and Enter; Space ticks the
//! agreement's checkbox, the arrow key picks the security question).
//! Each step leaves a screenshot in `target/e2e-screenshots/`, and every
//! page, in its default and its error states, is checked by axe-core: no
//! serious or critical violation.
//!
//! axe-core is vendored (`vendor/axe-core/`, its licence beside it) and
//! compiled into the test with `include_str!`: nothing is fetched when the
//! test runs.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`cargo xtask test`
//! installs them); without them the test fails, it never skips. It runs on
//! SQLite only: the page handlers are tested on both databases elsewhere.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::error::CmdError;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::{
    ACTIVATION, ANSWER, Db, NEW_PASSWORD, PASSWORD, RESET, TestApp, VERIFIED, spawn_app,
};

/// How long one page may take to appear (CI machines are small).
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Failed logins that lock the account in this test.
const MAX_FAILED: usize = 3;
/// The lock's duration in this test: the page must say it, not "24 hours".
const LOCKOUT: &str = "3h";
const USERNAME: &str = "dr.doe";
/// Where Jane Doe's office means to receive its email, and the address it
/// mistyped first.
const EMAIL: &str = "dr.doe@example.org";
const MISTYPED: &str = "dr.doe@exmaple.org";
const GROUP_USERNAME: &str = "acme.office";
const GROUP_EMAIL: &str = "acme.office@example.org";

/// axe-core 4.14.1 (MPL-2.0), from the npm package; see
/// `vendor/axe-core/README.md`.
const AXE: &str = include_str!("vendor/axe-core/axe.min.js");

/// Runs axe on the page and hands back its serious and critical
/// violations, one line each.
const AXE_RUN: &str = r"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] }).then(
  (results) => done(results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.impact + ' ' + v.id + ': ' + v.help + ' at '
      + v.nodes.map((n) => n.target.join(' ')).join(', '))),
  (error) => done(['axe failed: ' + error]));
";

/// A program on `PATH`, if any.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Where the screenshots go: `target/e2e-screenshots/`, emptied first.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join("e2e-screenshots");
    if dir.exists() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "png") {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `chromedriver`. Dropping it kills the browser it started and
/// then itself, so a failed test leaves neither behind. Both stay in the
/// test's process group, so an interrupted run (Ctrl-C) stops them too.
#[derive(Debug)]
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start() -> Self {
        let Some(program) = on_path("chromedriver") else {
            panic!(
                "chromedriver is not on PATH: the browser test needs Debian's `chromium` and \
                 `chromium-driver`. Run `cargo xtask test` (it installs them) or \
                 `apt-get install -y chromium chromium-driver`."
            );
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // Ready when its status endpoint answers.
        let status = format!("{}/status", driver.url);
        let deadline = tokio::time::Instant::now() + PAGE_TIMEOUT;
        loop {
            if let Ok(answer) = reqwest::get(&status).await
                && answer.status().is_success()
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not answer on {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    /// A headless Chromium session.
    async fn browser(&self) -> Client {
        let Some(chromium) = on_path("chromium") else {
            panic!(
                "chromium is not on PATH: run `cargo xtask test` (it installs it) or \
                 `apt-get install -y chromium chromium-driver`."
            );
        };
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--window-size=1100,1000",
                    "--password-store=basic",
                ],
                "prefs": {
                    "credentials_enable_service": false,
                    "profile.password_manager_enabled": false,
                },
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("could not start headless Chromium: {e}"))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The browser is chromedriver's child (its own helpers exit with
        // it): killed by parent id, then the driver itself.
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser, the app and the numbered screenshots.
struct Walk<'a> {
    client: &'a Client,
    app: &'a TestApp,
    shots: PathBuf,
    taken: usize,
    /// Pages axe checked, by step name.
    checked: Vec<String>,
}

impl Walk<'_> {
    async fn goto(&self, path_or_url: &str) -> Result<(), CmdError> {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            self.app.url(path_or_url)
        };
        self.client.goto(&url).await
    }

    /// Waits for an element (the page it belongs to has loaded).
    async fn wait_for(&self, xpath: &str) -> Result<fantoccini::elements::Element, CmdError> {
        self.client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_element(Locator::XPath(xpath))
            .await
    }

    /// Waits for the page whose `<h1>` is `heading`.
    async fn wait_heading(&self, heading: &str) -> Result<(), CmdError> {
        self.wait_for(&format!("//h1[normalize-space()=\"{heading}\"]"))
            .await
            .map(|_| ())
    }

    /// The text of the page's alert box.
    async fn alert(&self) -> Result<String, CmdError> {
        self.wait_for("//*[@role='alert']").await?.text().await
    }

    /// Types into the field with this id, replacing its value.
    async fn fill(&self, id: &str, text: &str) -> Result<(), CmdError> {
        let field = self.client.find(Locator::Id(id)).await?;
        field.clear().await?;
        field.send_keys(text).await
    }

    /// Marks the document, so that waiting for an unmarked one waits for
    /// the next page (one that looks the same is not mistaken for it).
    async fn mark_document(&self) -> Result<(), CmdError> {
        self.client
            .execute(
                "document.documentElement.setAttribute('data-e2e-left', '1')",
                Vec::new(),
            )
            .await?;
        Ok(())
    }

    async fn wait_next_document(&self) -> Result<(), CmdError> {
        self.wait_for("/html[not(@data-e2e-left)]/body").await?;
        Ok(())
    }

    /// Clicks what `xpath` finds and waits until a new document replaced
    /// this one.
    async fn click_and_load(&self, xpath: &str) -> Result<(), CmdError> {
        self.mark_document().await?;
        self.client
            .find(Locator::XPath(xpath))
            .await?
            .click()
            .await?;
        self.wait_next_document().await
    }

    /// Submits the page's main form with the button labelled `label`.
    async fn submit(&self, label: &str) -> Result<(), CmdError> {
        self.click_and_load(&format!("//main//button[normalize-space()='{label}']"))
            .await
    }

    /// One step done: its screenshot, and axe's check of the page as it
    /// is now (no serious or critical violation).
    async fn step(&mut self, name: &str) -> Result<(), CmdError> {
        self.taken += 1;
        let png = self.client.screenshot().await?;
        let path = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&path, png).unwrap();
        self.axe(name).await
    }

    async fn axe(&mut self, name: &str) -> Result<(), CmdError> {
        let loaded = self
            .client
            .execute("return typeof window.axe === 'object';", Vec::new())
            .await?;
        if loaded != json!(true) {
            self.client.execute(AXE, Vec::new()).await?;
        }
        let found = self.client.execute_async(AXE_RUN, Vec::new()).await?;
        let violations: Vec<String> = serde_json::from_value(found).unwrap();
        assert!(
            violations.is_empty(),
            "axe on {name}: {}",
            violations.join("\n")
        );
        self.checked.push(name.to_owned());
        Ok(())
    }

    async fn body(&self) -> Result<String, CmdError> {
        self.client.find(Locator::Css("main")).await?.text().await
    }

    /// The link of the newest of `count` emails to `to` with this subject.
    async fn emailed_link(&self, to: &str, subject: &str, count: usize, path: &str) -> String {
        let mail = self.app.mail_to(to, subject, count).await;
        let prefix = self.app.url(path);
        mail.links()
            .into_iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} link in {subject:?}"))
    }

    /// Where a failed walk stopped: the page's address and text, and a
    /// last screenshot.
    async fn show_failure(&mut self) {
        let url = self.client.current_url().await.map(|u| u.path().to_owned());
        let text = self.body().await;
        eprintln!("the walk stopped on {url:?}, showing:\n{text:?}");
        self.taken += 1;
        if let Ok(png) = self.client.screenshot().await {
            let path = self.shots.join(format!("{:02}-failure.png", self.taken));
            let _ = std::fs::write(path, png);
        }
    }

    async fn log_in(&self, username: &str, password: &str) -> Result<(), CmdError> {
        self.wait_heading("Provider Login").await?;
        self.fill("username", username).await?;
        self.fill("password", password).await?;
        self.submit("Login").await
    }

    // --- the keyboard ---

    /// Sends keys to the focused element.
    async fn keys(&self, keys: &str) -> Result<(), CmdError> {
        self.client.active_element().await?.send_keys(keys).await
    }

    /// Presses Tab until the focused element is the one `xpath` finds
    /// (at most 40 times: the pages are short).
    async fn tab_to(&self, xpath: &str) -> Result<(), CmdError> {
        let target = self.client.find(Locator::XPath(xpath)).await?;
        let target_id = target.element_id();
        for _ in 0..40 {
            self.keys(&Key::Tab).await?;
            if self.client.active_element().await?.element_id() == target_id {
                return Ok(());
            }
        }
        panic!("Tab never reached {xpath}");
    }

    /// Tabs to the field with this id and types `text` into it.
    async fn tab_and_type(&self, id: &str, text: &str) -> Result<(), CmdError> {
        self.tab_to(&format!("//*[@id='{id}']")).await?;
        self.keys(text).await
    }

    /// Presses Enter on the focused element and waits for the next page.
    async fn enter_and_load(&self) -> Result<(), CmdError> {
        self.mark_document().await?;
        self.keys(&Key::Enter).await?;
        self.wait_next_document().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_instructions_walked_in_chromium() {
    let shots = screenshot_dir();
    let driver = Chromedriver::start().await;
    let client = driver.browser().await;
    let max_failed = MAX_FAILED.to_string();
    let app = spawn_app(
        Db::Sqlite,
        &[
            ("PORTAL_LOCKOUT_MAX_FAILED", &max_failed),
            ("PORTAL_LOCKOUT_DURATION", LOCKOUT),
        ],
    )
    .await;
    let mut walk = Walk {
        client: &client,
        app: &app,
        shots,
        taken: 0,
        checked: Vec::new(),
    };
    // A failed step still closes the browser and stops chromedriver.
    let outcome = AssertUnwindSafe(scenario(&mut walk)).catch_unwind().await;
    if !matches!(outcome, Ok(Ok(()))) {
        walk.show_failure().await;
    }
    let _ = client.close().await;
    drop(driver);
    app.stop().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("WebDriver: {e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn scenario(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    axe_finds_a_violation_it_is_shown(walk).await?;
    practitioner_registers_with_a_mistyped_email(walk).await?;
    forgot_password_while_pending(walk).await?;
    practitioner_registers_again_and_activates(walk).await?;
    lockout_and_forgot_password_while_active(walk).await?;
    group_registers_with_the_keyboard_only(walk).await?;
    pages_off_the_main_path(walk).await?;
    // Every page the portal shows, in its default and error states.
    for page in [
        "login",
        "user-registration",
        "practitioner-form",
        "practitioner-not-found",
        "agreement",
        "account",
        "account-refused",
        "registration-complete",
        "forgot-password",
        "check-your-email",
        "activate-invalid-link",
        "activated",
        "already-active",
        "home",
        "login-refused",
        "locked",
        "reset-form",
        "reset-refused",
        "password-changed",
        "group-form",
        "already-registered",
        "registration-cannot-continue",
        "page-not-found",
    ] {
        assert!(
            walk.checked.iter().any(|c| c.ends_with(page)),
            "axe never checked {page}: {:?}",
            walk.checked
        );
    }
    Ok(())
}

/// The check can fail: an image without a text alternative (a critical
/// violation) added to a page is reported.
async fn axe_finds_a_violation_it_is_shown(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    walk.goto("/login").await?;
    walk.wait_heading("Provider Login").await?;
    walk.client.execute(AXE, Vec::new()).await?;
    walk.client
        .execute(
            "const img = document.createElement('img');
             img.src = '/static/portal.css';
             document.querySelector('main').appendChild(img);",
            Vec::new(),
        )
        .await?;
    let found = walk.client.execute_async(AXE_RUN, Vec::new()).await?;
    let violations: Vec<String> = serde_json::from_value(found).unwrap();
    assert!(
        violations.iter().any(|v| v.contains("image-alt")),
        "{violations:?}"
    );
    Ok(())
}

/// "Go to the Provider Login page and select Register Here"; choose
/// Practitioner; enter the details as on the welcome letter (a first try
/// with a mistyped Provider ID); accept the agreement; create the account,
/// with the email mistyped.
async fn practitioner_registers_with_a_mistyped_email(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    walk.goto("/login").await?;
    walk.wait_heading("Provider Login").await?;
    walk.step("login").await?;
    walk.click_and_load("//a[normalize-space()='Register Here']")
        .await?;
    walk.wait_heading("User Registration").await?;
    let choice = walk.body().await?;
    assert!(choice.contains("Group Payee ID"), "{choice}");
    assert!(choice.contains("registered as an individual"), "{choice}");
    walk.step("user-registration").await?;
    walk.click_and_load("//main//a[normalize-space()='Practitioner']")
        .await?;
    walk.wait_heading("User Registration: Practitioner").await?;
    walk.step("practitioner-form").await?;
    // Any ZIP code from the provider's profile works: Jane Doe's second.
    for (id, value) in [
        ("provider_id", "P1009"),
        ("tax_id", "12-3456789"),
        ("first_name", "Jane"),
        ("last_name", "Doe"),
        ("zip", "45011"),
    ] {
        walk.fill(id, value).await?;
    }
    walk.submit("Next").await?;
    let not_found = walk.alert().await?;
    assert!(
        not_found.contains("CareSource Provider Number"),
        "{not_found}"
    );
    walk.step("practitioner-not-found").await?;
    walk.fill("provider_id", "P1001").await?;
    walk.submit("Next").await?;
    walk.wait_heading("Provider Agreement").await?;
    walk.step("agreement").await?;
    walk.client
        .find(Locator::Id("accepted"))
        .await?
        .click()
        .await?;
    walk.submit("Next").await?;

    // The account: a weak password shows the rule it breaks, in the words
    // the list uses.
    walk.wait_heading("Create your account").await?;
    let account = walk.body().await?;
    assert!(
        account.contains("The email you enter is used to send your account activation."),
        "{account}"
    );
    assert!(
        !account.contains("Must not be a password you used before."),
        "{account}"
    );
    walk.step("account").await?;
    walk.fill("username", USERNAME).await?;
    walk.fill("password", "password1").await?;
    walk.fill("email", MISTYPED).await?;
    walk.client
        .find(Locator::Id("security_question_id"))
        .await?
        .select_by_value("1")
        .await?;
    walk.fill("security_answer", ANSWER).await?;
    walk.submit("Finish Registration").await?;
    walk.wait_heading("Create your account").await?;
    let refusal = walk.alert().await?;
    assert!(
        refusal.contains("Must be at least 12 characters long."),
        "{refusal}"
    );
    walk.step("account-refused").await?;
    // The typed username and email are kept; the password and answer are
    // typed again.
    walk.fill("password", PASSWORD).await?;
    walk.fill("security_answer", ANSWER).await?;
    walk.submit("Finish Registration").await?;
    walk.wait_heading("Registration complete").await?;
    let complete = walk.body().await?;
    assert!(complete.contains("spam"), "{complete}");
    assert!(complete.contains("Register again"), "{complete}");
    walk.step("registration-complete").await?;
    walk.app.mail_to(MISTYPED, ACTIVATION, 1).await;
    Ok(())
}

/// No email came (it went to the mistyped address): Forgot password? on a
/// pending account sends the activation email again, to that address.
async fn forgot_password_while_pending(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    walk.goto("/login").await?;
    walk.click_and_load("(//main//a[normalize-space()='Forgot password?'])[1]")
        .await?;
    walk.wait_heading("Forgot password?").await?;
    walk.step("forgot-password").await?;
    walk.fill("username", USERNAME).await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Check your email").await?;
    let sent = walk.body().await?;
    assert!(sent.contains("spam"), "{sent}");
    walk.step("check-your-email").await?;
    // Sent again, to the only address the account has.
    walk.app.mail_to(MISTYPED, ACTIVATION, 2).await;
    Ok(())
}

/// "Confirm that you have entered the email you registered with": it was
/// wrong, so register again with the right one; the old link is dead, the
/// new one activates with one click.
async fn practitioner_registers_again_and_activates(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    let old_link = walk
        .emailed_link(MISTYPED, ACTIVATION, 2, "/activate?token=")
        .await;
    walk.goto("/register?type=practitioner").await?;
    walk.wait_heading("User Registration: Practitioner").await?;
    for (id, value) in [
        ("provider_id", "P1001"),
        ("tax_id", "123456789"),
        ("first_name", "Jane"),
        ("last_name", "Doe"),
        ("zip", "45202"),
    ] {
        walk.fill(id, value).await?;
    }
    walk.submit("Next").await?;
    walk.wait_heading("Provider Agreement").await?;
    walk.client
        .find(Locator::Id("accepted"))
        .await?
        .click()
        .await?;
    walk.submit("Next").await?;
    walk.wait_heading("Create your account").await?;
    walk.fill("username", USERNAME).await?;
    walk.fill("password", PASSWORD).await?;
    walk.fill("email", EMAIL).await?;
    walk.client
        .find(Locator::Id("security_question_id"))
        .await?
        .select_by_value("1")
        .await?;
    walk.fill("security_answer", ANSWER).await?;
    walk.submit("Finish Registration").await?;
    walk.wait_heading("Registration complete").await?;
    walk.step("registered-again").await?;

    // The link sent to the mistyped address no longer works.
    walk.goto(&old_link).await?;
    walk.wait_heading("Get a new activation email").await?;
    walk.alert().await?;
    walk.step("activate-invalid-link").await?;

    // One click on Activate Account activates.
    let link = walk
        .emailed_link(EMAIL, ACTIVATION, 1, "/activate?token=")
        .await;
    walk.goto(&link).await?;
    walk.wait_heading("Account activated").await?;
    walk.step("activated").await?;
    walk.app.mail_to(EMAIL, VERIFIED, 1).await;
    // Opened again: already active, with Login, not an error.
    walk.goto(&link).await?;
    walk.wait_heading("This account is already active").await?;
    walk.step("already-active").await?;
    walk.click_and_load("//main//a[normalize-space()='Login']")
        .await?;
    walk.log_in(USERNAME, PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    let home = walk.body().await?;
    assert!(home.contains("P1001"), "{home}");
    assert!(
        home.contains("Must not be a password you used before."),
        "{home}"
    );
    walk.step("home").await?;
    walk.submit("Log out").await
}

/// Wrong passwords until locked; the lock's duration as configured;
/// Forgot password? on the active account → the reset link → a new
/// password → logged in.
async fn lockout_and_forgot_password_while_active(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    for attempt in 1..=MAX_FAILED {
        walk.log_in(USERNAME, "Wrong-Password-123!").await?;
        let alert = walk.alert().await?;
        if attempt < MAX_FAILED {
            assert!(
                alert.contains("The username or password is incorrect."),
                "{alert}"
            );
            if attempt == 1 {
                walk.step("login-refused").await?;
            }
        } else {
            assert!(alert.contains("locked"), "{alert}");
        }
    }
    let locked = walk.alert().await?;
    assert!(locked.contains("try again in 3 hours"), "{locked}");
    assert!(!locked.contains("24 hours"), "{locked}");
    walk.step("locked").await?;

    walk.click_and_load("(//main//a[normalize-space()='Forgot password?'])[1]")
        .await?;
    walk.wait_heading("Forgot password?").await?;
    walk.fill("username", USERNAME).await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Check your email").await?;
    walk.step("reset-email-sent").await?;
    let link = walk
        .emailed_link(EMAIL, RESET, 1, "/reset-password?token=")
        .await;
    walk.goto(&link).await?;
    walk.wait_heading("Set a new password").await?;
    let form = walk.body().await?;
    assert!(
        form.contains("Must not be a password you used before."),
        "{form}"
    );
    walk.step("reset-form").await?;
    walk.fill("new_password", PASSWORD).await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Set a new password").await?;
    let refusal = walk.alert().await?;
    assert!(
        refusal.contains("Must not be a password you used before."),
        "{refusal}"
    );
    walk.step("reset-refused").await?;
    walk.fill("new_password", NEW_PASSWORD).await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Password changed").await?;
    walk.step("password-changed").await?;
    walk.click_and_load("//main//a[normalize-space()='Login']")
        .await?;
    walk.log_in(USERNAME, NEW_PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    walk.step("home-after-reset").await?;
    walk.submit("Log out").await
}

/// The Group registration, with the keyboard only: Tab moves, Enter
/// follows a link or submits a form (Space ticks the checkbox and the
/// arrow key picks the question: that is how a keyboard works those).
async fn group_registers_with_the_keyboard_only(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    walk.goto("/login").await?;
    walk.wait_heading("Provider Login").await?;
    walk.tab_to("//a[normalize-space()='Register Here']")
        .await?;
    walk.enter_and_load().await?;
    walk.wait_heading("User Registration").await?;
    walk.tab_to("//main//a[@class='button' and normalize-space()='Group']")
        .await?;
    walk.enter_and_load().await?;
    walk.wait_heading("User Registration: Group").await?;
    let form = walk.body().await?;
    assert!(
        form.contains("A Group sees every provider under the Group Tax ID."),
        "{form}"
    );
    walk.step("group-form").await?;
    // The seed's order: Group Name, Tax ID, Provider ID, ZIP Code.
    walk.tab_and_type("group_name", "Acme Health Group").await?;
    for (id, value) in [
        ("tax_id", "12-3456789"),
        ("provider_id", "G2001"),
        ("zip", "45202"),
    ] {
        walk.keys(&Key::Tab).await?;
        let focused = walk.client.active_element().await?.attr("id").await?;
        assert_eq!(focused.as_deref(), Some(id), "Tab goes in the seed's order");
        walk.keys(value).await?;
    }
    walk.enter_and_load().await?;
    walk.wait_heading("Provider Agreement").await?;
    walk.tab_to("//*[@id='accepted']").await?;
    walk.keys(&Key::Space).await?;
    walk.tab_to("//main//button[normalize-space()='Next']")
        .await?;
    walk.enter_and_load().await?;
    walk.wait_heading("Create your account").await?;
    walk.tab_and_type("username", GROUP_USERNAME).await?;
    walk.keys(&Key::Tab).await?;
    walk.keys(PASSWORD).await?;
    walk.tab_and_type("email", GROUP_EMAIL).await?;
    walk.tab_to("//*[@id='security_question_id']").await?;
    walk.keys(&Key::Down).await?;
    walk.tab_and_type("security_answer", ANSWER).await?;
    walk.tab_to("//main//button[normalize-space()='Finish Registration']")
        .await?;
    walk.enter_and_load().await?;
    walk.wait_heading("Registration complete").await?;
    walk.step("group-registration-complete").await?;

    let link = walk
        .emailed_link(GROUP_EMAIL, ACTIVATION, 1, "/activate?token=")
        .await;
    walk.goto(&link).await?;
    walk.wait_heading("Account activated").await?;
    walk.tab_to("//main//a[normalize-space()='Login']").await?;
    walk.enter_and_load().await?;
    walk.wait_heading("Provider Login").await?;
    walk.tab_and_type("username", GROUP_USERNAME).await?;
    walk.keys(&Key::Tab).await?;
    walk.keys(PASSWORD).await?;
    walk.enter_and_load().await?;
    walk.wait_heading(&format!("Welcome, {GROUP_USERNAME}"))
        .await?;
    // A Group sees every provider under its Tax ID.
    let home = walk.body().await?;
    for provider in ["G2001", "P1001", "P1002"] {
        assert!(home.contains(provider), "{provider} in {home}");
    }
    walk.step("group-home").await?;
    walk.submit("Log out").await
}

/// The pages a provider reaches off the main path: the provider already
/// registered, a registration that cannot continue, an unknown address.
async fn pages_off_the_main_path(walk: &mut Walk<'_>) -> Result<(), CmdError> {
    walk.goto("/register?type=practitioner").await?;
    walk.wait_heading("User Registration: Practitioner").await?;
    for (id, value) in [
        ("provider_id", "P1001"),
        ("tax_id", "123456789"),
        ("first_name", "Jane"),
        ("last_name", "Doe"),
        ("zip", "45202"),
    ] {
        walk.fill(id, value).await?;
    }
    walk.submit("Next").await?;
    walk.wait_heading("Already registered").await?;
    let held = walk.body().await?;
    assert!(held.contains("never activated does not count"), "{held}");
    walk.step("already-registered").await?;

    // The agreement step of a flow that is not there.
    walk.goto("/register?type=group").await?;
    walk.wait_heading("User Registration: Group").await?;
    walk.client
        .execute(
            "const form = document.querySelector('main form');
             form.action = '/register/agreement';
             const id = document.createElement('input');
             id.type = 'hidden'; id.name = 'registration_id'; id.value = 'gone';
             form.appendChild(id);
             form.noValidate = true;",
            Vec::new(),
        )
        .await?;
    walk.submit("Next").await?;
    walk.wait_heading("Registration cannot continue").await?;
    walk.step("registration-cannot-continue").await?;

    walk.goto("/no-such-page").await?;
    walk.wait_heading("Page not found").await?;
    walk.step("page-not-found").await?;
    Ok(())
}

//! The web pages end to end in a real headless Chromium, driven over
//! WebDriver (`chromedriver`, started here on a free port), walking the
//! seed's printed instructions step by step: a practitioner registers with
//! a mistyped email, asks Forgot password? while pending, registers again
//! with the right one, activates with one click, logs in, locks itself out
//! and resets its password from the emailed link, turns on an
//! authenticator app and logs in with its codes; a group's office staff
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

mod passkeys;
mod steps;

use steps::{
    account_settings_from_the_home_page, forgot_password_while_pending,
    group_registers_with_the_keyboard_only, lockout_and_forgot_password_while_active,
    pages_off_the_main_path, practitioner_enrols_an_authenticator_app,
    practitioner_registers_again_and_activates, practitioner_registers_with_a_mistyped_email,
};

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
    screenshot_dir_named("e2e-screenshots")
}

/// `target/<name>/`, emptied of screenshots first.
fn screenshot_dir_named(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join(name);
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
            ("PORTAL_DATA_KEY", crate::mfa::DATA_KEY),
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
    account_settings_from_the_home_page(walk).await?;
    practitioner_enrols_an_authenticator_app(walk).await?;
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
        "security-question-changed",
        "email-change-sent",
        "confirm-email",
        "email-changed",
        "group-form",
        "already-registered",
        "registration-cannot-continue",
        "page-not-found",
        "mfa-setup",
        "mfa-recovery-codes",
        "mfa-login",
        "mfa-login-refused",
        "mfa-removed",
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

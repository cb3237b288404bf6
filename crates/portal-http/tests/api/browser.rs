//! The web pages end to end in a real headless Chromium, driven over
//! WebDriver (`chromedriver`, started here on a free port): a practitioner
//! registers, activates from the emailed link, logs in and sees its
//! provider, locks itself out, and resets its password from the emailed
//! link. Each step leaves a screenshot in `target/e2e-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`cargo xtask test`
//! installs them); without them the test fails, it never skips. It runs on
//! SQLite only: the page handlers are tested on both databases elsewhere.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::{ACTIVATION, ANSWER, Db, NEW_PASSWORD, PASSWORD, RESET, TestApp, spawn_app};

/// How long one page may take to appear (CI machines are small).
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Failed logins that lock the account in this test.
const MAX_FAILED: usize = 3;
const USERNAME: &str = "dr.doe";

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
        self.wait_for(&format!("//h1[normalize-space()='{heading}']"))
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

    /// Clicks what `xpath` finds and waits until a new document replaced
    /// this one (the old one is marked first, so a page that looks the
    /// same is not mistaken for the answer).
    async fn click_and_load(&self, xpath: &str) -> Result<(), CmdError> {
        self.client
            .execute(
                "document.documentElement.setAttribute('data-e2e-left', '1')",
                Vec::new(),
            )
            .await?;
        self.client
            .find(Locator::XPath(xpath))
            .await?
            .click()
            .await?;
        self.wait_for("/html[not(@data-e2e-left)]/body").await?;
        Ok(())
    }

    /// Submits the page's main form with the button labelled `label`.
    async fn submit(&self, label: &str) -> Result<(), CmdError> {
        self.click_and_load(&format!("//main//button[normalize-space()='{label}']"))
            .await
    }

    async fn screenshot(&mut self, name: &str) -> Result<(), CmdError> {
        self.taken += 1;
        let png = self.client.screenshot().await?;
        let path = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&path, png).unwrap();
        Ok(())
    }

    async fn body(&self) -> Result<String, CmdError> {
        self.client.find(Locator::Css("main")).await?.text().await
    }

    /// The link of the newest email with this subject, opened.
    async fn open_emailed_link(&self, subject: &str, path: &str) -> Result<(), CmdError> {
        let mail = self.app.mail(USERNAME, subject, 1).await;
        let prefix = self.app.url(path);
        let link = mail
            .links()
            .into_iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} link in {subject:?}"));
        self.goto(&link).await
    }

    /// Where a failed walk stopped: the page's address and text, and a
    /// last screenshot.
    async fn show_failure(&mut self) {
        let url = self.client.current_url().await.map(|u| u.path().to_owned());
        let text = self.body().await;
        eprintln!("the walk stopped on {url:?}, showing:\n{text:?}");
        let _ = self.screenshot("failure").await;
    }

    async fn log_in(&self, password: &str) -> Result<(), CmdError> {
        self.wait_heading("Provider Login").await?;
        self.fill("username", USERNAME).await?;
        self.fill("password", password).await?;
        self.submit("Login").await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_activate_lock_out_and_reset_in_chromium() {
    let shots = screenshot_dir();
    let driver = Chromedriver::start().await;
    let client = driver.browser().await;
    let max_failed = MAX_FAILED.to_string();
    let app = spawn_app(Db::Sqlite, &[("PORTAL_LOCKOUT_MAX_FAILED", &max_failed)]).await;
    let mut walk = Walk {
        client: &client,
        app: &app,
        shots,
        taken: 0,
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
    // Registration: the choice, the practitioner's details, the agreement.
    walk.goto("/login").await?;
    walk.wait_heading("Provider Login").await?;
    walk.click_and_load("//a[normalize-space()='Register Here']")
        .await?;
    walk.wait_heading("Register").await?;
    walk.screenshot("register-choose").await?;
    walk.click_and_load("//main//a[normalize-space()='Practitioner']")
        .await?;
    walk.wait_heading("Register as a Practitioner").await?;
    for (id, value) in [
        ("provider_id", "P1001"),
        ("tax_id", "12-3456789"),
        ("first_name", "Jane"),
        ("last_name", "Doe"),
        ("zip", "45202"),
    ] {
        walk.fill(id, value).await?;
    }
    walk.screenshot("practitioner-details").await?;
    walk.submit("Next").await?;
    walk.wait_heading("Provider Agreement").await?;
    walk.client
        .find(Locator::Id("accepted"))
        .await?
        .click()
        .await?;
    walk.screenshot("agreement").await?;
    walk.submit("Next").await?;

    // The account: a weak password shows the rules it breaks.
    walk.wait_heading("Create your account").await?;
    walk.fill("username", USERNAME).await?;
    walk.fill("password", "password1").await?;
    walk.fill("email", "dr.doe@example.org").await?;
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
        refusal.contains("The password does not meet the password rules."),
        "{refusal}"
    );
    assert!(refusal.contains("Use at least"), "{refusal}");
    walk.screenshot("account-weak-password").await?;
    // The typed username is kept; the password and answer are typed again.
    walk.fill("password", PASSWORD).await?;
    walk.fill("security_answer", ANSWER).await?;
    walk.submit("Finish Registration").await?;
    walk.wait_heading("Registration complete").await?;
    walk.screenshot("registration-complete").await?;

    // Activation from the emailed link: the GET shows a button.
    walk.open_emailed_link(ACTIVATION, "/activate?token=")
        .await?;
    walk.wait_heading("Activate your account").await?;
    walk.screenshot("activate").await?;
    walk.submit("Activate").await?;
    walk.wait_heading("Account activated").await?;
    walk.screenshot("activated").await?;
    walk.click_and_load("//main//a[normalize-space()='Login']")
        .await?;

    // Logged in, the home page lists the practitioner's provider.
    walk.log_in(PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    let home = walk.body().await?;
    assert!(home.contains("P1001"), "{home}");
    walk.screenshot("home").await?;
    walk.submit("Log out").await?;

    // Wrong passwords until locked.
    for attempt in 1..=MAX_FAILED {
        walk.log_in("Wrong-Password-123!").await?;
        let alert = walk.alert().await?;
        if attempt < MAX_FAILED {
            assert!(
                alert.contains("The username or password is incorrect."),
                "{alert}"
            );
            if attempt == 1 {
                walk.screenshot("wrong-password").await?;
            }
        } else {
            assert!(alert.contains("locked"), "{alert}");
        }
    }
    let locked = walk.body().await?;
    assert!(locked.contains("24 hours"), "{locked}");
    walk.screenshot("locked").await?;

    // Forgot password? → the emailed link → a new password → logged in.
    walk.click_and_load("(//main//a[normalize-space()='Forgot password?'])[1]")
        .await?;
    walk.wait_heading("Forgot password?").await?;
    walk.fill("username", USERNAME).await?;
    walk.screenshot("forgot-password").await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Check your email").await?;
    walk.screenshot("reset-email-sent").await?;
    walk.open_emailed_link(RESET, "/reset-password?token=")
        .await?;
    walk.wait_heading("Set a new password").await?;
    walk.fill("new_password", NEW_PASSWORD).await?;
    walk.screenshot("reset-form").await?;
    walk.submit("Submit").await?;
    walk.wait_heading("Password changed").await?;
    walk.screenshot("password-changed").await?;
    walk.click_and_load("//main//a[normalize-space()='Login']")
        .await?;
    walk.log_in(NEW_PASSWORD).await?;
    walk.wait_heading(&format!("Welcome, {USERNAME}")).await?;
    let home = walk.body().await?;
    assert!(home.contains("P1001"), "{home}");
    walk.screenshot("home-after-reset").await?;
    Ok(())
}

//! `cargo xtask mta`: the SMTP mailer against a real MTA, Debian's exim4,
//! not only the in-process sink of the tests.
//!
//! It installs `exim4-daemon-light` when missing (without ever starting the
//! package's own daemon on port 25), makes a private CA and a certificate
//! for `localhost`/127.0.0.1 with the `openssl` CLI, and runs two exim
//! daemons in the foreground, each with a configuration of its own on a
//! free loopback port: relay A offers STARTTLS (and AUTH PLAIN only after
//! it) and relay B offers no TLS at all. Both deliver every message to a
//! maildir this command reads. Each scenario starts the release
//! `portal-http serve` on a fresh SQLite database, registers a provider
//! through the JSON API so that an activation email is queued, and checks
//! what the relay received, exim's log, the outbox and the service's log:
//!
//! - `starttls-offered`, `plain-when-not-offered`, `tls-none`: `smtp://`
//!   uses STARTTLS when offered, else plain; `?tls=none` never TLS;
//! - `tls-required-ca`, `tls-required-system-store`: `?tls=required` trusts
//!   the private CA through `PORTAL_SMTP_CA`, and through the system store
//!   (and refuses the relay when the CA is in neither);
//! - `no-starttls`: `?tls=required` to relay B sends nothing, keeps the
//!   email queued and says why at WARN, once; a good relay then gets it;
//! - `auth-over-tls`: AUTH PLAIN after STARTTLS, credentials never logged;
//! - `headers`: the four kinds of email as received (subjects, `From`,
//!   `Date`, `Message-ID`, `Auto-Submitted`) and the EHLO name.
//!
//! `docs/email.md` ("Against a real MTA") describes the checks and keeps the
//! latest results.
//!
//! It needs root: apt-get, `update-ca-certificates` (one scenario trusts the
//! CA through the system store) and exim's own users. Everything it adds is
//! removed at the end, also when a check fails: the CA in the system store,
//! the work folder, the processes it started. Only the package stays.

use std::collections::BTreeSet;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::service::{PROVIDERS, build_release, free_port, json_string, request};
use crate::workspace_root;

/// The EHLO name the service is given (`PORTAL_SMTP_HELO`).
const HELO: &str = "portal.test.example";
/// The domain of `PORTAL_MAIL_FROM`, which every Message-ID must end with.
const MAIL_DOMAIN: &str = "provider-portal.test.example";
/// The account every scenario registers.
const USERNAME: &str = "mta.jane01";
const RECIPIENT: &str = "jane.doe@clinic.example.org";
const PASSWORD: &str = "Quartz-Harbor-71-Lantern";
const NEW_PASSWORD: &str = "Copper-Meadow-38-Falcon";
/// The one user relay A accepts for AUTH PLAIN (after STARTTLS only).
const SMTP_USER: &str = "relay-submitter";
const SMTP_PASSWORD: &str = "Pw-7ux3-relay-only";
/// The exact subjects (SPEC §3, `EmailKind::subject`, default brand).
const ACTIVATION_SUBJECT: &str = "Activate Your Provider Portal Account";
const VERIFICATION_SUBJECT: &str = "Email Verification";
const RESET_SUBJECT: &str = "CareSource Provider Portal Password";
const CHANGED_SUBJECT: &str = "Your Provider Portal password was changed";
/// How long an email may take to reach the relay (the worker polls every
/// second) and a failed send to show in the log.
const MAIL_WAIT: Duration = Duration::from_secs(30);
/// The Debian package installed when `exim4` is missing: its plaintext
/// authenticator covers AUTH PLAIN; the heavy build adds nothing needed here.
const EXIM_PACKAGE: &str = "exim4-daemon-light";
const EXIM: &str = "/usr/sbin/exim4";
/// Where `update-ca-certificates` takes local CAs from, and its bundle.
const LOCAL_CA_DIR: &str = "/usr/local/share/ca-certificates";
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Runs every scenario; exits non-zero when a check fails.
pub fn run(args: &[&str]) -> ExitCode {
    if !args.is_empty() {
        eprintln!("xtask mta: takes no arguments");
        return ExitCode::from(2);
    }
    let started = now();
    let mut checks = Checks::default();
    if let Err(message) = run_all(&mut checks) {
        checks.check("setup", false, &message);
    }
    let seconds = started.elapsed().as_secs_f64();
    let failed = checks.failed();
    eprintln!(
        "\nxtask mta: {} checks, {failed} failed, {seconds:.1} s",
        checks.total
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_all(checks: &mut Checks) -> Result<(), String> {
    require_root()?;
    ensure_programs()?;
    let version = exim_version()?;
    eprintln!("xtask mta: {version}");
    build_release()?;
    let work = WorkDir::create()?;
    let certs = make_certs(work.path())?;
    let relay_a = Relay::start(work.path(), "relay-a", Some(&certs))?;
    let relay_b = Relay::start(work.path(), "relay-b", None)?;
    let ctx = Ctx {
        work: work.path().to_owned(),
        certs,
        relay_a,
        relay_b,
    };
    let scenarios: [(&str, ScenarioFn); 9] = [
        ("starttls-offered", starttls_offered),
        ("starttls-offered-untrusted", starttls_offered_untrusted),
        ("plain-when-not-offered", plain_when_not_offered),
        ("tls-none", tls_none),
        ("tls-required-ca", tls_required_with_ca),
        ("tls-required-system-store", tls_required_with_system_store),
        ("no-starttls", relay_without_starttls),
        ("auth-over-tls", auth_over_tls),
        ("headers", headers),
    ];
    for (name, scenario) in scenarios {
        eprintln!("\n==> mta {name}");
        let started = now();
        if let Err(message) = scenario(&ctx, &mut Scenario { name, checks }) {
            checks.check(name, false, &format!("could not run: {message}"));
        }
        eprintln!("    ({name}: {:.1} s)", started.elapsed().as_secs_f64());
    }
    if checks.failed() > 0 {
        eprintln!(
            "\nxtask mta: relay A's exim log:\n{}\nrelay B's exim log:\n{}",
            ctx.relay_a.mainlog(),
            ctx.relay_b.mainlog()
        );
    }
    Ok(())
}

type ScenarioFn = fn(&Ctx, &mut Scenario<'_>) -> Result<(), String>;

/// What the scenarios share.
#[derive(Debug)]
struct Ctx {
    work: PathBuf,
    certs: Certs,
    relay_a: Relay,
    relay_b: Relay,
}

impl Ctx {
    fn ca_env(&self) -> (&'static str, String) {
        ("PORTAL_SMTP_CA", self.certs.ca.display().to_string())
    }
}

/// Every check's outcome, printed as it is made.
#[derive(Debug, Default)]
struct Checks {
    total: usize,
    failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, scenario: &str, ok: bool, text: &str) {
        self.total += 1;
        let verdict = if ok { "PASS" } else { "FAIL" };
        eprintln!("{verdict}  {scenario}: {text}");
        if !ok {
            self.failures.push(format!("{scenario}: {text}"));
        }
    }

    fn failed(&self) -> usize {
        self.failures.len()
    }
}

/// One scenario's view of the checks.
#[derive(Debug)]
struct Scenario<'a> {
    name: &'static str,
    checks: &'a mut Checks,
}

impl Scenario<'_> {
    fn check(&mut self, ok: bool, text: impl AsRef<str>) -> bool {
        self.checks.check(self.name, ok, text.as_ref());
        ok
    }
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// `smtp://localhost:PORT` (opportunistic) with the private CA: the relay
/// offers STARTTLS, so the email must travel over TLS.
fn starttls_offered(ctx: &Ctx, s: &mut Scenario<'_>) -> Result<(), String> {
    let url = format!("smtp://localhost:{}", ctx.relay_a.port);
    let portal = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url), ctx.ca_env()])?;
    let describes = portal.log().lines().any(|line| {
        line.contains("emails are sent through SMTP")
            && line.contains(&format!("localhost:{}", ctx.relay_a.port))
            && line.contains("STARTTLS when the relay offers it")
    });
    s.check(
        describes,
        "serve logs the relay and the mode (STARTTLS when offered) at start",
    );
    delivered_over_tls(s, &portal, &ctx.relay_a, None)
}

/// `smtp://localhost:PORT` (opportunistic) without the private CA: the
/// relay's certificate is one nothing here trusts, and opportunistic
/// STARTTLS (like an MTA's) still encrypts rather than sending nothing.
fn starttls_offered_untrusted(ctx: &Ctx, s: &mut Scenario<'_>) -> Result<(), String> {
    let url = format!("smtp://localhost:{}", ctx.relay_a.port);
    let portal = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url)])?;
    delivered_over_tls(s, &portal, &ctx.relay_a, None)
}

/// `smtp://localhost:PORT` (opportunistic) to relay B, which offers no
/// STARTTLS: the email goes in clear, as the mode promises.
fn plain_when_not_offered(ctx: &Ctx, s: &mut Scenario<'_>) -> Result<(), String> {
    let url = format!("smtp://localhost:{}", ctx.relay_b.port);
    let portal = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url), ctx.ca_env()])?;
    delivered(s, &portal, &ctx.relay_b, false, None)
}

/// `?tls=none` to relay A: never TLS, although the relay offers it.
fn tls_none(ctx: &Ctx, s: &mut Scenario<'_>) -> Result<(), String> {
    let url = format!("smtp://localhost:{}?tls=none", ctx.relay_a.port);
    let portal = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url)])?;
    delivered(s, &portal, &ctx.relay_a, false, None)
}

/// `?tls=required` with the private CA through `PORTAL_SMTP_CA`.
fn tls_required_with_ca(ctx: &Ctx, s: &mut Scenario<'_>) -> Result<(), String> {
    let url = format!("smtp://localhost:{}?tls=required", ctx.relay_a.port);
    let portal = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url), ctx.ca_env()])?;
    let describes = portal.log().lines().any(|line| {
        line.contains("emails are sent through SMTP")
            && line.contains("STARTTLS required (tls=required)")
            && line.contains("1 certificate(s) of PORTAL_SMTP_CA")
            && line.contains(&format!("EHLO {HELO}"))
    });
    s.check(
        describes,
        "serve logs tls=required, the CA of PORTAL_SMTP_CA and the EHLO name at start",
    );
    delivered_over_tls(s, &portal, &ctx.relay_a, None)
}

/// `?tls=required` with the CA in the system's trust store instead. First
/// without it anywhere: the certificate must be refused (so the store is
/// what makes the second half work).
fn tls_required_with_system_store(ctx: &Ctx, s: &mut Scenario<'_>) -> Result<(), String> {
    let url = format!("smtp://localhost:{}?tls=required", ctx.relay_a.port);
    {
        let seen = ctx.relay_a.message_names();
        let portal = Portal::start(
            &ctx.work,
            &format!("{}-untrusted", s.name),
            &[("PORTAL_SMTP_URL", url.clone())],
        )?;
        portal.register()?;
        let warned = wait_until(MAIL_WAIT, || {
            mail_warnings(&portal.log())
                .iter()
                .any(|line| line.to_ascii_lowercase().contains("certificate"))
        });
        s.check(
            warned,
            "without the CA anywhere, the relay's certificate is refused (WARN names the certificate)",
        );
        if let Some(line) = mail_warnings(&portal.log()).first() {
            eprintln!("      {line}");
        }
        s.check(
            ctx.relay_a.new_messages(&seen).is_empty(),
            "without the CA anywhere, nothing is delivered",
        );
    }
    let mut system_ca = SystemCa::install(&ctx.certs.ca)?;
    s.check(
        system_ca.in_bundle(),
        format!("update-ca-certificates put the CA into {SYSTEM_BUNDLE}"),
    );
    let result = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url)])
        .and_then(|portal| delivered_over_tls(s, &portal, &ctx.relay_a, None));
    let removed = system_ca.remove();
    s.check(
        removed.is_ok(),
        format!(
            "the CA is removed from the system store again (update-ca-certificates --fresh){}",
            removed.err().map(|e| format!(": {e}")).unwrap_or_default()
        ),
    );
    result
}

/// `?tls=required` against relay B, which offers no STARTTLS: nothing is
/// sent, the email stays queued, and the reason is logged at WARN. Then the
/// same database against relay A: the email that waited arrives.
fn relay_without_starttls(ctx: &Ctx, s: &mut Scenario<'_>) -> Result<(), String> {
    let url = format!("smtp://localhost:{}?tls=required", ctx.relay_b.port);
    let seen_b = ctx.relay_b.message_names();
    let log_b_before = ctx.relay_b.mainlog().len();
    let portal = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url), ctx.ca_env()])?;
    portal.register()?;
    let warned = wait_until(MAIL_WAIT, || {
        mail_warnings(&portal.log())
            .iter()
            .any(|line| line.to_ascii_lowercase().contains("starttls"))
    });
    s.check(
        warned,
        "the service logs at WARN that the relay does not offer STARTTLS",
    );
    if let Some(line) = mail_warnings(&portal.log()).first() {
        eprintln!("      {line}");
    }
    let outbox = portal.outbox()?;
    s.check(
        outbox.len() == 1
            && outbox
                .iter()
                .all(|row| row.status == "queued" && row.attempts >= 1),
        format!("the activation email stays queued after a failed attempt: {outbox:?}"),
    );
    // The second attempt comes after the first backoff (5 s and jitter)
    // and fails for the same reason: no second WARN line within the minute.
    let retried = wait_until(MAIL_WAIT, || {
        portal
            .outbox()
            .is_ok_and(|rows| rows.iter().any(|row| row.attempts >= 2))
    });
    let warnings = mail_warnings(&portal.log()).len();
    s.check(
        retried && warnings == 1,
        format!("a second failed attempt is not logged at WARN again ({warnings} WARN line(s))"),
    );
    s.check(
        ctx.relay_b.new_messages(&seen_b).is_empty(),
        "relay B received nothing",
    );
    let log_b = ctx.relay_b.mainlog();
    s.check(
        !log_b
            .get(log_b_before..)
            .unwrap_or_default()
            .contains(" <= "),
        "relay B's log shows no message accepted",
    );
    drop(portal);
    // The same database, now with a relay that offers STARTTLS: the email
    // that waited goes out after its backoff (5 s and jitter).
    let seen = ctx.relay_a.message_names();
    let url = format!("smtp://localhost:{}?tls=required", ctx.relay_a.port);
    let portal = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url), ctx.ca_env()])?;
    let arrived = wait_until(MAIL_WAIT, || !ctx.relay_a.new_messages(&seen).is_empty());
    s.check(
        arrived,
        "once a relay with STARTTLS is configured, the queued email arrives",
    );
    let outbox = portal.outbox()?;
    s.check(
        outbox.len() == 1 && outbox.iter().all(|row| row.status == "sent"),
        format!("its outbox row is sent: {outbox:?}"),
    );
    Ok(())
}

/// `smtp://user:password@localhost:PORT?tls=required`: exim accepts the
/// authenticated submission, and the credentials never reach the log.
fn auth_over_tls(ctx: &Ctx, s: &mut Scenario<'_>) -> Result<(), String> {
    let url = format!(
        "smtp://{SMTP_USER}:{SMTP_PASSWORD}@localhost:{}?tls=required",
        ctx.relay_a.port
    );
    let portal = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url), ctx.ca_env()])?;
    delivered_over_tls(s, &portal, &ctx.relay_a, Some(SMTP_USER))?;
    let log = portal.log();
    let blob = base64(format!("\0{SMTP_USER}\0{SMTP_PASSWORD}").as_bytes());
    s.check(
        !log.contains(SMTP_PASSWORD) && !log.contains(SMTP_USER) && !log.contains(&blob),
        "the service's log holds neither the username, the password nor the AUTH PLAIN string",
    );
    Ok(())
}

/// The headers of every kind of email a registration, an activation and a
/// password reset cause, as the relay received them, and the EHLO name.
fn headers(ctx: &Ctx, s: &mut Scenario<'_>) -> Result<(), String> {
    let relay = &ctx.relay_a;
    let url = format!("smtp://localhost:{}?tls=required", relay.port);
    let portal = Portal::start(&ctx.work, s.name, &[("PORTAL_SMTP_URL", url), ctx.ca_env()])?;
    let mut seen = relay.message_names();
    portal.register()?;
    let activation = relay.wait_subject(&mut seen, ACTIVATION_SUBJECT)?;
    let token = link_token(&activation, "activate?token=")
        .ok_or("no activation link in the activation email")?;
    expect(
        "activation",
        200,
        portal.post("/api/v1/activations", &format!(r#"{{"token":"{token}"}}"#))?,
    )?;
    let verification = relay.wait_subject(&mut seen, VERIFICATION_SUBJECT)?;
    expect(
        "password reset",
        202,
        portal.post(
            "/api/v1/password-resets",
            &format!(r#"{{"username":"{USERNAME}"}}"#),
        )?,
    )?;
    let reset = relay.wait_subject(&mut seen, RESET_SUBJECT)?;
    let token = link_token(&reset, "reset-password?token=")
        .ok_or("no reset link in the password reset email")?;
    expect(
        "reset confirmation",
        204,
        portal.post(
            "/api/v1/password-resets/confirm",
            &format!(r#"{{"token":"{token}","new_password":"{NEW_PASSWORD}"}}"#),
        )?,
    )?;
    let changed = relay.wait_subject(&mut seen, CHANGED_SUBJECT)?;
    let mainlog = relay.mainlog();
    for (kind, message, subject) in [
        ("activation", &activation, ACTIVATION_SUBJECT),
        ("email verification", &verification, VERIFICATION_SUBJECT),
        ("password reset", &reset, RESET_SUBJECT),
        ("password changed", &changed, CHANGED_SUBJECT),
    ] {
        check_headers(s, kind, message, subject, &mainlog);
    }
    Ok(())
}

/// Registers, waits for the activation email at `relay`, and checks that it
/// came over TLS (authenticated as `user` when given) and is sent in the
/// outbox.
fn delivered_over_tls(
    s: &mut Scenario<'_>,
    portal: &Portal,
    relay: &Relay,
    user: Option<&str>,
) -> Result<(), String> {
    delivered(s, portal, relay, true, user)
}

/// Registers, waits for the activation email at `relay`, and checks how it
/// travelled: over TLS or in clear, authenticated as `user` or not.
fn delivered(
    s: &mut Scenario<'_>,
    portal: &Portal,
    relay: &Relay,
    tls: bool,
    user: Option<&str>,
) -> Result<(), String> {
    let mut seen = relay.message_names();
    portal.register()?;
    let message = match relay.wait_message(&mut seen) {
        Ok(message) => message,
        Err(why) => {
            s.check(false, format!("the activation email arrives: {why}"));
            let warnings = mail_warnings(&portal.log());
            eprintln!("      the service's WARN lines: {warnings:#?}");
            return Ok(());
        }
    };
    s.check(true, "the activation email arrives at the relay");
    let line = received_line(&relay.mainlog(), &message);
    let shown = line.as_deref().unwrap_or("no <= line for its Message-ID");
    if tls {
        let over_tls = line
            .as_deref()
            .is_some_and(|line| line.contains(" P=esmtps") && line.contains(" X=TLS"));
        s.check(
            over_tls,
            format!("exim received it over TLS (P=esmtps, X=TLS…): {shown}"),
        );
    } else {
        let in_clear = line
            .as_deref()
            .is_some_and(|line| line.contains(" P=esmtp ") && !line.contains(" X="));
        s.check(
            in_clear,
            format!("exim received it in clear (P=esmtp, no X=): {shown}"),
        );
    }
    if let Some(user) = user {
        let authenticated = line
            .as_deref()
            .is_some_and(|line| line.contains(&format!(" A=plain:{user} ")));
        s.check(
            authenticated,
            format!("exim accepted it through AUTH PLAIN as {user} (A=plain:{user})"),
        );
    }
    s.check(
        header(&message, "Subject").as_deref() == Some(ACTIVATION_SUBJECT),
        format!("its subject is exactly \"{ACTIVATION_SUBJECT}\""),
    );
    let sent = wait_until(Duration::from_secs(10), || {
        portal
            .outbox()
            .is_ok_and(|rows| rows.iter().all(|row| row.status == "sent"))
    });
    s.check(sent, "its outbox row is marked sent");
    Ok(())
}

/// The header checks of one received message (`kind` names it).
fn check_headers(s: &mut Scenario<'_>, kind: &str, message: &str, subject: &str, mainlog: &str) {
    let mut check = |ok: bool, text: String| s.check(ok, format!("{kind}: {text}"));
    let got = header(message, "Subject").unwrap_or_default();
    check(got == subject, format!("Subject: {got}"));
    let from = header(message, "From").unwrap_or_default();
    check(
        from == format!("webmaster <webmaster@{MAIL_DOMAIN}>"),
        format!("From: {from}"),
    );
    let date = header(message, "Date").unwrap_or_default();
    check(is_rfc5322_date(&date), format!("Date: {date}"));
    let id = header(message, "Message-ID").unwrap_or_default();
    check(
        id.starts_with('<') && id.ends_with(&format!("@{MAIL_DOMAIN}>")),
        format!("Message-ID: {id}"),
    );
    let auto = header(message, "Auto-Submitted").unwrap_or_default();
    check(auto == "auto-generated", format!("Auto-Submitted: {auto}"));
    let received = header(message, "Received").unwrap_or_default();
    let line = received_line(mainlog, message).unwrap_or_default();
    check(
        received.contains(&format!("helo={HELO}")) && line.contains(&format!(" H=({HELO}) ")),
        format!("EHLO {HELO} (its Received header and exim's log)"),
    );
}

mod certs;
mod exim;
mod machine;
mod portal;

use certs::*;
use exim::*;
use machine::*;
use portal::*;

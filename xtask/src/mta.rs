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

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/// The release `portal-http serve` on a SQLite database of its own
/// (`WORK/NAME.db`, migrated and given the example roster when new); killed
/// when dropped.
#[derive(Debug)]
struct Portal {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    db: PathBuf,
}

impl Portal {
    fn start(work: &Path, name: &str, env: &[(&str, String)]) -> Result<Self, String> {
        let root = workspace_root();
        let binary = root.join("target/release/portal-http");
        let db = work.join(format!("{name}.db"));
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut vars: Vec<(&str, String)> = vec![
            ("DATABASE_URL", format!("sqlite:{}", db.display())),
            ("PORTAL_LISTEN", addr.to_string()),
            ("PORTAL_PUBLIC_URL", format!("http://{addr}")),
            ("PORTAL_MAIL_FROM", format!("webmaster@{MAIL_DOMAIN}")),
            ("PORTAL_SMTP_HELO", HELO.to_owned()),
            ("PORTAL_RATE_LIMIT_PER_MINUTE", "0".to_owned()),
            // Cheap Argon2: the scenarios are about mail, not hashing.
            ("PORTAL_ARGON2_M_KIB", "4096".to_owned()),
            ("PORTAL_ARGON2_T", "1".to_owned()),
            ("PORTAL_LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info,portal::mail=debug".to_owned()),
        ];
        vars.extend(env.iter().cloned());
        let command = |args: &[&str]| {
            let mut command = Command::new(&binary);
            command.args(args).current_dir(root).stdin(Stdio::null());
            // Only our settings apply, and the system's trust store is the
            // one rustls-native-certs finds by default.
            for (key, _) in std::env::vars_os() {
                let key_text = key.to_string_lossy();
                if key_text.starts_with("PORTAL_") || key_text.starts_with("SSL_CERT_") {
                    command.env_remove(&key);
                }
            }
            command.envs(vars.iter().map(|(k, v)| (k, v)));
            command
        };
        if !db.exists() {
            // Commands other than `migrate` and `serve` refuse a database
            // without the schema (SPEC §9): migrate before importing.
            for args in [
                &["migrate"][..],
                &["roster", "import", "docs/roster-example.csv"],
            ] {
                let output = command(args)
                    .output()
                    .map_err(|e| format!("portal-http {}: {e}", args.join(" ")))?;
                if !output.status.success() {
                    return Err(format!(
                        "portal-http {} failed: {}",
                        args.join(" "),
                        String::from_utf8_lossy(&output.stderr)
                    ));
                }
            }
        }
        let log = work.join(format!("{name}.{port}.log"));
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let file_err = file.try_clone().map_err(|e| e.to_string())?;
        let child = command(&["serve"])
            .stdout(file)
            .stderr(file_err)
            .spawn()
            .map_err(|e| format!("could not start portal-http serve: {e}"))?;
        let mut portal = Self {
            child,
            addr,
            log,
            db,
        };
        let up = wait_until(Duration::from_secs(30), || {
            matches!(request(addr, "GET", "/healthz", None), Ok((200, _)))
                || !matches!(portal.child.try_wait(), Ok(None))
        });
        if up && matches!(portal.child.try_wait(), Ok(None)) {
            Ok(portal)
        } else {
            Err(format!(
                "portal-http serve did not answer /healthz; its log:\n{}",
                portal.log()
            ))
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn post(&self, path: &str, json: &str) -> Result<(u16, String), String> {
        request(self.addr, "POST", path, Some(json))
    }

    /// Provider details, agreement and account for P1001: the activation
    /// email is queued.
    fn register(&self) -> Result<(), String> {
        let started = expect(
            "registration",
            201,
            self.post("/api/v1/registrations", PROVIDERS[0])?,
        )?;
        let id = json_string(&started, "registration_id")
            .ok_or_else(|| format!("no registration_id in {started}"))?;
        expect(
            "agreement",
            200,
            self.post(
                &format!("/api/v1/registrations/{id}/agreement"),
                r#"{"accepted":true,"agreement_version":"1"}"#,
            )?,
        )?;
        let account = format!(
            r#"{{"username":"{USERNAME}","password":"{PASSWORD}","email":"{RECIPIENT}","security_question_id":1,"security_answer":"Fluffy"}}"#
        );
        expect(
            "account",
            201,
            self.post(&format!("/api/v1/registrations/{id}/account"), &account)?,
        )?;
        Ok(())
    }

    /// The outbox's rows, read with the `sqlite3` CLI.
    fn outbox(&self) -> Result<Vec<OutboxRow>, String> {
        let db = self.db.display().to_string();
        let output = run_bounded(
            "sqlite3",
            &[
                "-separator",
                "|",
                &db,
                "SELECT kind, status, attempts, coalesce(last_error, '') FROM email_outbox ORDER BY id",
            ],
            Duration::from_secs(10),
        )?;
        Ok(output
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(4, '|');
                Some(OutboxRow {
                    kind: fields.next()?.to_owned(),
                    status: fields.next()?.to_owned(),
                    attempts: fields.next()?.parse().ok()?,
                    last_error: fields.next().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
#[allow(dead_code, reason = "shown in the checks' texts through Debug")]
struct OutboxRow {
    kind: String,
    status: String,
    attempts: u32,
    last_error: String,
}

fn expect(step: &str, want: u16, got: (u16, String)) -> Result<String, String> {
    if got.0 == want {
        Ok(got.1)
    } else {
        Err(format!("{step}: expected {want}, got {} {}", got.0, got.1))
    }
}

/// The service's WARN lines of the mail target.
fn mail_warnings(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|json| {
                json["level"] == "WARN" && json["target"].as_str() == Some("portal::mail")
            })
        })
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------
// exim
// ---------------------------------------------------------------------------

/// An exim daemon in the foreground (`-bdf`) with its own configuration,
/// spool, log and maildir under `WORK/NAME`; killed when dropped.
#[derive(Debug)]
struct Relay {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Relay {
    /// With `certs`, the relay offers STARTTLS and, after it, AUTH PLAIN
    /// for [`SMTP_USER`]; without, neither.
    fn start(work: &Path, name: &str, certs: Option<&Certs>) -> Result<Self, String> {
        let dir = work.join(name);
        for sub in ["spool", "log", "mail"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let port = free_port()?;
        let tls_files = match certs {
            // exim reads its key as Debian-exim, when a client asks for TLS.
            Some(certs) => {
                let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
                fs::copy(&certs.server_cert, &cert)
                    .and_then(|_| fs::copy(&certs.server_key, &key))
                    .map_err(|e| format!("copying the server certificate: {e}"))?;
                Some((cert, key))
            }
            None => None,
        };
        // exim's receiving and delivering processes run as Debian-exim...
        let owned = dir.display().to_string();
        run_bounded(
            "chown",
            &["-R", "Debian-exim:Debian-exim", &owned],
            Duration::from_secs(10),
        )?;
        // ...but its configuration must be root's and writable by nobody else.
        let config = dir.join("exim.conf");
        fs::write(&config, exim_config(&dir, name, tls_files.as_ref()))
            .map_err(|e| format!("{}: {e}", config.display()))?;
        // An alternate configuration (-C) outside Debian's TRUSTED_CONFIG_LIST
        // (/etc/exim4/trusted_configs) makes exim give up root for the
        // processes it re-executes; started by root, they still deliver.
        let output = fs::File::create(dir.join("daemon.out")).map_err(|e| e.to_string())?;
        let output_err = output.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(EXIM)
            .arg("-C")
            .arg(&config)
            .args(["-bdf", "-oX", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(output_err)
            .spawn()
            .map_err(|e| format!("could not start {EXIM}: {e}"))?;
        let mut relay = Self { child, port, dir };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let up = wait_until(Duration::from_secs(10), || {
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
                || !matches!(relay.child.try_wait(), Ok(None))
        });
        if up && matches!(relay.child.try_wait(), Ok(None)) {
            eprintln!(
                "xtask mta: {name} listens on 127.0.0.1:{port} ({})",
                if certs.is_some() {
                    "STARTTLS, AUTH PLAIN after it"
                } else {
                    "no STARTTLS"
                }
            );
            Ok(relay)
        } else {
            let _ = relay.child.kill();
            Err(format!(
                "exim ({name}) did not listen on port {port}: {}{}",
                fs::read_to_string(relay.dir.join("daemon.out")).unwrap_or_default(),
                fs::read_to_string(relay.dir.join("log/paniclog")).unwrap_or_default()
            ))
        }
    }

    fn mainlog(&self) -> String {
        fs::read_to_string(self.dir.join("log/mainlog")).unwrap_or_default()
    }

    /// The names of the delivered messages.
    fn message_names(&self) -> BTreeSet<String> {
        fs::read_dir(self.dir.join("mail/new"))
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok())
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The names of the messages delivered since `seen`.
    fn new_messages(&self, seen: &BTreeSet<String>) -> Vec<String> {
        self.message_names().difference(seen).cloned().collect()
    }

    /// Waits for one message delivered since `seen`, adds it to `seen` and
    /// returns its text.
    fn wait_message(&self, seen: &mut BTreeSet<String>) -> Result<String, String> {
        self.wait_for(seen, |_| true)
            .ok_or_else(|| format!("no email reached the relay within {MAIL_WAIT:?}"))
    }

    /// Waits for a message with `subject` delivered since `seen`, adds it to
    /// `seen` and returns its text.
    fn wait_subject(&self, seen: &mut BTreeSet<String>, subject: &str) -> Result<String, String> {
        self.wait_for(seen, |message| {
            header(message, "Subject").as_deref() == Some(subject)
        })
        .ok_or_else(|| format!("no email \"{subject}\" reached the relay within {MAIL_WAIT:?}"))
    }

    fn wait_for(
        &self,
        seen: &mut BTreeSet<String>,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let mut found = None;
        wait_until(MAIL_WAIT, || {
            found = self.new_messages(seen).into_iter().find_map(|name| {
                let text = fs::read_to_string(self.dir.join("mail/new").join(&name)).ok()?;
                wanted(&text).then_some((name, text))
            });
            found.is_some()
        });
        let (name, text) = found?;
        seen.insert(name);
        Some(text)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An exim configuration that accepts every recipient from loopback and
/// delivers everything to `DIR/mail` (a maildir), logging to `DIR/log`;
/// with `tls` (certificate, key), STARTTLS and AUTH PLAIN after it.
fn exim_config(dir: &Path, name: &str, tls_files: Option<&(PathBuf, PathBuf)>) -> String {
    let dir = dir.display();
    let tls = match tls_files {
        Some((cert, key)) => format!(
            "tls_advertise_hosts = *\ntls_certificate = {}\ntls_privatekey = {}\n",
            cert.display(),
            key.display()
        ),
        // exim makes a self-signed certificate up when it has none: say no TLS.
        None => "tls_advertise_hosts =\n".to_owned(),
    };
    let auth = if tls_files.is_some() {
        format!(
            "\nbegin authenticators\n\
             plain:\n  driver = plaintext\n  public_name = PLAIN\n  server_prompts = :\n  \
             server_condition = ${{if and {{{{eq{{$auth2}}{{{SMTP_USER}}}}}{{eq{{$auth3}}{{{SMTP_PASSWORD}}}}}}}}}\n  \
             server_set_id = $auth2\n  \
             server_advertise_condition = ${{if def:tls_in_cipher}}\n"
        )
    } else {
        String::new()
    };
    format!(
        "# {name}: written by `cargo xtask mta`, removed with its folder.\n\
         primary_hostname = {name}.mta.test\n\
         exim_user = Debian-exim\n\
         exim_group = Debian-exim\n\
         spool_directory = {dir}/spool\n\
         log_file_path = {dir}/log/%slog\n\
         pid_file_path = {dir}/exim.pid\n\
         local_interfaces = <; 127.0.0.1\n\
         host_lookup =\n\
         rfc1413_hosts =\n\
         keep_environment =\n\
         log_selector = +smtp_connection +received_recipients +tls_peerdn\n\
         {tls}\
         acl_smtp_rcpt = acl_rcpt\n\
         \n\
         begin acl\n\
         acl_rcpt:\n  accept\n\
         \n\
         begin routers\n\
         everything:\n  driver = accept\n  transport = to_maildir\n\
         \n\
         begin transports\n\
         to_maildir:\n  driver = appendfile\n  directory = {dir}/mail\n  maildir_format\n  \
         create_directory\n  user = Debian-exim\n  group = Debian-exim\n\
         {auth}"
    )
}

/// exim's `<=` (received) log line of `message`, found by its Message-ID.
fn received_line(mainlog: &str, message: &str) -> Option<String> {
    // exim logs the Message-ID without its angle brackets.
    let id = header(message, "Message-ID")?;
    let id = id.trim_start_matches('<').trim_end_matches('>');
    mainlog
        .lines()
        .find(|line| line.contains(" <= ") && line.contains(&format!(" id={id} ")))
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------
// Certificates and the system trust store
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Certs {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

/// A private CA (P-256, two days) and a server certificate it signs for
/// `localhost` and 127.0.0.1, with the `openssl` CLI.
fn make_certs(work: &Path) -> Result<Certs, String> {
    let dir = work.join("pki");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = |name: &str| dir.join(name).display().to_string();
    let ext = dir.join("server.ext");
    fs::write(
        &ext,
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )
    .map_err(|e| format!("{}: {e}", ext.display()))?;
    let serial = format!("0x{:x}01", std::process::id());
    let steps: [Vec<String>; 3] = [
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Provider Portal MTA test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &path("ca.key"),
            "-out",
            &path("ca.crt"),
        ]
        .map(str::to_owned)
        .to_vec(),
        [
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &path("server.key"),
            "-out",
            &path("server.csr"),
        ]
        .map(str::to_owned)
        .to_vec(),
        [
            "x509",
            "-req",
            "-in",
            &path("server.csr"),
            "-CA",
            &path("ca.crt"),
            "-CAkey",
            &path("ca.key"),
            "-set_serial",
            &serial,
            "-days",
            "2",
            "-extfile",
            &path("server.ext"),
            "-out",
            &path("server.crt"),
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for args in &steps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_bounded("openssl", &args, Duration::from_secs(30))?;
    }
    Ok(Certs {
        ca: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    })
}

/// The private CA in the system's trust store; taken out again by
/// [`SystemCa::remove`], or when dropped.
#[derive(Debug)]
struct SystemCa {
    file: PathBuf,
    pem: String,
    installed: bool,
}

impl SystemCa {
    /// The prefix of our file in [`LOCAL_CA_DIR`].
    const PREFIX: &str = "portal-xtask-mta-";

    fn install(ca: &Path) -> Result<Self, String> {
        Self::remove_leftovers()?;
        let pem = fs::read_to_string(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
        let file =
            Path::new(LOCAL_CA_DIR).join(format!("portal-xtask-mta-{}.crt", std::process::id()));
        fs::create_dir_all(LOCAL_CA_DIR).map_err(|e| format!("{LOCAL_CA_DIR}: {e}"))?;
        fs::write(&file, &pem).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut guard = Self {
            file,
            pem,
            installed: true,
        };
        run_bounded("update-ca-certificates", &[], Duration::from_secs(120)).inspect_err(|_| {
            let _ = guard.remove();
        })?;
        Ok(guard)
    }

    /// Takes out the CA of a run that was interrupted (Ctrl-C skips the
    /// clean-up) before adding ours.
    fn remove_leftovers() -> Result<(), String> {
        let leftovers: Vec<PathBuf> = fs::read_dir(LOCAL_CA_DIR)
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok())
                    .filter(|entry| {
                        entry
                            .file_name()
                            .to_string_lossy()
                            .starts_with(Self::PREFIX)
                    })
                    .map(|entry| entry.path())
                    .collect()
            })
            .unwrap_or_default();
        if leftovers.is_empty() {
            return Ok(());
        }
        for file in &leftovers {
            eprintln!(
                "xtask mta: removing {} (left by an interrupted run)",
                file.display()
            );
            fs::remove_file(file).map_err(|e| format!("{}: {e}", file.display()))?;
        }
        run_bounded(
            "update-ca-certificates",
            &["--fresh"],
            Duration::from_secs(120),
        )
        .map(|_| ())
    }

    /// Whether the system's bundle holds the CA.
    fn in_bundle(&self) -> bool {
        fs::read_to_string(SYSTEM_BUNDLE).is_ok_and(|bundle| bundle.contains(self.pem.trim()))
    }

    fn remove(&mut self) -> Result<(), String> {
        if !self.installed {
            return Ok(());
        }
        self.installed = false;
        if self.file.exists() {
            fs::remove_file(&self.file).map_err(|e| format!("{}: {e}", self.file.display()))?;
        }
        run_bounded(
            "update-ca-certificates",
            &["--fresh"],
            Duration::from_secs(120),
        )?;
        if self.in_bundle() {
            return Err(format!("{SYSTEM_BUNDLE} still holds the test CA"));
        }
        Ok(())
    }
}

impl Drop for SystemCa {
    fn drop(&mut self) {
        if let Err(message) = self.remove() {
            eprintln!("xtask mta: removing the test CA from the system store: {message}");
        }
    }
}

// ---------------------------------------------------------------------------
// The machine: root, packages, the work folder
// ---------------------------------------------------------------------------

fn require_root() -> Result<(), String> {
    let uid = run_bounded("id", &["-u"], Duration::from_secs(5))?;
    if uid.trim() == "0" {
        Ok(())
    } else {
        Err("needs root: it installs exim4 with apt-get, runs exim and \
             update-ca-certificates (sudo -E cargo xtask mta)"
            .to_owned())
    }
}

/// Installs what is missing: exim (never started by the package), openssl
/// and sqlite3.
fn ensure_programs() -> Result<(), String> {
    let mut packages = Vec::new();
    for (program, package) in [
        (EXIM, EXIM_PACKAGE),
        ("/usr/bin/openssl", "openssl"),
        ("/usr/bin/sqlite3", "sqlite3"),
    ] {
        if !Path::new(program).exists() {
            packages.push(package);
        }
    }
    if packages.is_empty() {
        return Ok(());
    }
    eprintln!(
        "\n==> apt-get update -q && apt-get install -y -q --no-install-recommends {}",
        packages.join(" ")
    );
    apt_get(&["update", "-q"])?;
    // invoke-rc.d asks policy-rc.d whether a package may start its service:
    // 101 says no, so exim's own daemon never listens on port 25.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let own_policy = !policy.exists();
    if own_policy {
        write_policy(policy)?;
    }
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(&packages);
    let installed = apt_get(&install);
    if own_policy {
        let _ = fs::remove_file(policy);
    }
    installed?;
    if packages.contains(&EXIM_PACKAGE) {
        // Not at boot either: the machine keeps no MTA it did not have.
        let disable = if Path::new("/run/systemd/system").exists() {
            run_bounded(
                "systemctl",
                &["disable", "--now", "exim4.service"],
                Duration::from_secs(60),
            )
        } else {
            run_bounded(
                "update-rc.d",
                &["exim4", "disable"],
                Duration::from_secs(60),
            )
        };
        if let Err(message) = disable {
            eprintln!("xtask mta: could not disable exim4's own service: {message}");
        }
    }
    if Path::new(EXIM).exists() {
        Ok(())
    } else {
        Err(format!(
            "{EXIM} is still missing after installing {EXIM_PACKAGE}"
        ))
    }
}

fn write_policy(policy: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::write(
        policy,
        "#!/bin/sh\n# cargo xtask mta: no service starts during its install\nexit 101\n",
    )
    .and_then(|()| fs::set_permissions(policy, fs::Permissions::from_mode(0o755)))
    .map_err(|e| format!("{}: {e}", policy.display()))
}

fn apt_get(args: &[&str]) -> Result<(), String> {
    let status = Command::new("timeout")
        .args(["--kill-after=10", "600", "apt-get"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("could not run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`apt-get {}` failed ({status})", args.join(" ")))
    }
}

/// `Exim version 4.96 #2 built …`, the first line of `exim4 -bV`.
fn exim_version() -> Result<String, String> {
    let output = run_bounded(EXIM, &["-bV"], Duration::from_secs(10))?;
    Ok(output.lines().next().unwrap_or_default().to_owned())
}

/// `TMP/portal-mta-PID`, removed with everything in it when dropped.
#[derive(Debug)]
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("portal-mta-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/// Runs `program` under coreutils' `timeout`: its standard output, or an
/// error with its standard error.
fn run_bounded(program: &str, args: &[&str], limit: Duration) -> Result<String, String> {
    let output = Command::new("timeout")
        .args(["--kill-after=5", &limit.as_secs().to_string(), program])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Polls `done` every 100 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = now();
    loop {
        if done() {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "xtask bounds waits and reports its run time; no domain logic reads the clock here"
)]
fn now() -> Instant {
    Instant::now()
}

/// The first header `name` of a message, unfolded.
fn header(message: &str, name: &str) -> Option<String> {
    let head = message
        .split("\r\n\r\n")
        .next()
        .and_then(|head| head.split("\n\n").next())
        .unwrap_or_default();
    let mut found: Option<String> = None;
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(value) = found.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((key, value)) = line.split_once(':')
            && key.eq_ignore_ascii_case(name)
        {
            found = Some(value.trim().to_owned());
        }
    }
    found
}

/// The token of the first link `…{marker}TOKEN` in a message's text,
/// undoing quoted-printable soft line breaks and `=3D`.
fn link_token(message: &str, marker: &str) -> Option<String> {
    let text = message
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let at = text.find(marker)? + marker.len();
    let token: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (token.len() == 43).then_some(token)
}

/// `Sun, 06 Dec 2026 14:22:23 +0000`: a day, a month name, a year, a time
/// and a zone, as RFC 5322 writes them.
fn is_rfc5322_date(value: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = value.split_whitespace().collect();
    let parts = match parts.first() {
        Some(day) if day.ends_with(',') => &parts[1..],
        _ => &parts[..],
    };
    match parts {
        [day, month, year, time, zone] => {
            day.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
                && MONTHS.contains(month)
                && year.len() == 4
                && year.parse::<u16>().is_ok()
                && time.split(':').count() == 3
                && (zone.starts_with('+') || zone.starts_with('-'))
                && zone.len() == 5
        }
        _ => false,
    }
}

/// Standard base64 with padding: the form AUTH PLAIN sends credentials in.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_links_and_dates() {
        let message = "Received: from [127.0.0.1] (helo=portal.test.example)\r\n\
                       \tby relay-a.mta.test\r\n\
                       Subject: Activate Your Provider Portal Account\r\n\
                       Date: Sun, 06 Dec 2026 14:22:23 +0000\r\n\
                       \r\n\
                       Subject: not a header\r\n\
                       http://x/activate?token=3DAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\nAAA\r\n";
        assert_eq!(
            header(message, "received").as_deref(),
            Some("from [127.0.0.1] (helo=portal.test.example) by relay-a.mta.test")
        );
        assert_eq!(
            header(message, "Subject").as_deref(),
            Some("Activate Your Provider Portal Account")
        );
        assert_eq!(header(message, "Message-ID"), None);
        assert_eq!(
            link_token(message, "activate?token=").as_deref(),
            Some("A".repeat(43).as_str())
        );
        assert!(is_rfc5322_date("Sun, 06 Dec 2026 14:22:23 +0000"));
        assert!(is_rfc5322_date("6 Dec 2026 14:22:23 -0500"));
        assert!(!is_rfc5322_date("2026-12-06T14:22:23Z"));
    }

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
    }

    #[test]
    fn exim_configs_differ_in_tls_and_auth() {
        let files = (
            PathBuf::from("/w/server.crt"),
            PathBuf::from("/w/server.key"),
        );
        let a = exim_config(Path::new("/w/a"), "relay-a", Some(&files));
        assert!(a.contains("tls_certificate = /w/server.crt"));
        assert!(a.contains(
            "server_condition = ${if and {{eq{$auth2}{relay-submitter}}{eq{$auth3}{Pw-7ux3-relay-only}}}}"
        ));
        assert!(a.contains("server_advertise_condition = ${if def:tls_in_cipher}"));
        let b = exim_config(Path::new("/w/b"), "relay-b", None);
        assert!(b.contains("tls_advertise_hosts =\n"));
        assert!(!b.contains("authenticators"));
    }
}

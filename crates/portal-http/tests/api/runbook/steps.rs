//! Running each command of the runbook and checking what it did, and the
//! claims of its prose.

use super::*;

impl Runbook {
    /// Walks through one command: what comes before it, the command, and
    /// the check of what it did.
    pub(super) async fn step(&mut self, line: &Line) {
        let command = line.command.as_str();
        let kind = kind(command);
        self.seen.insert(kind);
        for (program, package) in PROGRAMS {
            assert!(
                !command.starts_with(program) || on_path(program),
                "`{program}` is not installed: the runbook uses it (Debian: apt-get install {package})"
            );
        }
        match kind {
            Kind::Build => self.build(line),
            Kind::Export => self.export(command),
            Kind::Migrate => {
                let before = self.roster_rows_if_migrated().await;
                let run = self.sh(command).await;
                run.assert_code(0, command);
                assert!(run.stdout.contains("migrations applied"), "{run:#?}");
                assert_eq!(
                    self.roster_rows().await,
                    before.unwrap_or(0),
                    "migrate changes no data"
                );
            }
            Kind::Serve => self.serve(command).await,
            Kind::RosterDryRun => {
                let before = self.roster_rows().await;
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let rows = roster_example_rows();
                assert!(run.stdout.contains(&format!("{rows} added")), "{run:#?}");
                assert!(run.stdout.contains("nothing was written"), "{run:#?}");
                assert_eq!(self.roster_rows().await, before, "--dry-run wrote rows");
            }
            Kind::RosterImport => {
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let rows = roster_example_rows();
                assert!(run.stdout.contains(&format!("{rows} added")), "{run:#?}");
                assert_eq!(self.roster_rows().await, rows);
                // Idempotent: the same file again changes nothing.
                let again = self.sh(command).await;
                again.assert_code(0, command);
                assert!(
                    again.stdout.contains(&format!("{rows} unchanged")),
                    "{again:#?}"
                );
            }
            Kind::RosterReplace => self.roster_replace(command).await,
            Kind::AccountShow => {
                self.ensure_account().await;
                let run = self.sh(command).await;
                run.assert_code(0, command);
                assert!(
                    run.stdout.lines().any(|l| l.starts_with("state:")
                        && l.split_whitespace().nth(1) == Some("active")),
                    "{run:#?}"
                );
                assert!(run.stdout.contains("P1001"), "the provider: {run:#?}");
                assert!(run.stdout.contains("last login:"), "{run:#?}");
                assert!(run.stdout.contains("pending emails:"), "{run:#?}");
                for secret in ["$argon2", PASSWORD, ANSWER] {
                    assert!(!run.stdout.contains(secret), "{run:#?}");
                }
                let unknown = self.sh(&command.replace(&self.username, "dr.nobody")).await;
                assert_ne!(unknown.code, Some(0), "an unknown username: {unknown:#?}");
                assert!(unknown.stderr.contains("dr.nobody"), "{unknown:#?}");
            }
            Kind::AccountUnlock => {
                self.ensure_account().await;
                self.lock_out().await;
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let (status, body) = self.login(PASSWORD).await;
                assert_eq!(status, 201, "unlocked: {body}");
                self.session = body["token"].as_str().map(str::to_owned);
            }
            Kind::AccountDisable => {
                let session = self
                    .session
                    .clone()
                    .expect("a session, from the unlock step");
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let (status, body) = self.login(PASSWORD).await;
                assert_eq!((status, &body["code"]), (403, &json!("account_disabled")));
                let me = self
                    .http
                    .get(format!("{}/api/v1/me", self.base))
                    .bearer_auth(session)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(me.status().as_u16(), 401, "the sessions were revoked");
            }
            Kind::AccountEnable => {
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let (status, body) = self.login(PASSWORD).await;
                assert_eq!(status, 201, "enabled: {body}");
            }
            Kind::VerifyAnswer => self.verify_answer(line).await,
            Kind::AuditList => self.audit_list(command).await,
            Kind::PgDump => {
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let dump = std::fs::read(self.dir.join("portal.dump")).unwrap();
                assert!(dump.starts_with(b"PGDMP"), "a custom-format dump");
            }
            Kind::PgRestore => {
                assert_eq!(
                    self.count(
                        &self.restore,
                        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                    )
                    .await,
                    0,
                    "restored into an empty database"
                );
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let sql = "SELECT count(*) FROM roster_entries";
                assert_eq!(
                    self.count(&self.restore, sql).await,
                    self.count(&self.database, sql).await
                );
                let mut conn = sqlx::PgConnection::connect(&self.restore).await.unwrap();
                let accounts: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM accounts WHERE username = $1")
                        .bind(&self.username)
                        .fetch_one(&mut conn)
                        .await
                        .unwrap();
                let _ = conn.close().await;
                assert_eq!(accounts, 1, "the account was restored");
            }
            Kind::SqliteBackup => {
                // A live SQLite portal.db: the service's default
                // DATABASE_URL (sqlite:portal.db), migrated and loaded.
                let sqlite = [("DATABASE_URL", None)];
                for setup in [
                    "portal-http migrate",
                    "portal-http roster import roster.csv",
                ] {
                    self.sh_with(setup, &sqlite).await.assert_code(0, setup);
                }
                assert!(self.dir.join("portal.db").is_file(), "sqlite:portal.db");
                let run = self.sh(command).await;
                run.assert_code(0, command);
                let rows =
                    |file: &str| format!("sqlite3 {file} 'SELECT count(*) FROM roster_entries'");
                let check = self.sh(&rows("portal-backup.db")).await;
                check.assert_code(0, "reading the backup");
                let live = self.sh(&rows("portal.db")).await;
                assert!(
                    live.stdout.trim().parse::<i64>().unwrap() >= roster_example_rows(),
                    "{live:#?}"
                );
                assert_eq!(check.stdout, live.stdout, "{check:#?}");
            }
        }
    }

    /// Not run: compared with the workspace's build command and where
    /// cargo puts its binary.
    fn build(&self, line: &Line) {
        let words: Vec<&str> = line.command.split_whitespace().collect();
        assert_eq!(
            words,
            ["cargo", "build", "--release", "-p", env!("CARGO_PKG_NAME")]
        );
        let binary = Path::new(BINARY).file_name().unwrap().to_string_lossy();
        assert_eq!(line.comment, format!("target/release/{binary}"));
    }

    fn export(&mut self, command: &str) {
        let assignment = command.strip_prefix("export ").unwrap().trim();
        let (name, value) = assignment.split_once('=').unwrap();
        let value = unquote(value);
        if name == "PATH" {
            // The built binary's directory first: the test's `PATH`
            // already starts with a directory holding that binary.
            assert_eq!(value, "$PWD/target/release:$PATH", "{command}");
            return;
        }
        self.written.insert(name.to_owned(), value.to_owned());
        let value = match SUBSTITUTIONS.iter().find(|(n, _, _)| *n == name) {
            Some((_, prefix, target)) => {
                assert!(
                    value.starts_with(prefix),
                    "{name} is expected to start with {prefix}: {value}"
                );
                match target {
                    Target::Database => self.database.clone(),
                    Target::RestoreDatabase => self.restore.clone(),
                    Target::SmtpSink => self.sink.url(),
                }
            }
            None => value.to_owned(),
        };
        self.env.insert(name.to_owned(), value);
    }

    /// `serve` in the background until the end, ready when `/readyz` is.
    async fn serve(&mut self, command: &str) {
        // The settings as the runbook writes them are valid too.
        let written: BTreeMap<String, String> = self.written.clone();
        portal_http::config::Config::load(&written, |path| std::fs::read_to_string(path))
            .unwrap_or_else(|e| panic!("the runbook's settings: {e}"));
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words[0], "portal-http");
        let log = std::fs::File::create(self.dir.join("serve.log")).unwrap();
        let child = std::process::Command::new(BINARY)
            .args(&words[1..])
            .current_dir(&self.dir)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.server.as_mut().unwrap().try_wait().unwrap() {
                panic!("serve stopped ({status}): {}", self.log());
            }
            let ready = self
                .http
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 200);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "never ready: {}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(self.get("/healthz").await.status().as_u16(), 200);
    }

    /// SIGTERM: the service drains and exits 0.
    pub(super) async fn stop(&mut self) {
        let mut server = self.server.take().expect("serve was started");
        let kill = format!("kill -TERM {}", server.id());
        self.sh(&kill).await.assert_code(0, &kill);
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = server.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = server.kill();
                panic!("serve did not stop within 15 s of SIGTERM: {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status.code(), Some(0), "graceful shutdown: {}", self.log());
    }

    async fn roster_replace(&mut self, command: &str) {
        // The roster has an entry that roster.csv lacks, put there by the
        // operator's own command; --replace must deactivate it.
        let header = std::fs::read_to_string(ROSTER_EXAMPLE).unwrap();
        let header = header.lines().next().unwrap();
        std::fs::write(
            self.dir.join("extra.csv"),
            format!(
                "{header}\nP9001,555555555,practitioner,Ada,Byron,,30301,individual,medicaid\n"
            ),
        )
        .unwrap();
        let extra = "portal-http roster import extra.csv";
        self.sh(extra).await.assert_code(0, extra);
        let rows = roster_example_rows();
        assert_eq!(self.roster_rows().await, rows + 1);

        let run = self.sh(command).await;
        run.assert_code(0, command);
        assert!(run.stdout.contains("1 deactivated"), "{run:#?}");
        assert_eq!(self.roster_rows().await, rows + 1, "never deleted");
        let inactive = self
            .count(
                &self.database,
                "SELECT count(*) FROM roster_entries WHERE inactive_since IS NOT NULL \
                 AND provider_id = 'P9001'",
            )
            .await;
        assert_eq!(inactive, 1, "the missing entry is inactive");
        let active = self
            .count(
                &self.database,
                "SELECT count(*) FROM roster_entries WHERE inactive_since IS NULL",
            )
            .await;
        assert_eq!(active, rows, "the file's entries stay active");
    }

    /// The runbook's username, registered and activated through the
    /// running service: the three steps, then the emailed link.
    async fn ensure_account(&mut self) {
        if self.registered {
            return;
        }
        assert!(
            self.server.is_some(),
            "accounts are made over HTTP: serve first"
        );
        let (status, started) = self.post("/api/v1/registrations", &practitioner()).await;
        assert_eq!(status, 201, "{started}");
        let id = started["registration_id"].as_str().unwrap().to_owned();
        let (status, body) = self
            .post(
                &format!("/api/v1/registrations/{id}/agreement"),
                &json!({"accepted": true, "agreement_version": started["agreement_version"]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .post(
                &format!("/api/v1/registrations/{id}/account"),
                &account(&self.username, PASSWORD),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let mail = self.wait_for_mail(ACTIVATION).await;
        assert!(
            mail.links()
                .iter()
                .any(|l| l.starts_with(&self.env["PORTAL_PUBLIC_URL"])),
            "links use PORTAL_PUBLIC_URL"
        );
        let token = mail.token().unwrap();
        let (status, body) = self
            .post("/api/v1/activations", &json!({"token": token}))
            .await;
        assert_eq!(status, 200, "{body}");
        self.registered = true;
    }

    async fn wait_for_mail(&self, subject: &str) -> Mail {
        let to = email_of(&self.username);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self
                .sink
                .received()
                .into_iter()
                .filter(|r| r.rcpt_to.iter().any(|a| a.eq_ignore_ascii_case(&to)))
                .map(|r| Mail::parse(&r.data))
                .find(|m| m.subject == subject);
            if let Some(mail) = found {
                return mail;
            }
            assert!(Instant::now() < deadline, "no {subject:?} to {to}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wrong passwords over HTTP until the account is locked.
    async fn lock_out(&self) {
        let mut locked = false;
        for _ in 0..20 {
            let (status, body) = self.login("Wrong-Password-123!").await;
            assert_ne!(status, 201);
            if body["code"] == "account_locked" {
                locked = true;
                break;
            }
        }
        assert!(locked, "wrong passwords never locked the account");
        let (_, body) = self.login(PASSWORD).await;
        assert_eq!(body["code"], "account_locked", "even the right password");
    }

    /// The command as written must match; its comment lists the other
    /// exit codes, checked with a wrong answer and an unknown username.
    async fn verify_answer(&self, line: &Line) {
        let command = line.command.as_str();
        let codes = exit_codes(&line.comment);
        let expect = |meaning: &str| -> i32 {
            *codes.get(meaning).unwrap_or_else(|| {
                panic!(
                    "the comment gives no exit code for {meaning:?}: {}",
                    line.comment
                )
            })
        };
        let run = self.sh(command).await;
        run.assert_code(expect("match"), command);
        assert_eq!(run.stdout.trim(), "match", "{run:#?}");

        let answer = command
            .split_once("echo '")
            .and_then(|(_, rest)| rest.split_once('\''))
            .map(|(answer, _)| answer)
            .expect("echo 'ANSWER' | …");
        let wrong = command.replacen(&format!("'{answer}'"), "'Rex'", 1);
        let run = self.sh(&wrong).await;
        run.assert_code(expect("no match"), &wrong);
        assert_eq!(run.stdout.trim(), "no match", "{run:#?}");

        let unknown = command.replace(&self.username, "dr.nobody");
        let run = self.sh(&unknown).await;
        run.assert_code(expect("refused or error"), &unknown);

        let unreachable = "sqlite:no/such/folder/portal.db";
        let run = self
            .sh_with(command, &[("DATABASE_URL", Some(unreachable))])
            .await;
        run.assert_code(expect("refused or error"), "a database it cannot open");
        assert!(run.stdout.is_empty(), "{run:#?}");
    }

    async fn audit_list(&self, command: &str) {
        let run = self.sh(command).await;
        run.assert_code(0, command);
        let prose = "time, event, username, client_addr, outcome";
        let mut previous = String::new();
        let mut events = BTreeSet::new();
        for line in run.stdout.lines() {
            let event: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            for key in prose.split(", ") {
                assert!(event.get(key).is_some(), "{key} missing: {line}");
            }
            let time = event["time"].as_str().unwrap().to_owned();
            assert!(time >= previous, "oldest first: {}", run.stdout);
            previous = time;
            assert!(
                event["username"]
                    .as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(&self.username)),
                "{line}"
            );
            events.insert(event["event"].as_str().unwrap().to_owned());
        }
        for expected in [
            "account_activated",
            "login_failed",
            "account_locked",
            "account_shown",
            "account_unlocked",
            "account_disabled",
            "account_enabled",
            "support_check",
        ] {
            assert!(
                events.contains(expected),
                "{expected} missing: {}",
                run.stdout
            );
        }
        assert!(!run.stdout.contains(PASSWORD), "{run:#?}");
    }

    /// The checks of a section's prose, after its commands.
    pub(super) async fn prose(&mut self, section: &Section) {
        let heading = section.heading.as_str();
        if heading == "Install" {
            self.configuration_error_example(&section.prose).await;
        } else if heading.starts_with("Metrics worth alerting on") {
            self.alerting_metrics(&section.prose).await;
        } else if heading.starts_with("Upgrading") {
            self.schema_refusal_example(&section.prose).await;
        } else if heading.starts_with("Two instances behind a proxy") {
            // Cookies `Secure` and HSTS come with an https PORTAL_PUBLIC_URL.
            assert!(self.env["PORTAL_PUBLIC_URL"].starts_with("https://"));
            let answer = self.get("/healthz").await;
            assert!(
                answer.headers().contains_key("strict-transport-security"),
                "HSTS with an https PORTAL_PUBLIC_URL"
            );
            assert!(section.prose.contains("PORTAL_TRUSTED_PROXIES"));
            let run = self
                .sh_with(
                    "portal-http migrate",
                    &[("PORTAL_TRUSTED_PROXIES", Some("the-proxy"))],
                )
                .await;
            run.assert_code(2, "a bad PORTAL_TRUSTED_PROXIES");
            assert!(run.stderr.contains("PORTAL_TRUSTED_PROXIES"), "{run:#?}");
        }
    }

    /// The refusal the section shows, from a binary on a schema an older
    /// release left (an SQLite file of its own, without the newest
    /// migration's record): the same message but for the versions, exit
    /// code 2, the database unchanged.
    async fn schema_refusal_example(&self, prose: &str) {
        let shown = prose
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("portal-http: the database schema is at version"))
            .expect("the section shows the refusal");
        assert!(
            prose.contains("exit code 2"),
            "the section gives the exit code"
        );
        let sqlite = [("DATABASE_URL", Some("sqlite:upgrade.db"))];
        self.sh_with("portal-http migrate", &sqlite)
            .await
            .assert_code(0, "migrate upgrade.db");
        let newest = portal_adapters_sqlite::MIGRATOR
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap();
        let forget =
            format!("sqlite3 upgrade.db 'DELETE FROM _sqlx_migrations WHERE version = {newest}'");
        self.sh(&forget).await.assert_code(0, &forget);
        let recorded = "sqlite3 upgrade.db 'SELECT count(*) FROM _sqlx_migrations'";
        let before = self.sh(recorded).await.stdout;
        let run = self
            .sh_with(
                &format!("portal-http account show --username {}", self.username),
                &sqlite,
            )
            .await;
        run.assert_code(2, shown);
        // A version is digits, or `none` before the first migration.
        let versions_as_n = |text: &str| {
            let mut out = String::new();
            for c in text.replace("version none", "version 0").chars() {
                if !c.is_ascii_digit() {
                    out.push(c);
                } else if !out.ends_with('N') {
                    out.push('N');
                }
            }
            out
        };
        assert_eq!(versions_as_n(run.stderr.trim()), versions_as_n(shown));
        assert!(run.stderr.contains(&newest.to_string()), "{run:#?}");
        assert_eq!(self.sh(recorded).await.stdout, before, "nothing changed");
    }

    /// "A bad value stops start-up with a message naming the variable,
    /// e.g. `…`": exactly that message, and exit code 2.
    async fn configuration_error_example(&self, prose: &str) {
        let joined = prose.split_whitespace().collect::<Vec<_>>().join(" ");
        let message = joined
            .split('`')
            .find(|span| span.starts_with("portal-http: configuration error:"))
            .expect("the runbook shows a configuration error");
        let rest = message
            .strip_prefix("portal-http: configuration error: ")
            .unwrap();
        let (variable, _) = rest.split_once(':').unwrap();
        let value = message.rsplit('"').nth(1).unwrap();
        let run = self
            .sh_with("portal-http migrate", &[(variable, Some(value))])
            .await;
        run.assert_code(2, message);
        assert_eq!(run.stderr.trim(), message);
    }

    /// Each metric the section names is in `GET /metrics`, with the label
    /// values it names (email failures are provoked at the SMTP server);
    /// a `=~` pattern must fit the form of the values the label takes.
    async fn alerting_metrics(&mut self, prose: &str) {
        let joined = prose.split_whitespace().collect::<Vec<_>>().join(" ");
        // `name`, `name{label="value"}`, and a bare `label="value"` that
        // applies to the metric named before it.
        let mut named: Vec<String> = Vec::new();
        let mut current = None;
        for span in joined.split('`').skip(1).step_by(2) {
            if span.starts_with("portal_") {
                current = Some(span.split('{').next().unwrap());
                named.push(span.to_owned());
            } else if let (Some(metric), Some((key, _))) = (current, span.split_once('='))
                && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && span.ends_with('"')
            {
                named.push(format!("{metric}{{{span}}}"));
            }
        }
        assert!(!named.is_empty(), "the section names metrics");

        self.sink.set_mode(Mode::Defer);
        self.reset_email_until("outcome=\"transient_failure\"")
            .await;
        self.sink.set_mode(Mode::Reject);
        self.reset_email_until("outcome=\"rejected\"").await;
        self.sink.set_mode(Mode::Accept);

        let metrics = self.metrics().await;
        for span in &named {
            let (name, matcher) = match span.split_once('{') {
                Some((name, matcher)) => (name, matcher.strip_suffix('}')),
                None => (span.as_str(), None),
            };
            let samples: Vec<&str> = metrics
                .lines()
                .filter(|l| {
                    l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{"))
                })
                .collect();
            assert!(!samples.is_empty(), "{name} is not in /metrics:\n{metrics}");
            let Some(matcher) = matcher else { continue };
            if let Some((key, value)) = matcher.split_once("=~") {
                let pattern = value.trim_matches('"');
                let values: Vec<&str> = samples
                    .iter()
                    .filter_map(|s| s.split_once(&format!("{key}=\"")))
                    .filter_map(|(_, rest)| rest.split_once('"'))
                    .map(|(value, _)| value)
                    .collect();
                assert!(!values.is_empty(), "{name} has no label {key}");
                assert!(
                    values.iter().any(|value| fits(pattern, value)),
                    "{span}: {key} takes values such as {values:?}"
                );
            } else {
                let (key, value) = matcher.split_once('=').unwrap();
                let wanted = format!("{key}={value}");
                assert!(
                    samples.iter().any(|s| s.contains(&wanted)),
                    "{span} is not in /metrics:\n{}",
                    samples.join("\n")
                );
            }
        }
        assert_eq!(self.get("/readyz").await.status().as_u16(), 200);
    }

    /// Asks for a password reset until `/metrics` shows the email's
    /// `outcome` (delivery is attempted in the background).
    async fn reset_email_until(&self, outcome: &str) {
        let (status, body) = self
            .post(
                "/api/v1/password-resets",
                &json!({"username": self.username}),
            )
            .await;
        assert!(status < 300, "{status} {body}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self
            .metrics()
            .await
            .lines()
            .any(|l| l.starts_with("portal_emails_total{") && l.contains(outcome))
        {
            assert!(Instant::now() < deadline, "no email {outcome} in /metrics");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

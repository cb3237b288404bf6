//! The release service under test, the outbox row and the log helpers.

use super::*;

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/// The release `portal-http serve` on a SQLite database of its own
/// (`WORK/NAME.db`, migrated and given the example roster when new); killed
/// when dropped.
#[derive(Debug)]
pub(super) struct Portal {
    pub(super) child: Child,
    pub(super) addr: SocketAddr,
    pub(super) log: PathBuf,
    pub(super) db: PathBuf,
}

impl Portal {
    pub(super) fn start(work: &Path, name: &str, env: &[(&str, String)]) -> Result<Self, String> {
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

    pub(super) fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(super) fn post(&self, path: &str, json: &str) -> Result<(u16, String), String> {
        request(self.addr, "POST", path, Some(json))
    }

    /// Provider details, agreement and account for P1001: the activation
    /// email is queued.
    pub(super) fn register(&self) -> Result<(), String> {
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
    pub(super) fn outbox(&self) -> Result<Vec<OutboxRow>, String> {
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
pub(super) struct OutboxRow {
    pub(super) kind: String,
    pub(super) status: String,
    pub(super) attempts: u32,
    pub(super) last_error: String,
}

pub(super) fn expect(step: &str, want: u16, got: (u16, String)) -> Result<String, String> {
    if got.0 == want {
        Ok(got.1)
    } else {
        Err(format!("{step}: expected {want}, got {} {}", got.0, got.1))
    }
}

/// The service's WARN lines of the mail target.
pub(super) fn mail_warnings(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|json| {
                json["level"] == "WARN" && json["target"].as_str() == Some("portal::mail")
            })
        })
        .map(str::to_owned)
        .collect()
}

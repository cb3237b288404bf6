//! The release service as a child process.

use super::*;
pub(super) use crate::service::free_port;

/// A running `portal-http serve`; killed when dropped.
#[derive(Debug)]
pub(super) struct Instance {
    pub(super) child: Child,
    pub(super) base: String,
    pub(super) log: PathBuf,
}

/// The settings of every instance: no rate limit (the load comes from one
/// address), cheap Argon2 (the faults are about storage and mail, not
/// hashing), a deep hash queue, JSON logs with the outbox worker's lines.
pub(super) fn base_env(database_url: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", database_url),
        ("PORTAL_RATE_LIMIT_PER_MINUTE", "0"),
        ("PORTAL_ARGON2_M_KIB", "4096"),
        ("PORTAL_ARGON2_T", "1"),
        ("PORTAL_HASH_QUEUE", "512"),
        ("PORTAL_LOG_FORMAT", "json"),
        ("RUST_LOG", "warn,portal::outbox=info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Removes inherited `PORTAL_*` variables, so that only ours apply.
pub(super) trait ClearPortalEnv {
    fn env_clear_portal(&mut self) -> &mut Self;
}

impl ClearPortalEnv for Command {
    fn env_clear_portal(&mut self) -> &mut Self {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PORTAL_") {
                self.env_remove(key);
            }
        }
        self
    }
}

impl Instance {
    /// Starts `serve` on a free port with [`base_env`] and `env` on top;
    /// waits until `/healthz` answers. The log goes to `WORK/NAME.log`.
    pub(super) async fn start(
        ctx: &Ctx,
        name: &str,
        env: &[(String, String)],
    ) -> Result<Self, String> {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let database = env
            .iter()
            .find(|(k, _)| k == "DATABASE_URL")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let mut vars = base_env(database);
        vars.push(("PORTAL_LISTEN".to_owned(), format!("127.0.0.1:{port}")));
        vars.push(("PORTAL_PUBLIC_URL".to_owned(), base.clone()));
        for (key, value) in env {
            vars.retain(|(k, _)| k != key);
            vars.push((key.clone(), value.clone()));
        }
        let log = ctx.work.join(format!("{name}.log"));
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let file_err = file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&ctx.binary)
            .arg("serve")
            .env_clear_portal()
            .envs(vars)
            .current_dir(&ctx.work)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file_err)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", ctx.binary.display()))?;
        let mut instance = Self { child, base, log };
        let client = http_client()?;
        let started = now();
        while started.elapsed() < Duration::from_secs(30) {
            if get(&client, &format!("{}/healthz", instance.base), None).await == Some(200) {
                return Ok(instance);
            }
            if !instance.running() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{name} did not answer /healthz; its log:\n{}",
            fs::read_to_string(&instance.log).unwrap_or_default()
        ))
    }

    pub(super) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no shutdown of any kind.
    pub(super) fn kill9(&mut self) -> Result<(), String> {
        self.child.kill().map_err(|e| format!("kill -9: {e}"))?;
        self.child.wait().map_err(|e| format!("kill -9: {e}"))?;
        Ok(())
    }

    /// Emails this instance's outbox worker reported sent (its log lines).
    pub(super) fn sent_by_worker(&self) -> u64 {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["message"] == "outbox batch delivered")
            .filter_map(|line| line["sent"].as_u64())
            .sum()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Roster provider `index`: practitioners `C00000`, `C00001`, … under Tax ID
/// 111111111, all named Ann Chaos in ZIP 45202.
pub(super) fn provider_id(index: usize) -> String {
    format!("C{index:05}")
}

/// Applies the migrations to the database at `url` (which the other
/// commands refuse to run without, SPEC §9).
pub(super) fn migrate(ctx: &Ctx, url: &str) -> Result<(), String> {
    let output = Command::new(&ctx.binary)
        .arg("migrate")
        .env_clear_portal()
        .envs(base_env(url))
        .output()
        .map_err(|e| format!("migrate: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "migrate failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Migrates the database, writes a roster of `count` practitioners and
/// imports it.
pub(super) fn import_roster(ctx: &Ctx, name: &str, url: &str, count: usize) -> Result<(), String> {
    migrate(ctx, url)?;
    let mut csv = String::from(
        "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n",
    );
    for index in 0..count {
        csv.push_str(&format!(
            "{},111111111,practitioner,Ann,Chaos,,45202,individual,medicaid\n",
            provider_id(index)
        ));
    }
    let path = ctx.work.join(format!("{name}-roster.csv"));
    fs::write(&path, csv).map_err(|e| format!("{}: {e}", path.display()))?;
    let output = Command::new(&ctx.binary)
        .arg("roster")
        .arg("import")
        .arg(&path)
        .env_clear_portal()
        .envs(base_env(url))
        .output()
        .map_err(|e| format!("roster import: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "roster import failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

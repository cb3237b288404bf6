//! Databases: the shared server's scratch databases and the throwaway cluster.

use super::*;

/// `psql URL -c SQL`: the rows, unaligned, fields separated by `|`.
pub(super) fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .map_err(|e| format!("could not run psql: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

pub(super) fn psql_count(url: &str, sql: &str) -> Result<i64, String> {
    let text = psql(url, sql)?;
    text.parse()
        .map_err(|_| format!("{sql:?} answered {text:?}, not a number"))
}

/// A database of our own on the shared server, dropped with the guard.
#[derive(Debug)]
pub(super) struct SharedDb {
    admin: String,
    pub(super) name: String,
    pub(super) url: String,
}

impl SharedDb {
    pub(super) fn create(ctx: &Ctx, scenario: &str) -> Result<Self, String> {
        let (server, _) = ctx
            .server_url
            .split('?')
            .next()
            .and_then(|u| u.rsplit_once('/'))
            .ok_or_else(|| format!("DATABASE_URL {} has no database", ctx.server_url))?;
        let name = format!("portal_chaos_{scenario}_{}", std::process::id());
        let admin = format!("{server}/postgres");
        psql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        psql(&admin, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            url: format!("{server}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for SharedDb {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// A throw-away PostgreSQL cluster on a free port, run as the `postgres`
/// user when we are root (`initdb` refuses root); stopped and deleted with
/// the guard, also when the scenario fails.
#[derive(Debug)]
pub(super) struct PgCluster {
    handle: PgHandle,
}

/// What `pg_ctl` needs; cheap to clone into a blocking task.
#[derive(Debug, Clone)]
pub(super) struct PgHandle {
    bin: PathBuf,
    dir: PathBuf,
    pub(super) port: u16,
    as_postgres: bool,
}

impl PgCluster {
    pub(super) fn create(work: &Path) -> Result<Self, String> {
        let bin = postgres_bin()?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        // Outside `work` when root: the postgres user must own the folder
        // and reach it.
        let dir = if as_postgres {
            std::env::temp_dir().join(format!("chaos-pg-{}", std::process::id()))
        } else {
            work.join("pg")
        };
        let _ = fs::remove_dir_all(&dir);
        let handle = PgHandle {
            bin,
            dir,
            port: free_port()?,
            as_postgres,
        };
        handle.run(
            "initdb",
            &[
                "-D",
                &handle.dir.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )?;
        let cluster = Self { handle };
        cluster.handle.start()?;
        Ok(cluster)
    }

    pub(super) fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.handle.port
        )
    }

    pub(super) fn clone_handle(&self) -> PgHandle {
        self.handle.clone()
    }
}

impl PgHandle {
    pub(super) fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir("/")
            .output()
            .map_err(|e| format!("could not run {program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let dir = self.dir.display().to_string();
        let log = self.dir.join("server.log").display().to_string();
        let mut all = vec!["-D", &dir, "-l", &log, "-w"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    pub(super) fn start(&self) -> Result<(), String> {
        let options = format!("-p {} -k /tmp -c listen_addresses=127.0.0.1", self.port);
        self.pg_ctl(&["-o", &options, "start"])
    }

    pub(super) fn stop_fast(&self) -> Result<(), String> {
        self.pg_ctl(&["-m", "fast", "stop"])
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.handle.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = fs::remove_dir_all(&self.handle.dir);
    }
}

/// The folder of `initdb` and `pg_ctl`: `/usr/local/bin`, `PATH`, or the
/// newest `/usr/lib/postgresql/*/bin`.
fn postgres_bin() -> Result<PathBuf, String> {
    let mut candidates = vec![PathBuf::from("/usr/local/bin")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        versions.reverse();
        candidates.extend(versions);
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        .ok_or_else(|| "initdb and pg_ctl not found (install postgresql)".to_owned())
}

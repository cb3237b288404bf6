//! The private CA, the server certificate, and the system trust store.

use super::*;

// ---------------------------------------------------------------------------
// Certificates and the system trust store
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub(super) struct Certs {
    pub(super) ca: PathBuf,
    pub(super) server_cert: PathBuf,
    pub(super) server_key: PathBuf,
}

/// A private CA (P-256, two days) and a server certificate it signs for
/// `localhost` and 127.0.0.1, with the `openssl` CLI.
pub(super) fn make_certs(work: &Path) -> Result<Certs, String> {
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
pub(super) struct SystemCa {
    pub(super) file: PathBuf,
    pub(super) pem: String,
    pub(super) installed: bool,
}

impl SystemCa {
    /// The prefix of our file in [`LOCAL_CA_DIR`].
    const PREFIX: &str = "portal-xtask-mta-";

    pub(super) fn install(ca: &Path) -> Result<Self, String> {
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
    pub(super) fn remove_leftovers() -> Result<(), String> {
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
    pub(super) fn in_bundle(&self) -> bool {
        fs::read_to_string(SYSTEM_BUNDLE).is_ok_and(|bundle| bundle.contains(self.pem.trim()))
    }

    pub(super) fn remove(&mut self) -> Result<(), String> {
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

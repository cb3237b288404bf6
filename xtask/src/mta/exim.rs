//! The exim relays on loopback: their configuration, start and logs.

use super::*;

// ---------------------------------------------------------------------------
// exim
// ---------------------------------------------------------------------------

/// An exim daemon in the foreground (`-bdf`) with its own configuration,
/// spool, log and maildir under `WORK/NAME`; killed when dropped.
#[derive(Debug)]
pub(super) struct Relay {
    pub(super) child: Child,
    pub(super) port: u16,
    pub(super) dir: PathBuf,
}

impl Relay {
    /// With `certs`, the relay offers STARTTLS and, after it, AUTH PLAIN
    /// for [`SMTP_USER`]; without, neither.
    pub(super) fn start(work: &Path, name: &str, certs: Option<&Certs>) -> Result<Self, String> {
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

    pub(super) fn mainlog(&self) -> String {
        fs::read_to_string(self.dir.join("log/mainlog")).unwrap_or_default()
    }

    /// The names of the delivered messages.
    pub(super) fn message_names(&self) -> BTreeSet<String> {
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
    pub(super) fn new_messages(&self, seen: &BTreeSet<String>) -> Vec<String> {
        self.message_names().difference(seen).cloned().collect()
    }

    /// Waits for one message delivered since `seen`, adds it to `seen` and
    /// returns its text.
    pub(super) fn wait_message(&self, seen: &mut BTreeSet<String>) -> Result<String, String> {
        self.wait_for(seen, |_| true)
            .ok_or_else(|| format!("no email reached the relay within {MAIL_WAIT:?}"))
    }

    /// Waits for a message with `subject` delivered since `seen`, adds it to
    /// `seen` and returns its text.
    pub(super) fn wait_subject(
        &self,
        seen: &mut BTreeSet<String>,
        subject: &str,
    ) -> Result<String, String> {
        self.wait_for(seen, |message| {
            header(message, "Subject").as_deref() == Some(subject)
        })
        .ok_or_else(|| format!("no email \"{subject}\" reached the relay within {MAIL_WAIT:?}"))
    }

    pub(super) fn wait_for(
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
pub(super) fn exim_config(
    dir: &Path,
    name: &str,
    tls_files: Option<&(PathBuf, PathBuf)>,
) -> String {
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
pub(super) fn received_line(mainlog: &str, message: &str) -> Option<String> {
    // exim logs the Message-ID without its angle brackets.
    let id = header(message, "Message-ID")?;
    let id = id.trim_start_matches('<').trim_end_matches('>');
    mainlog
        .lines()
        .find(|line| line.contains(" <= ") && line.contains(&format!(" id={id} ")))
        .map(str::to_owned)
}

//! [`FileMailer`]: the development default when `PORTAL_SMTP_URL` is unset.
//! Each email becomes one `<uuid>.eml` file under `PORTAL_MAIL_DIR`
//! (default `./var/mail`), and its recipient, subject and link are logged
//! under the tracing target `portal::mail`. The parts are 8-bit UTF-8
//! ([`BodyEncoding::EightBit`]), so each link is one plain line of the file.
//!
//! **This is the only place a link, and so a token, may be logged** (SPEC
//! §9): it is how a developer activates an account without a mail server.
//!
//! lettre's file transport writes the message into a staging directory
//! (`.staging/` inside the mail directory), and the finished file is then
//! renamed into place. A rename within one directory tree is atomic, so a
//! reader listing `*.eml` never sees half a message.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};
use portal_domain::email::Email;
use portal_domain::ports::{MailError, Mailer};

use crate::config::MailSettings;
use crate::render::{BodyEncoding, compose};

/// Writes each email as an `.eml` file and logs its link.
#[derive(Debug)]
pub struct FileMailer {
    dir: PathBuf,
    staging: PathBuf,
    transport: AsyncFileTransport<Tokio1Executor>,
    settings: MailSettings,
}

impl FileMailer {
    /// `PORTAL_MAIL_DIR`'s default.
    pub const DEFAULT_DIR: &'static str = "./var/mail";

    const STAGING: &'static str = ".staging";

    /// A mailer writing under `dir`, which is created (with its parents) if
    /// missing, now and again before each email.
    pub fn new(dir: impl Into<PathBuf>, settings: MailSettings) -> std::io::Result<Self> {
        let dir = dir.into();
        let staging = dir.join(Self::STAGING);
        std::fs::create_dir_all(&staging)?;
        Ok(Self {
            transport: AsyncFileTransport::new(&staging),
            dir,
            staging,
            settings,
        })
    }

    /// The directory the `.eml` files land in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let (message, rendered) = compose(&self.settings, email, BodyEncoding::EightBit)?;
        let io_error = |e: std::io::Error| {
            MailError::Transient(format!("mail directory {}: {e}", self.dir.display()))
        };
        tokio::fs::create_dir_all(&self.staging)
            .await
            .map_err(io_error)?;
        let id = self
            .transport
            .send(message)
            .await
            .map_err(|e| MailError::Transient(format!("writing the email failed: {e}")))?;
        let file_name = format!("{id}.eml");
        let path = self.dir.join(&file_name);
        tokio::fs::rename(self.staging.join(&file_name), &path)
            .await
            .map_err(io_error)?;
        tracing::info!(
            target: "portal::mail",
            to = %email.to,
            subject = %rendered.subject,
            link = rendered.link().unwrap_or("none"),
            file = %path.display(),
            "email written to a file (development mailer)"
        );
        Ok(())
    }
}

//! Email for Provider Portal Accounts: the [`Mailer`] port over SMTP
//! ([`SmtpMailer`]) and to `.eml` files ([`FileMailer`], the development
//! default), the message templates, and the outbox [`DeliveryWorker`].
//!
//! Configuration is typed ([`SmtpSettings`], [`MailSettings`]) and parsed by
//! the binary; [`MailTransport`] picks the mailer as SPEC §9 says:
//!
//! ```no_run
//! use portal_adapters_smtp::{MailSettings, MailTransport, PublicUrl, Sender};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let smtp_url = std::env::var("PORTAL_SMTP_URL").ok();
//! let mail_dir = std::env::var_os("PORTAL_MAIL_DIR").map(std::path::PathBuf::from);
//! let transport = MailTransport::from_config(smtp_url.as_deref(), mail_dir)?;
//! let settings = MailSettings::new(
//!     PublicUrl::parse(PublicUrl::DEFAULT)?,
//!     Sender::parse(Sender::DEFAULT)?,
//! );
//! let mailer = transport.build(settings)?;
//! # Ok(()) }
//! ```
//!
//! Links are built only from [`PublicUrl`] and
//! [`EmailKind::link_path`](portal_domain::email::EmailKind::link_path),
//! never from a request. Only the file mailer logs links (they hold tokens);
//! the SMTP mailer logs no token, no credential and no body.

mod config;
mod file;
mod render;
mod smtp;
mod worker;

use std::path::PathBuf;

use async_trait::async_trait;
use portal_domain::email::Email;
use portal_domain::ports::{MailError, Mailer};

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{
    BrandError, Branding, HeloName, HeloNameError, MailSettings, PublicUrl, PublicUrlError, Sender,
    SenderError, SmtpCa, SmtpCaError, SmtpCredentials, SmtpSecurity, SmtpSettings, SmtpUrlError,
};
pub use file::FileMailer;
pub use render::{BodyEncoding, RenderError, RenderedEmail, compose, render};
pub use smtp::{SmtpMailer, SmtpSetupError};
pub use worker::{DeliveryWorker, WorkerReport, WorkerSettings, run_delivery_worker};

/// Which mailer to run: `PORTAL_SMTP_URL` and `PORTAL_MAIL_DIR`, parsed.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// `PORTAL_SMTP_URL` is set: send through this relay.
    Smtp(SmtpSettings),
    /// `PORTAL_SMTP_URL` is unset: write `.eml` files into this directory
    /// and log their links.
    Files(PathBuf),
}

impl MailTransport {
    /// SMTP when `smtp_url` is given (and not blank), else files under
    /// `mail_dir` (default [`FileMailer::DEFAULT_DIR`]).
    pub fn from_config(
        smtp_url: Option<&str>,
        mail_dir: Option<PathBuf>,
    ) -> Result<Self, SmtpUrlError> {
        match smtp_url.map(str::trim).filter(|url| !url.is_empty()) {
            Some(url) => SmtpSettings::from_url(url).map(Self::Smtp),
            None => Ok(Self::Files(
                mail_dir.unwrap_or_else(|| PathBuf::from(FileMailer::DEFAULT_DIR)),
            )),
        }
    }

    /// Builds the mailer (creating the mail directory for files).
    pub fn build(self, settings: MailSettings) -> Result<AnyMailer, MailSetupError> {
        match self {
            Self::Smtp(smtp) => Ok(AnyMailer::Smtp(SmtpMailer::new(&smtp, settings)?)),
            Self::Files(dir) => match FileMailer::new(&dir, settings) {
                Ok(mailer) => Ok(AnyMailer::File(mailer)),
                Err(source) => Err(MailSetupError::MailDir { path: dir, source }),
            },
        }
    }
}

/// A mailer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error(transparent)]
    Smtp(#[from] SmtpSetupError),
    #[error("mail directory `{}` cannot be created: {source}", path.display())]
    MailDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The mailer chosen at run time by [`MailTransport`].
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per process, built once and never moved"
)]
pub enum AnyMailer {
    Smtp(SmtpMailer),
    File(FileMailer),
}

#[async_trait]
impl Mailer for AnyMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        match self {
            Self::Smtp(mailer) => mailer.send(email).await,
            Self::File(mailer) => mailer.send(email).await,
        }
    }
}

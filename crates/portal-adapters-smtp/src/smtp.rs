//! [`SmtpMailer`]: the [`Mailer`] port over lettre's async SMTP transport
//! (tokio, rustls with the webpki roots; no OpenSSL).
//!
//! One connection per email (no pool): the outbox worker sends a handful of
//! emails at a time, and a fresh connection never trips over one the relay
//! closed in between.
//!
//! Failures map onto the port's two kinds: a 5xx reply rejecting the
//! message is [`MailError::Permanent`]; everything else is
//! [`MailError::Transient`] and retried with backoff: 4xx replies,
//! connection refused, timeouts, TLS failures, and the 5xx replies to
//! authentication (530, 534, 535, 538), which say the relay's configuration
//! is wrong rather than the message, so that fixing the configuration
//! delivers what was queued.

use std::fmt;

use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use portal_domain::email::Email;
use portal_domain::ports::{MailError, Mailer};
use secrecy::ExposeSecret;

use crate::config::{MailSettings, SmtpSecurity, SmtpSettings};
use crate::render::compose;

/// The SMTP mailer could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("TLS cannot be set up for host `{host}`: {reason}")]
    Tls { host: String, reason: String },
}

/// Sends each email over one SMTP connection, through the relay named by
/// [`SmtpSettings`].
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: MailSettings,
    /// `host:port`, for messages; never the credentials.
    relay: String,
    send_timeout: std::time::Duration,
}

impl SmtpMailer {
    pub fn new(smtp: &SmtpSettings, settings: MailSettings) -> Result<Self, SmtpSetupError> {
        let tls_parameters = || {
            TlsParameters::new(smtp.host.clone()).map_err(|e| SmtpSetupError::Tls {
                host: smtp.host.clone(),
                reason: e.to_string(),
            })
        };
        let tls = match smtp.security {
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(smtp.connect_timeout));
        if let Some(credentials) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(
                credentials.username.expose_secret().to_owned(),
                credentials.password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            settings,
            relay: format!("{}:{}", smtp.host, smtp.port),
            send_timeout: smtp.send_timeout,
        })
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("relay", &self.relay)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let (message, _rendered) = compose(&self.settings, email)?;
        let kind = email.kind.name();
        match tokio::time::timeout(self.send_timeout, self.transport.send(message)).await {
            Ok(Ok(response)) => {
                tracing::debug!(
                    target: "portal::mail",
                    kind,
                    relay = %self.relay,
                    code = %response.code(),
                    "email handed to the SMTP relay"
                );
                Ok(())
            }
            Ok(Err(error)) => {
                let error = classify(&error, &self.relay);
                tracing::debug!(target: "portal::mail", kind, %error, "SMTP delivery failed");
                Err(error)
            }
            Err(_elapsed) => Err(MailError::Transient(format!(
                "SMTP relay {} did not complete the delivery within {:?}",
                self.relay, self.send_timeout
            ))),
        }
    }
}

/// 5xx replies about authentication: the relay's configuration is wrong,
/// not the message.
const AUTH_CODES: [u16; 4] = [530, 534, 535, 538];

fn classify(error: &lettre::transport::smtp::Error, relay: &str) -> MailError {
    match error.status().map(u16::from) {
        Some(code) if (500..600).contains(&code) && !AUTH_CODES.contains(&code) => {
            MailError::Permanent(format!("rejected by SMTP relay {relay}: {error}"))
        }
        _ => MailError::Transient(format!("SMTP relay {relay}: {error}")),
    }
}

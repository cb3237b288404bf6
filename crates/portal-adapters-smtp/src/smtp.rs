//! [`SmtpMailer`]: the [`Mailer`] port over lettre's async SMTP transport
//! (tokio, rustls; no OpenSSL). The relay's certificate is checked against
//! the system's trust store (`/etc/ssl/certs`, where `update-ca-certificates`
//! puts an operator's private CA) plus `PORTAL_SMTP_CA`.
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

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use portal_domain::email::Email;
use portal_domain::ports::{MailError, Mailer};
use secrecy::ExposeSecret;

use crate::config::{MailSettings, SmtpSecurity, SmtpSettings};
use crate::render::{BodyEncoding, compose};

/// The SMTP mailer could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("TLS cannot be set up for host `{host}`: {reason}")]
    Tls { host: String, reason: String },
}

/// How often one kind of failed send is logged at warning level.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Sends each email over one SMTP connection, through the relay named by
/// [`SmtpSettings`].
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: MailSettings,
    /// `host:port`, for messages; never the credentials.
    relay: String,
    send_timeout: Duration,
    /// When each reason for a failed send was last logged at warning level.
    warned: Mutex<HashMap<String, Instant>>,
}

impl SmtpMailer {
    pub fn new(smtp: &SmtpSettings, settings: MailSettings) -> Result<Self, SmtpSetupError> {
        let tls_error = |e: lettre::transport::smtp::Error| SmtpSetupError::Tls {
            host: smtp.host.clone(),
            reason: e.to_string(),
        };
        let tls_parameters = || {
            let mut builder = TlsParameters::builder(smtp.host.clone())
                .certificate_store(CertificateStore::Default);
            if let Some(ca) = &smtp.extra_ca {
                builder = builder
                    .add_root_certificate(Certificate::from_pem(ca.pem()).map_err(tls_error)?);
            }
            builder.build_rustls().map_err(tls_error)
        };
        let tls = match smtp.security {
            // Opportunistic TLS as MTAs do it (RFC 7435): encrypt whatever
            // certificate the relay shows, since the alternative is plain
            // text, not a checked certificate. `tls=required` checks it.
            SmtpSecurity::Opportunistic => Tls::Opportunistic(
                TlsParameters::builder(smtp.host.clone())
                    .dangerous_accept_invalid_certs(true)
                    .dangerous_accept_invalid_hostnames(true)
                    .build_rustls()
                    .map_err(tls_error)?,
            ),
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            .hello_name(ClientId::Domain(smtp.helo.as_str().to_owned()))
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
            warned: Mutex::new(HashMap::new()),
        })
    }

    /// Logs a failed send at warning level, at most once a minute for each
    /// reason, so that an outage is visible at the default level without
    /// one line per queued email. The reason is the relay's answer (lettre
    /// never puts credentials in it).
    fn warn_failed(&self, kind: &str, error: &MailError) {
        let reason = reason_of(error);
        #[allow(
            clippy::disallowed_methods,
            reason = "pacing log lines, not a rule of the domain: no Clock port needed"
        )]
        let now = Instant::now();
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        let due = warned
            .get(&reason)
            .is_none_or(|last| now.duration_since(*last) >= WARN_EVERY);
        if due {
            // Bounded: one entry per distinct reason, and reasons are few.
            if warned.len() >= 64 {
                warned.retain(|_, last| now.duration_since(*last) < WARN_EVERY);
            }
            warned.insert(reason, now);
            drop(warned);
            tracing::warn!(
                target: "portal::mail",
                kind,
                relay = %self.relay,
                %error,
                "email not sent; it stays queued and is retried (this reason is logged at most once a minute)"
            );
        } else {
            tracing::debug!(target: "portal::mail", kind, %error, "SMTP delivery failed");
        }
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
        let (message, _rendered) = compose(&self.settings, email, BodyEncoding::ForTransport)?;
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
                self.warn_failed(kind, &error);
                Err(error)
            }
            Err(_elapsed) => {
                let error = MailError::Transient(format!(
                    "SMTP relay {} did not complete the delivery within {} s",
                    self.relay,
                    self.send_timeout.as_secs_f64()
                ));
                self.warn_failed(kind, &error);
                Err(error)
            }
        }
    }
}

/// What makes two failures "the same reason" for the warning's rate limit:
/// the message without digits (ids, counts and ports vary).
fn reason_of(error: &MailError) -> String {
    let text = error.to_string();
    let mut reason: String = text
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .take(120)
        .collect();
    // The reply code matters: 421 and 451 are different reasons.
    if let Some(code) = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|part| part.len() == 3)
    {
        reason.push_str(code);
    }
    reason
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

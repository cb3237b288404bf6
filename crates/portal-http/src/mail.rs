//! Email wiring: the mailer `PORTAL_SMTP_URL` selects (SMTP, or the file
//! mailer writing `.eml` files under `PORTAL_MAIL_DIR` by default) and the
//! outbox delivery worker, run as a background task.

use std::sync::Arc;

use async_trait::async_trait;
use portal_adapters_smtp::{DeliveryWorker, FileMailer, SmtpMailer, WorkerSettings};
use portal_domain::delivery::DeliveryPolicy;
use portal_domain::email::Email;
use portal_domain::ports::{MailError, Mailer};
use portal_domain::system::SystemClock;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::serve::{Stop, Task};
use crate::state::AppState;

/// Why the mailer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("PORTAL_SMTP_URL: {0}")]
    Smtp(String),
    #[error("PORTAL_MAIL_DIR: cannot create {dir}: {source}")]
    MailDir { dir: String, source: std::io::Error },
}

/// The configured mailer.
pub fn build_mailer(config: &Config) -> Result<Arc<dyn Mailer>, MailerError> {
    match &config.smtp {
        Some(smtp) => {
            let mailer = SmtpMailer::new(smtp, config.mail.clone())
                .map_err(|e| MailerError::Smtp(e.to_string()))?;
            tracing::info!(relay = %smtp.describe(), "emails are sent through SMTP");
            if !smtp.helo.is_fully_qualified() {
                tracing::warn!(
                    helo = smtp.helo.as_str(),
                    "this machine has no fully qualified name, and relays that require one refuse EHLO {}: set PORTAL_SMTP_HELO",
                    smtp.helo.as_str()
                );
            }
            Ok(Arc::new(mailer))
        }
        None => {
            let mailer =
                FileMailer::new(&config.mail_dir, config.mail.clone()).map_err(|source| {
                    MailerError::MailDir {
                        dir: config.mail_dir.display().to_string(),
                        source,
                    }
                })?;
            tracing::info!(dir = %config.mail_dir.display(), "emails are written as .eml files (PORTAL_SMTP_URL is unset)");
            Ok(Arc::new(mailer))
        }
    }
}

/// Counts deliveries for `/metrics`.
struct CountingMailer {
    inner: Arc<dyn Mailer>,
    metrics: Metrics,
}

#[async_trait]
impl Mailer for CountingMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let result = self.inner.send(email).await;
        let outcome = match &result {
            Ok(()) => "sent",
            Err(MailError::Transient(_)) => "transient_failure",
            Err(MailError::Permanent(_)) => "rejected",
        };
        self.metrics.emails(outcome, 1);
        result
    }
}

/// The outbox delivery worker, as a background task of `serve`.
pub fn background_tasks(
    state: &AppState,
    mailer: Arc<dyn Mailer>,
) -> Vec<Box<dyn FnOnce(Stop) -> Task + Send>> {
    let storage = Arc::clone(&state.storage);
    let mailer = CountingMailer {
        inner: mailer,
        metrics: state.metrics.clone(),
    };
    let metrics = state.metrics.clone();
    vec![Box::new(move |mut stop: Stop| -> Task {
        Box::pin(async move {
            let report = DeliveryWorker::new(
                Arc::clone(&storage),
                storage,
                Arc::new(mailer),
                Arc::new(SystemClock),
                DeliveryPolicy::default(),
                WorkerSettings::default(),
            )
            .on_drop(move |reason| metrics.email_dropped(reason.name()))
            .run(async move { stop.requested().await })
            .await;
            tracing::info!(
                sent = report.sent,
                retried = report.retried,
                failed = report.failed,
                dropped = report.dropped,
                "outbox worker stopped"
            );
        })
    })]
}

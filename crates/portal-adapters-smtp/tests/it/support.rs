//! Shared helpers: settings, a portal whose outbox holds real domain emails,
//! a parsed view of a received message, a counting mailer and a log sink.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mail_parser::{MessageParser, MimeHeaders};
use portal_adapters_smtp::{MailSettings, PublicUrl, Sender, SmtpMailer, SmtpSettings};
use portal_domain::delivery::{DeliveryPolicy, OutboxDelivery};
use portal_domain::email::Email;
use portal_domain::ports::{MailError, Mailer, OutboxStore};
use portal_domain::prelude::*;
use portal_domain::testing::{InMemoryStore, ManualClock, TestPortal, sample};
use tokio::sync::Notify;

pub const USERNAME: &str = "dr.doe";
pub const ADDRESS: &str = "frontdesk@doeclinic.example.org";
/// A public URL with a path prefix and a trailing slash.
pub const PUBLIC_URL: &str = "https://portal.example.org/providers/";
pub const NEW_PASSWORD: &str = "Saffron-Glacier-88-Tulip";

pub fn mail_settings() -> MailSettings {
    MailSettings::new(
        PublicUrl::parse(PUBLIC_URL).unwrap(),
        Sender::parse(Sender::DEFAULT).unwrap(),
    )
}

/// An SMTP mailer with short timeouts, for tests.
pub fn smtp_mailer(url: &str, settings: MailSettings) -> SmtpMailer {
    let smtp = SmtpSettings::from_url(url)
        .unwrap()
        .with_timeouts(Duration::from_millis(500), Duration::from_secs(2));
    SmtpMailer::new(&smtp, settings).unwrap()
}

/// A portal where `dr.doe` registered: its outbox holds the activation email.
pub async fn registered(settings: PortalSettings) -> TestPortal {
    let portal = TestPortal::with_settings(sample::roster(), settings);
    let ctx = RequestContext::default();
    let started = portal
        .start_registration(sample::practitioner_request(), ctx)
        .await
        .unwrap();
    let agreement = AgreementInput {
        accepted: true,
        version: started.agreement_version.clone(),
    };
    portal
        .accept_agreement(started.id.as_str(), Ok(agreement), ctx)
        .await
        .unwrap();
    portal
        .create_account(started.id.as_str(), Ok(sample::account_input()), ctx)
        .await
        .unwrap();
    portal
}

/// A portal whose outbox holds one email of each kind, in this order:
/// activation, email verification, password reset, password changed.
pub async fn every_kind() -> TestPortal {
    let portal = registered(PortalSettings::default()).await;
    let ctx = RequestContext::default();
    let token = portal.last_link_token().unwrap();
    portal.activate(&token, ctx).await.unwrap();
    portal.request_password_reset(USERNAME, ctx).await.unwrap();
    let token = portal.last_link_token().unwrap();
    let password = Password::parse(NEW_PASSWORD).unwrap();
    portal
        .confirm_password_reset(&token, &password, ctx)
        .await
        .unwrap();
    assert_eq!(portal.store.emails().len(), 4);
    portal
}

/// A portal with `count` activation emails queued for `dr.doe` (the first
/// at registration, the others resent), each with its own token.
pub async fn queued(count: usize) -> TestPortal {
    let settings = PortalSettings {
        emails_per_hour: 0,
        ..PortalSettings::default()
    };
    let portal = registered(settings).await;
    for _ in 1..count {
        portal
            .resend_activation(USERNAME, RequestContext::default())
            .await
            .unwrap();
    }
    assert_eq!(portal.store.emails().len(), count);
    portal
}

pub type Delivery<M> = OutboxDelivery<InMemoryStore, InMemoryStore, M, ManualClock>;

pub fn delivery<M: Mailer>(portal: &TestPortal, mailer: M, policy: DeliveryPolicy) -> Delivery<M> {
    OutboxDelivery::new(
        portal.store.clone(),
        portal.store.clone(),
        Arc::new(mailer),
        portal.clock.clone(),
        policy,
    )
}

/// Emails queued for `dr.doe`, not yet sent or failed.
pub async fn pending(portal: &TestPortal) -> u64 {
    portal
        .store
        .pending_for(&Username::parse(USERNAME).unwrap())
        .await
        .unwrap()
        .count
}

/// The token every queued email carries, oldest first.
pub fn queued_tokens(portal: &TestPortal) -> Vec<String> {
    portal
        .store
        .emails()
        .iter()
        .filter_map(|e| e.kind.token().map(|t| t.expose().to_owned()))
        .collect()
}

/// What the tests read from a received message.
#[derive(Debug)]
pub struct Parsed {
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub to: Vec<String>,
    pub subject: Option<String>,
    pub content_type: String,
    pub text: String,
    pub html: String,
    /// Every header name, in order.
    pub header_names: Vec<String>,
}

pub fn parse(raw: &[u8]) -> Parsed {
    let message = MessageParser::default().parse(raw).expect("a message");
    let from = message.from().and_then(|from| from.first());
    let content_type = message
        .content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()))
        .unwrap_or_default();
    let part_text = |ctype: &str, subtype: &str| {
        let parts: Vec<String> = message
            .parts
            .iter()
            .filter(|part| part.is_content_type(ctype, subtype))
            .filter_map(|part| part.text_contents().map(str::to_owned))
            .collect();
        assert_eq!(parts.len(), 1, "one {ctype}/{subtype} part");
        parts.into_iter().next().unwrap()
    };
    Parsed {
        from_name: from.and_then(|m| m.name()).map(str::to_owned),
        from_address: from.and_then(|m| m.address()).map(str::to_owned),
        to: message
            .to()
            .map(|to| {
                to.iter()
                    .filter_map(|m| m.address().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        subject: message.subject().map(str::to_owned),
        content_type,
        text: part_text("text", "plain"),
        html: part_text("text", "html"),
        header_names: message
            .headers()
            .iter()
            .map(|h| h.name().to_owned())
            .collect(),
    }
}

/// Every `href` in an HTML body, with an escaped `&` undone.
pub fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&").replace("&#38;", "&"))
        .collect()
}

/// The `token` query value of a link.
pub fn token_in(link: &str) -> Option<&str> {
    link.split_once("token=").map(|(_, token)| token)
}

/// Records what it is asked to send (each email's token, or its kind), and
/// can hold one send until the test releases it.
#[derive(Debug, Default)]
pub struct CountingMailer {
    sent: Mutex<Vec<String>>,
    delay: Duration,
    hold: Option<Hold>,
}

#[derive(Debug)]
struct Hold {
    /// Holds the send with this index (0-based).
    index: usize,
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

impl CountingMailer {
    pub fn with_delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// Holds the `index`th send: `entered` is notified when it starts, and it
    /// finishes once `release` is notified.
    pub fn holding(index: usize, entered: Arc<Notify>, release: Arc<Notify>) -> Self {
        Self {
            hold: Some(Hold {
                index,
                entered,
                release,
            }),
            ..Self::default()
        }
    }

    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl Mailer for CountingMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let index = self.sent.lock().unwrap().len();
        if let Some(hold) = self.hold.as_ref().filter(|hold| hold.index == index) {
            hold.entered.notify_one();
            hold.release.notified().await;
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let id = email
            .kind
            .token()
            .map_or_else(|| email.kind.name().to_owned(), |t| t.expose().to_owned());
        self.sent.lock().unwrap().push(id);
        Ok(())
    }
}

/// A tracing sink the tests can read: everything logged on this thread
/// while the guard lives.
#[derive(Debug, Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        (logs.clone(), tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

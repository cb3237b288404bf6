//! What a relay sees and what an operator reads: the headers every email
//! carries, the EHLO name, the private CA setting, and failed sends logged
//! at warning level, once a minute per reason.

use std::time::Duration;

use mail_parser::MessageParser;
use portal_adapters_smtp::testing::{Mode, SmtpSink};
use portal_adapters_smtp::{HeloName, SmtpCa, SmtpMailer, SmtpSettings};
use portal_domain::email::{Email, EmailKind};
use portal_domain::ports::Mailer;
use portal_domain::values::{EmailAddress, Username};

use crate::support::{self, Logs};

const PRIVATE_CA: &[u8] = include_bytes!("fixtures/private-ca.pem");

fn notice() -> Email {
    Email {
        to: EmailAddress::parse("office@clinic.example.org").unwrap(),
        username: Username::parse("dr.doe").unwrap(),
        kind: EmailKind::PasswordChanged,
    }
}

fn mailer(sink: &SmtpSink, helo: &str) -> SmtpMailer {
    let smtp = SmtpSettings::from_url(&sink.url())
        .unwrap()
        .with_timeouts(Duration::from_millis(500), Duration::from_secs(2))
        .with_helo(HeloName::parse(helo).unwrap());
    SmtpMailer::new(&smtp, support::mail_settings()).unwrap()
}

#[tokio::test]
async fn every_email_carries_date_message_id_on_the_sender_s_domain_and_auto_submitted() {
    let sink = SmtpSink::start().await;
    let mailer = mailer(&sink, "portal.plan.example");
    mailer.send(&notice()).await.unwrap();
    mailer.send(&notice()).await.unwrap();
    let received = sink.wait_for(2).await;
    let mut ids = Vec::new();
    for message in &received {
        assert_eq!(message.helo.as_deref(), Some("portal.plan.example"));
        let parsed = MessageParser::default().parse(&message.data).unwrap();
        assert!(parsed.date().is_some(), "Date");
        let id = parsed.message_id().unwrap().to_owned();
        assert!(id.ends_with("@localhost"), "on the sender's domain: {id}");
        assert!(id.len() > "@localhost".len() + 16, "{id}");
        ids.push(id);
        let raw = String::from_utf8_lossy(&message.data);
        let head = raw.split("\r\n\r\n").next().unwrap();
        assert!(
            head.lines()
                .any(|line| line == "Auto-Submitted: auto-generated"),
            "{head}"
        );
    }
    assert_ne!(ids[0], ids[1], "each email has its own Message-ID");
}

#[tokio::test]
async fn a_failed_send_is_a_warning_with_the_relay_s_answer_once_a_minute() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Defer);
    let mailer = mailer(&sink, "portal.plan.example");
    let (logs, _guard) = Logs::capture();
    for _ in 0..3 {
        assert!(mailer.send(&notice()).await.is_err());
    }
    let text = logs.text();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 1, "one warning for one reason:\n{text}");
    assert!(
        warnings[0].contains("451"),
        "the relay's answer: {}",
        warnings[0]
    );
    assert!(
        warnings[0].contains(&format!("127.0.0.1:{}", sink.port())),
        "{}",
        warnings[0]
    );

    // Another reason is warned about at once.
    sink.set_mode(Mode::Reject);
    assert!(mailer.send(&notice()).await.is_err());
    let text = logs.text();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 2, "{text}");
    assert!(warnings[1].contains("550"), "{}", warnings[1]);
}

#[tokio::test]
async fn credentials_never_reach_the_warning() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Defer);
    let url = sink.url().replace("smtp://", "smtp://mailer:s3cret-pass@");
    let smtp = SmtpSettings::from_url(&url)
        .unwrap()
        .with_timeouts(Duration::from_millis(500), Duration::from_secs(2));
    let mailer = SmtpMailer::new(&smtp, support::mail_settings()).unwrap();
    let (logs, _guard) = Logs::capture();
    assert!(mailer.send(&notice()).await.is_err());
    let text = logs.text();
    assert!(text.contains(" WARN "), "{text}");
    assert!(!text.contains("s3cret-pass"), "{text}");
}

#[test]
fn a_private_ca_is_trusted_beside_the_system_store() {
    let ca = SmtpCa::from_pem(PRIVATE_CA).unwrap();
    assert_eq!(ca.len(), 1);
    let smtp = SmtpSettings::from_url("smtp://relay.plan.example?tls=required")
        .unwrap()
        .with_extra_ca(ca);
    assert!(
        smtp.describe()
            .contains("1 certificate(s) of PORTAL_SMTP_CA")
    );
    // The TLS configuration (system store plus the CA) builds.
    assert!(SmtpMailer::new(&smtp, support::mail_settings()).is_ok());
}

//! SMTP failures over a real socket: how each maps onto the port, and what
//! the outbox does with it (nothing lost, nothing sent twice).

use std::time::Duration;

use portal_adapters_smtp::{SmtpMailer, SmtpSettings};
use portal_domain::audit::{AuditAction, AuditFilter};
use portal_domain::delivery::{BatchReport, DeliveryPolicy};
use portal_domain::email::{Email, EmailKind};
use portal_domain::ports::{MailError, Mailer};
use portal_domain::prelude::*;
use time::Duration as TimeDuration;

use crate::support::{self, ADDRESS, USERNAME, parse, queued_tokens, token_in};
use portal_adapters_smtp::testing::{Mode, SmtpSink, closed_port};

fn activation() -> Email {
    Email {
        to: EmailAddress::parse(ADDRESS).unwrap(),
        username: Username::parse(USERNAME).unwrap(),
        kind: EmailKind::Activation {
            token: RawToken::from_random_bytes([3; 32]),
        },
    }
}

async fn send_to(url: &str) -> Result<(), MailError> {
    support::smtp_mailer(url, support::mail_settings())
        .send(&activation())
        .await
}

#[tokio::test]
async fn smtp_down_keeps_the_email_queued_until_the_server_is_back() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let portal = support::registered(PortalSettings::default()).await;
    let token = queued_tokens(&portal).remove(0);
    let delivery = support::delivery(
        &portal,
        support::smtp_mailer(&sink.url(), support::mail_settings()),
        DeliveryPolicy::default(),
    );

    let report = delivery.deliver_batch().await.unwrap();
    assert_eq!(
        report,
        BatchReport {
            retried: 1,
            ..BatchReport::default()
        }
    );
    assert_eq!(support::pending(&portal).await, 1, "still queued");
    // Not due again before its backoff.
    assert_eq!(delivery.deliver_batch().await.unwrap().claimed(), 0);

    sink.restart().await;
    portal.clock.advance(TimeDuration::minutes(1));
    let report = delivery.deliver_batch().await.unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(support::pending(&portal).await, 0);
    let received = sink.wait_for(1).await;
    assert_eq!(received.len(), 1, "delivered once");
    let text = parse(&received[0].data).text;
    let link = text.lines().find(|l| l.contains("token=")).unwrap();
    assert_eq!(token_in(link), Some(token.as_str()));
}

#[tokio::test]
async fn a_permanent_rejection_fails_after_the_limit_with_an_audit_event() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Reject);
    let portal = support::registered(PortalSettings::default()).await;
    let policy = DeliveryPolicy::default();
    let delivery = support::delivery(
        &portal,
        support::smtp_mailer(&sink.url(), support::mail_settings()),
        policy,
    );
    for attempt in 1..=policy.max_permanent_attempts {
        let report = delivery.deliver_batch().await.unwrap();
        if attempt < policy.max_permanent_attempts {
            assert_eq!(report.retried, 1, "attempt {attempt}");
            assert_eq!(support::pending(&portal).await, 1);
        } else {
            assert_eq!(report.failed, 1, "attempt {attempt}");
        }
        portal.clock.advance(TimeDuration::hours(2));
    }
    assert_eq!(support::pending(&portal).await, 0, "given up");
    assert_eq!(delivery.deliver_batch().await.unwrap().claimed(), 0);
    let events = portal
        .store
        .audit_events(&AuditFilter {
            username: Some(USERNAME.to_owned()),
            since: None,
        })
        .await
        .unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.action == AuditAction::EmailFailed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].outcome, "activation");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn a_deferral_is_retried_and_delivered_later() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Defer);
    let portal = support::registered(PortalSettings::default()).await;
    let delivery = support::delivery(
        &portal,
        support::smtp_mailer(&sink.url(), support::mail_settings()),
        DeliveryPolicy::default(),
    );
    assert_eq!(delivery.deliver_batch().await.unwrap().retried, 1);
    sink.set_mode(Mode::Accept);
    portal.clock.advance(TimeDuration::minutes(1));
    assert_eq!(delivery.deliver_batch().await.unwrap().sent, 1);
    assert_eq!(sink.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn smtp_replies_and_network_failures_map_onto_the_port() {
    let sink = SmtpSink::start().await;

    sink.set_mode(Mode::Reject);
    let error = send_to(&sink.url()).await.unwrap_err();
    assert!(
        matches!(&error, MailError::Permanent(m) if m.contains("550")),
        "{error}"
    );

    sink.set_mode(Mode::Defer);
    let error = send_to(&sink.url()).await.unwrap_err();
    assert!(
        matches!(&error, MailError::Transient(m) if m.contains("451")),
        "{error}"
    );

    let refused = format!("smtp://127.0.0.1:{}", closed_port());
    assert!(matches!(
        send_to(&refused).await,
        Err(MailError::Transient(_))
    ));

    // TLS expected, plain SMTP found: a TLS failure, transient.
    sink.set_mode(Mode::Accept);
    let implicit = format!("smtps://127.0.0.1:{}", sink.port());
    assert!(matches!(
        send_to(&implicit).await,
        Err(MailError::Transient(_))
    ));

    // STARTTLS required but not offered: nothing is sent in clear.
    let starttls = format!("{}?tls=required", sink.url());
    assert!(matches!(
        send_to(&starttls).await,
        Err(MailError::Transient(_))
    ));
    assert!(sink.received().is_empty());

    sink.set_mode(Mode::Accept);
    send_to(&sink.url()).await.unwrap();
    assert_eq!(sink.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn a_silent_server_times_out_as_transient() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Silent);
    let smtp = SmtpSettings::from_url(&sink.url())
        .unwrap()
        .with_timeouts(Duration::from_millis(200), Duration::from_millis(400));
    let mailer = SmtpMailer::new(&smtp, support::mail_settings()).unwrap();
    let started = tokio::time::Instant::now();
    let error = mailer.send(&activation()).await.unwrap_err();
    assert!(matches!(error, MailError::Transient(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the send timeout"
    );
}

#[tokio::test]
async fn credentials_from_the_url_are_percent_decoded() {
    let sink = SmtpSink::start().await;
    let url = format!(
        "smtp://mail%40plan.example:p%40ss%3Aw%2Frd@127.0.0.1:{}",
        sink.port()
    );
    send_to(&url).await.unwrap();
    let received = sink.wait_for(1).await;
    assert_eq!(
        received[0].auth,
        Some(("mail@plan.example".to_owned(), "p@ss:w/rd".to_owned()))
    );
}

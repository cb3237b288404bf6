//! Every kind of email, delivered by the outbox through `SmtpMailer` to a
//! real SMTP conversation, parsed back and read like a mail client would.

use portal_adapters_smtp::{BodyEncoding, Branding, MailSettings, compose, render};
use portal_domain::delivery::DeliveryPolicy;
use portal_domain::email::{Email, EmailKind, SecondFactor, SecurityNotice};
use portal_domain::prelude::*;
use portal_domain::service::HelpLine;
use portal_domain::testing::sample;

use crate::support::{
    self, ADDRESS, Logs, PUBLIC_URL, Parsed, USERNAME, hrefs, parse, queued_tokens, token_in,
};
use portal_adapters_smtp::testing::SmtpSink;

/// Delivers the four emails of `support::every_kind` over SMTP and returns
/// them parsed, with the tokens the domain put in the outbox.
async fn delivered_every_kind() -> (Vec<Parsed>, Vec<String>, String) {
    let portal = support::every_kind().await;
    let tokens = queued_tokens(&portal);
    let sink = SmtpSink::start().await;
    let (logs, _guard) = Logs::capture();
    let mailer = support::smtp_mailer(&sink.url(), support::mail_settings());
    let report = support::delivery(&portal, mailer, DeliveryPolicy::default())
        .deliver_batch()
        .await
        .unwrap();
    assert_eq!(report.sent, 4);
    assert_eq!(support::pending(&portal).await, 0);
    let received = sink.wait_for(4).await;
    for message in &received {
        assert_eq!(message.mail_from, "webmaster@localhost");
        assert_eq!(message.rcpt_to, [ADDRESS]);
    }
    let parsed = received.iter().map(|m| parse(&m.data)).collect();
    (parsed, tokens, logs.text())
}

fn assert_envelope(message: &Parsed, subject: &str) {
    assert_eq!(message.from_name.as_deref(), Some("webmaster"));
    assert_eq!(message.from_address.as_deref(), Some("webmaster@localhost"));
    assert_eq!(message.to, [ADDRESS]);
    assert_eq!(message.subject.as_deref(), Some(subject));
    assert_eq!(message.content_type, "multipart/alternative");
    assert!(message.text.contains(USERNAME), "{}", message.text);
    assert!(message.html.contains(USERNAME));
    for text in [&message.text, &message.html] {
        assert!(text.contains("1-855-202-1058 (Medicaid)"), "{text}");
        assert!(text.contains("1-833-230-2030 (Marketplace)"), "{text}");
    }
}

#[tokio::test]
async fn every_kind_arrives_with_its_subject_sender_parts_and_link() {
    let (messages, tokens, logs) = delivered_every_kind().await;
    let [activation, verification, reset, changed] = &messages[..] else {
        panic!("four messages");
    };
    let [activation_token, reset_token] = &tokens[..] else {
        panic!("two tokens");
    };

    // Activation: an Activate Account link with the domain's token.
    assert_envelope(activation, "Activate Your Provider Portal Account");
    let link = format!("{PUBLIC_URL}activate?token={activation_token}");
    assert!(activation.text.contains("Activate Account"));
    assert!(activation.text.contains(&link), "{}", activation.text);
    assert!(activation.html.contains(">Activate Account</a>"));
    assert!(hrefs(&activation.html).contains(&link));
    assert_eq!(token_in(&link), Some(activation_token.as_str()));
    assert!(activation.text.contains("expires in 24 hours"));
    assert!(
        activation.text.contains("spam"),
        "SPEC §3 step 4's reminder"
    );

    // Email Verification: a Login link, no token.
    assert_envelope(verification, "Email Verification");
    let login = format!("{PUBLIC_URL}login");
    assert!(verification.text.contains(&login));
    assert!(verification.html.contains(">Login</a>"));
    assert_eq!(hrefs(&verification.html)[0], login);
    assert!(!verification.text.contains("token="));

    // Password reset: the brand in the subject, the reset link, its lifetime.
    assert_envelope(reset, "CareSource Provider Portal Password");
    let link = format!("{PUBLIC_URL}reset-password?token={reset_token}");
    assert!(reset.text.contains(&link), "{}", reset.text);
    assert!(hrefs(&reset.html).contains(&link));
    assert!(reset.text.contains("expires in 1 hour"));

    // Password changed: no link with a token, nothing secret, what to do.
    assert_envelope(changed, "Your Provider Portal password was changed");
    for body in [&changed.text, &changed.html] {
        assert!(!body.contains("token"), "{body}");
        for token in &tokens {
            assert!(!body.contains(token.as_str()));
        }
        assert!(!body.contains(support::NEW_PASSWORD));
        assert!(!body.contains(sample::PASSWORD));
        assert!(body.contains("Forgot password?"));
        assert!(body.contains("wasn't you") || body.contains("wasn&#39;t you"));
    }
    assert!(
        hrefs(&changed.html)
            .iter()
            .all(|href| token_in(href).is_none())
    );

    // With SMTP configured no token reaches the log (SPEC §9).
    for token in &tokens {
        assert!(!logs.contains(token.as_str()), "{logs}");
    }
}

fn email(kind: EmailKind) -> Email {
    Email {
        to: EmailAddress::parse(ADDRESS).unwrap(),
        username: Username::parse(USERNAME).unwrap(),
        kind,
    }
}

fn branded(brand: &str) -> MailSettings {
    MailSettings {
        branding: Branding {
            brand: brand.to_owned(),
            help_lines: vec![HelpLine {
                label: "Members <24/7>".to_owned(),
                phone: "1-800-555-0100".to_owned(),
            }],
        },
        ..support::mail_settings()
    }
}

#[tokio::test]
async fn html_escapes_the_brand_and_help_lines_and_text_keeps_them() {
    let settings = branded("A&B <Health>");
    let token = RawToken::from_random_bytes([7; 32]);
    let rendered = render(&settings, &email(EmailKind::PasswordReset { token })).unwrap();
    assert_eq!(rendered.subject, "A&B <Health> Provider Portal Password");
    assert!(
        rendered.html.contains("A&#38;B &#60;Health&#62;"),
        "{}",
        rendered.html
    );
    assert!(!rendered.html.contains("<Health>") && !rendered.html.contains("A&B"));
    assert!(rendered.html.contains("Members &#60;24/7&#62;"));
    assert!(rendered.text.contains("A&B <Health> Provider Portal"));

    // And over the wire, the subject arrives intact.
    let sink = SmtpSink::start().await;
    let mailer = support::smtp_mailer(&sink.url(), settings);
    let token = RawToken::from_random_bytes([8; 32]);
    portal_domain::ports::Mailer::send(&mailer, &email(EmailKind::PasswordReset { token }))
        .await
        .unwrap();
    let parsed = parse(&sink.wait_for(1).await[0].data);
    assert_eq!(
        parsed.subject.as_deref(),
        Some("A&B <Health> Provider Portal Password")
    );
    assert!(parsed.html.contains("A&#38;B &#60;Health&#62;"));
}

/// Every security notice (SPEC §4a) arrives from `webmaster` with its
/// exact subject, says what changed, and carries no link but the portal's
/// own address.
#[tokio::test]
async fn security_notices_arrive_from_webmaster_without_a_link() {
    let sink = SmtpSink::start().await;
    let mailer = support::smtp_mailer(&sink.url(), support::mail_settings());
    let says = [
        (SecurityNotice::EmailChanged, "email of your"),
        (SecurityNotice::SecurityQuestionChanged, "security question"),
        (
            SecurityNotice::FactorAdded(SecondFactor::Totp),
            "authenticator app",
        ),
        (
            SecurityNotice::FactorAdded(SecondFactor::Passkey),
            "A passkey was just added",
        ),
        (
            SecurityNotice::FactorRemoved(SecondFactor::Totp),
            "authenticator app",
        ),
        (
            SecurityNotice::FactorRemoved(SecondFactor::Passkey),
            "A passkey was just removed",
        ),
    ];
    for (notice, _) in says {
        portal_domain::ports::Mailer::send(&mailer, &email(EmailKind::Notice(notice)))
            .await
            .unwrap();
    }
    let received = sink.wait_for(says.len()).await;
    for (message, (notice, phrase)) in received.iter().zip(says) {
        let parsed = parse(&message.data);
        assert_envelope(&parsed, notice.subject());
        assert!(parsed.text.contains(phrase), "{notice:?}: {}", parsed.text);
        assert!(!parsed.text.contains("token="), "{}", parsed.text);
        assert_eq!(hrefs(&parsed.html), Vec::<String>::new(), "{notice:?}");
    }
    assert_eq!(
        parse(&received[0].data).subject.as_deref(),
        Some("Your Provider Portal email was changed")
    );
}

/// The email change link goes to the new address with a **Confirm Email**
/// link to `/confirm-email`, and says it lives an hour.
#[tokio::test]
async fn an_email_change_link_confirms_at_the_confirmation_page() {
    let token = RawToken::from_random_bytes([9; 32]);
    let rendered = render(
        &support::mail_settings(),
        &email(EmailKind::EmailChange {
            token: token.clone(),
        }),
    )
    .unwrap();
    assert_eq!(rendered.subject, "Confirm Your New Provider Portal Email");
    let link = format!("{PUBLIC_URL}confirm-email?token={}", token.expose());
    assert_eq!(rendered.link(), Some(link.as_str()));
    assert!(rendered.text.contains("Confirm Email"));
    assert!(rendered.text.contains(&link), "{}", rendered.text);
    assert!(hrefs(&rendered.html).contains(&link));
    assert!(rendered.text.contains("expires in 1 hour"));
}

#[test]
fn an_address_with_cr_or_lf_is_refused_by_the_domain() {
    for raw in [
        "a@b.example\r\nBcc: victim@evil.example",
        "a@b.example\nBcc: victim@evil.example",
        "a\r@b.example",
    ] {
        assert!(EmailAddress::parse(raw).is_err(), "{raw:?}");
    }
}

#[test]
fn a_brand_or_display_name_with_cr_lf_cannot_add_a_header() {
    // The sender's display name cannot hold CR or LF at all: `Sender::parse`
    // refuses control characters (see `config.rs`). The brand is free text.
    let settings = branded("Plan\r\nBcc: victim@evil.example\r\nX-Injected: yes");
    let token = RawToken::from_random_bytes([9; 32]);
    let (message, _) = compose(
        &settings,
        &email(EmailKind::PasswordReset { token }),
        BodyEncoding::ForTransport,
    )
    .unwrap();
    let raw = message.formatted();
    let parsed = parse(&raw);
    let names: Vec<String> = parsed
        .header_names
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    assert!(!names.contains(&"bcc".to_owned()), "{names:?}");
    assert!(!names.contains(&"x-injected".to_owned()), "{names:?}");
    let headers = String::from_utf8_lossy(&raw);
    let head = headers.split("\r\n\r\n").next().unwrap();
    for line in head.lines() {
        assert!(
            !line.starts_with("Bcc") && !line.starts_with("X-Injected"),
            "{head}"
        );
    }
    assert_eq!(parsed.to, [ADDRESS]);
}

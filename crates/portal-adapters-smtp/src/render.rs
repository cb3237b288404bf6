//! Rendering a domain [`Email`] into a message: the subject from
//! [`EmailKind::subject`], a text and an HTML body from the askama templates
//! under `templates/` (HTML auto-escaped, checked at compile time), and the
//! link joined from [`PublicUrl`](crate::PublicUrl) and
//! [`EmailKind::link_path`], nothing else.
//!
//! Headers are built only through lettre's typed builders, which encode
//! every value: a brand or a display name holding CR or LF cannot start a
//! header of its own.

use std::fmt;

use askama::Template;
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use portal_domain::email::{Email, EmailKind, SecondFactor, SecurityNotice};
use portal_domain::ports::MailError;
use portal_domain::service::HelpLine;
use portal_domain::service::PortalSettings;
use time::Duration;

use crate::config::MailSettings;

/// What every template shows around its message.
struct Frame<'a> {
    brand: &'a str,
    username: &'a str,
    help_lines: &'a [HelpLine],
    /// The portal's address, without a path of ours: for the notice that
    /// carries no link.
    portal_url: &'a str,
}

#[derive(Template)]
#[template(path = "activation.txt")]
struct ActivationText<'a> {
    frame: &'a Frame<'a>,
    link: &'a str,
    lifetime: &'a str,
}

#[derive(Template)]
#[template(path = "activation.html")]
struct ActivationHtml<'a> {
    subject: &'a str,
    frame: &'a Frame<'a>,
    link: &'a str,
    lifetime: &'a str,
}

#[derive(Template)]
#[template(path = "email_verification.txt")]
struct VerificationText<'a> {
    frame: &'a Frame<'a>,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email_verification.html")]
struct VerificationHtml<'a> {
    subject: &'a str,
    frame: &'a Frame<'a>,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "password_reset.txt")]
struct ResetText<'a> {
    frame: &'a Frame<'a>,
    link: &'a str,
    lifetime: &'a str,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetHtml<'a> {
    subject: &'a str,
    frame: &'a Frame<'a>,
    link: &'a str,
    lifetime: &'a str,
}

#[derive(Template)]
#[template(path = "password_changed.txt")]
struct ChangedText<'a> {
    frame: &'a Frame<'a>,
}

#[derive(Template)]
#[template(path = "password_changed.html")]
struct ChangedHtml<'a> {
    subject: &'a str,
    frame: &'a Frame<'a>,
}

#[derive(Template)]
#[template(path = "email_change.txt")]
struct EmailChangeText<'a> {
    frame: &'a Frame<'a>,
    link: &'a str,
    lifetime: &'a str,
}

#[derive(Template)]
#[template(path = "email_change.html")]
struct EmailChangeHtml<'a> {
    subject: &'a str,
    frame: &'a Frame<'a>,
    link: &'a str,
    lifetime: &'a str,
}

#[derive(Template)]
#[template(path = "security_notice.txt")]
struct NoticeText<'a> {
    frame: &'a Frame<'a>,
    change: &'a str,
}

#[derive(Template)]
#[template(path = "security_notice.html")]
struct NoticeHtml<'a> {
    subject: &'a str,
    frame: &'a Frame<'a>,
    change: &'a str,
}

/// The sentence that tells what changed.
fn notice_sentence(notice: SecurityNotice, brand: &str) -> String {
    let factor = |factor: SecondFactor| match factor {
        SecondFactor::Totp => "An authenticator app (with its recovery codes)",
        SecondFactor::Passkey => "A passkey",
    };
    match notice {
        SecurityNotice::EmailChanged => format!(
            "The email of your {brand} Provider Portal account was just changed from this address to another one. This address gets no further emails about the account."
        ),
        SecurityNotice::SecurityQuestionChanged => format!(
            "The security question of your {brand} Provider Portal account was just changed."
        ),
        SecurityNotice::FactorAdded(f) => format!(
            "{} was just added as a second factor of your {brand} Provider Portal account.",
            factor(f)
        ),
        SecurityNotice::FactorRemoved(f) => format!(
            "{} was just removed from the second factors of your {brand} Provider Portal account.",
            factor(f)
        ),
    }
}

/// A rendered email: subject, the two bodies and the link. The link (and
/// so both bodies) may hold a token: `Debug` shows only the subject.
#[derive(Clone)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
    link: Option<String>,
}

impl RenderedEmail {
    /// The message's link, if it has one; it may hold a token.
    pub fn link(&self) -> Option<&str> {
        self.link.as_deref()
    }
}

impl fmt::Debug for RenderedEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedEmail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A template failed to render (a bug in this crate, not in the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("email template failed to render: {0}")]
pub struct RenderError(String);

impl From<askama::Error> for RenderError {
    fn from(error: askama::Error) -> Self {
        Self(error.to_string())
    }
}

/// Renders `email` with the brand, the help lines and the public URL of
/// `settings`.
pub fn render(settings: &MailSettings, email: &Email) -> Result<RenderedEmail, RenderError> {
    let subject = email.kind.subject(&settings.branding.brand);
    let link = email
        .kind
        .link_path()
        .map(|path| settings.public_url.join(&path));
    let frame = Frame {
        brand: &settings.branding.brand,
        username: email.username.as_str(),
        help_lines: &settings.branding.help_lines,
        portal_url: settings.public_url.as_str(),
    };
    let link_str = link.as_deref().unwrap_or_default();
    let (text, html) = match &email.kind {
        EmailKind::Activation { .. } => {
            let lifetime = lifetime(settings.activation_ttl);
            (
                ActivationText {
                    frame: &frame,
                    link: link_str,
                    lifetime: &lifetime,
                }
                .render()?,
                ActivationHtml {
                    subject: &subject,
                    frame: &frame,
                    link: link_str,
                    lifetime: &lifetime,
                }
                .render()?,
            )
        }
        EmailKind::EmailVerification => (
            VerificationText {
                frame: &frame,
                link: link_str,
            }
            .render()?,
            VerificationHtml {
                subject: &subject,
                frame: &frame,
                link: link_str,
            }
            .render()?,
        ),
        EmailKind::PasswordReset { .. } => {
            let lifetime = lifetime(settings.reset_ttl);
            (
                ResetText {
                    frame: &frame,
                    link: link_str,
                    lifetime: &lifetime,
                }
                .render()?,
                ResetHtml {
                    subject: &subject,
                    frame: &frame,
                    link: link_str,
                    lifetime: &lifetime,
                }
                .render()?,
            )
        }
        EmailKind::PasswordChanged => (
            ChangedText { frame: &frame }.render()?,
            ChangedHtml {
                subject: &subject,
                frame: &frame,
            }
            .render()?,
        ),
        EmailKind::EmailChange { .. } => {
            let lifetime = lifetime(PortalSettings::EMAIL_CHANGE_TTL);
            (
                EmailChangeText {
                    frame: &frame,
                    link: link_str,
                    lifetime: &lifetime,
                }
                .render()?,
                EmailChangeHtml {
                    subject: &subject,
                    frame: &frame,
                    link: link_str,
                    lifetime: &lifetime,
                }
                .render()?,
            )
        }
        EmailKind::Notice(notice) => {
            let change = notice_sentence(*notice, &settings.branding.brand);
            (
                NoticeText {
                    frame: &frame,
                    change: &change,
                }
                .render()?,
                NoticeHtml {
                    subject: &subject,
                    frame: &frame,
                    change: &change,
                }
                .render()?,
            )
        }
    };
    Ok(RenderedEmail {
        subject,
        text,
        html,
        link,
    })
}

/// How the text and HTML parts are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// lettre's choice per part (7bit, quoted-printable or base64): what
    /// any SMTP relay accepts.
    ForTransport,
    /// 8-bit UTF-8 as written, so each link stays one plain line that can
    /// be copied from the file (quoted-printable would turn `=` into `=3D`
    /// and fold long lines). For files, never for a relay.
    EightBit,
}

/// Renders `email` and builds its MIME message: `From` the configured
/// sender, `To` the domain's (already validated) address, the exact
/// subject, and a multipart/alternative text + HTML body in `encoding`.
///
/// Failures are [`MailError::Permanent`]: the same email would fail again.
pub fn compose(
    settings: &MailSettings,
    email: &Email,
    encoding: BodyEncoding,
) -> Result<(Message, RenderedEmail), MailError> {
    let rendered = render(settings, email).map_err(|e| MailError::Permanent(e.to_string()))?;
    let to = email
        .to
        .as_str()
        .parse()
        .map_err(|e| MailError::Permanent(format!("recipient address refused: {e}")))?;
    let sender = settings.sender.mailbox();
    let message = Message::builder()
        .from(sender.clone())
        .to(Mailbox::new(None, to))
        .subject(rendered.subject.clone())
        // `Date` is added by lettre; a `Message-ID` on the sender's own
        // domain (spam filters score its absence, and some mailbox
        // providers refuse such mail), and RFC 3834's mark of a message no
        // person wrote, so that vacation responders do not answer it.
        .message_id(Some(message_id(sender.email.domain())?))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_owned(),
        ))
        .multipart(body(&rendered, encoding))
        .map_err(|e| MailError::Permanent(format!("message could not be built: {e}")))?;
    Ok((message, rendered))
}

/// The multipart/alternative body: the text part, then the HTML part.
fn body(rendered: &RenderedEmail, encoding: BodyEncoding) -> MultiPart {
    match encoding {
        BodyEncoding::ForTransport => {
            MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone())
        }
        BodyEncoding::EightBit => {
            let part = |content_type: ContentType, content: &str| {
                SinglePart::builder()
                    .header(content_type)
                    .body(eight_bit(content))
            };
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, &rendered.text))
                .singlepart(part(ContentType::TEXT_HTML, &rendered.html))
        }
    }
}

/// RFC 5322's longest line, in octets without the CRLF.
const MAX_LINE: usize = 998;

/// `content` as an 8-bit body with CRLF line ends. lettre's own check
/// refuses 8 bits for any line past 76 characters (its quoted-printable
/// width), which every paragraph is; the limit that matters for a valid
/// message is RFC 5322's 998 octets, checked here. Content past it, or
/// holding a NUL or a bare CR, falls back to lettre's choice.
fn eight_bit(content: &str) -> Body {
    let crlf = content.replace("\r\n", "\n").replace('\n', "\r\n");
    let valid = !crlf.contains('\0')
        && crlf
            .split("\r\n")
            .all(|line| line.len() <= MAX_LINE && !line.contains('\r'));
    if valid {
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
    } else {
        Body::new(content.to_owned())
    }
}

/// `<32 hex digits@domain>`: unique without a clock or a counter.
fn message_id(domain: &str) -> Result<String, MailError> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| MailError::Transient(format!("no randomness for a Message-ID: {e}")))?;
    let unique: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("<{unique}@{domain}>"))
}

/// "24 hours", "1 hour", "30 minutes", "7 days".
fn lifetime(ttl: Duration) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let seconds = ttl.whole_seconds().max(0);
    let (count, unit) = if seconds >= 2 * DAY && seconds % DAY == 0 {
        (seconds / DAY, "day")
    } else if seconds >= HOUR && seconds % HOUR == 0 {
        (seconds / HOUR, "hour")
    } else if seconds >= MINUTE && seconds % MINUTE == 0 {
        (seconds / MINUTE, "minute")
    } else {
        (seconds, "second")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bit_bodies_keep_long_lines_and_fall_back_past_998_octets() {
        let paragraph = "é".repeat(200);
        let body = eight_bit(&format!(
            "{paragraph}\nhttps://portal.example.org/activate?token=abc\n"
        ));
        assert_eq!(body.encoding(), ContentTransferEncoding::EightBit);
        assert_eq!(
            String::from_utf8(body.into_vec()).unwrap(),
            format!("{paragraph}\r\nhttps://portal.example.org/activate?token=abc\r\n")
        );
        let too_long = eight_bit(&"a".repeat(MAX_LINE + 1));
        assert_ne!(too_long.encoding(), ContentTransferEncoding::EightBit);
        let nul = eight_bit("a\0b");
        assert_ne!(nul.encoding(), ContentTransferEncoding::EightBit);
    }

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(lifetime(Duration::hours(24)), "24 hours");
        assert_eq!(lifetime(Duration::hours(1)), "1 hour");
        assert_eq!(lifetime(Duration::minutes(30)), "30 minutes");
        assert_eq!(lifetime(Duration::minutes(90)), "90 minutes");
        assert_eq!(lifetime(Duration::days(7)), "7 days");
        assert_eq!(lifetime(Duration::seconds(45)), "45 seconds");
        assert_eq!(lifetime(Duration::seconds(1)), "1 second");
    }
}

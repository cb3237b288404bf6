//! Typed mail configuration (SPEC §9): the SMTP URL, the sender, the public
//! URL that links are built from, the brand and the help lines.
//!
//! Every value is parsed once, by the binary, into a type that cannot be
//! wrong. Errors say what is wrong without repeating the raw value: an SMTP
//! URL may hold a password.

use std::fmt;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use lettre::message::Mailbox;
use percent_encoding::percent_decode_str;
use portal_domain::email::SENDER_DISPLAY_NAME;
use portal_domain::service::HelpLine;
use secrecy::SecretString;
use time::Duration;
use url::{Host, Url};

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://host:port` (the default): STARTTLS when the relay offers it,
    /// without checking its certificate (opportunistic TLS, RFC 7435), else
    /// in clear (so credentials are refused here unless the host is
    /// loopback: they could travel in clear).
    Opportunistic,
    /// `smtp://host:port?tls=none`: never TLS, for a relay on the same host
    /// that has no certificate (credentials likewise only to loopback).
    Plain,
    /// `smtp://host:port?tls=required`: STARTTLS, and the message is never
    /// sent if the server does not offer it.
    StartTls,
    /// `smtps://host:port`: TLS from the first byte.
    ImplicitTls,
}

impl SmtpSecurity {
    /// How the mode reads in the start-up log.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Opportunistic => {
                "STARTTLS when the relay offers it (certificate not checked; tls=required checks it), else plain text"
            }
            Self::Plain => "plain text, never TLS (tls=none)",
            Self::StartTls => "STARTTLS required (tls=required)",
            Self::ImplicitTls => "TLS from the first byte (smtps)",
        }
    }
}

/// Extra certificate authorities to trust for the relay, beside the
/// system's trust store: `PORTAL_SMTP_CA`, a PEM file holding at least one
/// certificate (a private CA).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCa {
    pem: Vec<u8>,
    count: usize,
}

/// Why `PORTAL_SMTP_CA` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpCaError {
    #[error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    #[error("is not a valid PEM certificate file: {0}")]
    Invalid(String),
}

impl SmtpCa {
    /// Checks that `pem` holds certificates TLS can use.
    pub fn from_pem(pem: &[u8]) -> Result<Self, SmtpCaError> {
        let text = String::from_utf8_lossy(pem);
        let count = text.matches("-----BEGIN CERTIFICATE-----").count();
        if count == 0 {
            return Err(SmtpCaError::NoCertificate);
        }
        lettre::transport::smtp::client::Certificate::from_pem(pem)
            .map_err(|e| SmtpCaError::Invalid(e.to_string()))?;
        Ok(Self {
            pem: pem.to_vec(),
            count,
        })
    }

    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// How many certificates the file holds.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl fmt::Debug for SmtpCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpCa({} certificates)", self.count)
    }
}

/// The name the portal gives in `EHLO`: `PORTAL_SMTP_HELO`, or the
/// machine's fully qualified name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeloName(String);

/// Why `PORTAL_SMTP_HELO` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a domain name (letters, digits, `-` and `.`, at most 253 characters)")]
pub struct HeloNameError;

impl HeloName {
    pub fn parse(raw: &str) -> Result<Self, HeloNameError> {
        let name = raw.trim().trim_end_matches('.');
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(HeloNameError);
        }
        Ok(Self(name.to_ascii_lowercase()))
    }

    /// The machine's fully qualified name: the canonical name the resolver
    /// gives for its host name (as `hostname -f`), else the host name.
    pub fn of_this_machine() -> Self {
        let host = dns_lookup::get_hostname().unwrap_or_default();
        let hints = dns_lookup::AddrInfoHints {
            flags: libc::AI_CANONNAME,
            ..dns_lookup::AddrInfoHints::default()
        };
        let canonical = dns_lookup::getaddrinfo(Some(&host), None, Some(hints))
            .ok()
            .and_then(|mut found| found.find_map(|info| info.ok()?.canonname));
        canonical
            .and_then(|name| Self::parse(&name).ok())
            .or_else(|| Self::parse(&host).ok())
            .unwrap_or_else(|| Self("localhost".to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Relays that insist on a fully qualified name refuse one without a dot.
    pub fn is_fully_qualified(&self) -> bool {
        self.0.contains('.')
    }
}

/// The relay's username and password, from the URL's userinfo
/// (percent-decoded). Neither is ever shown by `Debug` nor logged.
#[derive(Clone)]
pub struct SmtpCredentials {
    pub username: SecretString,
    pub password: SecretString,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpCredentials([REDACTED])")
    }
}

/// Where and how to send email over SMTP: `PORTAL_SMTP_URL`, parsed.
///
/// ```
/// use portal_adapters_smtp::{SmtpSecurity, SmtpSettings};
///
/// let smtp = SmtpSettings::from_url("smtps://mailer:s%40cret@smtp.example.org:465")?;
/// assert_eq!(smtp.host, "smtp.example.org");
/// assert_eq!(smtp.port, 465);
/// assert_eq!(smtp.security, SmtpSecurity::ImplicitTls);
/// assert!(!format!("{smtp:?}").contains("cret"));
/// # Ok::<(), portal_adapters_smtp::SmtpUrlError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// A DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<SmtpCredentials>,
    /// CAs to trust beside the system's store (`PORTAL_SMTP_CA`).
    pub extra_ca: Option<SmtpCa>,
    /// The name sent in `EHLO` (`PORTAL_SMTP_HELO`).
    pub helo: HeloName,
    /// Bounds opening the TCP connection.
    pub connect_timeout: StdDuration,
    /// Bounds a whole delivery: connecting, TLS, authentication and the
    /// SMTP conversation, so that a relay that accepts the connection and
    /// then stalls cannot hold the worker.
    pub send_timeout: StdDuration,
}

/// Why `PORTAL_SMTP_URL` was refused. The messages never repeat the URL,
/// which may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpUrlError {
    #[error("is not a URL ({0})")]
    Malformed(url::ParseError),
    #[error("scheme `{0}` is not supported: use smtp:// or smtps://")]
    UnsupportedScheme(String),
    #[error("names no host")]
    MissingHost,
    #[error(
        "`tls={0}` is not supported: use `tls=required` (STARTTLS, never in clear), `tls=none` (never TLS), or smtps://"
    )]
    UnsupportedTls(String),
    #[error("`tls=required` does not apply to smtps://, which is always TLS")]
    TlsOnSmtps,
    #[error("unknown query parameter `{0}` (only `tls` is understood)")]
    UnknownParameter(String),
    #[error(
        "has a path or a fragment; only scheme, credentials, host, port and `?tls=` are understood"
    )]
    UnexpectedPart,
    #[error("credentials are not valid percent-encoded UTF-8")]
    BadCredentials,
    #[error(
        "has credentials but no required encryption: use smtps:// or `?tls=required` (without them smtp:// may carry credentials only to a loopback host)"
    )]
    CredentialsInClear,
}

impl SmtpSettings {
    /// Bounds opening the connection: 10 s.
    pub const DEFAULT_CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(10);
    /// Bounds a whole delivery: 30 s.
    pub const DEFAULT_SEND_TIMEOUT: StdDuration = StdDuration::from_secs(30);

    /// Parses `smtp://[user[:password]@]host[:port][?tls=required|none]` or
    /// `smtps://[user[:password]@]host[:port]`. Default ports: 25 for
    /// `smtp://` and `?tls=none`, 587 with `?tls=required`, 465 for smtps.
    /// EHLO names this machine (see [`SmtpSettings::with_helo`]) and only the
    /// system's trust store is used (see [`SmtpSettings::with_extra_ca`]).
    pub fn from_url(raw: &str) -> Result<Self, SmtpUrlError> {
        let url = Url::parse(raw.trim()).map_err(SmtpUrlError::Malformed)?;
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" if tls.is_none() => tls = Some(value.into_owned()),
                other => return Err(SmtpUrlError::UnknownParameter(other.to_owned())),
            }
        }
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => SmtpSecurity::Opportunistic,
            ("smtp", Some("none")) => SmtpSecurity::Plain,
            ("smtp", Some("required")) => SmtpSecurity::StartTls,
            ("smtps", None) => SmtpSecurity::ImplicitTls,
            ("smtps", Some("required" | "none")) => return Err(SmtpUrlError::TlsOnSmtps),
            ("smtp" | "smtps", Some(other)) => {
                return Err(SmtpUrlError::UnsupportedTls(other.to_owned()));
            }
            (scheme, _) => return Err(SmtpUrlError::UnsupportedScheme(scheme.to_owned())),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(SmtpUrlError::UnexpectedPart);
        }
        let (host, loopback) = match url.host() {
            Some(Host::Domain(name)) if !name.is_empty() && !name.contains('%') => {
                let loopback = name.eq_ignore_ascii_case("localhost")
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                (name.to_owned(), loopback)
            }
            Some(Host::Ipv4(ip)) => (ip.to_string(), ip.is_loopback()),
            Some(Host::Ipv6(ip)) => (ip.to_string(), ip.is_loopback()),
            _ => return Err(SmtpUrlError::MissingHost),
        };
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::Opportunistic | SmtpSecurity::Plain => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::ImplicitTls => 465,
        });
        let credentials = credentials(&url)?;
        let may_go_in_clear = matches!(security, SmtpSecurity::Opportunistic | SmtpSecurity::Plain);
        if credentials.is_some() && may_go_in_clear && !loopback {
            return Err(SmtpUrlError::CredentialsInClear);
        }
        Ok(Self {
            host,
            port,
            security,
            credentials,
            extra_ca: None,
            helo: HeloName::of_this_machine(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            send_timeout: Self::DEFAULT_SEND_TIMEOUT,
        })
    }

    /// The same settings, also trusting `ca` for the relay's certificate.
    #[must_use]
    pub fn with_extra_ca(mut self, ca: SmtpCa) -> Self {
        self.extra_ca = Some(ca);
        self
    }

    /// The same settings, naming the portal `helo` in `EHLO`.
    #[must_use]
    pub fn with_helo(mut self, helo: HeloName) -> Self {
        self.helo = helo;
        self
    }

    /// The relay and the mode, for the start-up log (never the credentials).
    pub fn describe(&self) -> String {
        let trust = match &self.extra_ca {
            Some(ca) => format!(
                "the system's trust store and {} certificate(s) of PORTAL_SMTP_CA",
                ca.len()
            ),
            None => "the system's trust store".to_owned(),
        };
        let trust = match self.security {
            SmtpSecurity::Plain | SmtpSecurity::Opportunistic => String::new(),
            SmtpSecurity::StartTls | SmtpSecurity::ImplicitTls => {
                format!("; certificates checked against {trust}")
            }
        };
        format!(
            "SMTP relay {}:{}: {}{trust}; EHLO {}",
            self.host,
            self.port,
            self.security.describe(),
            self.helo.as_str()
        )
    }

    /// The same settings with other timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, connect: StdDuration, send: StdDuration) -> Self {
        self.connect_timeout = connect;
        self.send_timeout = send;
        self
    }
}

impl FromStr for SmtpSettings {
    type Err = SmtpUrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::from_url(raw)
    }
}

fn credentials(url: &Url) -> Result<Option<SmtpCredentials>, SmtpUrlError> {
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| SmtpUrlError::BadCredentials)
    };
    if url.username().is_empty() && url.password().is_none() {
        return Ok(None);
    }
    let username = decode(url.username())?;
    let password = decode(url.password().unwrap_or(""))?;
    Ok(Some(SmtpCredentials {
        username: SecretString::from(username),
        password: SecretString::from(password),
    }))
}

/// The base of every link in an email: `PORTAL_PUBLIC_URL`, an `http` or
/// `https` URL, possibly with a path prefix (`https://example.org/portal`).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicUrl(Url);

/// Why `PORTAL_PUBLIC_URL` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicUrlError {
    #[error("is not a URL ({0})")]
    Malformed(url::ParseError),
    #[error("scheme `{0}` is not supported: use http:// or https://")]
    UnsupportedScheme(String),
    #[error("must not hold credentials")]
    HasCredentials,
    #[error("must not have a query or a fragment")]
    HasQueryOrFragment,
}

impl PublicUrl {
    pub fn parse(raw: &str) -> Result<Self, PublicUrlError> {
        let url = Url::parse(raw.trim()).map_err(PublicUrlError::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PublicUrlError::UnsupportedScheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(PublicUrlError::HasCredentials);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(PublicUrlError::HasQueryOrFragment);
        }
        Ok(Self(url))
    }

    /// The URL without a trailing `/`: `https://example.org/portal`.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// Joins a path (with its query) such as `/activate?token=…` to the
    /// base, keeping the base's path prefix and never doubling a `/`.
    pub fn join(&self, path_and_query: &str) -> String {
        format!(
            "{}/{}",
            self.as_str(),
            path_and_query.trim_start_matches('/')
        )
    }
}

impl PublicUrl {
    /// The default: `http://127.0.0.1:8080` (SPEC §9).
    pub const DEFAULT: &'static str = "http://127.0.0.1:8080";
}

impl fmt::Debug for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicUrl").field(&self.as_str()).finish()
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PublicUrl {
    type Err = PublicUrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

/// The `From` of every email: `PORTAL_MAIL_FROM`, parsed. The display name
/// is [`SENDER_DISPLAY_NAME`] (`webmaster`) unless the value gives another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender(Mailbox);

/// Why `PORTAL_MAIL_FROM` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    #[error("is required")]
    Empty,
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error(
        "is not an address like `webmaster <webmaster@example.org>` or `webmaster@example.org`"
    )]
    Malformed,
}

impl Sender {
    /// The default: `webmaster <webmaster@localhost>`.
    pub const DEFAULT: &'static str = "webmaster <webmaster@localhost>";

    /// Parses `Name <address>` or a bare `address`.
    pub fn parse(raw: &str) -> Result<Self, SenderError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(SenderError::Empty);
        }
        if raw.chars().any(char::is_control) {
            return Err(SenderError::ControlCharacter);
        }
        let mailbox: Mailbox = raw.parse().map_err(|_| SenderError::Malformed)?;
        let name = mailbox
            .name
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| SENDER_DISPLAY_NAME.to_owned());
        Ok(Self(Mailbox::new(Some(name), mailbox.email)))
    }

    pub fn display_name(&self) -> &str {
        self.0.name.as_deref().unwrap_or(SENDER_DISPLAY_NAME)
    }

    pub fn address(&self) -> String {
        self.0.email.to_string()
    }

    pub(crate) fn mailbox(&self) -> &Mailbox {
        &self.0
    }
}

impl FromStr for Sender {
    type Err = SenderError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

/// The brand in subjects and bodies (`PORTAL_BRAND`) and the help lines in
/// every footer (`PORTAL_HELP_LINES`, the same lines `provider_not_found`
/// lists). [`Branding::new`] checks the brand; the fields are public so that
/// tests can build any value, and rendering stays safe whatever they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    pub brand: String,
    pub help_lines: Vec<HelpLine>,
}

/// Why `PORTAL_BRAND` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrandError {
    #[error("is required")]
    Empty,
    #[error("must be at most {max} characters", max = Branding::MAX_BRAND_LEN)]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl Branding {
    pub const MAX_BRAND_LEN: usize = 64;

    /// Checks the brand (trimmed, 1 to 64 characters, no control
    /// characters: it goes into a subject line). The help lines are the
    /// binary's parse of `PORTAL_HELP_LINES`.
    pub fn new(brand: &str, help_lines: Vec<HelpLine>) -> Result<Self, BrandError> {
        let brand = brand.trim();
        if brand.is_empty() {
            return Err(BrandError::Empty);
        }
        if brand.chars().count() > Self::MAX_BRAND_LEN {
            return Err(BrandError::TooLong);
        }
        if brand.chars().any(char::is_control) {
            return Err(BrandError::ControlCharacter);
        }
        Ok(Self {
            brand: brand.to_owned(),
            help_lines,
        })
    }
}

impl Default for Branding {
    /// `CareSource`, Medicaid 1-855-202-1058 and Marketplace 1-833-230-2030.
    fn default() -> Self {
        Self {
            brand: "CareSource".to_owned(),
            help_lines: vec![
                HelpLine {
                    label: "Medicaid".to_owned(),
                    phone: "1-855-202-1058".to_owned(),
                },
                HelpLine {
                    label: "Marketplace".to_owned(),
                    phone: "1-833-230-2030".to_owned(),
                },
            ],
        }
    }
}

/// Everything the templates need, shared by both mailers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// `PORTAL_PUBLIC_URL`: the only base links are built from.
    pub public_url: PublicUrl,
    /// `PORTAL_MAIL_FROM`.
    pub sender: Sender,
    pub branding: Branding,
    /// How long an activation link lives (`PORTAL_ACTIVATION_TTL`), told in the email.
    pub activation_ttl: Duration,
    /// How long a reset link lives (`PORTAL_RESET_TTL`), told in the email.
    pub reset_ttl: Duration,
}

impl MailSettings {
    /// Links from `public_url`, sent by `sender`, with SPEC §9's other
    /// defaults: the default branding, links that live 24 hours
    /// (activation) and 1 hour (reset). The defaults of the two parsed
    /// values are [`PublicUrl::DEFAULT`] and [`Sender::DEFAULT`].
    pub fn new(public_url: PublicUrl, sender: Sender) -> Self {
        Self {
            public_url,
            sender,
            branding: Branding::default(),
            activation_ttl: Duration::hours(24),
            reset_ttl: Duration::hours(1),
        }
    }
}

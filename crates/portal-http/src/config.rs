//! Configuration (SPEC §9): environment variables, optionally a TOML file
//! named by `PORTAL_CONFIG_FILE` with the same keys (lower case, without
//! the `PORTAL_` prefix); the environment wins. Every value is parsed into
//! a typed setting here, and a bad one stops start-up with a message that
//! names the variable. Nothing else in the service reads the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use portal_adapters_smtp::{
    Branding, HeloName, MailSettings, PublicUrl, Sender, SmtpCa, SmtpSettings,
};
use portal_domain::hashing::Argon2Settings;
use portal_domain::lockout::LockoutPolicy;
use portal_domain::password_policy::PasswordPolicy;
use portal_domain::second_factor::DataKey;
use portal_domain::service::{Agreement, HelpLine, MfaSettings, PortalSettings, SAMPLE_AGREEMENT};
use portal_domain::session::SessionPolicy;
use portal_domain::values::AgreementVersion;
use secrecy::SecretString;
use time::Duration;
use url::Url;

/// A configuration problem, naming the variable (or file key) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: String,
    pub reason: String,
}

fn error(variable: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        reason: reason.into(),
    }
}

/// Every variable of SPEC §9, as written in the environment.
pub const VARIABLES: &[&str] = &[
    "PORTAL_LISTEN",
    "DATABASE_URL",
    "PORTAL_SMTP_URL",
    "PORTAL_SMTP_CA",
    "PORTAL_SMTP_HELO",
    "PORTAL_MAIL_DIR",
    "PORTAL_PUBLIC_URL",
    "PORTAL_BRAND",
    "PORTAL_MAIL_FROM",
    "PORTAL_LOCKOUT_MAX_FAILED",
    "PORTAL_LOCKOUT_DURATION",
    "PORTAL_ACTIVATION_TTL",
    "PORTAL_RESET_TTL",
    "PORTAL_REGISTRATION_TTL",
    "PORTAL_SESSION_IDLE",
    "PORTAL_SESSION_MAX",
    "PORTAL_PROOFING_MAX_FAILED",
    "PORTAL_EMAILS_PER_HOUR",
    "PORTAL_HASH_WORKERS",
    "PORTAL_HASH_QUEUE",
    "PORTAL_HASH_WAIT",
    "PORTAL_ARGON2_M_KIB",
    "PORTAL_ARGON2_T",
    "PORTAL_ARGON2_P",
    "PORTAL_PASSWORD_PEPPER",
    "PORTAL_PASSWORD_MIN_LENGTH",
    "PORTAL_PASSWORD_REQUIRE_CLASSES",
    "PORTAL_HELP_LINES",
    "PORTAL_LOG_FORMAT",
    "PORTAL_RATE_LIMIT_PER_MINUTE",
    "PORTAL_TRUSTED_PROXIES",
    "PORTAL_PENDING_PURGE_AFTER",
    "PORTAL_MAX_CONNECTIONS",
    "PORTAL_METRICS_LISTEN",
    "PORTAL_MFA_REQUIRED",
    "PORTAL_DATA_KEY",
    "PORTAL_AGREEMENT_FILE",
];

/// The file key of a variable: lower case, without `PORTAL_`.
fn file_key(variable: &str) -> String {
    variable
        .strip_prefix("PORTAL_")
        .unwrap_or(variable)
        .to_ascii_lowercase()
}

/// Where the database is.
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    Sqlite { url: String },
    Postgres { url: SecretString },
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// How long a client may take and how many connections may be open at
/// once (SPEC §8, "Hostile clients"). Only the cap is a variable; tests
/// shorten the times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// The request head must arrive within this of its first byte (of the
    /// connection's start, for its first request).
    pub header_timeout: std::time::Duration,
    /// A keep-alive connection waiting for its next request is closed after
    /// this.
    pub idle_timeout: std::time::Duration,
    /// The body must arrive within this after the head.
    pub body_timeout: std::time::Duration,
    /// A request not answered within this gets `503 overloaded`.
    pub answer_within: std::time::Duration,
    /// `PORTAL_MAX_CONNECTIONS`: more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(60),
            body_timeout: std::time::Duration::from_secs(10),
            answer_within: std::time::Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// The whole configuration, parsed.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseConfig,
    /// `None`: the file mailer writes to `mail_dir`.
    pub smtp: Option<SmtpSettings>,
    pub mail_dir: PathBuf,
    /// True when `PORTAL_MAIL_DIR` was set rather than defaulted.
    pub mail_dir_set: bool,
    pub public_url: Url,
    /// Sender, brand, help lines and the public URL, for the templates.
    pub mail: MailSettings,
    pub hash_workers: usize,
    pub hash_queue: usize,
    /// How long a request waits for room in a full hash pool before `503`.
    pub hash_wait: Duration,
    pub argon2: Argon2Settings,
    pub pepper: Option<SecretString>,
    pub log_format: LogFormat,
    /// Requests per client address per minute on the rate-limited routes; 0 = off.
    pub rate_limit_per_minute: u32,
    pub trusted_proxies: Vec<IpNet>,
    pub limits: ConnectionLimits,
    /// `PORTAL_METRICS_LISTEN`: `/metrics` only there; `None`: on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// The rules the use cases apply.
    pub portal: PortalSettings,
}

impl Config {
    /// True when links and cookies are served over https.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// What `serve` alone refuses (other commands send no email): over
    /// https without a relay, emails with their tokens would silently go to
    /// files and the log, unless the operator asked for that by setting
    /// `PORTAL_MAIL_DIR`.
    pub fn check_serve(&self) -> Result<(), ConfigError> {
        if self.is_https() && self.smtp.is_none() && !self.mail_dir_set {
            return Err(error(
                "PORTAL_SMTP_URL",
                "PORTAL_PUBLIC_URL is https but PORTAL_SMTP_URL is not set, so emails (with their links) would be written to files and the log; set PORTAL_SMTP_URL, or PORTAL_MAIL_DIR to write them there on purpose",
            ));
        }
        Ok(())
    }

    /// Reads the process environment (and the file it names).
    pub fn from_env() -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::load(&env, |path| std::fs::read_to_string(path))
    }

    /// Builds the configuration from `env` (variable → value), reading
    /// `PORTAL_CONFIG_FILE` and `PORTAL_AGREEMENT_FILE` with `read`.
    pub fn load(
        env: &BTreeMap<String, String>,
        read: impl Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
        if let Some(path) = env.get("PORTAL_CONFIG_FILE").filter(|p| !p.is_empty()) {
            let text = read(path.as_ref())
                .map_err(|e| error("PORTAL_CONFIG_FILE", format!("cannot read {path}: {e}")))?;
            for (variable, value) in file_values(path, &text)? {
                values.insert(variable, value);
            }
        }
        for variable in VARIABLES {
            if let Some(value) = env.get(*variable) {
                values.insert(variable, value.clone());
            }
        }
        Values {
            values,
            read: &read,
        }
        .parse()
    }
}

/// The keys of a TOML file, as variables. Numbers and booleans may be TOML
/// values or strings; anything else, or an unknown key, is an error.
fn file_values(path: &str, text: &str) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e| {
        error(
            "PORTAL_CONFIG_FILE",
            format!("{path} is not valid TOML: {e}"),
        )
    })?;
    let mut values = Vec::with_capacity(table.len());
    for (key, value) in table {
        let variable = VARIABLES
            .iter()
            .find(|variable| file_key(variable) == key)
            .ok_or_else(|| error(&key, format!("unknown key in {path}")))?;
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(error(
                    &key,
                    format!(
                        "expected a string, number or boolean in {path}, got {}",
                        other.type_str()
                    ),
                ));
            }
        };
        values.push((*variable, text));
    }
    Ok(values)
}

struct Values<'a, R> {
    values: BTreeMap<&'static str, String>,
    read: &'a R,
}

impl<R: Fn(&std::path::Path) -> std::io::Result<String>> Values<'_, R> {
    fn raw(&self, variable: &str) -> Option<&str> {
        self.values
            .get(variable)
            .map(String::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    fn text(&self, variable: &str, default: &str) -> String {
        self.raw(variable).unwrap_or(default).to_owned()
    }

    fn number<T>(&self, variable: &str, default: T, min: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.raw(variable) else {
            return Ok(default);
        };
        let value: T = raw
            .parse()
            .map_err(|_| error(variable, format!("expected a whole number, got {raw:?}")))?;
        if value < min {
            return Err(error(
                variable,
                format!("must be at least {min}, got {value}"),
            ));
        }
        Ok(value)
    }

    fn duration(&self, variable: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.raw(variable) {
            None => Ok(default),
            Some(raw) => parse_duration(raw).map_err(|reason| error(variable, reason)),
        }
    }

    /// At most 20 s: a login that waited longer could not be answered
    /// within the 30 s answer deadline (SPEC §8).
    fn hash_wait(&self) -> Result<Duration, ConfigError> {
        const VARIABLE: &str = "PORTAL_HASH_WAIT";
        let wait = self.duration(VARIABLE, Duration::seconds(2))?;
        if wait > Duration::seconds(20) {
            return Err(error(VARIABLE, "must be at most 20s"));
        }
        Ok(wait)
    }

    /// `PORTAL_MFA_REQUIRED` and `PORTAL_DATA_KEY`: requiring second
    /// factors needs the key that seals them. Passkeys are available when
    /// `PORTAL_PUBLIC_URL`'s host is a domain name (the relying party id).
    fn mfa(&self, public_url: &Url) -> Result<MfaSettings, ConfigError> {
        let data_key = self
            .raw("PORTAL_DATA_KEY")
            .map(DataKey::parse)
            .transpose()
            .map_err(|e| error("PORTAL_DATA_KEY", e.to_string()))?;
        let required = self.boolean("PORTAL_MFA_REQUIRED", false)?;
        if required && data_key.is_none() {
            return Err(error(
                "PORTAL_DATA_KEY",
                "is required when PORTAL_MFA_REQUIRED is true (32 bytes in base64: `openssl rand -base64 32`)"
                    .to_owned(),
            ));
        }
        let issuer = self.text("PORTAL_BRAND", "CareSource");
        let passkeys = crate::relying_party::RelyingParty::for_public_url(public_url, &issuer)
            .map(|rp| portal_domain::ports::WebAuthnHandle(std::sync::Arc::new(rp)));
        Ok(MfaSettings {
            required,
            data_key,
            issuer,
            passkeys,
        })
    }

    fn boolean(&self, variable: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(variable).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(error(
                variable,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }

    fn parse(self) -> Result<Config, ConfigError> {
        let listen = self
            .text("PORTAL_LISTEN", "127.0.0.1:8080")
            .parse()
            .map_err(|_| {
                error(
                    "PORTAL_LISTEN",
                    "expected an address and port such as 127.0.0.1:8080",
                )
            })?;
        let database = database(&self.text("DATABASE_URL", "sqlite:portal.db"))?;
        let smtp = self.smtp()?;
        let public_url = public_url(&self.text("PORTAL_PUBLIC_URL", "http://127.0.0.1:8080"))?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let argon2 = Argon2Settings {
            memory_kib: self.number("PORTAL_ARGON2_M_KIB", 19_456, 8)?,
            iterations: self.number("PORTAL_ARGON2_T", 2, 1)?,
            parallelism: self.number("PORTAL_ARGON2_P", 1, 1)?,
        };
        let password_policy = PasswordPolicy::new(
            self.number("PORTAL_PASSWORD_MIN_LENGTH", 12, 1)?,
            self.boolean("PORTAL_PASSWORD_REQUIRE_CLASSES", true)?,
        )
        .map_err(|e| error("PORTAL_PASSWORD_MIN_LENGTH", e.to_string()))?;
        let lockout = LockoutPolicy {
            max_failed: self.number("PORTAL_LOCKOUT_MAX_FAILED", 5, 1)?,
            duration: self.positive("PORTAL_LOCKOUT_DURATION", Duration::hours(24))?,
        };
        let sessions = SessionPolicy {
            idle: self.positive("PORTAL_SESSION_IDLE", Duration::minutes(30))?,
            absolute: self.positive("PORTAL_SESSION_MAX", Duration::hours(12))?,
        };
        let portal = PortalSettings {
            registration_ttl: self.positive("PORTAL_REGISTRATION_TTL", Duration::minutes(30))?,
            activation_ttl: self.positive("PORTAL_ACTIVATION_TTL", Duration::hours(24))?,
            reset_ttl: self.positive("PORTAL_RESET_TTL", Duration::hours(1))?,
            lockout,
            sessions,
            proofing_max_failed: self.number("PORTAL_PROOFING_MAX_FAILED", 10, 0)?,
            emails_per_hour: self.number("PORTAL_EMAILS_PER_HOUR", 5, 0)?,
            pending_purge_after: self.duration("PORTAL_PENDING_PURGE_AFTER", Duration::days(7))?,
            password_policy,
            help_lines: help_lines(&self.text(
                "PORTAL_HELP_LINES",
                "Medicaid=1-855-202-1058;Marketplace=1-833-230-2030",
            ))?,
            agreement: self.agreement()?,
            mfa: self.mfa(&public_url)?,
        };
        let mail = MailSettings {
            public_url: PublicUrl::parse(public_url.as_str())
                .map_err(|e| error("PORTAL_PUBLIC_URL", e.to_string()))?,
            sender: Sender::parse(
                &self.text("PORTAL_MAIL_FROM", "webmaster <webmaster@localhost>"),
            )
            .map_err(|e| error("PORTAL_MAIL_FROM", e.to_string()))?,
            branding: Branding {
                brand: self.text("PORTAL_BRAND", "CareSource"),
                help_lines: portal.help_lines.clone(),
            },
            activation_ttl: portal.activation_ttl,
            reset_ttl: portal.reset_ttl,
        };
        Ok(Config {
            listen,
            database,
            smtp,
            mail_dir: PathBuf::from(self.text("PORTAL_MAIL_DIR", "./var/mail")),
            mail_dir_set: self.raw("PORTAL_MAIL_DIR").is_some(),
            public_url,
            mail,
            hash_workers: self.number("PORTAL_HASH_WORKERS", cores, 1)?,
            hash_queue: self.number("PORTAL_HASH_QUEUE", 64, 0)?,
            hash_wait: self.hash_wait()?,
            argon2,
            pepper: self
                .raw("PORTAL_PASSWORD_PEPPER")
                .map(|p| SecretString::from(p.to_owned())),
            log_format: match self.raw("PORTAL_LOG_FORMAT") {
                None => {
                    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                        LogFormat::Pretty
                    } else {
                        LogFormat::Json
                    }
                }
                Some("pretty") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(error(
                        "PORTAL_LOG_FORMAT",
                        format!("expected pretty or json, got {other:?}"),
                    ));
                }
            },
            rate_limit_per_minute: self.number("PORTAL_RATE_LIMIT_PER_MINUTE", 30, 0)?,
            trusted_proxies: trusted_proxies(self.raw("PORTAL_TRUSTED_PROXIES").unwrap_or(""))?,
            limits: ConnectionLimits {
                max_connections: self.number("PORTAL_MAX_CONNECTIONS", 1024, 1)?,
                ..ConnectionLimits::default()
            },
            metrics_listen: self
                .raw("PORTAL_METRICS_LISTEN")
                .map(|raw| {
                    raw.parse().map_err(|_| {
                        error(
                            "PORTAL_METRICS_LISTEN",
                            "expected an address and port such as 10.0.0.5:9090",
                        )
                    })
                })
                .transpose()?,
            portal,
        })
    }

    fn positive(&self, variable: &str, default: Duration) -> Result<Duration, ConfigError> {
        let value = self.duration(variable, default)?;
        if value <= Duration::ZERO {
            return Err(error(variable, "must be longer than zero"));
        }
        Ok(value)
    }

    /// `PORTAL_SMTP_URL` with `PORTAL_SMTP_CA` and `PORTAL_SMTP_HELO`, which
    /// mean nothing without it (and so are refused, not ignored).
    fn smtp(&self) -> Result<Option<SmtpSettings>, ConfigError> {
        let Some(url) = self.raw("PORTAL_SMTP_URL") else {
            for variable in ["PORTAL_SMTP_CA", "PORTAL_SMTP_HELO"] {
                if self.raw(variable).is_some() {
                    return Err(error(
                        variable,
                        "applies to an SMTP relay, but PORTAL_SMTP_URL is not set",
                    ));
                }
            }
            return Ok(None);
        };
        let mut smtp =
            SmtpSettings::from_url(url).map_err(|e| error("PORTAL_SMTP_URL", e.to_string()))?;
        if let Some(path) = self.raw("PORTAL_SMTP_CA") {
            const VARIABLE: &str = "PORTAL_SMTP_CA";
            let pem = (self.read)(path.as_ref())
                .map_err(|e| error(VARIABLE, format!("cannot read {path}: {e}")))?;
            let ca = SmtpCa::from_pem(pem.as_bytes())
                .map_err(|e| error(VARIABLE, format!("{path} {e}")))?;
            smtp = smtp.with_extra_ca(ca);
        }
        if let Some(name) = self.raw("PORTAL_SMTP_HELO") {
            let helo =
                HeloName::parse(name).map_err(|e| error("PORTAL_SMTP_HELO", e.to_string()))?;
            smtp = smtp.with_helo(helo);
        }
        Ok(Some(smtp))
    }

    fn agreement(&self) -> Result<Agreement, ConfigError> {
        const VARIABLE: &str = "PORTAL_AGREEMENT_FILE";
        let Some(path) = self.raw(VARIABLE) else {
            return Ok(Agreement::new(AgreementVersion::sample(), SAMPLE_AGREEMENT));
        };
        let text = (self.read)(path.as_ref())
            .map_err(|e| error(VARIABLE, format!("cannot read {path}: {e}")))?;
        let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        let version = AgreementVersion::parse(first).map_err(|e| {
            error(
                VARIABLE,
                format!("the first line of {path} is the version, which {e}"),
            )
        })?;
        let body = rest.trim();
        if body.is_empty() {
            return Err(error(
                VARIABLE,
                format!("{path} has a version but no agreement text"),
            ));
        }
        Ok(Agreement::new(version, body))
    }
}

/// `90s`, `30m`, `24h`, `7d`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let amount: i64 = number
        .parse()
        .map_err(|_| format!("expected a duration such as 90s, 30m, 24h or 7d, got {raw:?}"))?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "expected a duration such as 90s, 30m, 24h or 7d, got {raw:?}"
            ));
        }
    };
    // Far past any sensible setting, and far from overflowing `Duration`.
    const LONGEST: i64 = 100 * 365 * 86_400;
    let duration = amount
        .checked_mul(seconds_per_unit)
        .filter(|seconds| *seconds <= LONGEST)
        .map(Duration::seconds)
        .ok_or_else(|| format!("{raw:?} is longer than 100 years"))?;
    Ok(duration)
}

fn database(url: &str) -> Result<DatabaseConfig, ConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DatabaseConfig::Postgres {
            url: SecretString::from(url.to_owned()),
        })
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        if path.trim_start_matches('/').is_empty() {
            return Err(error(
                "DATABASE_URL",
                "sqlite: needs a file path, e.g. sqlite:portal.db",
            ));
        }
        Ok(DatabaseConfig::Sqlite {
            url: url.to_owned(),
        })
    } else {
        Err(error(
            "DATABASE_URL",
            "expected sqlite:PATH, sqlite:///ABSOLUTE/PATH, postgres://… or postgresql://…",
        ))
    }
}

fn public_url(raw: &str) -> Result<Url, ConfigError> {
    const VARIABLE: &str = "PORTAL_PUBLIC_URL";
    let url = Url::parse(raw).map_err(|e| error(VARIABLE, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(error(
            VARIABLE,
            "expected an http:// or https:// URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(error(VARIABLE, "may not have a query or a fragment"));
    }
    Ok(url)
}

fn help_lines(raw: &str) -> Result<Vec<HelpLine>, ConfigError> {
    raw.split(';')
        .filter(|piece| !piece.trim().is_empty())
        .map(|piece| {
            let (label, phone) = piece.split_once('=').ok_or_else(|| {
                error(
                    "PORTAL_HELP_LINES",
                    format!("expected Label=phone;Label=phone, got {piece:?}"),
                )
            })?;
            Ok(HelpLine {
                label: label.trim().to_owned(),
                phone: phone.trim().to_owned(),
            })
        })
        .collect()
}

/// Addresses and CIDRs; an IPv4-mapped IPv6 one (`::ffff:10.0.0.0/104`)
/// is kept as the IPv4 one it stands for, as peers are.
fn trusted_proxies(raw: &str) -> Result<Vec<IpNet>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            piece
                .parse::<IpNet>()
                .or_else(|_| piece.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(canonical_net)
                .map_err(|_| {
                    error(
                        "PORTAL_TRUSTED_PROXIES",
                        format!("expected addresses or CIDRs, got {piece:?}"),
                    )
                })
        })
        .collect()
}

/// `::ffff:a.b.c.d/n` (n ≥ 96) as `a.b.c.d/(n - 96)`; anything else as is.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;

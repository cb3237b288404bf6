//! Unit tests of the configuration: defaults, each variable's parsing and
//! its error message, the TOML file, and the checks `serve` makes.

use super::*;

fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    load_with_files(pairs, &[])
}

fn load_with_files(pairs: &[(&str, &str)], files: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let files: BTreeMap<String, String> = files
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::load(&env, |path| {
        files
            .get(path.to_string_lossy().as_ref())
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    })
}

#[test]
fn defaults_are_the_specs() {
    let config = load(&[("PORTAL_LOG_FORMAT", "json")]).unwrap();
    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    assert!(
        matches!(config.database, DatabaseConfig::Sqlite { ref url } if url == "sqlite:portal.db")
    );
    assert!(config.smtp.is_none());
    assert_eq!(config.mail.sender.display_name(), "webmaster");
    assert_eq!(config.mail_dir, PathBuf::from("./var/mail"));
    assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(config.mail.branding.brand, "CareSource");
    assert_eq!(
        config.portal.lockout,
        LockoutPolicy {
            max_failed: 5,
            duration: Duration::hours(24)
        }
    );
    assert_eq!(config.portal.activation_ttl, Duration::hours(24));
    assert_eq!(config.portal.reset_ttl, Duration::hours(1));
    assert_eq!(config.portal.registration_ttl, Duration::minutes(30));
    assert_eq!(
        config.portal.sessions,
        SessionPolicy {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12)
        }
    );
    assert_eq!(
        (
            config.portal.proofing_max_failed,
            config.portal.emails_per_hour
        ),
        (10, 5)
    );
    assert_eq!(config.hash_queue, 64);
    assert_eq!(config.hash_wait, Duration::seconds(2));
    assert_eq!(config.argon2, Argon2Settings::default());
    assert_eq!(config.portal.password_policy, PasswordPolicy::default());
    assert_eq!(config.portal.help_lines.len(), 2);
    assert_eq!(config.rate_limit_per_minute, 30);
    assert_eq!(config.portal.pending_purge_after, Duration::days(7));
    assert_eq!(config.portal.agreement.version.as_str(), "1");
    assert_eq!(config.limits, ConnectionLimits::default());
    assert_eq!(config.limits.max_connections, 1024);
    assert_eq!(config.metrics_listen, None);
    assert!(!config.mail_dir_set);
}

#[test]
fn connection_cap_and_metrics_address() {
    let config = load(&[
        ("PORTAL_MAX_CONNECTIONS", "8"),
        ("PORTAL_METRICS_LISTEN", "10.0.0.5:9090"),
    ])
    .unwrap();
    assert_eq!(config.limits.max_connections, 8);
    assert_eq!(
        config.metrics_listen,
        Some("10.0.0.5:9090".parse().unwrap())
    );
    let file = load_with_files(
        &[("PORTAL_CONFIG_FILE", "c.toml")],
        &[(
            "c.toml",
            "max_connections = 16\nmetrics_listen = \"127.0.0.1:9\"\n",
        )],
    )
    .unwrap();
    assert_eq!(file.limits.max_connections, 16);
}

#[test]
fn serve_refuses_https_without_a_relay_unless_the_mail_dir_is_set() {
    let https = ("PORTAL_PUBLIC_URL", "https://portal.example.org/");
    let e = load(&[https]).unwrap().check_serve().unwrap_err();
    for variable in ["PORTAL_PUBLIC_URL", "PORTAL_SMTP_URL", "PORTAL_MAIL_DIR"] {
        assert!(e.to_string().contains(variable), "{e}");
    }
    assert!(
        load(&[https, ("PORTAL_MAIL_DIR", "/var/lib/portal/mail")])
            .unwrap()
            .check_serve()
            .is_ok()
    );
    assert!(
        load(&[https, ("PORTAL_SMTP_URL", "smtp://relay.plan.example")])
            .unwrap()
            .check_serve()
            .is_ok()
    );
    assert!(
        load(&[]).unwrap().check_serve().is_ok(),
        "http: the development default"
    );
}

#[test]
fn ipv4_mapped_trusted_proxies_are_their_ipv4_networks() {
    let config = load(&[(
        "PORTAL_TRUSTED_PROXIES",
        "::ffff:10.0.0.0/104, ::ffff:192.0.2.1, 2001:db8::/32",
    )])
    .unwrap();
    let nets: Vec<String> = config
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"]);
}

#[test]
fn bad_values_name_their_variable() {
    for (variable, value) in [
        ("PORTAL_LOCKOUT_MAX_FAILED", "five"),
        ("PORTAL_LOCKOUT_DURATION", "24 hours"),
        ("PORTAL_SESSION_IDLE", "0m"),
        ("PORTAL_LISTEN", "8080"),
        ("DATABASE_URL", "mysql://x"),
        ("PORTAL_PUBLIC_URL", "ftp://x"),
        ("PORTAL_SMTP_URL", "http://mail"),
        ("PORTAL_MAIL_FROM", "not an address"),
        ("PORTAL_PASSWORD_MIN_LENGTH", "200"),
        ("PORTAL_PASSWORD_REQUIRE_CLASSES", "maybe"),
        ("PORTAL_HELP_LINES", "Medicaid"),
        ("PORTAL_LOG_FORMAT", "xml"),
        ("PORTAL_TRUSTED_PROXIES", "10.0.0.0/99"),
        ("PORTAL_HASH_WORKERS", "0"),
        ("PORTAL_ARGON2_M_KIB", "-1"),
        ("PORTAL_AGREEMENT_FILE", "/missing"),
        ("PORTAL_MAX_CONNECTIONS", "0"),
        ("PORTAL_METRICS_LISTEN", "9090"),
    ] {
        let e = load(&[(variable, value)]).unwrap_err();
        assert_eq!(e.variable, variable, "{e}");
        assert!(e.to_string().starts_with(&format!("{variable}: ")));
    }
}

#[test]
fn the_relay_s_private_ca_and_ehlo_name_are_read_and_checked() {
    let ca = include_str!("../../../portal-adapters-smtp/tests/it/fixtures/private-ca.pem");
    let config = load_with_files(
        &[
            ("PORTAL_SMTP_URL", "smtp://relay.plan.example?tls=required"),
            ("PORTAL_SMTP_CA", "/etc/portal/relay-ca.pem"),
            ("PORTAL_SMTP_HELO", "portal.plan.example"),
        ],
        &[("/etc/portal/relay-ca.pem", ca)],
    )
    .unwrap();
    let smtp = config.smtp.unwrap();
    assert_eq!(smtp.extra_ca.map(|ca| ca.len()), Some(1));
    assert_eq!(smtp.helo.as_str(), "portal.plan.example");

    let smtp_url = ("PORTAL_SMTP_URL", "smtp://relay.plan.example");
    for (setting, files, variable) in [
        (("PORTAL_SMTP_CA", "/missing.pem"), vec![], "PORTAL_SMTP_CA"),
        (
            ("PORTAL_SMTP_CA", "/etc/key.pem"),
            vec![("/etc/key.pem", "-----BEGIN PRIVATE KEY-----\n")],
            "PORTAL_SMTP_CA",
        ),
        (
            ("PORTAL_SMTP_HELO", "not a name"),
            vec![],
            "PORTAL_SMTP_HELO",
        ),
    ] {
        let e = load_with_files(&[smtp_url, setting], &files).unwrap_err();
        assert_eq!(e.variable, variable, "{e}");
    }
    // Without a relay they would silently mean nothing: refused.
    for setting in [
        ("PORTAL_SMTP_CA", "/etc/portal/relay-ca.pem"),
        ("PORTAL_SMTP_HELO", "portal.plan.example"),
    ] {
        let e = load(&[setting]).unwrap_err();
        assert_eq!(e.variable, setting.0, "{e}");
        assert!(e.to_string().contains("PORTAL_SMTP_URL"), "{e}");
    }
}

#[test]
fn a_file_sets_the_same_keys_and_the_environment_wins() {
    let file = "lockout_max_failed = 3\nlockout_duration = \"1h\"\nbrand = \"Acme\"\nrate_limit_per_minute = \"7\"\npassword_require_classes = false\ndatabase_url = \"sqlite:other.db\"\n";
    let config = load_with_files(
        &[
            ("PORTAL_CONFIG_FILE", "/etc/portal.toml"),
            ("PORTAL_BRAND", "FromEnv"),
        ],
        &[("/etc/portal.toml", file)],
    )
    .unwrap();
    assert_eq!(
        config.portal.lockout,
        LockoutPolicy {
            max_failed: 3,
            duration: Duration::hours(1)
        }
    );
    assert_eq!(config.mail.branding.brand, "FromEnv");
    assert_eq!(config.rate_limit_per_minute, 7);
    assert!(!config.portal.password_policy.requires_classes());
    assert!(
        matches!(config.database, DatabaseConfig::Sqlite { ref url } if url == "sqlite:other.db")
    );
}

#[test]
fn unknown_or_mistyped_file_keys_stop_start_up() {
    let e = load_with_files(
        &[("PORTAL_CONFIG_FILE", "c.toml")],
        &[("c.toml", "lockout_max_faild = 3\n")],
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "lockout_max_faild: unknown key in c.toml");
    let e = load_with_files(
        &[("PORTAL_CONFIG_FILE", "c.toml")],
        &[("c.toml", "brand = [1]\n")],
    )
    .unwrap_err();
    assert_eq!(e.variable, "brand");
    let e = load_with_files(
        &[("PORTAL_CONFIG_FILE", "c.toml")],
        &[("c.toml", "lockout_duration = \"soon\"\n")],
    )
    .unwrap_err();
    assert_eq!(e.variable, "PORTAL_LOCKOUT_DURATION");
    let e = load(&[("PORTAL_CONFIG_FILE", "missing.toml")]).unwrap_err();
    assert_eq!(e.variable, "PORTAL_CONFIG_FILE");
}

#[test]
fn agreement_file_first_line_is_the_version() {
    let config = load_with_files(
        &[("PORTAL_AGREEMENT_FILE", "a.txt")],
        &[("a.txt", "2026-03\nThe new agreement.\n")],
    )
    .unwrap();
    assert_eq!(config.portal.agreement.version.as_str(), "2026-03");
    assert_eq!(config.portal.agreement.text, "The new agreement.");
}

#[test]
fn durations_and_proxies() {
    assert_eq!(parse_duration("90s"), Ok(Duration::seconds(90)));
    assert_eq!(parse_duration("7d"), Ok(Duration::days(7)));
    assert!(parse_duration("7w").is_err());
    // Huge values are refused with a message, never an overflow.
    assert!(parse_duration("99999999999999999d").is_err());
    assert!(parse_duration("9223372036854775807s").is_err());
    assert!(
        load(&[("PORTAL_HASH_WAIT", "21s")])
            .unwrap_err()
            .to_string()
            .contains("PORTAL_HASH_WAIT")
    );
    assert_eq!(
        load(&[("PORTAL_HASH_WAIT", "0s")]).unwrap().hash_wait,
        Duration::ZERO
    );
    let config = load(&[("PORTAL_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")]).unwrap();
    assert_eq!(config.trusted_proxies.len(), 2);
    assert!(
        load(&[("PORTAL_PUBLIC_URL", "https://portal.example.org/")])
            .unwrap()
            .is_https()
    );
}

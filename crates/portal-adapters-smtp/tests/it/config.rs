//! Configuration: the SMTP URL forms, the public URL's joins, the sender.

use std::path::{Path, PathBuf};

use portal_adapters_smtp::{
    BrandError, Branding, HeloName, HeloNameError, MailTransport, PublicUrl, PublicUrlError,
    Sender, SenderError, SmtpCa, SmtpCaError, SmtpSecurity, SmtpSettings, SmtpUrlError,
};
use secrecy::ExposeSecret;

#[test]
fn smtp_url_forms() {
    // STARTTLS whenever the relay offers it, unless told otherwise.
    let plain = SmtpSettings::from_url("smtp://relay.internal:2525").unwrap();
    assert_eq!(
        (plain.host.as_str(), plain.port, plain.security),
        ("relay.internal", 2525, SmtpSecurity::Opportunistic)
    );
    let never = SmtpSettings::from_url("smtp://relay.internal?tls=none").unwrap();
    assert_eq!((never.port, never.security), (25, SmtpSecurity::Plain));
    assert!(plain.credentials.is_none());
    assert_eq!(plain.connect_timeout, SmtpSettings::DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(plain.send_timeout, SmtpSettings::DEFAULT_SEND_TIMEOUT);

    let starttls = SmtpSettings::from_url("smtp://smtp.example.org:587?tls=required").unwrap();
    assert_eq!(starttls.security, SmtpSecurity::StartTls);

    let implicit = SmtpSettings::from_url("smtps://smtp.example.org").unwrap();
    assert_eq!(
        (implicit.port, implicit.security),
        (465, SmtpSecurity::ImplicitTls)
    );

    assert_eq!(SmtpSettings::from_url("smtp://relay").unwrap().port, 25);
    assert_eq!(
        SmtpSettings::from_url("smtp://relay?tls=required")
            .unwrap()
            .port,
        587
    );
    let v6 = SmtpSettings::from_url("smtp://[::1]:25").unwrap();
    assert_eq!(v6.host, "::1");
}

#[test]
fn smtp_credentials_are_percent_decoded_and_never_shown() {
    let smtp =
        SmtpSettings::from_url("smtps://mail%40example.org:p%40ss%3Aw%2Frd%25@smtp.example.org")
            .unwrap();
    let credentials = smtp.credentials.as_ref().unwrap();
    assert_eq!(credentials.username.expose_secret(), "mail@example.org");
    assert_eq!(credentials.password.expose_secret(), "p@ss:w/rd%");
    let debug = format!("{smtp:?}");
    assert!(
        !debug.contains("p@ss") && !debug.contains("p%40ss"),
        "{debug}"
    );
    assert!(!debug.contains("mail@example.org"), "{debug}");
}

#[test]
fn bad_smtp_urls_are_named_without_repeating_the_password() {
    let cases: &[(&str, SmtpUrlError)] = &[
        (
            "http://relay:25",
            SmtpUrlError::UnsupportedScheme("http".into()),
        ),
        (
            "smtp://relay?tls=opportunistic",
            SmtpUrlError::UnsupportedTls("opportunistic".into()),
        ),
        ("smtps://relay?tls=required", SmtpUrlError::TlsOnSmtps),
        ("smtps://relay?tls=none", SmtpUrlError::TlsOnSmtps),
        (
            "smtp://user:secret@relay.example.org:25?tls=none",
            SmtpUrlError::CredentialsInClear,
        ),
        (
            "smtp://relay?timeout=3",
            SmtpUrlError::UnknownParameter("timeout".into()),
        ),
        ("smtp://relay/ehlo-name", SmtpUrlError::UnexpectedPart),
        ("smtp://relay#x", SmtpUrlError::UnexpectedPart),
        (
            "smtp://user:secret@relay.example.org:25",
            SmtpUrlError::CredentialsInClear,
        ),
        ("smtp://user:%FF@localhost:25", SmtpUrlError::BadCredentials),
    ];
    for (url, expected) in cases {
        let error = SmtpSettings::from_url(url).unwrap_err();
        assert_eq!(&error, expected, "{url}");
        assert!(!error.to_string().contains("secret"), "{error}");
    }
    assert!(matches!(
        SmtpSettings::from_url("not a url"),
        Err(SmtpUrlError::Malformed(_))
    ));
    assert!(matches!(
        SmtpSettings::from_url("smtp://:25"),
        Err(SmtpUrlError::Malformed(_) | SmtpUrlError::MissingHost)
    ));
    // Credentials may travel in clear to a relay on this host only.
    assert!(SmtpSettings::from_url("smtp://user:pw@127.0.0.1:25").is_ok());
    assert!(SmtpSettings::from_url("smtp://user:pw@localhost:25").is_ok());
}

#[test]
fn public_url_joins_with_or_without_a_slash_and_a_prefix() {
    for (base, expected) in [
        (
            "https://portal.example.org",
            "https://portal.example.org/login",
        ),
        (
            "https://portal.example.org/",
            "https://portal.example.org/login",
        ),
        (
            "https://example.org/providers",
            "https://example.org/providers/login",
        ),
        (
            "https://example.org/providers/",
            "https://example.org/providers/login",
        ),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/login"),
    ] {
        let url = PublicUrl::parse(base).unwrap();
        assert_eq!(url.join("/login"), expected, "{base}");
        assert_eq!(url.join("login"), expected, "{base}");
    }
    let url = PublicUrl::parse("https://example.org/providers/").unwrap();
    assert_eq!(
        url.join("/activate?token=abc-_1"),
        "https://example.org/providers/activate?token=abc-_1"
    );
    assert!(url.is_https());
    let default = PublicUrl::parse(PublicUrl::DEFAULT).unwrap();
    assert_eq!(default.as_str(), "http://127.0.0.1:8080");
    assert!(!default.is_https());
}

#[test]
fn bad_public_urls_are_refused() {
    assert!(matches!(
        PublicUrl::parse("portal.example.org"),
        Err(PublicUrlError::Malformed(_))
    ));
    assert_eq!(
        PublicUrl::parse("ftp://portal.example.org"),
        Err(PublicUrlError::UnsupportedScheme("ftp".into()))
    );
    assert_eq!(
        PublicUrl::parse("https://u:p@portal.example.org"),
        Err(PublicUrlError::HasCredentials)
    );
    assert_eq!(
        PublicUrl::parse("https://portal.example.org/?a=b"),
        Err(PublicUrlError::HasQueryOrFragment)
    );
}

#[test]
fn sender_display_name_is_webmaster_unless_given() {
    let default = Sender::parse(Sender::DEFAULT).unwrap();
    assert_eq!(default.display_name(), "webmaster");
    assert_eq!(default.address(), "webmaster@localhost");

    let bare = Sender::parse("noreply@plan.example.org").unwrap();
    assert_eq!(bare.display_name(), "webmaster");
    assert_eq!(bare.address(), "noreply@plan.example.org");

    let named = Sender::parse("Provider Services <noreply@plan.example.org>").unwrap();
    assert_eq!(named.display_name(), "Provider Services");

    assert_eq!(Sender::parse("  "), Err(SenderError::Empty));
    assert_eq!(
        Sender::parse("webmaster\r\nBcc: x@evil.example <a@b.example>"),
        Err(SenderError::ControlCharacter)
    );
    assert_eq!(Sender::parse("not an address"), Err(SenderError::Malformed));
}

#[test]
fn the_transport_is_files_unless_an_smtp_url_is_set() {
    assert!(matches!(
        MailTransport::from_config(None, None).unwrap(),
        MailTransport::Files(dir) if dir == Path::new("./var/mail")
    ));
    assert!(matches!(
        MailTransport::from_config(Some("  "), Some(PathBuf::from("/tmp/m"))).unwrap(),
        MailTransport::Files(dir) if dir == Path::new("/tmp/m")
    ));
    assert!(matches!(
        MailTransport::from_config(Some("smtps://smtp.example.org"), None).unwrap(),
        MailTransport::Smtp(_)
    ));
    assert!(MailTransport::from_config(Some("smtp://x?tls=no"), None).is_err());
}

#[test]
fn a_brand_is_one_line_of_text() {
    let branding = Branding::new("  A&B Health ", Vec::new()).unwrap();
    assert_eq!(branding.brand, "A&B Health");
    assert_eq!(Branding::new(" ", Vec::new()), Err(BrandError::Empty));
    assert_eq!(
        Branding::new("Plan\r\nBcc: x@evil.example", Vec::new()),
        Err(BrandError::ControlCharacter)
    );
    assert_eq!(
        Branding::new(&"x".repeat(65), Vec::new()),
        Err(BrandError::TooLong)
    );
    assert_eq!(Branding::default().brand, "CareSource");
}

#[test]
fn the_relay_s_mode_trust_and_ehlo_name_are_described_without_credentials() {
    let smtp = SmtpSettings::from_url("smtps://mailer:s3cret@smtp.example.org")
        .unwrap()
        .with_helo(HeloName::parse("portal.plan.example").unwrap());
    let described = smtp.describe();
    assert!(described.contains("smtp.example.org:465"), "{described}");
    assert!(described.contains("TLS from the first byte"), "{described}");
    assert!(
        described.contains("the system's trust store"),
        "{described}"
    );
    assert!(
        described.contains("EHLO portal.plan.example"),
        "{described}"
    );
    assert!(
        !described.contains("s3cret") && !described.contains("mailer"),
        "{described}"
    );
    let opportunistic = SmtpSettings::from_url("smtp://relay.internal").unwrap();
    assert!(
        opportunistic
            .describe()
            .contains("STARTTLS when the relay offers it")
    );
}

#[test]
fn ehlo_names_are_domain_names() {
    for good in ["mail.plan.example", "portal-1.example.org.", "localhost"] {
        assert!(HeloName::parse(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "with space.example",
        "-lead.example",
        "a..b",
        "under_score.example",
        "x\r\nRCPT TO:<a@b>",
    ] {
        assert_eq!(HeloName::parse(bad), Err(HeloNameError), "{bad}");
    }
    assert_eq!(
        HeloName::parse("Mail.Plan.Example").unwrap().as_str(),
        "mail.plan.example"
    );
    assert!(
        HeloName::parse("mail.plan.example")
            .unwrap()
            .is_fully_qualified()
    );
    assert!(!HeloName::parse("vm").unwrap().is_fully_qualified());
    // Whatever this machine is called, the default is a valid name.
    let here = HeloName::of_this_machine();
    assert!(HeloName::parse(here.as_str()).is_ok(), "{here:?}");
}

#[test]
fn a_private_ca_file_must_hold_a_certificate() {
    assert_eq!(
        SmtpCa::from_pem(b"not a certificate"),
        Err(SmtpCaError::NoCertificate)
    );
    assert!(matches!(
        SmtpCa::from_pem(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"),
        Err(SmtpCaError::Invalid(_))
    ));
}

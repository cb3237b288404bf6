//! The development mailer: one parseable `.eml` per email, its link logged.

use std::path::{Path, PathBuf};

use portal_adapters_smtp::{AnyMailer, FileMailer, MailTransport};
use portal_domain::delivery::DeliveryPolicy;
use portal_domain::email::{Email, EmailKind};
use portal_domain::ports::Mailer;
use portal_domain::prelude::*;

use crate::support::{self, ADDRESS, Logs, PUBLIC_URL, USERNAME, hrefs, parse, queued_tokens};

/// A fresh directory under the target's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("portal-adapters-smtp")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn the_file_mailer_writes_a_parseable_eml_and_logs_its_link() {
    let dir = scratch("eml").join("nested");
    let portal = support::registered(PortalSettings::default()).await;
    let token = queued_tokens(&portal).remove(0);
    let mailer = FileMailer::new(&dir, support::mail_settings()).unwrap();
    assert!(dir.is_dir(), "created with its parents");

    let (logs, _guard) = Logs::capture();
    let report = support::delivery(&portal, mailer, DeliveryPolicy::default())
        .deliver_batch()
        .await
        .unwrap();
    assert_eq!(report.sent, 1);

    let files = eml_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read(&files[0]).unwrap();
    let parsed = parse(&raw);
    assert_eq!(
        parsed.subject.as_deref(),
        Some("Activate Your Provider Portal Account")
    );
    assert_eq!(parsed.from_name.as_deref(), Some("webmaster"));
    assert_eq!(parsed.to, [ADDRESS]);
    assert_eq!(parsed.content_type, "multipart/alternative");
    let link = format!("{PUBLIC_URL}activate?token={token}");
    assert!(parsed.text.contains(&link));
    assert!(hrefs(&parsed.html).contains(&link));

    // Read as a person reads the file: the link is one line of its own,
    // copied as is (no quoted-printable `=3D`, no soft line break).
    let file = String::from_utf8(raw.clone()).expect("8-bit UTF-8, not base64");
    assert!(
        file.lines().any(|line| line.trim_end() == link),
        "the link is not one plain line:\n{file}"
    );
    assert!(
        !file.contains("=3D"),
        "quoted-printable in the file:\n{file}"
    );
    assert!(!file.to_ascii_lowercase().contains("quoted-printable"));
    assert!(file.contains("Content-Transfer-Encoding: 8bit"), "{file}");
    for header in ["Date: ", "Message-ID: <", "Auto-Submitted: auto-generated"] {
        assert!(
            file.lines().any(|line| line.starts_with(header)),
            "{header} missing:\n{file}"
        );
    }

    let logs = logs.text();
    assert!(logs.contains("portal::mail"), "{logs}");
    assert!(logs.contains(&link), "the dev mailer logs the link: {logs}");
    assert!(logs.contains(ADDRESS));
    assert!(logs.contains("Activate Your Provider Portal Account"));

    // Nothing is left half-written in the staging area.
    let staging: Vec<_> = std::fs::read_dir(dir.join(".staging")).unwrap().collect();
    assert!(staging.is_empty());
}

#[tokio::test]
async fn the_file_mailer_recreates_a_removed_directory() {
    let dir = scratch("recreate");
    let mailer = MailTransport::Files(dir.clone())
        .build(support::mail_settings())
        .unwrap();
    assert!(matches!(mailer, AnyMailer::File(_)));
    std::fs::remove_dir_all(&dir).unwrap();
    let email = Email {
        to: EmailAddress::parse(ADDRESS).unwrap(),
        username: Username::parse(USERNAME).unwrap(),
        kind: EmailKind::PasswordChanged,
    };
    mailer.send(&email).await.unwrap();
    mailer.send(&email).await.unwrap();
    assert_eq!(eml_files(&dir).len(), 2);
}

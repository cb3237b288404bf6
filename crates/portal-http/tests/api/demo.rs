//! The README's first command as a newcomer runs it: `serve --demo` on a
//! new SQLite file prints the demo providers; each registers exactly as
//! printed, the ones labelled as refusals answer the refusal they name,
//! and the README's `curl` example registers a provider of its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use serde_json::{Map, Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_portal-http");
const README: &str = include_str!("../../../../README.md");

/// One provider line of the banner: its fields and, for a refusal, the
/// code it names.
#[derive(Debug)]
struct Printed {
    line: String,
    body: Value,
    refusal: Option<String>,
}

/// `  practitioner  provider_id=P1001  …  zip=45202[  -> code: why]`.
fn parse_line(line: &str) -> Option<Printed> {
    let (fields, refusal) = match line.split_once("  -> ") {
        Some((fields, why)) => (fields, Some(why.split(':').next()?.trim().to_owned())),
        None => (line, None),
    };
    let mut parts = fields
        .trim()
        .split("  ")
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let kind = parts.next()?;
    if kind != "practitioner" && kind != "group" {
        return None;
    }
    let mut body = Map::new();
    body.insert("provider_type".to_owned(), json!(kind));
    for part in parts {
        let (key, value) = part.split_once('=')?;
        body.insert(key.to_owned(), json!(value));
    }
    Some(Printed {
        line: line.to_owned(),
        body: Value::Object(body),
        refusal,
    })
}

/// Kills the service at the end of the test, failed or not.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_the_demo_prints_registers_as_printed() {
    let dir = std::env::temp_dir().join(format!("portal-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    // The README's command, with a free port: no DATABASE_URL (portal.db in
    // the working directory), no SMTP (the file mailer).
    let mut child = Command::new(BINARY)
        .args(["serve", "--demo"])
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env("PORTAL_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTAL_PUBLIC_URL", &base)
        .env("PORTAL_ARGON2_M_KIB", "8")
        .env("PORTAL_ARGON2_T", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _serving = Serving(child);

    // The banner ends with the refusals' section and a blank line.
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let mut in_refusals = false;
    loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no banner: {banner:#?}"));
        if line.starts_with("Refused on purpose") {
            in_refusals = true;
        } else if in_refusals && line.is_empty() {
            break;
        }
        banner.push(line);
    }
    let text = banner.join("\n");
    assert!(text.contains(&format!("{base}/register")), "{text}");
    let printed: Vec<Printed> = banner.iter().filter_map(|l| parse_line(l)).collect();
    assert!(printed.len() >= 5, "{text}");
    assert!(
        printed.iter().any(|p| p.body["provider_type"] == "group"),
        "{text}"
    );
    let refusals: Vec<&Printed> = printed.iter().filter(|p| p.refusal.is_some()).collect();
    assert_eq!(
        refusals.len(),
        1,
        "John Roe shows wrong_provider_type: {text}"
    );
    assert!(refusals[0].line.contains("P1002"), "{}", refusals[0].line);

    // The README's example registers the provider kept for it, which the
    // banner lists under its own heading.
    let readme_json = README
        .split("-d '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the README's curl example");
    let readme_body: Value = serde_json::from_str(readme_json).unwrap();
    let kept = text
        .split("Kept for the README's curl example")
        .nth(1)
        .unwrap_or_default()
        .split("Refused on purpose")
        .next()
        .unwrap_or_default();
    assert!(
        kept.contains(&format!(
            "provider_id={}",
            readme_body["provider_id"].as_str().unwrap()
        )),
        "the README's provider is labelled for it: {text}"
    );

    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let register = |body: &Value| {
        http.post(format!("{base}/api/v1/registrations"))
            .json(body)
            .send()
    };
    for provider in printed.iter().filter(|p| p.refusal.is_none()) {
        let answer = register(&provider.body).await.unwrap();
        let status = answer.status().as_u16();
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(status, 201, "{}\n-> {answer}", provider.line);
    }
    for provider in &refusals {
        let answer = register(&provider.body).await.unwrap();
        let status = answer.status().as_u16();
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(status, 422, "{}\n-> {answer}", provider.line);
        assert_eq!(
            answer["code"].as_str(),
            provider.refusal.as_deref(),
            "{}",
            provider.line
        );
    }
    // The README's own example, as printed there, is none of the providers
    // offered for the web, so trying both never collides.
    let offered_for_the_web = text
        .split("Kept for the README's")
        .next()
        .unwrap_or_default();
    assert!(
        !offered_for_the_web.contains(&format!(
            "provider_id={}  ",
            readme_body["provider_id"].as_str().unwrap()
        )),
        "{text}"
    );
    let answer = register(&readme_body).await.unwrap();
    assert_eq!(answer.status().as_u16(), 201, "{readme_json}");

    drop(_serving);
    let _ = std::fs::remove_dir_all(&dir);
}

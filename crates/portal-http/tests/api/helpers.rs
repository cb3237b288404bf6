//! Test support: a real service on a free port with a fresh database (SQLite
//! file or PostgreSQL database), the sample roster loaded, and emails
//! delivered over SMTP to an [`SmtpSink`] by the outbox worker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use portal_adapters_smtp::testing::SmtpSink;
use portal_domain::ports::{Clock, ImportMode};
use portal_domain::system::SystemClock;
use portal_http::config::Config;
use portal_http::state::{AppState, Database};
use portal_http::{mail, serve};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod databases;
pub use databases::{
    TEST_DATABASE_PREFIX, drop_postgres_database, fresh_database, fresh_postgres_database,
};

/// The sample roster: Jane Doe (P1001), John Roe (P1002, paid under the
/// group), Acme Health Group (G2001), all under 12-3456789; and P3001.
pub const ROSTER: &[u8] = include_bytes!("../../../../docs/roster-example.csv");

/// A password that meets the default policy.
pub const PASSWORD: &str = "Quartz-Harbor-71-Lantern";
/// Another one, for changes and resets.
pub const NEW_PASSWORD: &str = "Velvet-Canyon-58-Orchard";
pub const ANSWER: &str = "Fluffy";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs a scenario `async fn name(db: Db)` on both databases, as the tests
/// `name::sqlite` and `name::postgres`; attributes before the name (such as
/// `#[ignore = "…"]`) apply to both.
macro_rules! both {
    ($(#[$attr:meta])* $name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn sqlite() {
                super::$name($crate::helpers::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn postgres() {
                super::$name($crate::helpers::Db::Postgres).await;
            }
        }
    };
}
pub(crate) use both;

/// A service under test.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT` (or `http://localhost:PORT`, with the
    /// override [`LOCALHOST`]), also `PORTAL_PUBLIC_URL`.
    pub base: String,
    pub client: reqwest::Client,
    pub sink: Arc<SmtpSink>,
    pub state: AppState,
    pub database_url: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// The `PORTAL_PUBLIC_URL` override that serves the app as
/// `http://localhost:PORT` (its port is known once bound).
pub const LOCALHOST: &str = "http://localhost";

/// Starts the service on a fresh database.
pub async fn spawn_app(db: Db, overrides: &[(&str, &str)]) -> TestApp {
    let url = fresh_database(db).await;
    let sink = Arc::new(SmtpSink::start().await);
    start(url, sink, overrides).await
}

/// Starts the service on `database_url` (migrated and loaded with the
/// sample roster on the way), sending emails to `sink`.
pub async fn start(
    database_url: String,
    sink: Arc<SmtpSink>,
    overrides: &[(&str, &str)],
) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // `PORTAL_PUBLIC_URL` = [`LOCALHOST`]: the same port under the name
    // `localhost` (a domain name: a WebAuthn relying party id).
    let host = if overrides.contains(&("PORTAL_PUBLIC_URL", LOCALHOST)) {
        "localhost"
    } else {
        "127.0.0.1"
    };
    let base = format!("http://{host}:{port}");
    let mut env: BTreeMap<String, String> = [
        ("DATABASE_URL", database_url.as_str()),
        ("PORTAL_SMTP_URL", &sink.url()),
        ("PORTAL_PUBLIC_URL", &base),
        ("PORTAL_ARGON2_M_KIB", "8"),
        ("PORTAL_ARGON2_T", "1"),
        ("PORTAL_LOG_FORMAT", "json"),
        ("PORTAL_RATE_LIMIT_PER_MINUTE", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in overrides {
        if (*key, *value) != ("PORTAL_PUBLIC_URL", LOCALHOST) {
            env.insert((*key).to_owned(), (*value).to_owned());
        }
    }
    let config = Config::load(&env, |path| std::fs::read_to_string(path)).unwrap();
    let database = Database::open(&config.database).await.unwrap();
    let state = AppState::new(config, database).unwrap();
    portal_domain::roster_csv::import(
        state.storage.as_ref(),
        "roster-example.csv",
        ROSTER,
        ImportMode::Upsert,
        false,
        SystemClock.now(),
    )
    .await
    .unwrap();
    let mailer = mail::build_mailer(&state.config).unwrap();
    let tasks = mail::background_tasks(&state, mailer);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve::serve(
        state.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
        tasks,
    ));
    TestApp {
        base,
        client: client(),
        sink,
        state,
        database_url,
        stop: Some(stop),
        server: Some(server),
    }
}

/// Serves `routes` behind the service's layers (`app::with_layers`) on
/// `state`, for answers the real routes cannot provoke (a `500`, a panic):
/// the base URL, and the server to abort.
pub async fn serve_with_layers(
    routes: axum::Router<AppState>,
    state: AppState,
) -> (String, JoinHandle<std::io::Result<()>>) {
    use axum::ServiceExt as _;
    let router = portal_http::app::with_layers(routes, state);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    (base, server)
}

fn client() -> reqwest::Client {
    // A connection per request: the service closes a connection after an
    // early answer (413) and a pooled one would then fail the next request.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// An answer, read in full.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    /// Reads `response` in full, whatever its status.
    pub async fn of(response: reqwest::Response) -> Self {
        Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Asserts an RFC 9457 problem with this status and code, and returns
    /// its body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status, status,
            "expected {status} {code}, got {}",
            self.text
        );
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status, "{body}");
        assert_eq!(body["type"], format!("/problems/{code}"), "{body}");
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|t| !t.is_empty()),
            "{body}"
        );
        let id = self.header("x-request-id").expect("X-Request-Id");
        assert_eq!(body["request_id"], id, "{body}");
        body
    }

    /// The session token of a `201` login.
    pub fn token(&self) -> String {
        assert_eq!(self.status, 201, "{}", self.text);
        self.json()["token"].as_str().unwrap().to_owned()
    }
}

/// How a request is authenticated.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    Bearer(&'a str),
    /// The `portal_session` cookie, with no `Origin`.
    Cookie(&'a str),
    /// The cookie with `Origin` set to this value.
    CookieFrom(&'a str, &'a str),
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        Self::read(request.send().await.unwrap()).await
    }

    async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let answer = Answer {
            status,
            headers,
            text,
        };
        assert!(
            answer.header("x-request-id").is_some(),
            "every answer carries X-Request-Id"
        );
        assert!(answer.status < 500 || answer.status == 503, "{answer:?}");
        answer
    }

    fn authed(&self, request: reqwest::RequestBuilder, auth: Auth<'_>) -> reqwest::RequestBuilder {
        match auth {
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Cookie(token) => request.header("cookie", format!("portal_session={token}")),
            Auth::CookieFrom(token, origin) => request
                .header("cookie", format!("portal_session={token}"))
                .header("origin", origin),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn get_as(&self, path: &str, auth: Auth<'_>) -> Answer {
        self.send(self.authed(self.client.get(self.url(path)), auth))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn post_as(&self, path: &str, body: &Value, auth: Auth<'_>) -> Answer {
        self.send(self.authed(self.client.post(self.url(path)).json(body), auth))
            .await
    }

    pub async fn delete_as(&self, path: &str, auth: Auth<'_>) -> Answer {
        self.send(self.authed(self.client.delete(self.url(path)), auth))
            .await
    }

    /// A raw body with a content type. Sent again when the service closed
    /// the connection before the body was written (it may answer a body
    /// that is too large before reading it).
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let request = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        for _ in 0..5 {
            let attempt = request.try_clone().unwrap();
            match attempt.send().await {
                Ok(response) => return Self::read(response).await,
                Err(e) if e.is_request() || e.is_body() => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        panic!("the service kept closing the connection")
    }

    pub async fn login(&self, username: &str, password: &str) -> Answer {
        self.post(
            "/api/v1/sessions",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Step 1 for Jane Doe (P1001), a practitioner paid individually.
    pub async fn start_practitioner(&self) -> Answer {
        self.post("/api/v1/registrations", &practitioner()).await
    }

    /// Step 1 for Acme Health Group (G2001).
    pub async fn start_group(&self) -> Answer {
        self.post("/api/v1/registrations", &group()).await
    }

    /// Step 2 with the version step 1 announced; the flow's id.
    pub async fn accept(&self, started: &Answer) -> String {
        assert_eq!(started.status, 201, "{}", started.text);
        let body = started.json();
        let id = body["registration_id"].as_str().unwrap().to_owned();
        let answer = self
            .post(
                &format!("/api/v1/registrations/{id}/agreement"),
                &json!({"accepted": true, "agreement_version": body["agreement_version"]}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        id
    }

    /// Step 3 for `username` (email `USERNAME@example.org`).
    pub async fn create_account(&self, id: &str, username: &str) -> Answer {
        self.post(
            &format!("/api/v1/registrations/{id}/account"),
            &account(username, PASSWORD),
        )
        .await
    }

    /// Steps 1–3 for the practitioner (`group` false) or the group.
    pub async fn register(&self, group: bool, username: &str) {
        let started = if group {
            self.start_group().await
        } else {
            self.start_practitioner().await
        };
        let id = self.accept(&started).await;
        let created = self.create_account(&id, username).await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(created.json(), json!({"state": "pending_activation"}));
    }

    /// Registers and activates through the emailed link.
    pub async fn register_active(&self, group: bool, username: &str) {
        self.register(group, username).await;
        let token = self.token_in(username, ACTIVATION, 1).await;
        let answer = self
            .post("/api/v1/activations", &json!({"token": token}))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json(), json!({"state": "active"}));
    }

    /// Registers, activates and logs in; the session token.
    pub async fn session(&self, group: bool, username: &str) -> String {
        self.register_active(group, username).await;
        self.login(username, PASSWORD).await.token()
    }

    /// Waits for at least `count` messages to `username`'s address whose
    /// subject is `subject`, and returns the newest.
    pub async fn mail(&self, username: &str, subject: &str, count: usize) -> Mail {
        self.mail_to(&email_of(username), subject, count).await
    }

    /// Waits for at least `count` messages to the address `to` whose
    /// subject is `subject`, and returns the newest.
    pub async fn mail_to(&self, to: &str, subject: &str, count: usize) -> Mail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let found: Vec<Mail> = self
                .sink
                .received()
                .into_iter()
                .filter(|r| r.rcpt_to.iter().any(|rcpt| rcpt.eq_ignore_ascii_case(to)))
                .map(|r| Mail::parse(&r.data))
                .filter(|m| m.subject == subject)
                .collect();
            if found.len() >= count {
                return found.into_iter().next_back().unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {count} messages {subject:?} to {to} arrived",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The token of the newest such message's link.
    pub async fn token_in(&self, username: &str, subject: &str, count: usize) -> String {
        self.mail(username, subject, count)
            .await
            .token()
            .unwrap_or_else(|| panic!("no token in {subject:?}"))
    }

    /// Messages to `username` with this subject so far.
    pub fn mail_count(&self, username: &str, subject: &str) -> usize {
        let to = email_of(username);
        self.sink
            .received()
            .into_iter()
            .filter(|r| r.rcpt_to.iter().any(|rcpt| rcpt.eq_ignore_ascii_case(&to)))
            .filter(|r| Mail::parse(&r.data).subject == subject)
            .count()
    }

    /// Stops the service (requests drained, background tasks stopped).
    pub async fn stop(mut self) -> (String, Arc<SmtpSink>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
        (self.database_url.clone(), Arc::clone(&self.sink))
    }

    /// Stops the service and starts it again on the same database and
    /// SMTP sink with other settings.
    pub async fn restart(self, overrides: &[(&str, &str)]) -> Self {
        let (url, sink) = self.stop().await;
        start(url, sink, overrides).await
    }
}

pub const ACTIVATION: &str = "Activate Your Provider Portal Account";
pub const VERIFIED: &str = "Email Verification";
pub const RESET: &str = "CareSource Provider Portal Password";
pub const CHANGED: &str = "Your Provider Portal password was changed";

pub fn email_of(username: &str) -> String {
    format!("{username}@example.org")
}

pub fn practitioner() -> Value {
    json!({"provider_type": "practitioner", "provider_id": "P1001", "tax_id": "12-3456789",
           "first_name": "Jane", "last_name": "Doe", "zip": "45202"})
}

pub fn group() -> Value {
    json!({"provider_type": "group", "provider_id": "G2001", "tax_id": "123456789",
           "group_name": "Acme Health Group", "zip": "45202"})
}

pub fn account(username: &str, password: &str) -> Value {
    json!({"username": username, "password": password, "email": email_of(username),
           "security_question_id": 1, "security_answer": ANSWER})
}

/// A received message, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub subject: String,
    pub from: String,
    /// The text and HTML bodies, decoded.
    pub body: String,
}

impl Mail {
    pub fn parse(data: &[u8]) -> Self {
        let message = mail_parser::MessageParser::default().parse(data).unwrap();
        let subject = message.subject().unwrap_or_default().to_owned();
        let from = message
            .from()
            .and_then(|a| a.first())
            .map(|a| {
                format!(
                    "{} <{}>",
                    a.name().unwrap_or_default(),
                    a.address().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let mut body = String::new();
        for i in 0..message.text_body_count() {
            body.push_str(&message.body_text(i).unwrap_or_default());
            body.push('\n');
        }
        for i in 0..message.html_body_count() {
            body.push_str(&message.body_html(i).unwrap_or_default());
            body.push('\n');
        }
        Self {
            subject,
            from,
            body,
        }
    }

    /// Every link in the message.
    pub fn links(&self) -> Vec<String> {
        let mut links = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(at) = rest.find("http") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '\''))
                .unwrap_or(tail.len());
            links.push(tail[..end].replace("&amp;", "&"));
            rest = &tail[end..];
        }
        links
    }

    /// The token of the first link that carries one (43 base64url characters).
    pub fn token(&self) -> Option<String> {
        self.links().into_iter().find_map(|link| token_of(&link))
    }
}

pub fn token_of(link: &str) -> Option<String> {
    let at = link.find("token=")? + "token=".len();
    let token: String = link[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (token.len() == 43).then_some(token)
}

/// The outcomes of `username`'s `login_failed` events, oldest first, as
/// the store keeps them.
pub async fn login_failures(app: &TestApp, username: &str) -> Vec<String> {
    use portal_domain::audit::{AuditAction, AuditFilter};
    let filter = AuditFilter {
        username: Some(username.to_owned()),
        since: None,
    };
    app.state
        .storage
        .audit_events(&filter)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.action == AuditAction::LoginFailed)
        .map(|event| event.outcome.to_string())
        .collect()
}

/// Texts that can never be a password (SPEC §6: at most 1,024 characters,
/// no control character): a login answers each like a wrong password.
pub fn unparsable_passwords() -> [String; 4] {
    [
        "Bell-\u{7}-Password-42".to_owned(),
        "x".repeat(1025),
        "\u{0}abc".to_owned(),
        "Two\nLines-Password-42".to_owned(),
    ]
}

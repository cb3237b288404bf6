//! The server-rendered pages: forms posted as a browser without JavaScript
//! would, cookies carried by hand, redirects not followed.

use crate::helpers::{
    ACTIVATION, Answer, CHANGED, Db, NEW_PASSWORD, PASSWORD, RESET, TestApp, both, spawn_app,
};

mod activation;
mod mfa;
mod recovery;
mod registration;
mod session;
mod settings;

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The value of the cookie `name` set by `answer`.
fn set_cookie(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The value of the hidden `csrf` field of a page.
fn csrf_field(page: &Answer) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.text.find(marker).expect("a csrf field") + marker.len();
    let end = page.text[start..].find('"').unwrap() + start;
    page.text[start..end].to_owned()
}

/// A page and its CSRF token (cookie and field agree).
async fn open(app: &TestApp, path: &str) -> (Answer, String) {
    let page = app.send(browser().get(app.url(path))).await;
    assert_eq!(page.status, 200, "{path}: {}", page.text);
    let cookie = set_cookie(&page, "portal_csrf").expect("the CSRF cookie");
    assert_eq!(cookie.len(), 64);
    assert_eq!(csrf_field(&page), cookie);
    (page, cookie)
}

/// Opens a page that has no form, as a browser would; it must answer 200.
async fn visit(app: &TestApp, path: &str) -> Answer {
    let page = app.send(browser().get(app.url(path))).await;
    assert_eq!(page.status, 200, "{path}: {}", page.text);
    page
}

/// Posts a form with these cookies (`name=value; …`).
async fn submit(app: &TestApp, path: &str, cookies: &str, fields: &[(&str, &str)]) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    app.send(
        browser()
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookies)
            .body(body),
    )
    .await
}

fn is_html(answer: &Answer) -> bool {
    answer
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html"))
}

/// The value of the hidden field `name` of a page.
fn hidden(page: &Answer, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.text.find(&marker).expect("the field") + marker.len();
    let end = page.text[start..].find('"').unwrap() + start;
    page.text[start..end].to_owned()
}

both!(unreadable_forms_answer_a_page);
async fn unreadable_forms_answer_a_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    let json = app
        .send(
            browser()
                .post(app.url("/login"))
                .header("content-type", "application/json")
                .body(r#"{"username": "dr.doe"}"#),
        )
        .await;
    assert_eq!(json.status, 400);
    assert!(is_html(&json));
    assert!(json.text.contains(r#"role="alert""#));
}

both!(malformed_queries_answer_a_page);
async fn malformed_queries_answer_a_page(db: Db) {
    let app = spawn_app(db, &[]).await;
    // A parameter given twice cannot be read: a page, not axum's plain text.
    for (path, back) in [
        (
            "/register?type=practitioner&type=group",
            r#"href="/register""#,
        ),
        ("/activate?token=a&token=b", r#"href="/login""#),
        (
            "/reset-password?token=a&token=b",
            r#"href="/forgot-password""#,
        ),
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.text);
        assert!(is_html(&page), "{path}: {:?}", page.headers);
        assert!(page.text.contains(r#"<main id="main">"#), "{path}");
        assert!(page.text.contains(r#"role="alert""#), "{path}");
        assert!(page.text.contains("This address cannot be used"), "{path}");
        assert!(page.text.contains(back), "{path}: {}", page.text);
        assert!(set_cookie(&page, "portal_csrf").is_some(), "{path}");
    }
    // An unknown type offers the choice; a badly encoded token is refused
    // like an unknown one.
    let choice = app.get("/register?type=bogus").await;
    assert_eq!(choice.status, 200);
    assert!(
        choice
            .text
            .contains(r#"href="/register?type=practitioner""#)
    );
    let activate = app.get("/activate?token=%ZZ").await;
    assert_eq!(activate.status, 400, "{}", activate.text);
    assert!(activate.text.contains(r#"action="/activation/resend""#));
    let reset = app.get("/reset-password?token=%ZZ").await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert!(reset.text.contains(r#"id="password-rules""#));
}

/// Jane Doe's details, as the first registration page posts them.
fn jane_details(csrf: &str) -> [(&str, &str); 7] {
    [
        ("csrf", csrf),
        ("provider_type", "practitioner"),
        ("provider_id", "P1001"),
        ("tax_id", "12-3456789"),
        ("first_name", "Jane"),
        ("last_name", "Doe"),
        ("zip", "45202"),
    ]
}

/// Step 1 through the page; the flow's id and the CSRF cookie jar.
async fn start_through_the_page(app: &TestApp) -> (String, String, String) {
    let (_, csrf) = open(app, "/register?type=practitioner").await;
    let jar = format!("portal_csrf={csrf}");
    let agreement = submit(app, "/register", &jar, &jane_details(&csrf)).await;
    assert_eq!(agreement.status, 200, "{}", agreement.text);
    (hidden(&agreement, "registration_id"), csrf, jar)
}

/// A "Registration cannot continue" page with this status, saying `why`,
/// with a way to start again.
#[track_caller]
fn assert_start_again(page: &Answer, status: u16, why: &str) {
    assert_eq!(page.status, status, "{}", page.text);
    assert!(is_html(page));
    assert!(page.text.contains("Registration cannot continue"));
    assert!(page.text.contains(r#"role="alert""#));
    assert!(page.text.contains(why), "{why:?} in {}", page.text);
    assert!(
        page.text
            .contains(r#"<a class="button" href="/register">Start again</a>"#),
        "{}",
        page.text
    );
}

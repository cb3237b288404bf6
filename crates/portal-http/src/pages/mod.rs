//! The server-rendered pages of SPEC §8: registration, login, home,
//! logout, forgot and reset password, activation. Plain HTML forms, usable without
//! JavaScript, rendered with askama (auto-escaped) from `templates/`.
//!
//! Every form carries a CSRF token (see `docs/web.md`). Without a session
//! it is a double submit: each page `GET` sets the `portal_csrf` cookie
//! (`__Host-portal_csrf` over https) and puts the same value in a hidden
//! `csrf` field; each form `POST` must bring both, equal. With a session
//! cookie the token is derived from the session token, so it is bound to
//! that session: a token issued before a login, or for another session,
//! is refused; login and logout also set a fresh cookie. Every form `POST`
//! must bring an `Origin`, when sent, equal to the public origin. Pages reuse the
//! use cases and the messages of [`ApiError::detail`]; tokens from links
//! travel only in the query string and form bodies, never in a log.

use askama::Template;
use axum::extract::{Form, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use portal_domain::password_policy::{PasswordUse, RuleLine};
use portal_domain::service::{HelpLine, InvalidInput, LoginError};
use portal_domain::values::{AgreementVersion, Password, SECURITY_QUESTIONS};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::{
    AccountRequest, AgreementRequest, RegistrationRequest, cleared_cookie, session_cookie,
};
use crate::extract::{Ctx, SESSION_COOKIE, cookie, session_token};
use crate::middleware::rate_limit;
use crate::problem::{ApiError, PendingProblem};
use crate::state::AppState;

mod activation;
mod mfa;
mod passkeys;
mod recovery;
mod registration;
mod session;
mod settings;

use activation::*;
use mfa::*;
use passkeys::*;
use recovery::*;
use registration::*;
use session::*;
use settings::*;

/// The CSRF cookie's name over http.
pub const CSRF_COOKIE: &str = "portal_csrf";

/// The CSRF cookie's name over https: the `__Host-` prefix makes browsers
/// accept it only with `Secure`, `Path=/` and no `Domain`, so neither a
/// sibling subdomain nor a plain-http answer can plant one.
pub const HOST_CSRF_COOKIE: &str = "__Host-portal_csrf";

const STYLESHEET: &str = include_str!("../../static/portal.css");

/// The inbox tips of SPEC §6, shown wherever an email was (maybe) sent.
const MAIL_TIPS: [&str; 3] = [
    "Check your inbox for an email from webmaster; it may take a few minutes to arrive.",
    "If it is not there, look in your spam or junk folder.",
    "Make sure the email address on the account is the one you are reading.",
];

/// The pages, their form posts behind the API's rate limit.
pub fn router(state: &AppState) -> Router<AppState> {
    let forms = Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/forgot-password", get(forgot_page).post(forgot_submit))
        .route("/reset-password", get(reset_page).post(reset_submit))
        .route("/activate", get(activate_page).post(activate_submit))
        .route("/activation/resend", post(resend_submit))
        .route("/register", get(register_page).post(register_submit))
        .route("/register/agreement", post(agreement_submit))
        .route("/register/account", post(account_submit))
        .route("/password", post(password_submit))
        .route("/email", post(email_submit))
        .route("/security-question", post(question_submit))
        .route(
            "/confirm-email",
            get(confirm_email_page).post(confirm_email_submit),
        )
        .route("/login/mfa", post(mfa_login_submit))
        .route("/mfa/totp", post(totp_start_submit))
        .route("/mfa/totp/confirm", post(totp_confirm_submit))
        .route("/mfa/totp/remove", post(totp_remove_submit))
        .route("/passkeys/add", post(passkey_add_submit))
        .route("/passkeys/{id}/rename", post(passkey_rename_submit))
        .route("/passkeys/{id}/remove", post(passkey_remove_submit))
        // `rate_limit` counts the POSTs and `GET /activate` (it activates):
        // the other GETs pass through.
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limited_as_page,
        ));
    Router::new()
        .merge(forms)
        .route("/", get(home_page))
        .route("/logout", post(logout_submit))
        .route("/agreement", post(current_agreement_submit))
        .route("/static/portal.css", get(stylesheet))
        .route("/static/passkeys.js", get(passkeys_script))
}

/// Shows the API's `429 rate_limited` answer (same limiter, same
/// `Retry-After`) as a page, since a browser posted a form.
async fn rate_limited_as_page(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let csrf = csrf_for_page(&state, request.headers()).unwrap_or_default();
    let response = next.run(request).await;
    if response.status() != StatusCode::TOO_MANY_REQUESTS
        || response
            .extensions()
            .get::<PendingProblem>()
            .is_none_or(|p| p.body["code"] != portal_domain::codes::ErrorCode::RateLimited.as_str())
    {
        return response;
    }
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let error = ApiError::RateLimited {
        retry_after_seconds: 60,
    };
    let mut page = message_page(
        &state,
        &csrf,
        error.status(),
        Message {
            title: "Too many requests",
            message: error.detail(),
            alert: true,
            tips: Vec::new(),
            link: None,
        },
    );
    if let Some(value) = retry_after {
        page.headers_mut().insert(header::RETRY_AFTER, value);
    }
    page
}

/// A form body (`application/x-www-form-urlencoded`); one that cannot be
/// read answers a page, not plain text.
#[derive(Debug, Clone)]
pub struct PageForm<T>(pub T);

impl<T> FromRequest<AppState> for PageForm<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let csrf = csrf_for_page(state, request.headers()).unwrap_or_default();
        match Form::<T>::from_request(request, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(rejection) => {
                let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BodyTooLarge
                } else {
                    ApiError::MalformedRequest("the form could not be read".to_owned())
                };
                Err(error_page(state, &csrf, &error))
            }
        }
    }
}

/// A page's query string; one that cannot be read (a parameter given
/// twice, say) answers a 400 page in the portal's layout, not plain text.
#[derive(Debug, Clone)]
pub struct PageQuery<T>(pub T);

impl<T> FromRequestParts<AppState> for PageQuery<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(_) => {
                let csrf = csrf_for_page(state, &parts.headers).unwrap_or_default();
                // Where to start again from this page.
                let link = match parts.uri.path() {
                    "/register" => ("/register", "Register Here"),
                    "/reset-password" => ("/forgot-password", "Forgot password?"),
                    "/confirm-email" => ("/", "Home"),
                    _ => ("/login", "Login"),
                };
                Err(message_page(
                    state,
                    &csrf,
                    StatusCode::BAD_REQUEST,
                    Message {
                        title: "This address cannot be used",
                        message: "The address of this page is not valid. If you followed a link \
                                  from an email, open it again or ask for a new one."
                            .to_owned(),
                        alert: true,
                        tips: Vec::new(),
                        link: Some(link),
                    },
                ))
            }
        }
    }
}

// --- the frame, CSRF and rendering ---

/// What every page shows around its content.
#[derive(Clone)]
pub struct Frame {
    brand: String,
    help_lines: Vec<HelpLine>,
    /// The CSRF token for this page's forms.
    csrf: String,
}

crate::redact::debug_redacting!(Frame { brand, help_lines } redacting { csrf });

impl Frame {
    fn new(state: &AppState, csrf: String) -> Self {
        let branding = &state.config.mail.branding;
        Self {
            brand: branding.brand.clone(),
            help_lines: branding.help_lines.clone(),
            csrf,
        }
    }
}

fn new_csrf_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("getrandom: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn is_token_shape(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn csrf_cookie_name(state: &AppState) -> &'static str {
    if state.config.is_https() {
        HOST_CSRF_COOKIE
    } else {
        CSRF_COOKIE
    }
}

/// The form token of the session whose cookie the browser sent: a hash of
/// the session token under a label of its own (so it is never the
/// stored session hash). Only the browser holding the session knows it,
/// and a new session, at every login, has another.
fn session_csrf(headers: &HeaderMap) -> Option<String> {
    let session = cookie(headers, SESSION_COOKIE).filter(|value| !value.is_empty())?;
    let digest = Sha256::new()
        .chain_update(b"portal form token\0")
        .chain_update(session.as_bytes())
        .finalize();
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The token for a page's forms: the session's, else the browser's
/// current one, else a new one.
fn csrf_for_page(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(bound) = session_csrf(headers) {
        return Ok(bound);
    }
    match cookie(headers, csrf_cookie_name(state)) {
        Some(value) if is_token_shape(value) => Ok(value.to_owned()),
        _ => new_csrf_token(),
    }
}

fn csrf_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = if state.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    let name = csrf_cookie_name(state);
    HeaderValue::from_str(&format!(
        "{name}={token}; HttpOnly; SameSite=Strict; Path=/{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("portal_csrf=; Max-Age=0; Path=/"))
}

/// Adds a fresh CSRF cookie to an answer that starts or ends a session, so
/// that no token from before outlives it.
fn renew_csrf(state: &AppState, response: &mut Response) -> Result<(), ApiError> {
    let fresh = new_csrf_token()?;
    response
        .headers_mut()
        .append(header::SET_COOKIE, csrf_cookie(state, &fresh));
    Ok(())
}

/// Checks a form post: the cookie and the field are present and equal
/// (compared in constant time), `Origin`, if sent, is ours, and
/// `Sec-Fetch-Site`, if sent, is `same-origin`. The token to render the
/// answer's forms with, or the 403 page.
///
/// `Origin: null` counts as no `Origin`: our pages are `Referrer-Policy:
/// no-referrer`, and under that policy browsers send `null` as the origin
/// of every form post, our own included (Fetch, "append a request
/// `Origin` header"). The token still has to match, and `Sec-Fetch-Site`
/// tells a cross-site post apart where the browser sends it.
fn verify_csrf(
    state: &AppState,
    headers: &HeaderMap,
    field: Option<&str>,
) -> Result<String, Box<Response>> {
    let expected_origin = state.config.public_url.origin().ascii_serialization();
    let origin_ok = headers.get(header::ORIGIN).is_none_or(|origin| {
        origin
            .to_str()
            .is_ok_and(|o| o == "null" || o == expected_origin)
    });
    let fetch_site_ok = headers
        .get("sec-fetch-site")
        .is_none_or(|site| site.as_bytes() == b"same-origin");
    // With a session the token must be that session's: the double-submit
    // cookie is not consulted, so a token from before the login is refused.
    let expected = match session_csrf(headers) {
        Some(bound) => Some(bound),
        None => cookie(headers, csrf_cookie_name(state))
            .filter(|value| is_token_shape(value))
            .map(str::to_owned),
    };
    let token = match (expected, field) {
        (Some(expected), Some(field))
            if bool::from(expected.as_bytes().ct_eq(field.as_bytes())) =>
        {
            Some(expected)
        }
        _ => None,
    };
    match token {
        Some(token) if origin_ok && fetch_site_ok => Ok(token),
        _ => {
            let csrf = new_csrf_token().unwrap_or_default();
            Err(Box::new(message_page(
                state,
                &csrf,
                StatusCode::FORBIDDEN,
                Message {
                    title: "Request refused",
                    message: ApiError::CsrfRejected.detail(),
                    alert: true,
                    tips: Vec::new(),
                    link: Some(("/login", "Login")),
                },
            )))
        }
    }
}

/// An HTML answer with the CSRF cookie set.
fn html(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    rendered: Result<String, askama::Error>,
) -> Response {
    match rendered {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(header::SET_COOKIE, csrf_cookie(state, csrf));
            response
        }
        Err(e) => ApiError::Internal(format!("page template: {e}")).into_response(),
    }
}

fn see_other(location: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    frame: Frame,
    title: &'a str,
    message: String,
    alert: bool,
    tips: Vec<&'a str>,
    link: Option<(&'a str, &'a str)>,
}

struct Message<'a> {
    title: &'a str,
    message: String,
    alert: bool,
    tips: Vec<&'a str>,
    link: Option<(&'a str, &'a str)>,
}

fn message_page(state: &AppState, csrf: &str, status: StatusCode, m: Message<'_>) -> Response {
    let page = MessagePage {
        frame: Frame::new(state, csrf.to_owned()),
        title: m.title,
        message: m.message,
        alert: m.alert,
        tips: m.tips,
        link: m.link,
    };
    html(state, csrf, status, page.render())
}

/// A failure no page handles specially: its status and `detail()`; the
/// cause of a 5xx goes to the log only.
fn error_page(state: &AppState, csrf: &str, error: &ApiError) -> Response {
    if let ApiError::Internal(cause) = error {
        tracing::error!(%cause, "internal error");
    }
    message_page(
        state,
        csrf,
        error.status(),
        Message {
            title: "Something went wrong",
            message: error.detail(),
            alert: true,
            tips: Vec::new(),
            link: None,
        },
    )
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    frame: Frame,
    title: &'a str,
    detail: &'a str,
    request_id: &'a str,
}

/// A problem answer (404, 405, 413, 429, 500, 503, …) as a page in the
/// portal's layout, for a browser that asked for HTML (see
/// [`crate::problem::prefers_html`]): its heading, the problem's `detail`,
/// the request id to quote, and a way back. No form, so no CSRF cookie.
pub fn problem_page(
    state: &AppState,
    status: StatusCode,
    problem: &serde_json::Value,
) -> Result<String, askama::Error> {
    let title = match status.as_u16() {
        404 => "Page not found",
        405 => "This action is not available here",
        413 => "Too much data",
        429 => "Too many requests",
        503 => "The portal is busy",
        500..=599 => "Something went wrong",
        _ => status.canonical_reason().unwrap_or("Something went wrong"),
    };
    let detail = match status.as_u16() {
        404 => {
            "There is no page at this address. Check the link, or start again from the Provider Portal."
        }
        _ => problem["detail"].as_str().unwrap_or_default(),
    };
    ProblemPage {
        frame: Frame::new(state, String::new()),
        title,
        detail,
        request_id: problem["request_id"].as_str().unwrap_or_default(),
    }
    .render()
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.trim().is_empty())
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod redaction_tests {
    use serde::de::DeserializeOwned;

    use super::*;

    const SECRET: &str = "Hunter2-Secret-Value-77";

    /// A form body read as `T`, printed with `{:?}`.
    fn printed<T: DeserializeOwned + std::fmt::Debug>(fields: &[(&str, &str)]) -> String {
        let body: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).into()))
            .collect();
        let value: T = serde_json::from_value(body.into()).unwrap();
        format!("{value:?}")
    }

    #[test]
    fn forms_never_print_passwords_answers_or_tokens() {
        let texts = [
            printed::<LoginForm>(&[
                ("csrf", SECRET),
                ("username", "dr.doe"),
                ("password", SECRET),
            ]),
            printed::<PasswordForm>(&[
                ("csrf", SECRET),
                ("current_password", SECRET),
                ("new_password", SECRET),
            ]),
            printed::<CsrfForm>(&[("csrf", SECRET)]),
            printed::<CurrentAgreementForm>(&[("csrf", SECRET), ("agreement_version", "2025-06")]),
            printed::<UsernameForm>(&[("csrf", SECRET), ("username", "dr.doe")]),
            printed::<TokenQuery>(&[("token", SECRET)]),
            printed::<ResetForm>(&[
                ("csrf", SECRET),
                ("token", SECRET),
                ("new_password", SECRET),
            ]),
            printed::<TokenForm>(&[("csrf", SECRET), ("token", SECRET)]),
            printed::<ProviderForm>(&[("csrf", SECRET), ("provider_id", "P1001")]),
            printed::<AgreementForm>(&[("csrf", SECRET), ("registration_id", "r1")]),
            printed::<AccountForm>(&[
                ("csrf", SECRET),
                ("username", "dr.doe"),
                ("password", SECRET),
                ("security_answer", SECRET),
            ]),
            format!(
                "{:?}",
                Frame {
                    brand: "CareSource".to_owned(),
                    help_lines: Vec::new(),
                    csrf: SECRET.to_owned(),
                }
            ),
        ];
        for text in texts {
            assert!(!text.contains(SECRET), "{text}");
            assert!(text.contains("[REDACTED]"), "{text}");
        }
    }
}

//! The server-rendered pages of SPEC §8: registration, login, home,
//! logout, forgot and reset password, activation. Plain HTML forms, usable without
//! JavaScript, rendered with askama (auto-escaped) from `templates/`.
//!
//! Every form carries a CSRF token (double submit, see `docs/web.md`): each
//! page `GET` sets the `portal_csrf` cookie and puts the same value in a
//! hidden `csrf` field; each form `POST` must bring both, equal, and an
//! `Origin`, when sent, equal to the public origin. Pages reuse the
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
use portal_domain::service::{HelpLine, InvalidInput, LoginError};
use portal_domain::values::{AgreementVersion, Password, SECURITY_QUESTIONS};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::api::{
    AccountRequest, AgreementRequest, RegistrationRequest, cleared_cookie, session_cookie,
};
use crate::extract::{Ctx, cookie, session_token};
use crate::middleware::rate_limit;
use crate::problem::{ApiError, PendingProblem};
use crate::state::AppState;

/// The CSRF cookie's name.
pub const CSRF_COOKIE: &str = "portal_csrf";

const STYLESHEET: &str = include_str!("../static/portal.css");

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
        // `rate_limit` counts only POSTs: the GETs pass through.
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
}

/// Shows the API's `429 rate_limited` answer (same limiter, same
/// `Retry-After`) as a page, since a browser posted a form.
async fn rate_limited_as_page(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let csrf = csrf_for_page(request.headers()).unwrap_or_default();
    let response = next.run(request).await;
    if response.status() != StatusCode::TOO_MANY_REQUESTS
        || response
            .extensions()
            .get::<PendingProblem>()
            .is_none_or(|p| p.body["code"] != "rate_limited")
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
        let csrf = csrf_for_page(request.headers()).unwrap_or_default();
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
                let csrf = csrf_for_page(&parts.headers).unwrap_or_default();
                // Where to start again from this page.
                let link = match parts.uri.path() {
                    "/register" => ("/register", "Register Here"),
                    "/reset-password" => ("/forgot-password", "Forgot password?"),
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
#[derive(Debug, Clone)]
pub struct Frame {
    brand: String,
    help_lines: Vec<HelpLine>,
    /// The CSRF token for this page's forms.
    csrf: String,
}

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

/// The token for a page's forms: the browser's current one, else a new one.
fn csrf_for_page(headers: &HeaderMap) -> Result<String, ApiError> {
    match cookie(headers, CSRF_COOKIE) {
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
    HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("portal_csrf=; Max-Age=0; Path=/"))
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
    let token = match (cookie(headers, CSRF_COOKIE), field) {
        (Some(cookie), Some(field))
            if is_token_shape(cookie) && bool::from(cookie.as_bytes().ct_eq(field.as_bytes())) =>
        {
            Some(cookie.to_owned())
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

// --- login, home, logout ---

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    username: String,
    locked: bool,
    not_activated: bool,
}

fn login_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    username: &str,
    error: Option<&ApiError>,
) -> Response {
    let page = LoginPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Login",
        errors: error.map(ApiError::detail).into_iter().collect(),
        username: username.to_owned(),
        locked: matches!(error, Some(ApiError::AccountLocked { .. })),
        not_activated: matches!(error, Some(ApiError::AccountNotActivated)),
    };
    html(state, csrf, status, page.render())
}

async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match csrf_for_page(&headers) {
        Ok(csrf) => login_view(&state, &csrf, StatusCode::OK, "", None),
        Err(e) => e.into_response(),
    }
}

/// A form post: every field optional, checked by the handler.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

async fn login_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let username = form.username.clone().unwrap_or_default();
    let (Some(name), Some(raw)) = (
        non_empty(form.username.as_ref()),
        form.password.as_deref().filter(|p| !p.is_empty()),
    ) else {
        let mut errors = InvalidInput::default();
        if non_empty(form.username.as_ref()).is_none() {
            errors.push("username", "is required");
        }
        errors.push("password", "is required");
        let error = ApiError::InvalidInput(errors);
        return login_view(&state, &csrf, error.status(), &username, Some(&error));
    };
    let Ok(password) = Password::parse(raw) else {
        state.metrics.login("invalid_credentials");
        let error = ApiError::InvalidCredentials;
        return login_view(&state, &csrf, error.status(), &username, Some(&error));
    };
    let result = state.portal.login(name, &password, ctx).await;
    match result {
        Ok(session) => {
            state.metrics.login("success");
            let mut response = see_other("/");
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&state, session.token.expose()),
            );
            response
        }
        Err(e) => {
            if matches!(e, LoginError::AccountLocked { .. }) {
                state.metrics.lockout();
            }
            let error = ApiError::from(e);
            state.metrics.login(error.code());
            match error {
                ApiError::InvalidCredentials
                | ApiError::AccountLocked { .. }
                | ApiError::AccountNotActivated
                | ApiError::AccountDisabled
                | ApiError::ProviderInactive => {
                    login_view(&state, &csrf, error.status(), &username, Some(&error))
                }
                other => error_page(&state, &csrf, &other),
            }
        }
    }
}

/// One provider row of the home page.
#[derive(Debug)]
struct ProviderRow {
    provider_id: String,
    kind: String,
    name: String,
    zips: String,
    lines: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    frame: Frame,
    title: &'static str,
    username: String,
    note: Option<String>,
    /// While a newer agreement awaits: its version and text.
    agreement: Option<(String, String)>,
    providers: Vec<ProviderRow>,
}

async fn home_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = match csrf_for_page(&headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    let auth = match page_session(&state, &headers, &csrf).await {
        Ok(auth) => auth,
        Err(response) => return *response,
    };
    let (note, providers) = if auth.agreement_required {
        (Some(ApiError::AgreementRequired.detail()), Vec::new())
    } else {
        match state.portal.visible_providers_of(&auth).await {
            Ok(providers) => (None, providers),
            Err(f) => return error_page(&state, &csrf, &ApiError::from(f)),
        }
    };
    let page = HomePage {
        frame: Frame::new(&state, csrf.clone()),
        title: "Home",
        username: auth.account.username.as_str().to_owned(),
        note,
        agreement: auth.agreement_required.then(|| {
            let agreement = &state.config.portal.agreement;
            (
                agreement.version.as_str().to_owned(),
                agreement.text.clone(),
            )
        }),
        providers: providers
            .into_iter()
            .map(|p| ProviderRow {
                provider_id: p.provider_id.as_str().to_owned(),
                kind: p.kind.as_str().to_owned(),
                name: p.name,
                zips: p
                    .zips
                    .iter()
                    .map(|z| z.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                lines: p
                    .lines_of_business
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
    };
    html(&state, &csrf, StatusCode::OK, page.render())
}

/// The session of a page request: without a live one, the login page.
async fn page_session(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<portal_domain::service::Authenticated, Box<Response>> {
    let Some((token, _)) = session_token(headers) else {
        return Err(Box::new(see_other("/login")));
    };
    match state.portal.authenticate(&token).await {
        Ok(auth) => Ok(auth),
        Err(portal_domain::service::AuthError::Fault(f)) => {
            Err(Box::new(error_page(state, csrf, &ApiError::from(f))))
        }
        Err(_) => Err(Box::new(see_other("/login"))),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

async fn logout_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<CsrfForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    if let Some((token, _)) = session_token(&headers)
        && let Err(f) = state.portal.logout(&token, ctx).await
    {
        return error_page(&state, &csrf, &ApiError::from(f));
    }
    let mut response = see_other("/login");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie(&state));
    response
}

/// Re-acceptance of a newer agreement, from the home page.
#[derive(Debug, Deserialize)]
pub struct CurrentAgreementForm {
    csrf: Option<String>,
    agreement_version: Option<String>,
    accepted: Option<String>,
}

async fn current_agreement_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<CurrentAgreementForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let auth = match page_session(&state, &headers, &csrf).await {
        Ok(auth) => auth,
        Err(response) => return *response,
    };
    let version = form
        .agreement_version
        .as_deref()
        .and_then(|v| AgreementVersion::parse(v).ok());
    let ticked = form.accepted.as_deref().is_some_and(|v| !v.is_empty());
    let result = match version {
        Some(version) if ticked => state
            .portal
            .accept_current_agreement(&auth, &version, ctx)
            .await
            .map_err(ApiError::from),
        _ => Err(ApiError::AgreementNotAccepted),
    };
    match result {
        Ok(()) => see_other("/"),
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            error_page(&state, &csrf, &error)
        }
        Err(error) => message_page(
            &state,
            &csrf,
            error.status(),
            Message {
                title: "Provider Agreement",
                message: error.detail(),
                alert: true,
                tips: Vec::new(),
                link: Some(("/", "Back")),
            },
        ),
    }
}

/// The password change form on the home page.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    csrf: Option<String>,
    current_password: Option<String>,
    new_password: Option<String>,
}

/// Self-service password change (SPEC §6): the same rules as
/// `POST /api/v1/me/password`; other sessions are revoked, this one kept.
async fn password_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let auth = match page_session(&state, &headers, &csrf).await {
        Ok(auth) if !auth.agreement_required => auth,
        Ok(_) => return see_other("/"),
        Err(response) => return *response,
    };
    let parse = |raw: &Option<String>| {
        raw.as_deref()
            .filter(|p| !p.is_empty())
            .and_then(|p| Password::parse(p).ok())
    };
    let result = match (parse(&form.current_password), parse(&form.new_password)) {
        (Some(current), Some(new)) => state
            .portal
            .change_password(&auth, &current, &new, ctx)
            .await
            .map_err(ApiError::from),
        (None, _) => Err(ApiError::InvalidCredentials),
        (Some(_), None) => Err(ApiError::InvalidInput(
            portal_domain::service::InvalidInput::single("new_password", "is required"),
        )),
    };
    let (status, message, alert) = match result {
        Ok(()) => (
            StatusCode::OK,
            "Your password was changed. Your other sessions were logged out, and we emailed you a notice.".to_owned(),
            false,
        ),
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => return error_page(&state, &csrf, &error),
        Err(ApiError::PasswordPolicy(violations)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            std::iter::once(ApiError::PasswordPolicy(violations.clone()).detail())
                .chain(violations.as_slice().iter().map(ToString::to_string))
                .collect::<Vec<_>>()
                .join(" "),
            true,
        ),
        Err(error) => (error.status(), error.detail(), true),
    };
    message_page(
        &state,
        &csrf,
        status,
        Message {
            title: "Change password",
            message,
            alert,
            tips: Vec::new(),
            link: Some(("/", "Back")),
        },
    )
}

// --- forgot and reset password ---

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
}

async fn forgot_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = match csrf_for_page(&headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    let page = ForgotPage {
        frame: Frame::new(&state, csrf.clone()),
        title: "Forgot password?",
        errors: Vec::new(),
    };
    html(&state, &csrf, StatusCode::OK, page.render())
}

/// A username, for the forgot-password and resend forms.
#[derive(Debug, Deserialize)]
pub struct UsernameForm {
    csrf: Option<String>,
    username: Option<String>,
}

fn username_required(state: &AppState, csrf: &str) -> Response {
    let page = ForgotPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Forgot password?",
        errors: vec!["Username is required.".to_owned()],
    };
    html(state, csrf, StatusCode::UNPROCESSABLE_ENTITY, page.render())
}

async fn forgot_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<UsernameForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(username) = non_empty(form.username.as_ref()) else {
        return username_required(&state, &csrf);
    };
    if let Err(f) = state.portal.request_password_reset(username, ctx).await {
        return error_page(&state, &csrf, &ApiError::from(f));
    }
    message_page(
        &state,
        &csrf,
        StatusCode::OK,
        Message {
            title: "Check your email",
            message: "If the account exists, we sent an email with a link to set a new password."
                .to_owned(),
            alert: false,
            tips: MAIL_TIPS.to_vec(),
            link: Some(("/login", "Login")),
        },
    )
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    token: String,
    rules: Vec<String>,
}

/// The password rules in force, as shown before a password is chosen.
fn password_rules(state: &AppState) -> Vec<String> {
    use portal_domain::password_policy::PasswordPolicy;
    let policy = &state.config.portal.password_policy;
    let mut rules = vec![format!(
        "be {} to {} characters long",
        policy.min_length(),
        PasswordPolicy::MAX_LENGTH
    )];
    if policy.requires_classes() {
        rules.push(
            "include a lowercase letter, an uppercase letter, a digit and a symbol".to_owned(),
        );
    }
    rules.extend([
        "not include your username or the name of your email address".to_owned(),
        "not be easy to guess".to_owned(),
        "not be a password you used before".to_owned(),
    ]);
    rules
}

fn reset_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    token: &str,
    errors: Vec<String>,
) -> Response {
    let page = ResetPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Set a new password",
        errors,
        token: token.to_owned(),
        rules: password_rules(state),
    };
    html(state, csrf, status, page.render())
}

fn invalid_reset_link(state: &AppState, csrf: &str) -> Response {
    message_page(
        state,
        csrf,
        StatusCode::BAD_REQUEST,
        Message {
            title: "This link cannot be used",
            message: ApiError::InvalidToken.detail(),
            alert: true,
            tips: Vec::new(),
            link: Some(("/forgot-password", "Forgot password?")),
        },
    )
}

/// A link's token in the query string.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let csrf = match csrf_for_page(&headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    // Nothing changes on GET: the token is only carried into the form.
    match non_empty(query.token.as_ref()) {
        Some(token) => reset_view(&state, &csrf, StatusCode::OK, token, Vec::new()),
        None => invalid_reset_link(&state, &csrf),
    }
}

/// The reset form.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    csrf: Option<String>,
    token: Option<String>,
    new_password: Option<String>,
}

async fn reset_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<ResetForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(token) = non_empty(form.token.as_ref()) else {
        return invalid_reset_link(&state, &csrf);
    };
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let password = match form.new_password.as_deref() {
        None | Some("") => {
            return reset_view(
                &state,
                &csrf,
                status,
                token,
                vec!["New password is required.".to_owned()],
            );
        }
        Some(text) => match Password::parse(text) {
            Ok(password) => password,
            Err(e) => return reset_view(&state, &csrf, status, token, vec![e.to_string()]),
        },
    };
    match state.portal.confirm_password_reset(token, &password, ctx).await {
        Ok(()) => message_page(
            &state,
            &csrf,
            StatusCode::OK,
            Message {
                title: "Password changed",
                message: "Your password was changed and your account is unlocked. Log in with the new password."
                    .to_owned(),
                alert: false,
                tips: Vec::new(),
                link: Some(("/login", "Login")),
            },
        ),
        Err(e) => match ApiError::from(e) {
            ApiError::InvalidToken => invalid_reset_link(&state, &csrf),
            ApiError::PasswordPolicy(violations) => {
                let mut errors = vec![ApiError::PasswordPolicy(violations.clone()).detail()];
                errors.extend(violations.as_slice().iter().map(ToString::to_string));
                reset_view(&state, &csrf, status, token, errors)
            }
            other => error_page(&state, &csrf, &other),
        },
    }
}

// --- activation ---

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    /// `Some`: the Activate form; `None`: the resend form.
    token: Option<String>,
}

fn activate_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    token: Option<&str>,
    errors: Vec<String>,
) -> Response {
    let page = ActivatePage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Activate your account",
        errors,
        token: token.map(str::to_owned),
    };
    html(state, csrf, status, page.render())
}

async fn activate_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Response {
    let csrf = match csrf_for_page(&headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    // Nothing changes on GET: a mail scanner following the link activates nothing.
    match non_empty(query.token.as_ref()) {
        Some(token) => activate_view(&state, &csrf, StatusCode::OK, Some(token), Vec::new()),
        None => activate_view(
            &state,
            &csrf,
            StatusCode::BAD_REQUEST,
            None,
            vec![ApiError::InvalidToken.detail()],
        ),
    }
}

/// The Activate form.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    csrf: Option<String>,
    token: Option<String>,
}

async fn activate_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<TokenForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let invalid = |state: &AppState| {
        activate_view(
            state,
            &csrf,
            StatusCode::BAD_REQUEST,
            None,
            vec![ApiError::InvalidToken.detail()],
        )
    };
    let Some(token) = non_empty(form.token.as_ref()) else {
        return invalid(&state);
    };
    match state.portal.activate(token, ctx).await {
        Ok(_) => message_page(
            &state,
            &csrf,
            StatusCode::OK,
            Message {
                title: "Account activated",
                message: "Your account is active. You can now log in.".to_owned(),
                alert: false,
                tips: Vec::new(),
                link: Some(("/login", "Login")),
            },
        ),
        Err(e) => match ApiError::from(e) {
            ApiError::InvalidToken => invalid(&state),
            other => error_page(&state, &csrf, &other),
        },
    }
}

async fn resend_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<UsernameForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(username) = non_empty(form.username.as_ref()) else {
        return activate_view(
            &state,
            &csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            vec!["Username is required.".to_owned()],
        );
    };
    if let Err(f) = state.portal.resend_activation(username, ctx).await {
        return error_page(&state, &csrf, &ApiError::from(f));
    }
    message_page(
        &state,
        &csrf,
        StatusCode::OK,
        Message {
            title: "Check your email",
            message: "If the account is waiting for activation, we sent a new activation email."
                .to_owned(),
            alert: false,
            tips: MAIL_TIPS.to_vec(),
            link: Some(("/login", "Login")),
        },
    )
}

// --- registration ---

/// What a refusal says: the `detail()` text, then each invalid field or
/// unmet password rule.
fn error_lines(error: &ApiError) -> Vec<String> {
    let mut lines = vec![error.detail()];
    match error {
        ApiError::InvalidInput(InvalidInput(errors)) => lines.extend(
            errors
                .iter()
                .map(|e| format!("{}: {}", field_label(&e.field), e.message)),
        ),
        ApiError::PasswordPolicy(violations) => {
            lines.extend(violations.as_slice().iter().map(ToString::to_string));
        }
        _ => {}
    }
    lines
}

fn field_label(field: &str) -> &str {
    match field {
        "provider_type" => "Provider type",
        "provider_id" => "Provider ID",
        "tax_id" => "Tax ID",
        "zip" => "ZIP code",
        "first_name" => "First name",
        "last_name" => "Last name",
        "group_name" => "Group name",
        "username" => "Username",
        "password" => "Password",
        "email" => "Email",
        "security_question_id" => "Security question",
        "security_answer" => "Security answer",
        "agreement_version" => "Agreement version",
        "accepted" => "Accept the agreement",
        other => other,
    }
}

#[derive(Template)]
#[template(path = "register_type.html")]
struct RegisterTypePage {
    frame: Frame,
    title: &'static str,
}

/// The values typed in step 1, shown again after a refusal.
#[derive(Debug, Default, Deserialize)]
pub struct ProviderForm {
    csrf: Option<String>,
    provider_type: Option<String>,
    provider_id: Option<String>,
    tax_id: Option<String>,
    zip: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    group_name: Option<String>,
}

/// Step 1's fields as text, for the template.
#[derive(Debug, Default)]
struct ProviderValues {
    provider_id: String,
    tax_id: String,
    zip: String,
    first_name: String,
    last_name: String,
    group_name: String,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    group: bool,
    values: ProviderValues,
}

/// `?type=practitioner|group`.
#[derive(Debug, Deserialize)]
pub struct TypeQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn register_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    group: bool,
    form: &ProviderForm,
    errors: Vec<String>,
) -> Response {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let page = RegisterPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Register",
        errors,
        group,
        values: ProviderValues {
            provider_id: text(&form.provider_id),
            tax_id: text(&form.tax_id),
            zip: text(&form.zip),
            first_name: text(&form.first_name),
            last_name: text(&form.last_name),
            group_name: text(&form.group_name),
        },
    };
    html(state, csrf, status, page.render())
}

async fn register_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<TypeQuery>,
) -> Response {
    let csrf = match csrf_for_page(&headers) {
        Ok(csrf) => csrf,
        Err(e) => return e.into_response(),
    };
    match query.kind.as_deref() {
        Some("practitioner") => register_view(
            &state,
            &csrf,
            StatusCode::OK,
            false,
            &ProviderForm::default(),
            Vec::new(),
        ),
        Some("group") => register_view(
            &state,
            &csrf,
            StatusCode::OK,
            true,
            &ProviderForm::default(),
            Vec::new(),
        ),
        _ => {
            let page = RegisterTypePage {
                frame: Frame::new(&state, csrf.clone()),
                title: "Register",
            };
            html(&state, &csrf, StatusCode::OK, page.render())
        }
    }
}

#[derive(Template)]
#[template(path = "agreement.html")]
struct AgreementPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    registration_id: String,
    version: String,
    text: String,
}

fn agreement_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    id: &str,
    errors: Vec<String>,
) -> Response {
    let agreement = &state.config.portal.agreement;
    let page = AgreementPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Provider Agreement",
        errors,
        registration_id: id.to_owned(),
        version: agreement.version.as_str().to_owned(),
        text: agreement.text.clone(),
    };
    html(state, csrf, status, page.render())
}

/// A step refused for the flow itself (unknown, expired, out of order):
/// what happened, and a way to start again.
fn flow_page(state: &AppState, csrf: &str, error: &ApiError) -> Response {
    let message = match error {
        ApiError::NotFound => {
            "We could not find this registration. It may have been finished or removed. \
             Please start again."
                .to_owned()
        }
        ApiError::InvalidTransition => {
            "This registration step is not available now: the steps are done in order, each \
             once. Please start again."
                .to_owned()
        }
        other => other.detail(),
    };
    message_page(
        state,
        csrf,
        error.status(),
        Message {
            title: "Registration cannot continue",
            message,
            alert: true,
            tips: Vec::new(),
            link: Some(("/register", "Start again")),
        },
    )
}

async fn register_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<ProviderForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let group = form.provider_type.as_deref() == Some("group");
    let request = RegistrationRequest {
        provider_type: form.provider_type.clone(),
        provider_id: form.provider_id.clone(),
        tax_id: form.tax_id.clone(),
        zip: form.zip.clone(),
        first_name: form.first_name.clone().filter(|_| !group),
        last_name: form.last_name.clone().filter(|_| !group),
        group_name: form.group_name.clone().filter(|_| group),
    };
    let result = match request.try_into_domain() {
        Ok(request) => state
            .portal
            .start_registration(request, ctx)
            .await
            .map_err(ApiError::from),
        Err(errors) => Err(ApiError::InvalidInput(errors)),
    };
    match result {
        Ok(started) => agreement_view(
            &state,
            &csrf,
            StatusCode::OK,
            started.id.as_str(),
            Vec::new(),
        ),
        Err(error @ ApiError::AlreadyRegistered { pending_activation }) => {
            already_registered_page(&state, &csrf, &error, pending_activation)
        }
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            error_page(&state, &csrf, &error)
        }
        Err(error) => register_view(
            &state,
            &csrf,
            error.status(),
            group,
            &form,
            error_lines(&error),
        ),
    }
}

/// Step 2's form.
#[derive(Debug, Deserialize)]
pub struct AgreementForm {
    csrf: Option<String>,
    registration_id: Option<String>,
    agreement_version: Option<String>,
    accepted: Option<String>,
}

async fn agreement_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<AgreementForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(id) = non_empty(form.registration_id.as_ref()) else {
        return flow_page(&state, &csrf, &ApiError::NotFound);
    };
    let request = AgreementRequest {
        // An unticked checkbox is not sent at all.
        accepted: Some(form.accepted.as_deref().is_some_and(|v| !v.is_empty())),
        agreement_version: form.agreement_version.clone(),
    };
    match state
        .portal
        .accept_agreement(id, request.try_into_domain(), ctx)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => account_view(
            &state,
            &csrf,
            StatusCode::OK,
            id,
            &AccountForm::default(),
            Vec::new(),
        ),
        Err(error @ (ApiError::AgreementNotAccepted | ApiError::InvalidInput(_))) => {
            agreement_view(&state, &csrf, error.status(), id, error_lines(&error))
        }
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            error_page(&state, &csrf, &error)
        }
        Err(error) => flow_page(&state, &csrf, &error),
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    title: &'static str,
    errors: Vec<String>,
    registration_id: String,
    username: String,
    email: String,
    question: u8,
    questions: Vec<(u8, &'static str)>,
    rules: Vec<String>,
}

/// Step 3's form.
#[derive(Debug, Default, Deserialize)]
pub struct AccountForm {
    csrf: Option<String>,
    registration_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
    security_question_id: Option<String>,
    security_answer: Option<String>,
}

fn account_view(
    state: &AppState,
    csrf: &str,
    status: StatusCode,
    id: &str,
    form: &AccountForm,
    errors: Vec<String>,
) -> Response {
    let page = AccountPage {
        frame: Frame::new(state, csrf.to_owned()),
        title: "Create your account",
        errors,
        registration_id: id.to_owned(),
        username: form.username.clone().unwrap_or_default(),
        email: form.email.clone().unwrap_or_default(),
        question: form
            .security_question_id
            .as_deref()
            .and_then(|q| q.parse().ok())
            .unwrap_or(0),
        questions: SECURITY_QUESTIONS.to_vec(),
        rules: password_rules(state),
    };
    html(state, csrf, status, page.render())
}

async fn account_submit(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<AccountForm>,
) -> Response {
    let csrf = match verify_csrf(&state, &headers, form.csrf.as_deref()) {
        Ok(csrf) => csrf,
        Err(refused) => return *refused,
    };
    let Some(id) = non_empty(form.registration_id.as_ref()) else {
        return flow_page(&state, &csrf, &ApiError::NotFound);
    };
    let question = match non_empty(form.security_question_id.as_ref()) {
        None => Ok(None),
        Some(text) => text.trim().parse::<i64>().map(Some),
    };
    let request = AccountRequest {
        username: form.username.clone(),
        password: form.password.clone(),
        email: form.email.clone(),
        security_question_id: question.clone().ok().flatten(),
        security_answer: form.security_answer.clone(),
    };
    let parsed = request.try_into_domain().map_err(|mut errors| {
        if question.is_err() {
            errors.0.retain(|e| e.field != "security_question_id");
            errors.push("security_question_id", "is not one of the questions");
        }
        errors
    });
    match state
        .portal
        .create_account(id, parsed, ctx)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => message_page(
            &state,
            &csrf,
            StatusCode::OK,
            Message {
                title: "Registration complete",
                message: "We sent an activation email to the address you entered. Open its Activate Account link to finish."
                    .to_owned(),
                alert: false,
                tips: MAIL_TIPS.to_vec(),
                link: Some(("/login", "Login")),
            },
        ),
        Err(
            error @ (ApiError::InvalidInput(_)
            | ApiError::PasswordPolicy(_)
            | ApiError::UsernameTaken),
        ) => account_view(&state, &csrf, error.status(), id, &form, error_lines(&error)),
        Err(error @ ApiError::AlreadyRegistered { pending_activation }) => {
            already_registered_page(&state, &csrf, &error, pending_activation)
        }
        Err(error @ (ApiError::Internal(_) | ApiError::Overloaded { .. })) => {
            error_page(&state, &csrf, &error)
        }
        Err(error) => flow_page(&state, &csrf, &error),
    }
}

/// `already_registered`: a login link, or while the account still awaits
/// activation the resend form.
fn already_registered_page(
    state: &AppState,
    csrf: &str,
    error: &ApiError,
    pending_activation: bool,
) -> Response {
    if pending_activation {
        return activate_view(state, csrf, error.status(), None, vec![error.detail()]);
    }
    message_page(
        state,
        csrf,
        error.status(),
        Message {
            title: "Already registered",
            message: error.detail(),
            alert: true,
            tips: Vec::new(),
            link: Some(("/login", "Login")),
        },
    )
}

//! Cross-cutting layers: the request id, the request span and its log
//! line, metrics, the problem bodies' `request_id`, security headers, the
//! client address, and the rate limit.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portal_domain::ports::Clock;
use portal_domain::system::SystemClock;
use tracing::Instrument;

use crate::extract::ClientAddr;
use crate::problem::{ApiError, PendingProblem};
use crate::state::AppState;

/// The correlation id of a request (`X-Request-Id`, `request_id`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    // On the vanishingly rare failure, a fixed id still correlates nothing
    // wrongly: the log line carries it with the route and time.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The outermost layer: gives the request an id and a span keyed by the
/// route pattern (never the URI: tokens travel in query strings), logs one
/// line when it ends, counts it, finishes problem bodies and adds the
/// security headers.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let id = new_request_id();
    let method = request.method().clone();
    let known_method = method_label(&method) != "other";
    // Only the patterns the router declares, never what the client sent:
    // labels and log fields come from fixed sets.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .filter(|_| known_method)
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let wants_html = crate::problem::prefers_html(request.headers());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = method_label(&method),
        route = %route,
        client_addr = tracing::field::Empty,
    );
    let started = SystemClock.now();
    let mut response = if known_method {
        next.run(request).instrument(span.clone()).await
    } else {
        ApiError::MethodNotAllowed.into_response()
    };
    let elapsed = (SystemClock.now() - started).as_seconds_f64();
    let status = response.status();

    if let Some(problem) = response.extensions_mut().remove::<PendingProblem>() {
        let mut body = problem.body;
        body["request_id"] = serde_json::Value::String(id.clone());
        if let Some(cause) = problem.cause {
            span.in_scope(|| tracing::error!(%cause, "internal error"));
        }
        let page = wants_html
            .then(|| crate::pages::problem_page(&state, status, &body))
            .and_then(|rendered| {
                rendered
                    .inspect_err(|e| span.in_scope(|| tracing::error!(%e, "problem page template")))
                    .ok()
            });
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_LENGTH);
        // The same URL answers HTML or JSON by `Accept`.
        headers.insert(header::VARY, HeaderValue::from_static("accept"));
        *response.body_mut() = match page {
            Some(page) => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                Body::from(page)
            }
            None => Body::from(body.to_string()),
        };
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = elapsed * 1e3,
            "request finished"
        );
    });
    state
        .metrics
        .request(method_label(&method), &route, status.as_u16(), elapsed);

    let https = state.config.is_https();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    // No window this page opens keeps a handle on it (ASVS 5.0 V3.4.8).
    headers.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) && !is_cacheable(&method, &route) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Every answer's `Content-Security-Policy`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// A method as a metric label and log field: the methods HTTP defines for
/// this service, everything else `other` (SPEC §8).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The only answers that may be cached (SPEC §8): the public, static
/// documents, and the stylesheet.
fn is_cacheable(method: &Method, route: &str) -> bool {
    *method == Method::GET
        && matches!(
            route,
            "/api/v1/security-questions"
                | "/api/v1/password-policy"
                | "/api/v1/agreement"
                | "/api/v1/openapi.json"
                | "/static/portal.css"
        )
}

/// Resolves the client address once, for the rate limit, audit events and
/// logs.
pub async fn client_addr(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match <ClientAddr as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await
    {
        Ok(addr) => {
            tracing::Span::current().record("client_addr", tracing::field::display(addr.0));
            request = Request::from_parts(parts, body);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// The rate limit on account-changing routes (every POST of SPEC §8's list
/// and the HTML forms that do the same, and the activation link's `GET
/// /activate`, which activates as `POST /api/v1/activations` does; a
/// `HEAD` of it runs the same handler, so it counts too).
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let changes_accounts = request.method() == Method::POST
        || (matches!(*request.method(), Method::GET | Method::HEAD)
            && request.uri().path() == "/activate");
    if changes_accounts
        && let Some(addr) = request.extensions().get::<ClientAddr>()
        && let Err(retry_after_seconds) = state.limiter.check(addr.0)
    {
        return ApiError::RateLimited {
            retry_after_seconds,
        }
        .into_response();
    }
    next.run(request).await
}

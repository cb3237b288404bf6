//! The edge every answer passes, assembled in [`crate::app::with_layers`]:
//! tower-http's layers where tower has the term, and the edge's own logic
//! as small functions.
//!
//! - The request id: [`forget_client_request_id`] (a client's
//!   `X-Request-Id` is never trusted), then tower-http's
//!   `SetRequestIdLayer` with [`RandomRequestId`] and
//!   `PropagateRequestIdLayer` for the answer's header.
//! - The request span and its one log line, with the metric: tower-http's
//!   `TraceLayer` with [`request_span`] and [`Finished`].
//! - The security headers ([`security_headers`]) and `Cache-Control:
//!   no-store` ([`no_store`]): tower-http's `SetResponseHeader` layers.
//! - [`finish_problem`]: the problem body with its `request_id`, as JSON or
//!   as a page; [`label`]: the method and route as fixed-set [`Labels`], and
//!   `405` for an unknown method before its route runs.
//! - The client address ([`client_addr`]) and the rate limit
//!   ([`rate_limit`]).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Extensions, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::MakeRequestId;
/// The request id in a request's extensions, as `SetRequestIdLayer` put it
/// there (read it with [`request_id`]).
pub use tower_http::request_id::RequestId;
use tower_http::set_header::response::SetMultipleResponseHeadersLayer;
use tower_http::trace::OnResponse;
use tracing::Span;

use crate::extract::ClientAddr;
use crate::metrics::Metrics;
use crate::problem::{ApiError, PendingProblem};
use crate::state::AppState;

/// Makes every request's correlation id (`X-Request-Id`, `request_id`):
/// 24 random hexadecimal characters.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::try_from(new_request_id())
            .ok()
            .map(RequestId::new)
    }
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    // On the vanishingly rare failure, a fixed id still correlates nothing
    // wrongly: the log line carries it with the route and time.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The request id `SetRequestIdLayer` put in `extensions` (empty outside
/// it).
pub fn request_id(extensions: &Extensions) -> &str {
    extensions
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
}

/// Drops the `X-Request-Id` a client sent. The service makes its own for
/// every request, so no client chooses what the logs and problem bodies
/// carry as an id; `SetRequestIdLayer`, which keeps a header it finds,
/// then always makes a fresh one.
pub async fn forget_client_request_id(mut request: Request) -> Request {
    request.headers_mut().remove("x-request-id");
    request
}

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The method label of every method outside SPEC §8's set.
const OTHER: &str = "other";

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
        _ => OTHER,
    }
}

/// A request's method and route as log fields and metric labels: only
/// the patterns the router declares and the methods of a fixed set, never
/// what the client sent (SPEC §8).
#[derive(Debug, Clone)]
pub struct Labels {
    method: &'static str,
    route: Option<MatchedPath>,
}

impl Labels {
    /// The labels of an answer [`label`] did not label (none: it labels
    /// every one).
    const UNLABELLED: Self = Self {
        method: OTHER,
        route: None,
    };

    /// The labels of `request`, once routed.
    pub fn of<B>(request: &axum::http::Request<B>) -> Self {
        let method = method_label(request.method());
        // An unknown method is refused before its route runs.
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .filter(|_| method != OTHER)
            .cloned();
        Self { method, route }
    }

    /// The matched pattern, or [`UNMATCHED`].
    pub fn route(&self) -> &str {
        self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str)
    }

    /// The only answers that may be cached (SPEC §8): the public, static
    /// documents, and the stylesheet.
    fn is_cacheable(&self) -> bool {
        self.method == "GET"
            && matches!(
                self.route(),
                "/api/v1/security-questions"
                    | "/api/v1/password-policy"
                    | "/api/v1/agreement"
                    | "/api/v1/openapi.json"
                    | "/static/portal.css"
            )
    }
}

/// The request's span (`TraceLayer`'s `make_span_with`): its id, and its
/// method and route as [`Labels`] (never the URI: tokens travel in query
/// strings); [`client_addr`] records the address once resolved.
pub fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let labels = Labels::of(request);
    tracing::info_span!(
        "request",
        request_id = %request_id(request.extensions()),
        method = labels.method,
        route = %labels.route(),
        client_addr = tracing::field::Empty,
    )
}

/// The end of a request (`TraceLayer`'s `on_response`): its one log line,
/// with the status and latency, and its count in the metrics under the
/// [`Labels`] that [`label`] put on the answer.
#[derive(Debug, Clone)]
pub struct Finished(pub Metrics);

impl<B> OnResponse<B> for Finished {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        let status = response.status().as_u16();
        let seconds = latency.as_secs_f64();
        span.in_scope(|| {
            tracing::info!(status, latency_ms = seconds * 1e3, "request finished");
        });
        let labels = response
            .extensions()
            .get::<Labels>()
            .unwrap_or(&Labels::UNLABELLED);
        self.0
            .request(labels.method, labels.route(), status, seconds);
    }
}

/// Puts the request's [`Labels`] on its answer (for the metric and
/// `Cache-Control`, whose layers see only the answer), and answers a method outside the fixed set
/// `405 method_not_allowed` before its route runs, whatever the path.
pub async fn label(request: Request, next: Next) -> Response {
    let labels = Labels::of(&request);
    let mut response = if labels.method == OTHER {
        ApiError::MethodNotAllowed.into_response()
    } else {
        next.run(request).await
    };
    response.extensions_mut().insert(labels);
    response
}

/// Finishes a problem answer ([`PendingProblem`]): its body gets the
/// request's `request_id` and becomes a page in the portal's layout when
/// the client prefers HTML, JSON otherwise; a 5xx's cause goes to the log
/// only (inside the request's span: `TraceLayer` enters it).
pub async fn finish_problem(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let id = request_id(request.extensions()).to_owned();
    let wants_html = crate::problem::prefers_html(request.headers());
    let mut response = next.run(request).await;
    let Some(problem) = response.extensions_mut().remove::<PendingProblem>() else {
        return response;
    };
    let mut body = problem.body;
    body["request_id"] = serde_json::Value::String(id);
    if let Some(cause) = problem.cause {
        tracing::error!(%cause, "internal error");
    }
    let page = wants_html
        .then(|| crate::pages::problem_page(&state, response.status(), &body))
        .and_then(|rendered| {
            rendered
                .inspect_err(|e| tracing::error!(%e, "problem page template"))
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
    response
}

/// The Content-Security-Policy of every answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The security headers of every answer, replacing any a handler set:
/// `nosniff`, no framing, no referrer, the [`CONTENT_SECURITY_POLICY`], no
/// window this page opens keeping a handle on it (ASVS 5.0 V3.4.8), and
/// HSTS when the portal is served over https.
pub fn security_headers(https: bool) -> SetMultipleResponseHeadersLayer<Response> {
    SetMultipleResponseHeadersLayer::overriding(vec![
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )
            .into(),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")).into(),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        )
            .into(),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        )
            .into(),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        )
            .into(),
        (
            header::STRICT_TRANSPORT_SECURITY,
            https.then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains")),
        )
            .into(),
    ])
}

/// `Cache-Control: no-store` for an answer that set none, unless it is one
/// of the answers that may be cached (SPEC §8; `SetResponseHeaderLayer::
/// if_not_present`).
pub fn no_store(response: &Response) -> Option<HeaderValue> {
    let cacheable = response
        .extensions()
        .get::<Labels>()
        .is_some_and(Labels::is_cacheable);
    (!cacheable).then(|| HeaderValue::from_static("no-store"))
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

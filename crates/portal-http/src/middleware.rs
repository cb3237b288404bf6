//! The edge every answer passes, built once around the finished router
//! by [`crate::app::with_layers`]: tower-http's layers where tower has the
//! term, and small layers of the edge's own for the rest.
//!
//! - The request id: [`forget_client_request_id`] (a client's
//!   `X-Request-Id` is never trusted), tower-http's `SetRequestIdLayer`
//!   with [`RandomRequestId`], and `PropagateRequestIdLayer` for the
//!   answer's header.
//! - The security headers and `Cache-Control: no-store` ([`no_store`]):
//!   tower-http's `SetResponseHeaderLayer`.
//! - The request span and its one log line, with the metric: tower-http's
//!   `TraceLayer` with [`request_span`] and [`Finished`].
//! - [`FinishProblem`]: the problem body with its `request_id`, as
//!   JSON or as a page.
//! - [`Label`]: the method and route as fixed-set [`Labels`], and
//!   `405` for an unknown method before routing. The route is known only
//!   inside the router: [`RecordRoute`], the one layer each route
//!   carries, records it in the span and for the labels.
//! - [`ResolveClientAddr`]: the client address, for the rate limit
//!   ([`rate_limit`]), audit events and the span.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Extensions, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::future::{BoxFuture, Either, Ready, ready};
use tower::layer::layer_fn;
use tower::{Layer, Service};
use tower_http::request_id::MakeRequestId;
/// The request id in a request's extensions, as `SetRequestIdLayer` put it
/// there (read it with [`request_id`]).
pub use tower_http::request_id::RequestId;
use tower_http::trace::OnResponse;
use tracing::Span;

use crate::config::Config;
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
pub fn forget_client_request_id<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    request.headers_mut().remove("x-request-id");
    request
}

/// Every answer's `Content-Security-Policy`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

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
/// what the client sent (SPEC §8). [`Label`] puts them on every
/// answer.
#[derive(Debug, Clone)]
pub struct Labels {
    method: &'static str,
    route: Option<MatchedPath>,
}

impl Labels {
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

/// `Cache-Control: no-store` for every answer but the cacheable ones
/// (`SetResponseHeaderLayer::if_not_present`: a handler's own
/// `Cache-Control` stays).
pub fn no_store<B>(response: &axum::http::Response<B>) -> Option<HeaderValue> {
    let cacheable = response
        .extensions()
        .get::<Labels>()
        .is_some_and(Labels::is_cacheable);
    (!cacheable).then(|| HeaderValue::from_static("no-store"))
}

/// The request's span (`TraceLayer`'s `make_span_with`): its id and
/// method label (never the URI: tokens travel in query strings). The route
/// is [`UNMATCHED`] until [`RecordRoute`] records the pattern; the
/// client address is recorded by [`ResolveClientAddr`].
pub fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    tracing::info_span!(
        "request",
        request_id = %request_id(request.extensions()),
        method = method_label(request.method()),
        route = UNMATCHED,
        client_addr = tracing::field::Empty,
    )
}

/// The end of a request (`TraceLayer`'s `on_response`): its one log line,
/// with the status and latency, and its count in the metrics under the
/// [`Labels`] of the answer.
#[derive(Debug, Clone)]
pub struct Finished(pub Metrics);

impl<B> OnResponse<B> for Finished {
    fn on_response(self, response: &axum::http::Response<B>, latency: Duration, span: &Span) {
        let status = response.status().as_u16();
        let seconds = latency.as_secs_f64();
        span.in_scope(|| {
            tracing::info!(status, latency_ms = seconds * 1e3, "request finished");
        });
        let (method, route) = response
            .extensions()
            .get::<Labels>()
            .map_or((OTHER, UNMATCHED), |labels| (labels.method, labels.route()));
        self.0.request(method, route, status, seconds);
    }
}

/// Finishes problem answers: the body gets its `request_id` and is written
/// as JSON, or as a page when the request prefers HTML; a 5xx's cause is
/// logged in the request's span.
#[derive(Debug, Clone)]
pub struct FinishProblem<S> {
    inner: S,
    state: Arc<AppState>,
}

impl<S> FinishProblem<S> {
    /// The layer, over the service's state (for the pages).
    pub fn layer(state: Arc<AppState>) -> impl Layer<S, Service = Self> + Clone {
        layer_fn(move |inner| Self {
            inner,
            state: Arc::clone(&state),
        })
    }
}

impl<S, B> Service<axum::http::Request<B>> for FinishProblem<S>
where
    S: Service<axum::http::Request<B>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let id = request.extensions().get::<RequestId>().cloned();
        let wants_html = crate::problem::prefers_html(request.headers());
        let state = Arc::clone(&self.state);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if let Some(problem) = response.extensions_mut().remove::<PendingProblem>() {
                let id = id
                    .as_ref()
                    .and_then(|id| id.header_value().to_str().ok())
                    .unwrap_or_default();
                finish_problem(&state, &mut response, problem, id, wants_html);
            }
            Ok(response)
        })
    }
}

fn finish_problem(
    state: &AppState,
    response: &mut Response,
    problem: PendingProblem,
    id: &str,
    wants_html: bool,
) {
    let status = response.status();
    let mut body = problem.body;
    body["request_id"] = serde_json::Value::String(id.to_owned());
    if let Some(cause) = problem.cause {
        tracing::error!(%cause, "internal error");
    }
    let page = wants_html
        .then(|| crate::pages::problem_page(state, status, &body))
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
}

/// Where [`RecordRoute`], inside the router, leaves the matched
/// route for [`Label`], outside it.
#[derive(Debug, Clone, Default)]
struct RouteSlot(Arc<OnceLock<MatchedPath>>);

/// Puts [`Labels`] on every answer, and answers an unknown method `405`
/// before routing (its labels `other` and [`UNMATCHED`]).
#[derive(Debug, Clone)]
pub struct Label<S> {
    inner: S,
}

impl<S> Label<S> {
    /// The layer.
    pub fn layer() -> impl Layer<S, Service = Self> + Clone {
        layer_fn(|inner| Self { inner })
    }
}

impl<S, B> Service<axum::http::Request<B>> for Label<S>
where
    S: Service<axum::http::Request<B>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        let method = method_label(request.method());
        if method == OTHER {
            let mut response = ApiError::MethodNotAllowed.into_response();
            response.extensions_mut().insert(Labels {
                method,
                route: None,
            });
            return Box::pin(ready(Ok(response)));
        }
        let slot = RouteSlot::default();
        request.extensions_mut().insert(slot.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            let route = slot.0.get().cloned();
            response.extensions_mut().insert(Labels { method, route });
            Ok(response)
        })
    }
}

/// The one layer every route carries (`Router::layer`, inside the router,
/// where the matched pattern is known): records the pattern in the
/// request's span and leaves it for [`Label`].
#[derive(Debug, Clone)]
pub struct RecordRoute<S> {
    inner: S,
}

impl<S> RecordRoute<S> {
    /// The layer.
    pub fn layer() -> impl Layer<S, Service = Self> + Clone {
        layer_fn(|inner| Self { inner })
    }
}

impl<S, B> Service<axum::http::Request<B>> for RecordRoute<S>
where
    S: Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let extensions = request.extensions();
        if let (Some(route), Some(slot)) = (
            extensions.get::<MatchedPath>(),
            extensions.get::<RouteSlot>(),
        ) {
            Span::current().record("route", route.as_str());
            let _ = slot.0.set(route.clone());
        }
        self.inner.call(request)
    }
}

/// Resolves the client address once, for the rate limit, audit events and
/// the span; a request served without the peer's address (never by
/// [`crate::serve`]) is answered `500`.
#[derive(Debug, Clone)]
pub struct ResolveClientAddr<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ResolveClientAddr<S> {
    /// The layer, over the configuration (its trusted proxies).
    pub fn layer(config: Arc<Config>) -> impl Layer<S, Service = Self> + Clone {
        layer_fn(move |inner| Self {
            inner,
            config: Arc::clone(&config),
        })
    }
}

impl<S, B> Service<axum::http::Request<B>> for ResolveClientAddr<S>
where
    S: Service<axum::http::Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        let Some(peer) = request
            .extensions()
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
        else {
            return Either::Left(ready(Ok(ApiError::Internal(
                "no peer address: serve with connect info".to_owned(),
            )
            .into_response())));
        };
        let addr = ClientAddr::resolve(peer, request.headers(), &self.config.trusted_proxies);
        Span::current().record("client_addr", tracing::field::display(addr.0));
        request.extensions_mut().insert(addr);
        Either::Right(self.inner.call(request))
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

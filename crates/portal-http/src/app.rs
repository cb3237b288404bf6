//! The router: every route of SPEC §8 (the HTML pages from [`pages`]), the layers around them, and the
//! OpenAPI document generated from the handlers.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router, middleware};
use serde_json::json;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::map_request_body::MapRequestBodyLayer;
use tower_http::map_response_body::MapResponseBodyLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::api;
use crate::middleware::{
    CONTENT_SECURITY_POLICY, FinishProblem, Finished, Label, RandomRequestId, RecordRoute,
    ResolveClientAddr, forget_client_request_id, no_store, rate_limit, request_span,
};
use crate::pages;
use crate::problem::ApiError;
use crate::state::AppState;

/// Request bodies above this are refused with `413 body_too_large`.
pub const BODY_LIMIT: usize = 16 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Provider Portal Accounts",
        description = "Registration, activation, login and password reset for a health plan's providers."
    ),
    paths(
        api::start_registration,
        api::accept_agreement,
        api::create_account,
        api::activate,
        api::resend_activation,
        api::login,
        api::logout,
        api::me,
        api::accept_current_agreement,
        api::change_password,
        api::request_email_change,
        api::confirm_email_change,
        api::change_security_question,
        api::finish_mfa_login,
        api::start_totp_enrolment,
        api::confirm_totp,
        api::remove_totp,
        api::list_passkeys,
        api::start_passkey_registration,
        api::finish_passkey_registration,
        api::rename_passkey,
        api::remove_passkey,
        api::start_passkey_login,
        api::request_password_reset,
        api::confirm_password_reset,
        api::security_questions,
        api::password_policy,
        api::agreement,
        openapi,
    ),
    modifiers(&CommonResponses)
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The answers SPEC §8 allows on every route, added to each operation that
/// does not document them itself: the JSON extractor's `400`, `413` and
/// `415` and the members' `422 invalid_input` wherever a body is read, and
/// `429`/`503` with `Retry-After` anywhere. Without them the document
/// under-promises, and a client (or schemathesis) generated from it meets
/// statuses it was never told about.
#[derive(Debug)]
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Response};
        const BODY: &[(&str, &str)] = &[
            (
                "400",
                "malformed_request: the body is not a JSON object of this shape",
            ),
            ("413", "body_too_large"),
            (
                "415",
                "unsupported_media_type: the body must be application/json",
            ),
            (
                "422",
                "invalid_input: every missing or invalid member, listed",
            ),
        ];
        const ANY: &[(&str, &str)] = &[
            ("429", "rate_limited, with Retry-After"),
            ("503", "overloaded, with Retry-After"),
        ];
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let body = if operation.request_body.is_some() {
                    BODY
                } else {
                    &[]
                };
                for (status, description) in body.iter().chain(ANY) {
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| RefOr::T(Response::new(*description)));
                }
            }
        }
    }
}

/// The account-changing routes, behind the per-address rate limit.
fn rate_limited(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/registrations", post(api::start_registration))
        .route(
            "/api/v1/registrations/{id}/agreement",
            post(api::accept_agreement),
        )
        .route(
            "/api/v1/registrations/{id}/account",
            post(api::create_account),
        )
        .route("/api/v1/activations", post(api::activate))
        .route("/api/v1/activations/resend", post(api::resend_activation))
        .route("/api/v1/sessions", post(api::login))
        .route("/api/v1/sessions/mfa", post(api::finish_mfa_login))
        .route("/api/v1/password-resets", post(api::request_password_reset))
        .route(
            "/api/v1/password-resets/confirm",
            post(api::confirm_password_reset),
        )
        .route("/api/v1/me/password", post(api::change_password))
        .route("/api/v1/me/email", post(api::request_email_change))
        .route("/api/v1/me/email/confirm", post(api::confirm_email_change))
        .route(
            "/api/v1/me/security-question",
            post(api::change_security_question),
        )
        .route(
            "/api/v1/me/mfa/totp",
            post(api::start_totp_enrolment).delete(api::remove_totp),
        )
        .route("/api/v1/me/mfa/totp/confirm", post(api::confirm_totp))
        .route(
            "/api/v1/sessions/mfa/passkey",
            post(api::start_passkey_login),
        )
        .route(
            "/api/v1/me/passkeys",
            get(api::list_passkeys).post(api::finish_passkey_registration),
        )
        .route(
            "/api/v1/me/passkeys/registrations",
            post(api::start_passkey_registration),
        )
        .route(
            "/api/v1/me/passkeys/{id}",
            patch(api::rename_passkey).delete(api::remove_passkey),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
}

/// What a listener serves: the router behind the edge's layers
/// ([`with_layers`]), one type-checked service, cloned per connection.
pub trait Edge:
    Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> Edge for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// The whole service, ready for [`crate::serve::serve`] (which adds the
/// peer's address) or for `oneshot` in tests.
pub fn router(state: AppState) -> impl Edge {
    with_layers(routes(&state), state)
}

/// Every route of the public listener; `/metrics` too unless
/// `PORTAL_METRICS_LISTEN` gives it its own address.
pub fn routes(state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .merge(rate_limited(state))
        .merge(pages::router(state))
        .route("/api/v1/sessions/current", delete(api::logout))
        .route("/api/v1/me", get(api::me))
        .route("/api/v1/me/agreement", post(api::accept_current_agreement))
        .route("/api/v1/security-questions", get(api::security_questions))
        .route("/api/v1/password-policy", get(api::password_policy))
        .route("/api/v1/agreement", get(api::agreement))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if state.config.metrics_listen.is_some() {
        routes
    } else {
        routes.route("/metrics", get(metrics))
    }
}

/// `routes` behind the edge every answer goes through, built once around
/// the finished router (a `Router::layer` would wrap every route's
/// endpoint in every layer, boxed, and clone them per request: see
/// docs/PERFORMANCE.md). Outermost first: the request id (a client's
/// dropped, a fresh one made, and sent back), the security headers and
/// `Cache-Control`, the span with its log line and metric, the problem
/// bodies, the labels (and `405` for an unknown method), the client
/// address, panics as `500`, the answer deadline, the body deadline and
/// limit. Inside the router each route carries one layer of its own, which
/// records its pattern ([`RecordRoute`]).
pub fn with_layers(routes: Router<AppState>, state: AppState) -> impl Edge {
    let limits = state.config.limits;
    let hsts = state
        .config
        .is_https()
        .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    let trace = TraceLayer::new_for_http()
        .make_span_with(request_span)
        .on_request(())
        .on_response(Finished(state.metrics.clone()))
        .on_body_chunk(())
        .on_eos(())
        .on_failure(());
    let config = Arc::clone(&state.config);
    let shared = Arc::new(state.clone());
    let router = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(RecordRoute::layer())
        .with_state(state);
    ServiceBuilder::new()
        .layer(MapResponseBodyLayer::new(Body::new))
        .map_request(forget_client_request_id)
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        // No window this page opens keeps a handle on it (ASVS 5.0 V3.4.8).
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            no_store,
        ))
        .layer(trace)
        .layer(FinishProblem::layer(shared))
        .layer(Label::layer())
        .layer(ResolveClientAddr::layer(config))
        .layer(MapResponseBodyLayer::new(Body::new))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a handler panicked".to_owned()).into_response()
        }))
        .map_response(answer_timed_out)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.answer_within,
        ))
        .layer(RequestBodyDeadlineLayer::new(limits.body_timeout))
        .layer(MapRequestBodyLayer::new(Body::new))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .service(router)
}

/// `/metrics` alone, for `PORTAL_METRICS_LISTEN`.
pub fn metrics_router(state: AppState) -> impl Edge {
    with_layers(Router::new().route("/metrics", get(metrics)), state)
}

/// How long a client is told to wait after the answer deadline passed.
const RETRY_AFTER_DEADLINE: u64 = 5;

/// The timeout layer's bare `503` as SPEC §8's `503 overloaded` problem.
/// Every other `503` of the service has a body, and so a content type.
fn answer_timed_out(response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        return ApiError::Overloaded {
            retry_after_seconds: RETRY_AFTER_DEADLINE,
        }
        .into_response();
    }
    response
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, description = "the OpenAPI 3.1 document of this API")))]
async fn openapi() -> Response {
    match openapi_document().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => ApiError::Internal(format!("openapi: {e}")).into_response(),
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// How long `/readyz` waits for the database. While PostgreSQL is down the
/// pool keeps trying to connect for its whole acquire timeout (5 s), so an
/// unbounded probe would hang through a short outage and then answer 200:
/// the outage would never show. A probe answers promptly instead.
pub const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

async fn readyz(State(state): State<AppState>) -> Response {
    let ready = tokio::time::timeout(READY_WITHIN, state.database.is_ready())
        .await
        .unwrap_or(false);
    if ready {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "database unavailable"})),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

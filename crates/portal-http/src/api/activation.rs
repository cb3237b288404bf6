//! Activation and resending its email.

use super::*;

/// A one-time token from an emailed link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    token: Option<String>,
}

crate::redact::debug_redacting!(TokenRequest {} redacting { token });

impl TokenRequest {
    /// The token member, required.
    pub fn token(&self) -> Result<&str, ApiError> {
        let mut errors = InvalidInput::default();
        required(&mut errors, "token", &self.token).ok_or(ApiError::InvalidInput(errors))
    }
}

#[utoipa::path(post, path = "/api/v1/activations", request_body = TokenRequest,
    responses((status = 200, body = FlowState), (status = 400, description = "invalid_token")))]
pub async fn activate(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<TokenRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let token = required(&mut errors, "token", &body.token)
        .ok_or_else(|| ApiError::InvalidInput(errors.clone()))?;
    state.portal.activate(token, ctx).await?;
    Ok(Json(FlowState {
        state: "active".to_owned(),
    })
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/activations/resend", request_body = UsernameRequest,
    responses((status = 202, description = "accepted, whether or not the username exists")))]
pub async fn resend_activation(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<UsernameRequest>,
) -> ApiResult {
    let username = body.username()?.to_owned();
    // Answered before the look-up: the same path, and time, for every name.
    let portal = std::sync::Arc::clone(&state.portal);
    state
        .background
        .run("activation resend", async move {
            portal.resend_activation(&username, ctx).await
        })
        .map_err(|_| ApiError::Overloaded {
            retry_after_seconds: 1,
        })?;
    Ok(accepted())
}

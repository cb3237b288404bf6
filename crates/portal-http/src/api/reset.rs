//! Password reset: the request and its confirmation.

use super::*;

#[utoipa::path(post, path = "/api/v1/password-resets", request_body = UsernameRequest,
    responses((status = 202, description = "accepted, whether or not the account exists")))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<UsernameRequest>,
) -> ApiResult {
    let username = body.username()?.to_owned();
    // Answered before the look-up: the same path, and time, for every name.
    let portal = std::sync::Arc::clone(&state.portal);
    state
        .background
        .run("password reset request", async move {
            portal.request_password_reset(&username, ctx).await
        })
        .map_err(|_| ApiError::Overloaded {
            retry_after_seconds: 1,
        })?;
    Ok(accepted())
}

/// A new password with a reset link's token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    token: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    new_password: Option<String>,
}

crate::redact::debug_redacting!(ResetConfirmRequest {} redacting { token, new_password });

#[utoipa::path(post, path = "/api/v1/password-resets/confirm", request_body = ResetConfirmRequest,
    responses((status = 204, description = "password set; account unlocked; sessions revoked"),
        (status = 400, description = "invalid_token"), (status = 422, description = "password_policy")))]
pub async fn confirm_password_reset(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<ResetConfirmRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let token = required(&mut errors, "token", &body.token);
    let new = password_field(&mut errors, "new_password", &body.new_password);
    let (Some(token), Some(new)) = (token, new) else {
        return Err(ApiError::InvalidInput(errors));
    };
    state
        .portal
        .confirm_password_reset(token, &new, ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

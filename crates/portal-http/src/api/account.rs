//! The logged-in account: `/me`, agreement re-acceptance, password change.

use super::*;

/// A provider the account can see.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderItem {
    provider_id: String,
    /// `practitioner` or `group`.
    kind: String,
    name: String,
    zips: Vec<String>,
    lines_of_business: Vec<String>,
}

/// The logged-in account and its access scope.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    username: String,
    email: String,
    provider_type: String,
    providers: Vec<ProviderItem>,
}

#[utoipa::path(get, path = "/api/v1/me",
    responses((status = 200, body = Me), (status = 401, description = "unauthenticated"),
        (status = 403, description = "agreement_required")))]
pub async fn me(State(state): State<AppState>, Session(auth): Session) -> ApiResult {
    let providers = state.portal.visible_providers_of(&auth).await?;
    let account = &auth.account;
    Ok(Json(Me {
        username: account.username.as_str().to_owned(),
        email: account.email.as_str().to_owned(),
        provider_type: account.provider.kind.as_str().to_owned(),
        providers: providers
            .into_iter()
            .map(|p| ProviderItem {
                provider_id: p.provider_id.as_str().to_owned(),
                kind: p.kind.as_str().to_owned(),
                name: p.name,
                zips: p.zips.iter().map(|z| z.as_str().to_owned()).collect(),
                lines_of_business: p
                    .lines_of_business
                    .iter()
                    .map(|l| l.as_str().to_owned())
                    .collect(),
            })
            .collect(),
    })
    .into_response())
}

/// Re-acceptance of the current agreement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeAgreementRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    agreement_version: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/me/agreement", request_body = MeAgreementRequest,
    responses((status = 204, description = "accepted"), (status = 422, description = "agreement_not_accepted"),
        (status = 401, description = "unauthenticated")))]
pub async fn accept_current_agreement(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    SessionAllowingAgreement(auth): SessionAllowingAgreement,
    ApiJson(body): ApiJson<MeAgreementRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let version = field(
        &mut errors,
        "agreement_version",
        &body.agreement_version,
        AgreementVersion::parse,
    )
    .ok_or(ApiError::InvalidInput(errors))?;
    state
        .portal
        .accept_current_agreement(&auth, &version, ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A password change by a logged-in account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    current_password: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    new_password: Option<String>,
}

crate::redact::debug_redacting!(PasswordChangeRequest {} redacting { current_password, new_password });

#[utoipa::path(post, path = "/api/v1/me/password", request_body = PasswordChangeRequest,
    responses((status = 204, description = "changed; other sessions revoked"),
        (status = 401, description = "invalid_credentials, unauthenticated"), (status = 423, description = "account_locked"),
        (status = 403, description = "agreement_required"), (status = 422, description = "password_policy")))]
pub async fn change_password(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Session(auth): Session,
    ApiJson(body): ApiJson<PasswordChangeRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let current = match body.current_password.as_deref() {
        None | Some("") => {
            errors.push("current_password", "is required");
            None
        }
        // Not a possible password: it cannot be the current one.
        Some(text) => Some(Password::parse(text).map_err(|_| ApiError::InvalidCredentials)),
    };
    let new = password_field(&mut errors, "new_password", &body.new_password);
    let (Some(current), Some(new)) = (current, new) else {
        return Err(ApiError::InvalidInput(errors));
    };
    state
        .portal
        .change_password(&auth, &current?, &new, ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

//! The JSON API under `/api/v1` (SPEC §8). Handlers only translate: they
//! parse the raw body into domain values (collecting every invalid member),
//! call one use case, and map its answer.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_domain::roster::ProofingRequest;
use portal_domain::service::{AccountInput, AgreementInput, InvalidInput};
use portal_domain::values::{
    AgreementVersion, EmailAddress, GroupName, Password, PersonName, ProviderId, ProviderKind,
    SECURITY_QUESTIONS, SecurityAnswer, SecurityQuestionId, TaxId, Username, Zip,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::extract::{
    ApiJson, Ctx, SESSION_COOKIE, Session, SessionAllowingAgreement, session_token,
};
use crate::problem::{ApiError, rfc3339};
use crate::state::AppState;

type ApiResult = Result<Response, ApiError>;

/// A required text member.
fn required<'a>(
    errors: &mut InvalidInput,
    field: &str,
    value: &'a Option<String>,
) -> Option<&'a str> {
    match value.as_deref() {
        Some(text) if !text.trim().is_empty() => Some(text),
        _ => {
            errors.push(field, "is required");
            None
        }
    }
}

/// Parses a required member with `parse`, recording its error.
fn field<T, E: std::fmt::Display>(
    errors: &mut InvalidInput,
    name: &str,
    value: &Option<String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    let text = required(errors, name, value)?;
    parse(text).map_err(|e| errors.push(name, e)).ok()
}

// Members are `Option`s so that one `422 invalid_input` can list every
// missing one; the OpenAPI document still marks the members the API requires
// as required strings (`#[schema(required = true, ...)]`).

// --- registration ---

/// Step 1: the provider's details as printed on the EOB or welcome letter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// `practitioner` or `group`.
    #[schema(required = true, value_type = String, min_length = 1)]
    pub provider_type: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub provider_id: Option<String>,
    /// 9 digits; `12-3456789` and `123456789` are the same.
    #[schema(required = true, value_type = String, min_length = 1)]
    pub tax_id: Option<String>,
    /// 5 digits or ZIP+4.
    #[schema(required = true, value_type = String, min_length = 1)]
    pub zip: Option<String>,
    /// Practitioner only.
    pub first_name: Option<String>,
    /// Practitioner only.
    pub last_name: Option<String>,
    /// Group only.
    pub group_name: Option<String>,
}

impl RegistrationRequest {
    pub fn try_into_domain(&self) -> Result<ProofingRequest, InvalidInput> {
        let mut errors = InvalidInput::default();
        let kind = field(
            &mut errors,
            "provider_type",
            &self.provider_type,
            ProviderKind::parse,
        );
        let provider_id = field(
            &mut errors,
            "provider_id",
            &self.provider_id,
            ProviderId::parse,
        );
        let tax_id = field(&mut errors, "tax_id", &self.tax_id, TaxId::parse);
        let zip = field(&mut errors, "zip", &self.zip, Zip::parse);
        let request = match kind {
            Some(ProviderKind::Practitioner) => {
                let first_name = field(
                    &mut errors,
                    "first_name",
                    &self.first_name,
                    PersonName::parse,
                );
                let last_name = field(&mut errors, "last_name", &self.last_name, PersonName::parse);
                match (provider_id, tax_id, first_name, last_name, zip) {
                    (
                        Some(provider_id),
                        Some(tax_id),
                        Some(first_name),
                        Some(last_name),
                        Some(zip),
                    ) => Some(ProofingRequest::Practitioner {
                        provider_id,
                        tax_id,
                        first_name,
                        last_name,
                        zip,
                    }),
                    _ => None,
                }
            }
            Some(ProviderKind::Group) => {
                let group_name = field(
                    &mut errors,
                    "group_name",
                    &self.group_name,
                    GroupName::parse,
                );
                match (group_name, tax_id, provider_id, zip) {
                    (Some(group_name), Some(tax_id), Some(provider_id), Some(zip)) => {
                        Some(ProofingRequest::Group {
                            group_name,
                            tax_id,
                            provider_id,
                            zip,
                        })
                    }
                    _ => None,
                }
            }
            None => None,
        };
        match request {
            Some(request) if errors.0.is_empty() => Ok(request),
            _ => Err(errors),
        }
    }
}

/// A registration flow that was started.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationStarted {
    registration_id: String,
    state: String,
    /// RFC 3339, UTC.
    expires_at: String,
    agreement_version: String,
}

#[utoipa::path(post, path = "/api/v1/registrations", request_body = RegistrationRequest,
    responses((status = 201, body = RegistrationStarted), (status = 404, description = "provider_not_found"),
        (status = 422, description = "provider_mismatch, wrong_provider_type, invalid_input"),
        (status = 409, description = "already_registered"), (status = 429, description = "proofing_limited, rate_limited")))]
pub async fn start_registration(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<RegistrationRequest>,
) -> ApiResult {
    let request = body.try_into_domain().map_err(ApiError::InvalidInput)?;
    let started = state.portal.start_registration(request, ctx).await?;
    let body = RegistrationStarted {
        registration_id: started.id.as_str().to_owned(),
        state: started.state.as_str().to_owned(),
        expires_at: rfc3339(started.expires_at),
        agreement_version: started.agreement_version.as_str().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Step 2: accepting the Provider Agreement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementRequest {
    #[schema(required = true, value_type = bool)]
    pub accepted: Option<bool>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub agreement_version: Option<String>,
}

impl AgreementRequest {
    pub fn try_into_domain(&self) -> Result<AgreementInput, InvalidInput> {
        let mut errors = InvalidInput::default();
        if self.accepted.is_none() {
            errors.push("accepted", "is required");
        }
        let version = field(
            &mut errors,
            "agreement_version",
            &self.agreement_version,
            AgreementVersion::parse,
        );
        match (self.accepted, version) {
            (Some(accepted), Some(version)) if errors.0.is_empty() => {
                Ok(AgreementInput { accepted, version })
            }
            _ => Err(errors),
        }
    }
}

/// A flow's state after a step.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowState {
    state: String,
}

#[utoipa::path(post, path = "/api/v1/registrations/{id}/agreement", request_body = AgreementRequest,
    params(("id" = String, Path, description = "the registration id")),
    responses((status = 200, body = FlowState), (status = 422, description = "agreement_not_accepted, invalid_input"),
        (status = 409, description = "invalid_transition"), (status = 410, description = "registration_expired"),
        (status = 404, description = "not_found")))]
pub async fn accept_agreement(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AgreementRequest>,
) -> ApiResult {
    let next = state
        .portal
        .accept_agreement(&id, body.try_into_domain(), ctx)
        .await?;
    Ok(Json(FlowState {
        state: next.as_str().to_owned(),
    })
    .into_response())
}

/// Step 3: the user account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    pub username: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub password: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub email: Option<String>,
    /// One of `GET /api/v1/security-questions`.
    #[schema(required = true, value_type = i64)]
    pub security_question_id: Option<i64>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub security_answer: Option<String>,
}

impl AccountRequest {
    pub fn try_into_domain(&self) -> Result<AccountInput, InvalidInput> {
        let mut errors = InvalidInput::default();
        let username = field(&mut errors, "username", &self.username, Username::parse);
        let password = password_field(&mut errors, "password", &self.password);
        let email = field(&mut errors, "email", &self.email, EmailAddress::parse);
        let question = match self.security_question_id {
            None => {
                errors.push("security_question_id", "is required");
                None
            }
            Some(id) => SecurityQuestionId::parse(id)
                .map_err(|e| errors.push("security_question_id", e))
                .ok(),
        };
        let answer = field(
            &mut errors,
            "security_answer",
            &self.security_answer,
            SecurityAnswer::parse,
        );
        match (username, password, email, question, answer) {
            (
                Some(username),
                Some(password),
                Some(email),
                Some(security_question),
                Some(security_answer),
            ) if errors.0.is_empty() => Ok(AccountInput {
                username,
                password,
                email,
                security_question,
                security_answer,
            }),
            _ => Err(errors),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/registrations/{id}/account", request_body = AccountRequest,
    params(("id" = String, Path, description = "the registration id")),
    responses((status = 201, body = FlowState), (status = 422, description = "invalid_input, password_policy"),
        (status = 409, description = "username_taken, already_registered, invalid_transition"),
        (status = 410, description = "registration_expired"), (status = 404, description = "not_found")))]
pub async fn create_account(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AccountRequest>,
) -> ApiResult {
    state
        .portal
        .create_account(&id, body.try_into_domain(), ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(FlowState {
            state: "pending_activation".to_owned(),
        }),
    )
        .into_response())
}

// --- activation ---

/// A one-time token from an emailed link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    token: Option<String>,
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

/// A username, for resend and reset requests.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsernameRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    username: Option<String>,
}

impl UsernameRequest {
    fn username(&self) -> Result<&str, ApiError> {
        let mut errors = InvalidInput::default();
        required(&mut errors, "username", &self.username).ok_or(ApiError::InvalidInput(errors))
    }
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response()
}

#[utoipa::path(post, path = "/api/v1/activations/resend", request_body = UsernameRequest,
    responses((status = 202, description = "accepted, whether or not the username exists")))]
pub async fn resend_activation(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<UsernameRequest>,
) -> ApiResult {
    let username = body.username()?;
    state.portal.resend_activation(username, ctx).await?;
    Ok(accepted())
}

// --- sessions ---

/// Username and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    username: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    password: Option<String>,
}

/// A new session. The same token is set as the `portal_session` cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionCreated {
    token: String,
    /// RFC 3339, UTC: when the session ends if no request comes.
    expires_at: String,
}

/// The `Set-Cookie` value for a session token.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let max_age = state.config.portal.sessions.absolute.whole_seconds();
    let secure = if state.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&cookie)
        .unwrap_or_else(|_| HeaderValue::from_static("portal_session=; Max-Age=0; Path=/"))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("portal_session=; Max-Age=0; Path=/"))
}

#[utoipa::path(post, path = "/api/v1/sessions", request_body = LoginRequest,
    responses((status = 201, body = SessionCreated), (status = 401, description = "invalid_credentials"),
        (status = 403, description = "account_not_activated, provider_inactive, account_disabled"),
        (status = 423, description = "account_locked (with locked_until)")))]
pub async fn login(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let username = required(&mut errors, "username", &body.username);
    let raw_password = body.password.as_deref().filter(|p| !p.is_empty());
    if raw_password.is_none() {
        errors.push("password", "is required");
    }
    let (Some(username), Some(raw_password)) = (username, raw_password) else {
        return Err(ApiError::InvalidInput(errors));
    };
    // A text that can never be a password cannot be anyone's password.
    let Ok(password) = Password::parse(raw_password) else {
        state.metrics.login("invalid_credentials");
        return Err(ApiError::InvalidCredentials);
    };
    let result = state.portal.login(username, &password, ctx).await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(e) => ApiError::from(e.clone()).code(),
    };
    state.metrics.login(outcome);
    if matches!(
        &result,
        Err(portal_domain::service::LoginError::AccountLocked { .. })
    ) {
        state.metrics.lockout();
    }
    let session = result?;
    let mut response = (
        StatusCode::CREATED,
        Json(SessionCreated {
            token: session.token.expose().to_owned(),
            expires_at: rfc3339(session.expires_at),
        }),
    )
        .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, session.token.expose()),
    );
    Ok(response)
}

#[utoipa::path(delete, path = "/api/v1/sessions/current", responses((status = 204, description = "logged out"),
    (status = 401, description = "unauthenticated")))]
pub async fn logout(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    SessionAllowingAgreement(_): SessionAllowingAgreement,
) -> ApiResult {
    if let Some((token, _)) = session_token(&headers) {
        state.portal.logout(&token, ctx).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie(&state));
    Ok(response)
}

// --- the account ---

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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    current_password: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    new_password: Option<String>,
}

fn password_field(
    errors: &mut InvalidInput,
    name: &str,
    value: &Option<String>,
) -> Option<Password> {
    match value.as_deref() {
        None | Some("") => {
            errors.push(name, "is required");
            None
        }
        Some(text) => Password::parse(text).map_err(|e| errors.push(name, e)).ok(),
    }
}

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

// --- password reset ---

#[utoipa::path(post, path = "/api/v1/password-resets", request_body = UsernameRequest,
    responses((status = 202, description = "accepted, whether or not the account exists")))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<UsernameRequest>,
) -> ApiResult {
    let username = body.username()?;
    state.portal.request_password_reset(username, ctx).await?;
    Ok(accepted())
}

/// A new password with a reset link's token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    token: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    new_password: Option<String>,
}

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

// --- public documents ---

/// A security question.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityQuestion {
    id: u8,
    text: String,
}

#[utoipa::path(get, path = "/api/v1/security-questions", responses((status = 200, body = [SecurityQuestion])))]
pub async fn security_questions() -> Json<Vec<SecurityQuestion>> {
    Json(
        SECURITY_QUESTIONS
            .iter()
            .map(|(id, text)| SecurityQuestion {
                id: *id,
                text: (*text).to_owned(),
            })
            .collect(),
    )
}

/// The password rules and limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordPolicyDoc {
    min_length: usize,
    max_length: usize,
    require_classes: bool,
    /// The codes a `password_policy` problem may list.
    rules: Vec<String>,
    /// The lowest zxcvbn score accepted (0–4).
    min_strength_score: u8,
}

#[utoipa::path(get, path = "/api/v1/password-policy", responses((status = 200, body = PasswordPolicyDoc)))]
pub async fn password_policy(State(state): State<AppState>) -> Json<PasswordPolicyDoc> {
    use portal_domain::password_policy::PasswordPolicy;
    let policy = &state.config.portal.password_policy;
    let mut rules = vec!["min_length"];
    if policy.requires_classes() {
        rules.extend(["lowercase", "uppercase", "digit", "symbol"]);
    }
    rules.extend(["max_length", "contains_username", "too_weak", "reused"]);
    Json(PasswordPolicyDoc {
        min_length: policy.min_length(),
        max_length: PasswordPolicy::MAX_LENGTH,
        require_classes: policy.requires_classes(),
        rules: rules.into_iter().map(str::to_owned).collect(),
        min_strength_score: PasswordPolicy::MIN_SCORE,
    })
}

/// The current Provider Agreement.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementDoc {
    version: String,
    text: String,
}

#[utoipa::path(get, path = "/api/v1/agreement", responses((status = 200, body = AgreementDoc)))]
pub async fn agreement(State(state): State<AppState>) -> Json<AgreementDoc> {
    let agreement = &state.config.portal.agreement;
    Json(AgreementDoc {
        version: agreement.version.as_str().to_owned(),
        text: agreement.text.clone(),
    })
}

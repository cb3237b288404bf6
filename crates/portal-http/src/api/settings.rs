//! Account settings (SPEC §4a): changing the email (a link to the new
//! address, confirmed without a session) and the security question.

use super::*;
use portal_domain::service::SecurityQuestionInput;

/// The current password, as a settings change reads it: missing is
/// `invalid_input`; a text that can never be a password cannot be the
/// current one (`invalid_credentials`, as at `/api/v1/me/password`).
fn current_password(
    errors: &mut InvalidInput,
    value: &Option<String>,
) -> Option<Result<Password, ApiError>> {
    match value.as_deref() {
        None | Some("") => {
            errors.push("current_password", "is required");
            None
        }
        Some(text) => Some(Password::parse(text).map_err(|_| ApiError::InvalidCredentials)),
    }
}

/// An email change by a logged-in account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeBody {
    #[schema(required = true, value_type = String, min_length = 1)]
    pub current_password: Option<String>,
    /// Where the confirmation link goes; the account's email once it is used.
    #[schema(required = true, value_type = String, min_length = 1)]
    pub new_email: Option<String>,
}

crate::redact::debug_redacting!(EmailChangeBody { new_email } redacting { current_password });

impl EmailChangeBody {
    /// The current password and the new address; `Err` holds every
    /// invalid member, or `invalid_credentials` for a current password
    /// that can never be one.
    pub fn try_into_domain(&self) -> Result<(Password, EmailAddress), ApiError> {
        let mut errors = InvalidInput::default();
        let current = current_password(&mut errors, &self.current_password);
        let email = field(
            &mut errors,
            "new_email",
            &self.new_email,
            EmailAddress::parse,
        );
        match (current, email) {
            (Some(current), Some(email)) if errors.0.is_empty() => Ok((current?, email)),
            _ => Err(ApiError::InvalidInput(errors)),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/me/email", request_body = EmailChangeBody,
    responses((status = 202, description = "accepted: a confirmation link went to the new address (none past the hourly email cap)"),
        (status = 401, description = "invalid_credentials, unauthenticated"), (status = 423, description = "account_locked"),
        (status = 403, description = "agreement_required"),
        (status = 422, description = "invalid_input (the new address is the account's own already)")))]
pub async fn request_email_change(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Session(auth): Session,
    ApiJson(body): ApiJson<EmailChangeBody>,
) -> ApiResult {
    let (current, new_email) = body.try_into_domain()?;
    state
        .portal
        .request_email_change(&auth, &current, &new_email, ctx)
        .await?;
    Ok(accepted())
}

/// The account's email after a confirmed change.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailConfirmed {
    email: String,
}

#[utoipa::path(post, path = "/api/v1/me/email/confirm", request_body = TokenRequest,
    responses((status = 200, body = EmailConfirmed),
        (status = 400, description = "invalid_token: unknown, used, superseded, expired or malformed alike")))]
pub async fn confirm_email_change(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<TokenRequest>,
) -> ApiResult {
    let account = state
        .portal
        .confirm_email_change(body.token()?, ctx)
        .await?;
    Ok(Json(EmailConfirmed {
        email: account.email.as_str().to_owned(),
    })
    .into_response())
}

/// A security question change by a logged-in account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityQuestionBody {
    #[schema(required = true, value_type = String, min_length = 1)]
    pub current_password: Option<String>,
    /// One of `GET /api/v1/security-questions`.
    #[schema(required = true, value_type = i64)]
    pub security_question_id: Option<i64>,
    #[schema(required = true, value_type = String, min_length = 1)]
    pub security_answer: Option<String>,
}

crate::redact::debug_redacting!(SecurityQuestionBody { security_question_id } redacting { current_password, security_answer });

impl SecurityQuestionBody {
    /// The current password and the new question and answer, parsed as at
    /// registration.
    pub fn try_into_domain(&self) -> Result<(Password, SecurityQuestionInput), ApiError> {
        let mut errors = InvalidInput::default();
        let current = current_password(&mut errors, &self.current_password);
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
        match (current, question, answer) {
            (Some(current), Some(question), Some(answer)) if errors.0.is_empty() => {
                Ok((current?, SecurityQuestionInput { question, answer }))
            }
            _ => Err(ApiError::InvalidInput(errors)),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/me/security-question", request_body = SecurityQuestionBody,
    responses((status = 204, description = "changed"),
        (status = 401, description = "invalid_credentials, unauthenticated"), (status = 423, description = "account_locked"),
        (status = 403, description = "agreement_required"),
        (status = 422, description = "invalid_input (the answer may not be the username, the email or the password)")))]
pub async fn change_security_question(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Session(auth): Session,
    ApiJson(body): ApiJson<SecurityQuestionBody>,
) -> ApiResult {
    let (current, input) = body.try_into_domain()?;
    state
        .portal
        .change_security_question(&auth, &current, &input, ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

//! Second factors (SPEC §4a): TOTP enrolment, confirmation and removal by
//! the logged-in account, and the login's second step.

use super::*;
use crate::extract::SessionForEnrolment;

/// The current password, to start a TOTP enrolment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnrolRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    current_password: Option<String>,
}

crate::redact::debug_redacting!(TotpEnrolRequest {} redacting { current_password });

/// A started enrolment: the secret for the authenticator app, typed or
/// read from the `otpauth://` URI (the account page shows it as a QR code).
/// Not active until confirmed with a first code.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolled {
    /// Base32 (RFC 4648, no padding).
    secret: String,
    otpauth_uri: String,
}

crate::redact::debug_redacting!(TotpEnrolled {} redacting { secret, otpauth_uri });

/// A code: six digits from the authenticator app (or, where a second step
/// accepts one, a recovery code).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    code: Option<String>,
}

crate::redact::debug_redacting!(CodeRequest {} redacting { code });

/// The ten single-use recovery codes, shown this once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

crate::redact::debug_redacting!(RecoveryCodes {} redacting { recovery_codes });

/// The current password and a code (TOTP or recovery), to remove the factor.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpRemoveRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    current_password: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    code: Option<String>,
}

crate::redact::debug_redacting!(TotpRemoveRequest {} redacting { current_password, code });

/// The second step of a login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    /// From the `202 mfa_required` answer of `POST /api/v1/sessions`.
    #[schema(required = true, value_type = String, min_length = 1)]
    challenge_id: Option<String>,
    /// Six digits from the authenticator app, or a recovery code; or else
    /// `credential`.
    #[schema(value_type = String, min_length = 1)]
    code: Option<String>,
    /// A passkey's assertion: the `PublicKeyCredential` from
    /// `navigator.credentials.get` with the options of
    /// `POST /api/v1/sessions/mfa/passkey`, as JSON
    /// (`AuthenticationResponseJSON`).
    #[schema(value_type = Object)]
    credential: Option<serde_json::Value>,
}

crate::redact::debug_redacting!(MfaLoginRequest {} redacting { challenge_id, code, credential });

/// A right password on an account with a second factor: no session yet.
#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    /// Always `mfa_required`.
    status: String,
    /// For `POST /api/v1/sessions/mfa`; single use, lives 5 minutes.
    challenge_id: String,
    /// What the second step accepts: `totp`, `recovery_code`, `passkey`.
    methods: Vec<String>,
    /// RFC 3339, UTC.
    expires_at: String,
}

crate::redact::debug_redacting!(MfaRequired { status, methods, expires_at } redacting { challenge_id });

impl MfaRequired {
    pub fn new(challenge: &portal_domain::service::IssuedChallenge) -> Self {
        Self {
            status: "mfa_required".to_owned(),
            challenge_id: challenge.id.expose().to_owned(),
            methods: challenge
                .methods
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            expires_at: rfc3339(challenge.expires_at),
        }
    }
}

/// The current password member: a text that can never be a password is
/// not the current one.
pub(crate) fn current_password(
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

#[utoipa::path(post, path = "/api/v1/me/mfa/totp", request_body = TotpEnrolRequest,
    responses((status = 201, body = TotpEnrolled, description = "started; confirm with a first code"),
        (status = 401, description = "invalid_credentials, unauthenticated"), (status = 423, description = "account_locked"),
        (status = 409, description = "mfa_already_enrolled"), (status = 403, description = "agreement_required")))]
pub async fn start_totp_enrolment(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    SessionForEnrolment(auth): SessionForEnrolment,
    ApiJson(body): ApiJson<TotpEnrolRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let current = current_password(&mut errors, &body.current_password)
        .ok_or(ApiError::InvalidInput(errors))??;
    let enrolment = state
        .portal
        .start_totp_enrolment(&auth, &current, ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrolled {
            secret: enrolment.secret.expose_base32(),
            otpauth_uri: enrolment.otpauth_uri.clone(),
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", request_body = CodeRequest,
    responses((status = 200, body = RecoveryCodes, description = "the factor is on; the recovery codes, shown once"),
        (status = 422, description = "invalid_code"), (status = 409, description = "mfa_already_enrolled"),
        (status = 401, description = "unauthenticated"), (status = 403, description = "agreement_required")))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    SessionForEnrolment(auth): SessionForEnrolment,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let code = required(&mut errors, "code", &body.code).ok_or(ApiError::InvalidInput(errors))?;
    let codes = state.portal.confirm_totp(&auth, code, ctx).await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes.iter().map(|c| c.expose_grouped()).collect(),
    })
    .into_response())
}

#[utoipa::path(delete, path = "/api/v1/me/mfa/totp", request_body = TotpRemoveRequest,
    responses((status = 204, description = "removed, with the recovery codes"),
        (status = 401, description = "invalid_credentials, unauthenticated"), (status = 422, description = "invalid_code"),
        (status = 423, description = "account_locked"), (status = 409, description = "mfa_not_enrolled"),
        (status = 403, description = "agreement_required")))]
pub async fn remove_totp(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Session(auth): Session,
    ApiJson(body): ApiJson<TotpRemoveRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let current = current_password(&mut errors, &body.current_password);
    let code = required(&mut errors, "code", &body.code);
    let (Some(current), Some(code)) = (current, code) else {
        return Err(ApiError::InvalidInput(errors));
    };
    state
        .portal
        .remove_totp(&auth, &current?, code, ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/api/v1/sessions/mfa", request_body = MfaLoginRequest,
    responses((status = 201, body = SessionCreated, description = "logged in; the token is also set as the portal_session cookie"),
        (status = 401, description = "invalid_code: a wrong, used or expired code or passkey assertion, or an unknown, used or expired challenge"),
        (status = 423, description = "account_locked (with locked_until)"),
        (status = 403, description = "provider_inactive, account_disabled")))]
pub async fn finish_mfa_login(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(body): ApiJson<MfaLoginRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let challenge = required(&mut errors, "challenge_id", &body.challenge_id);
    // A code, or else a passkey's assertion.
    let assertion = body.credential.as_ref().map(serde_json::Value::to_string);
    let step = match (&body.code, &assertion) {
        (Some(_), Some(_)) => {
            errors.push("credential", "must not come with a code");
            None
        }
        (_, Some(assertion)) => Some(SecondStepText::Passkey(assertion)),
        (code, None) => required(&mut errors, "code", code).map(SecondStepText::Code),
    };
    let (Some(challenge), Some(step)) = (challenge, step) else {
        return Err(ApiError::InvalidInput(errors));
    };
    let result = run_mfa_login(&state, challenge, step, ctx).await?;
    let outcome = match &result {
        Ok(_) => "success",
        Err(e) => ApiError::from(e.clone()).code(),
    };
    state.metrics.login(outcome);
    if matches!(
        &result,
        Err(portal_domain::service::MfaLoginError::AccountLocked { .. })
    ) {
        state.metrics.lockout();
    }
    let session = result?;
    end_replaced_session(&state, &headers).await;
    Ok(session_created(&state, &session))
}

/// What a second step sent, as text: a code, or a passkey's assertion.
#[derive(Clone, Copy)]
pub(crate) enum SecondStepText<'a> {
    Code(&'a str),
    Passkey(&'a str),
}

/// Runs a second step on a task of its own, so that a client going away
/// does not leave its place in the lockout count unjudged.
pub(crate) async fn run_mfa_login(
    state: &AppState,
    challenge: &str,
    step: SecondStepText<'_>,
    ctx: portal_domain::service::RequestContext,
) -> Result<Result<portal_domain::service::LoggedIn, portal_domain::service::MfaLoginError>, ApiError>
{
    let portal = std::sync::Arc::clone(&state.portal);
    let challenge = secrecy::SecretString::from(challenge);
    let (passkey, text) = match step {
        SecondStepText::Code(code) => (false, secrecy::SecretString::from(code)),
        SecondStepText::Passkey(assertion) => (true, secrecy::SecretString::from(assertion)),
    };
    tokio::spawn(async move {
        use portal_domain::service::SecondStep;
        use secrecy::ExposeSecret as _;
        let step = if passkey {
            SecondStep::Passkey(text.expose_secret())
        } else {
            SecondStep::Code(text.expose_secret())
        };
        portal
            .finish_second_step(challenge.expose_secret(), step, ctx)
            .await
    })
    .await
    .map_err(|error| ApiError::Internal(format!("the second-step task failed: {error}")))
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn second_factor_bodies_never_print_their_secrets() {
        const SECRET: &str = "JBSWY3DPEHPK3PXP-secret";
        let texts = [
            format!(
                "{:?}",
                TotpEnrolled {
                    secret: SECRET.to_owned(),
                    otpauth_uri: SECRET.to_owned(),
                }
            ),
            format!(
                "{:?}",
                RecoveryCodes {
                    recovery_codes: vec![SECRET.to_owned()],
                }
            ),
            format!(
                "{:?}",
                MfaRequired {
                    status: "mfa_required".to_owned(),
                    challenge_id: SECRET.to_owned(),
                    methods: vec!["totp".to_owned()],
                    expires_at: "2026-12-06T12:00:00Z".to_owned(),
                }
            ),
        ];
        for text in texts {
            assert!(!text.contains(SECRET), "{text}");
        }
        let requests: [String; 3] = [
            format!(
                "{:?}",
                serde_json::from_value::<MfaLoginRequest>(
                    json!({"challenge_id": SECRET, "code": SECRET})
                )
                .unwrap()
            ),
            format!(
                "{:?}",
                serde_json::from_value::<TotpRemoveRequest>(
                    json!({"current_password": SECRET, "code": SECRET})
                )
                .unwrap()
            ),
            format!(
                "{:?}",
                serde_json::from_value::<CodeRequest>(json!({"code": SECRET})).unwrap()
            ),
        ];
        for text in requests {
            assert!(!text.contains(SECRET), "{text}");
        }
    }
}

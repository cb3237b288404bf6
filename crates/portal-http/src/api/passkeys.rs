//! Passkeys (SPEC §4a) under `/api/v1/me/passkeys`: registration (a
//! WebAuthn ceremony: options, then the browser's credential), the list,
//! renaming and removal; and the login's passkey options at
//! `/api/v1/sessions/mfa/passkey` (the assertion itself goes to
//! `POST /api/v1/sessions/mfa` as `credential`).
//!
//! Options and credentials travel as the JSON of the WebAuthn Level 2
//! structures, binary members in base64url (`static/passkeys.js` converts
//! them for `navigator.credentials`).

use portal_domain::passkey::{Passkey, PasskeyId, PasskeyName};

use super::*;
use crate::extract::SessionForEnrolment;

/// The current password, to start adding a passkey or to remove one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyPasswordRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    current_password: Option<String>,
}

crate::redact::debug_redacting!(PasskeyPasswordRequest {} redacting { current_password });

/// A started ceremony: the options for `navigator.credentials.create` (or
/// `.get`), and, for a registration, the id its finish names.
#[derive(Serialize, ToSchema)]
pub struct PasskeyOptions {
    /// For `POST /api/v1/me/passkeys`; single use, lives 5 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    ceremony_id: Option<String>,
    /// `{publicKey: PublicKeyCredentialCreationOptions}` (or
    /// `…RequestOptions`), binary members in base64url.
    #[schema(value_type = Object)]
    options: serde_json::Value,
    /// RFC 3339, UTC.
    expires_at: String,
}

crate::redact::debug_redacting!(PasskeyOptions { expires_at } redacting { ceremony_id, options });

/// The browser's new credential for a registration ceremony, and its name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegisterRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    ceremony_id: Option<String>,
    /// 1 to 64 characters, shown on the account page.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 64)]
    name: Option<String>,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, as
    /// JSON (`RegistrationResponseJSON`).
    #[schema(required = true, value_type = Object)]
    credential: Option<serde_json::Value>,
}

crate::redact::debug_redacting!(PasskeyRegisterRequest { name } redacting { ceremony_id, credential });

/// A new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRenameRequest {
    #[schema(required = true, value_type = String, min_length = 1, max_length = 64)]
    name: Option<String>,
}

/// A passkey as listed: never key material.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyItem {
    id: i64,
    name: String,
    /// RFC 3339, UTC.
    created_at: String,
    /// RFC 3339, UTC; `null` until its first login.
    last_used_at: Option<String>,
}

impl From<&Passkey> for PasskeyItem {
    fn from(p: &Passkey) -> Self {
        Self {
            id: p.id.get(),
            name: p.name.as_str().to_owned(),
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
        }
    }
}

/// The account's passkeys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyList {
    passkeys: Vec<PasskeyItem>,
}

/// The login challenge whose passkey options are asked for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    challenge_id: Option<String>,
}

crate::redact::debug_redacting!(PasskeyLoginRequest {} redacting { challenge_id });

fn options(
    started: &portal_domain::service::StartedPasskeyCeremony,
) -> Result<PasskeyOptions, ApiError> {
    Ok(PasskeyOptions {
        ceremony_id: started
            .ceremony_id
            .as_ref()
            .map(|id| id.expose().to_owned()),
        options: serde_json::from_str(&started.options)
            .map_err(|e| ApiError::Internal(format!("passkey options: {e}")))?,
        expires_at: rfc3339(started.expires_at),
    })
}

/// A passkey's name member.
pub(crate) fn passkey_name(
    errors: &mut InvalidInput,
    value: &Option<String>,
) -> Option<PasskeyName> {
    match value.as_deref().map(PasskeyName::parse) {
        Some(Ok(name)) => Some(name),
        Some(Err(e)) => {
            errors.push("name", e);
            None
        }
        None => {
            errors.push("name", "is required");
            None
        }
    }
}

/// A passkey id in a path: one that is no number names no passkey.
pub(crate) fn passkey_id(raw: &str) -> Result<PasskeyId, ApiError> {
    raw.parse()
        .map(PasskeyId::new)
        .map_err(|_| ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/me/passkeys",
    responses((status = 200, body = PasskeyList, description = "the account's passkeys, oldest first"),
        (status = 401, description = "unauthenticated"), (status = 403, description = "agreement_required")))]
pub async fn list_passkeys(
    State(state): State<AppState>,
    SessionForEnrolment(auth): SessionForEnrolment,
) -> ApiResult {
    let passkeys = state.portal.passkeys(&auth).await?;
    Ok(Json(PasskeyList {
        passkeys: passkeys.iter().map(PasskeyItem::from).collect(),
    })
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/me/passkeys/registrations", request_body = PasskeyPasswordRequest,
    responses((status = 201, body = PasskeyOptions, description = "the creation options and the ceremony's id"),
        (status = 401, description = "invalid_credentials, unauthenticated"), (status = 423, description = "account_locked"),
        (status = 409, description = "passkeys_unavailable (PORTAL_PUBLIC_URL's host is an IP address), passkey_limit"),
        (status = 403, description = "agreement_required")))]
pub async fn start_passkey_registration(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    SessionForEnrolment(auth): SessionForEnrolment,
    ApiJson(body): ApiJson<PasskeyPasswordRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let current = super::mfa::current_password(&mut errors, &body.current_password)
        .ok_or(ApiError::InvalidInput(errors))??;
    let started = state
        .portal
        .start_passkey_registration(&auth, &current, ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(options(&started)?)).into_response())
}

#[utoipa::path(post, path = "/api/v1/me/passkeys", request_body = PasskeyRegisterRequest,
    responses((status = 201, body = PasskeyItem, description = "registered"),
        (status = 422, description = "invalid_passkey: an unknown, used, expired or another account's ceremony, or a credential that does not verify"),
        (status = 409, description = "passkeys_unavailable"),
        (status = 401, description = "unauthenticated"), (status = 403, description = "agreement_required")))]
pub async fn finish_passkey_registration(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    SessionForEnrolment(auth): SessionForEnrolment,
    ApiJson(body): ApiJson<PasskeyRegisterRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let ceremony = required(&mut errors, "ceremony_id", &body.ceremony_id);
    let name = passkey_name(&mut errors, &body.name);
    if body.credential.is_none() {
        errors.push("credential", "is required");
    }
    let (Some(ceremony), Some(name), Some(credential)) = (ceremony, name, &body.credential) else {
        return Err(ApiError::InvalidInput(errors));
    };
    let id = state
        .portal
        .finish_passkey_registration(&auth, ceremony, &name, &credential.to_string(), ctx)
        .await?;
    let passkeys = state.portal.passkeys(&auth).await?;
    let item = passkeys
        .iter()
        .find(|p| p.id == id)
        .map(PasskeyItem::from)
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

#[utoipa::path(patch, path = "/api/v1/me/passkeys/{id}", request_body = PasskeyRenameRequest,
    params(("id" = i64, Path, description = "the passkey's id, from the list")),
    responses((status = 204, description = "renamed"), (status = 404, description = "not_found: no such passkey of this account"),
        (status = 401, description = "unauthenticated"), (status = 403, description = "agreement_required")))]
pub async fn rename_passkey(
    State(state): State<AppState>,
    SessionForEnrolment(auth): SessionForEnrolment,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasskeyRenameRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let name = passkey_name(&mut errors, &body.name).ok_or(ApiError::InvalidInput(errors))?;
    state
        .portal
        .rename_passkey(&auth, passkey_id(&id)?, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(delete, path = "/api/v1/me/passkeys/{id}", request_body = PasskeyPasswordRequest,
    params(("id" = i64, Path, description = "the passkey's id, from the list")),
    responses((status = 204, description = "removed"), (status = 404, description = "not_found: no such passkey of this account"),
        (status = 401, description = "invalid_credentials, unauthenticated"), (status = 423, description = "account_locked"),
        (status = 403, description = "agreement_required")))]
pub async fn remove_passkey(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    SessionForEnrolment(auth): SessionForEnrolment,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasskeyPasswordRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let current = super::mfa::current_password(&mut errors, &body.current_password)
        .ok_or(ApiError::InvalidInput(errors))??;
    state
        .portal
        .remove_passkey(&auth, passkey_id(&id)?, &current, ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/api/v1/sessions/mfa/passkey", request_body = PasskeyLoginRequest,
    responses((status = 200, body = PasskeyOptions, description = "the request options for the challenge's account's passkeys; send the assertion to POST /api/v1/sessions/mfa as credential"),
        (status = 401, description = "invalid_code: an unknown, used or expired challenge, or an account without passkeys"),
        (status = 409, description = "passkeys_unavailable, passkey_limit")))]
pub async fn start_passkey_login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PasskeyLoginRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let challenge = required(&mut errors, "challenge_id", &body.challenge_id)
        .ok_or(ApiError::InvalidInput(errors))?;
    let started = state.portal.start_passkey_login(challenge).await?;
    Ok(Json(options(&started)?).into_response())
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn passkey_bodies_never_print_their_secrets() {
        const SECRET: &str = "ceremony-or-password-secret";
        let texts = [
            format!(
                "{:?}",
                serde_json::from_value::<PasskeyPasswordRequest>(
                    json!({"current_password": SECRET})
                )
                .unwrap()
            ),
            format!(
                "{:?}",
                serde_json::from_value::<PasskeyRegisterRequest>(
                    json!({"ceremony_id": SECRET, "name": "Laptop", "credential": {"id": SECRET}})
                )
                .unwrap()
            ),
            format!(
                "{:?}",
                serde_json::from_value::<PasskeyLoginRequest>(json!({"challenge_id": SECRET}))
                    .unwrap()
            ),
            format!(
                "{:?}",
                PasskeyOptions {
                    ceremony_id: Some(SECRET.to_owned()),
                    options: json!({"challenge": SECRET}),
                    expires_at: "2026-12-07T12:00:00Z".to_owned(),
                }
            ),
        ];
        for text in texts {
            assert!(!text.contains(SECRET), "{text}");
        }
    }
}

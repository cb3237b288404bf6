//! The JSON API under `/api/v1` (SPEC §8). Handlers only translate: they
//! parse the raw body into domain values (collecting every invalid member),
//! call one use case, and map its answer. One file per group of routes;
//! what several groups share is here.
//!
//! Request members are `Option`s so that one `422 invalid_input` can list
//! every missing one; the OpenAPI document still marks the members the API
//! requires as required strings (`#[schema(required = true, ...)]`).

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

/// Parses a required password member, recording its error.
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

/// The answer of requests that never tell whether the username exists.
fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response()
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

/// A flow's state after a step (registration) or activation.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowState {
    state: String,
}

mod account;
mod activation;
mod documents;
mod mfa;
mod passkeys;
mod registration;
mod reset;
mod sessions;
mod settings;
pub(crate) use sessions::{end_replaced_session, refuse_overloaded, run_login, session_created};

pub use account::*;
pub use activation::*;
pub use documents::*;
pub use mfa::*;
pub use passkeys::*;
pub use registration::*;
pub use reset::*;
pub use sessions::*;
pub use settings::*;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod redaction_tests {
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::*;

    const SECRET: &str = "Hunter2-Secret-Value-77";

    /// `body` read as `T`, printed with `{:?}`: the secret must not show.
    fn printed<T: DeserializeOwned + std::fmt::Debug>(body: Value) -> String {
        let value: T = serde_json::from_value(body).unwrap();
        format!("{value:?}")
    }

    #[test]
    fn request_types_never_print_passwords_answers_or_tokens() {
        let texts = [
            printed::<LoginRequest>(json!({"username": "dr.doe", "password": SECRET})),
            printed::<PasswordChangeRequest>(
                json!({"current_password": SECRET, "new_password": SECRET}),
            ),
            printed::<TokenRequest>(json!({"token": SECRET})),
            printed::<ResetConfirmRequest>(json!({"token": SECRET, "new_password": SECRET})),
            printed::<AccountRequest>(json!({
                "username": "dr.doe",
                "password": SECRET,
                "email": "frontdesk@example.org",
                "security_question_id": 1,
                "security_answer": SECRET,
            })),
        ];
        for text in texts {
            assert!(!text.contains(SECRET), "{text}");
            assert!(text.contains("[REDACTED]"), "{text}");
        }
        // What is no secret still prints.
        let login = printed::<LoginRequest>(json!({"username": "dr.doe", "password": SECRET}));
        assert!(login.contains("dr.doe"), "{login}");
    }
}

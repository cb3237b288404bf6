//! The one error-to-response mapping (SPEC §8): every error becomes an
//! RFC 9457 `application/problem+json` body with `type`, `title`,
//! `status`, `detail`, `code` and `request_id`, plus the members some codes
//! add. The match over domain errors is exhaustive: a new error cannot
//! slip through as an accidental 500.

mod from_domain;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_domain::codes::ErrorCode;
use portal_domain::password_policy::PolicyViolations;
use portal_domain::service::{HelpLine, InvalidInput};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An error answer. Built by handlers; completed with the request id by
/// the request-id middleware.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    MalformedRequest(String),
    UnsupportedMediaType,
    BodyTooLarge,
    InvalidInput(InvalidInput),
    Unauthenticated,
    NotFound,
    MethodNotAllowed,
    RateLimited {
        retry_after_seconds: u64,
    },
    Overloaded {
        retry_after_seconds: u64,
    },
    /// Logged with the request id; the client sees only "internal".
    Internal(String),
    ProviderNotFound {
        help_lines: Vec<HelpLine>,
    },
    ProviderMismatch,
    WrongProviderType,
    AlreadyRegistered {
        pending_activation: bool,
    },
    ProofingLimited {
        retry_after_seconds: u64,
    },
    AgreementNotAccepted,
    AgreementRequired,
    InvalidTransition,
    RegistrationExpired,
    PasswordPolicy(PolicyViolations),
    UsernameTaken,
    InvalidToken,
    InvalidCredentials,
    AccountNotActivated,
    ProviderInactive,
    AccountDisabled,
    AccountLocked {
        locked_until: OffsetDateTime,
    },
    CsrfRejected,
    /// A wrong, used or expired code where the account confirms or
    /// removes a factor (`422`).
    InvalidCode,
    /// A login's second step refused: a wrong, used or expired code, or an
    /// unknown challenge (`401`).
    InvalidLoginCode,
    MfaAlreadyEnrolled,
    MfaNotEnrolled,
    MfaEnrolmentRequired,
    /// `PORTAL_PUBLIC_URL`'s host is an IP address: no WebAuthn relying
    /// party (`409`).
    PasskeysUnavailable,
    /// An unknown, used, expired or another account's passkey ceremony, or
    /// a credential the WebAuthn library refused (`422`).
    InvalidPasskey,
    /// Too many passkeys, or passkey ceremonies under way (`409`).
    PasskeyLimit,
}

/// The problem body waiting for its request id, carried as a response
/// extension from [`ApiError::into_response`] to the middleware.
#[derive(Debug, Clone)]
pub struct PendingProblem {
    pub body: Value,
    /// The real cause of a 5xx, for the log only.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedRequest(_) | Self::InvalidToken => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidInput(_)
            | Self::ProviderMismatch
            | Self::WrongProviderType
            | Self::AgreementNotAccepted
            | Self::InvalidCode
            | Self::InvalidPasskey
            | Self::PasswordPolicy(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated | Self::InvalidCredentials | Self::InvalidLoginCode => {
                StatusCode::UNAUTHORIZED
            }
            Self::NotFound | Self::ProviderNotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } | Self::ProofingLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::AlreadyRegistered { .. }
            | Self::InvalidTransition
            | Self::UsernameTaken
            | Self::MfaAlreadyEnrolled
            | Self::MfaNotEnrolled
            | Self::PasskeysUnavailable
            | Self::PasskeyLimit => StatusCode::CONFLICT,
            Self::RegistrationExpired => StatusCode::GONE,
            Self::AgreementRequired
            | Self::MfaEnrolmentRequired
            | Self::AccountNotActivated
            | Self::ProviderInactive
            | Self::AccountDisabled
            | Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::AccountLocked { .. } => StatusCode::LOCKED,
        }
    }

    /// The answer's `code`: its wire text is [`ErrorCode::as_str`], so no
    /// code is spelled twice.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The answer's code. A use-case error is answered with the code it
    /// names itself (`LoginError::code`, …), as the test below holds.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::MalformedRequest(_) => ErrorCode::MalformedRequest,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::BodyTooLarge => ErrorCode::BodyTooLarge,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Overloaded { .. } => ErrorCode::Overloaded,
            Self::Internal(_) => ErrorCode::Internal,
            Self::ProviderNotFound { .. } => ErrorCode::ProviderNotFound,
            Self::ProviderMismatch => ErrorCode::ProviderMismatch,
            Self::WrongProviderType => ErrorCode::WrongProviderType,
            Self::AlreadyRegistered { .. } => ErrorCode::AlreadyRegistered,
            Self::ProofingLimited { .. } => ErrorCode::ProofingLimited,
            Self::AgreementNotAccepted => ErrorCode::AgreementNotAccepted,
            Self::AgreementRequired => ErrorCode::AgreementRequired,
            Self::InvalidTransition => ErrorCode::InvalidTransition,
            Self::RegistrationExpired => ErrorCode::RegistrationExpired,
            Self::PasswordPolicy(_) => ErrorCode::PasswordPolicy,
            Self::UsernameTaken => ErrorCode::UsernameTaken,
            Self::InvalidToken => ErrorCode::InvalidToken,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountNotActivated => ErrorCode::AccountNotActivated,
            Self::ProviderInactive => ErrorCode::ProviderInactive,
            Self::AccountDisabled => ErrorCode::AccountDisabled,
            Self::AccountLocked { .. } => ErrorCode::AccountLocked,
            Self::CsrfRejected => ErrorCode::CsrfRejected,
            Self::InvalidCode | Self::InvalidLoginCode => ErrorCode::InvalidCode,
            Self::MfaAlreadyEnrolled => ErrorCode::MfaAlreadyEnrolled,
            Self::MfaNotEnrolled => ErrorCode::MfaNotEnrolled,
            Self::MfaEnrolmentRequired => ErrorCode::MfaEnrolmentRequired,
            Self::PasskeysUnavailable => ErrorCode::PasskeysUnavailable,
            Self::InvalidPasskey => ErrorCode::InvalidPasskey,
            Self::PasskeyLimit => ErrorCode::PasskeyLimit,
        }
    }

    /// What a person reads. For 5xx it is generic on purpose.
    pub fn detail(&self) -> String {
        match self {
            Self::MalformedRequest(why) => format!("The request body is not valid: {why}"),
            Self::UnsupportedMediaType => "Send the request body as application/json.".to_owned(),
            Self::BodyTooLarge => "The request body is larger than 16 KiB.".to_owned(),
            Self::InvalidInput(_) => "Some fields are missing or invalid.".to_owned(),
            Self::Unauthenticated => "Log in to continue.".to_owned(),
            Self::NotFound => "Nothing is here.".to_owned(),
            Self::MethodNotAllowed => "This method is not allowed here.".to_owned(),
            Self::RateLimited { .. } => "Too many requests from your address. Try again shortly.".to_owned(),
            Self::Overloaded { .. } => "The service is busy. Try again in a moment.".to_owned(),
            Self::Internal(_) => "Something went wrong on our side.".to_owned(),
            Self::ProviderNotFound { help_lines } => {
                let lines: Vec<String> = help_lines.iter().map(|l| format!("{} ({})", l.phone, l.label)).collect();
                format!(
                    "The provider does not exist in Provider Portal. This may occur if the provider is not yet entered \
                     into our system with the Tax ID or Provider Number you provided. Call {}.",
                    lines.join(" or ")
                )
            }
            Self::ProviderMismatch => {
                "The details must match exactly as listed on your Explanation of Benefit (EOB) or welcome letter."
                    .to_owned()
            }
            Self::WrongProviderType => "This practitioner is paid under a Group Payee ID. Register as a Group with the \
                                        group's details, as shown on your welcome letter."
                .to_owned(),
            Self::AlreadyRegistered { pending_activation: true } => "This provider is already registered. Go to the \
                 Provider Login page and log in, or ask for a new activation email."
                .to_owned(),
            Self::AlreadyRegistered { pending_activation: false } => {
                "This provider is already registered. Go to the Provider Login page and log in.".to_owned()
            }
            Self::ProofingLimited { .. } => {
                "Too many attempts that did not match this provider. Try again later.".to_owned()
            }
            Self::AgreementNotAccepted => "You must accept the current Provider Agreement.".to_owned(),
            Self::AgreementRequired => "Accept the current Provider Agreement to continue.".to_owned(),
            Self::InvalidTransition => "This step is not allowed now.".to_owned(),
            Self::RegistrationExpired => "This registration has expired. Please start again.".to_owned(),
            Self::PasswordPolicy(_) => "The password does not meet the password rules.".to_owned(),
            Self::UsernameTaken => "This username is taken. Choose another.".to_owned(),
            Self::InvalidToken => "This link is invalid, used or expired. Ask for a new one.".to_owned(),
            Self::InvalidCredentials => "The username or password is incorrect.".to_owned(),
            Self::AccountNotActivated => {
                "This account is not activated yet. Use the link in your activation email, or ask for a new one."
                    .to_owned()
            }
            Self::ProviderInactive => "This provider is no longer active in Provider Portal.".to_owned(),
            Self::AccountDisabled => "This account is disabled. Contact support.".to_owned(),
            Self::AccountLocked { .. } => "Your account is locked after too many failed logins. Use Forgot password? \
                 to reset your password, or wait 24 hours."
                .to_owned(),
            Self::CsrfRejected => "This request did not come from the portal's own pages.".to_owned(),
            Self::InvalidCode | Self::InvalidLoginCode => {
                "The code is wrong, already used or expired. Enter the current code from your authenticator app, \
                 or an unused recovery code."
                    .to_owned()
            }
            Self::MfaAlreadyEnrolled => "This account already has an authenticator app.".to_owned(),
            Self::MfaNotEnrolled => "This account has no authenticator app.".to_owned(),
            Self::MfaEnrolmentRequired => {
                "Set up an authenticator app for this account to continue.".to_owned()
            }
            Self::PasskeysUnavailable => {
                "Passkeys are not available on this portal's address.".to_owned()
            }
            Self::InvalidPasskey => {
                "The passkey could not be verified, or its request expired. Please try again."
                    .to_owned()
            }
            Self::PasskeyLimit => {
                "Too many passkeys, or passkey requests under way. Please wait a few minutes."
                    .to_owned()
            }
        }
    }

    fn title(&self) -> &'static str {
        self.status().canonical_reason().unwrap_or("Error")
    }

    /// The RFC 9457 body, without `request_id` (the middleware adds it).
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("/problems/{}", self.code()),
            "title": self.title(),
            "status": self.status().as_u16(),
            "detail": self.detail(),
            "code": self.code(),
        });
        let extra = match self {
            Self::InvalidInput(InvalidInput(errors)) => {
                json!({ "errors": errors.iter().map(|e| json!({"field": e.field, "message": e.message})).collect::<Vec<_>>() })
            }
            Self::PasswordPolicy(violations) => {
                json!({ "violations": violations_json(violations) })
            }
            Self::ProviderNotFound { help_lines } => json!({
                "help_lines": help_lines.iter().map(|l| json!({"label": l.label, "phone": l.phone})).collect::<Vec<_>>()
            }),
            Self::AccountLocked { locked_until } => {
                json!({ "locked_until": rfc3339(*locked_until) })
            }
            Self::AlreadyRegistered { pending_activation } => {
                json!({ "resend_available": pending_activation })
            }
            _ => json!({}),
        };
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        body
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_seconds,
            }
            | Self::Overloaded {
                retry_after_seconds,
            }
            | Self::ProofingLimited {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

/// `violations: [{code, message}]`, shared with the HTML pages.
pub fn violations_json(violations: &PolicyViolations) -> Vec<Value> {
    violations
        .as_slice()
        .iter()
        .map(|v| json!({"code": v.code(), "message": v.to_string()}))
        .collect()
}

/// RFC 3339 in UTC, as every time in an answer.
pub fn rfc3339(time: OffsetDateTime) -> String {
    time.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after()
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        let cause = match &self {
            Self::Internal(cause) => Some(cause.clone()),
            _ => None,
        };
        response.extensions_mut().insert(PendingProblem {
            body: self.body(),
            cause,
        });
        response
    }
}

/// Whether a request's `Accept` prefers HTML to JSON: a browser's
/// navigation (`text/html,…,*/*;q=0.8`) does; an API client's
/// `application/json`, `application/problem+json`, `*/*` or no `Accept` at
/// all does not. Each side takes the q of its most specific matching range
/// (exact type, then `type/*`, then `*/*`); a tie goes to JSON, the API's
/// contract.
pub fn prefers_html(headers: &axum::http::HeaderMap) -> bool {
    let ranges: Vec<(String, f32)> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!media.is_empty()).then_some((media, q))
        })
        .collect();
    let quality = |exact: &[&str], family: &str| -> f32 {
        let most_specific = |matches: &dyn Fn(&str) -> bool| {
            ranges
                .iter()
                .filter(|(media, _)| matches(media))
                .map(|(_, q)| *q)
                .reduce(f32::max)
        };
        most_specific(&|m| exact.contains(&m))
            .or_else(|| most_specific(&|m| m == family))
            .or_else(|| most_specific(&|m| m == "*/*"))
            .unwrap_or(0.0)
    };
    let html = quality(&["text/html", "application/xhtml+xml"], "text/*");
    let json = quality(
        &["application/json", "application/problem+json"],
        "application/*",
    );
    html > 0.0 && html > json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_html_and_api_clients_json() {
        let accept = |value: &str| {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
            prefers_html(&headers)
        };
        // Chromium and Firefox navigating to a page.
        assert!(accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
        ));
        assert!(accept("text/html"));
        assert!(accept("text/*, application/json;q=0.5"));
        // curl, fetch(), API clients, schemathesis.
        assert!(!accept("*/*"));
        assert!(!accept("application/json"));
        assert!(!accept("application/problem+json, text/html;q=0.5"));
        assert!(!accept("text/html;q=0, */*"));
        assert!(!accept("text/html;q=0.5, application/json;q=0.5"));
        assert!(!prefers_html(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn five_hundreds_say_nothing_else() {
        let body = ApiError::Internal("connection string postgres://secret@db".to_owned()).body();
        assert_eq!(body["code"], "internal");
        assert!(!body.to_string().contains("secret"));
        assert_eq!(body["status"], 500);
    }

    #[test]
    fn locked_carries_its_end_in_rfc3339_utc() {
        let until = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        let body = ApiError::AccountLocked {
            locked_until: until,
        }
        .body();
        assert_eq!(body["locked_until"], "2026-01-02T03:04:05Z");
        assert_eq!(
            ApiError::AccountLocked {
                locked_until: until
            }
            .status(),
            StatusCode::LOCKED
        );
    }
}

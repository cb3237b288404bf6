//! The error codes of SPEC §8, written once: the `code` member of every
//! problem answer and the outcome an audit event records for a refusal.
//!
//! Each use-case error names its code (`LoginError::code`, …), and the
//! HTTP edge's one error-to-response mapping answers with the same value,
//! so the wire text is spelled here and nowhere else. A few codes are only
//! ever answered by the edge (a malformed body, a CSRF refusal, the rate
//! limit): they belong to the same vocabulary and are listed here too.

use std::fmt;

/// A problem answer's `code` (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // --- answered by the edge alone ---
    MalformedRequest,
    UnsupportedMediaType,
    BodyTooLarge,
    MethodNotAllowed,
    RateLimited,
    Overloaded,
    AgreementRequired,
    MfaEnrolmentRequired,
    CsrfRejected,
    // --- answered for a use case's error ---
    InvalidInput,
    Unauthenticated,
    NotFound,
    Internal,
    ProviderNotFound,
    ProviderMismatch,
    WrongProviderType,
    AlreadyRegistered,
    ProofingLimited,
    AgreementNotAccepted,
    InvalidTransition,
    RegistrationExpired,
    PasswordPolicy,
    UsernameTaken,
    InvalidToken,
    InvalidCredentials,
    AccountNotActivated,
    ProviderInactive,
    AccountDisabled,
    AccountLocked,
    InvalidCode,
    MfaAlreadyEnrolled,
    MfaNotEnrolled,
    PasskeysUnavailable,
    InvalidPasskey,
    PasskeyLimit,
    // --- no refusal ---
    /// `202 {status: "mfa_required"}`: a right password whose login needs
    /// its second step (SPEC §4a); recorded as a login's outcome.
    MfaRequired,
}

impl ErrorCode {
    pub const ALL: [Self; 36] = [
        Self::MalformedRequest,
        Self::UnsupportedMediaType,
        Self::BodyTooLarge,
        Self::MethodNotAllowed,
        Self::RateLimited,
        Self::Overloaded,
        Self::AgreementRequired,
        Self::MfaEnrolmentRequired,
        Self::CsrfRejected,
        Self::InvalidInput,
        Self::Unauthenticated,
        Self::NotFound,
        Self::Internal,
        Self::ProviderNotFound,
        Self::ProviderMismatch,
        Self::WrongProviderType,
        Self::AlreadyRegistered,
        Self::ProofingLimited,
        Self::AgreementNotAccepted,
        Self::InvalidTransition,
        Self::RegistrationExpired,
        Self::PasswordPolicy,
        Self::UsernameTaken,
        Self::InvalidToken,
        Self::InvalidCredentials,
        Self::AccountNotActivated,
        Self::ProviderInactive,
        Self::AccountDisabled,
        Self::AccountLocked,
        Self::InvalidCode,
        Self::MfaAlreadyEnrolled,
        Self::MfaNotEnrolled,
        Self::PasskeysUnavailable,
        Self::InvalidPasskey,
        Self::PasskeyLimit,
        Self::MfaRequired,
    ];

    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed_request",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BodyTooLarge => "body_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::AgreementRequired => "agreement_required",
            Self::MfaEnrolmentRequired => "mfa_enrolment_required",
            Self::CsrfRejected => "csrf_rejected",
            Self::InvalidInput => "invalid_input",
            Self::Unauthenticated => "unauthenticated",
            Self::NotFound => "not_found",
            Self::Internal => "internal",
            Self::ProviderNotFound => "provider_not_found",
            Self::ProviderMismatch => "provider_mismatch",
            Self::WrongProviderType => "wrong_provider_type",
            Self::AlreadyRegistered => "already_registered",
            Self::ProofingLimited => "proofing_limited",
            Self::AgreementNotAccepted => "agreement_not_accepted",
            Self::InvalidTransition => "invalid_transition",
            Self::RegistrationExpired => "registration_expired",
            Self::PasswordPolicy => "password_policy",
            Self::UsernameTaken => "username_taken",
            Self::InvalidToken => "invalid_token",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountNotActivated => "account_not_activated",
            Self::ProviderInactive => "provider_inactive",
            Self::AccountDisabled => "account_disabled",
            Self::AccountLocked => "account_locked",
            Self::InvalidCode => "invalid_code",
            Self::MfaAlreadyEnrolled => "mfa_already_enrolled",
            Self::MfaNotEnrolled => "mfa_not_enrolled",
            Self::PasskeysUnavailable => "passkeys_unavailable",
            Self::InvalidPasskey => "invalid_passkey",
            Self::PasskeyLimit => "passkey_limit",
            Self::MfaRequired => "mfa_required",
        }
    }

    /// The code with this wire text, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == text)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
        assert_eq!(ErrorCode::parse("success"), None);
    }
}

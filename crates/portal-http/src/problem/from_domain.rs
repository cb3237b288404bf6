//! The domain's errors as [`ApiError`]s: one exhaustive `From` per use
//! case's error, so a new variant cannot slip through as an accidental 500.

use portal_domain::ports::{HashError, StoreError};
use portal_domain::service::{
    ActivationError, AgreementStepError, AuthError, CreateAccountStepError, EmailChangeError,
    EmailConfirmError, Fault, LoginError, MfaLoginError, PasskeyError, PasswordChangeError,
    ResetConfirmError, SecondFactorError, SecurityQuestionChangeError, StartError,
};

use super::ApiError;

fn seconds(duration: time::Duration) -> u64 {
    u64::try_from(duration.whole_seconds()).unwrap_or(0).max(1)
}

impl From<Fault> for ApiError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Hash(HashError::Overloaded { retry_after }) => Self::Overloaded {
                retry_after_seconds: seconds(retry_after).min(5),
            },
            // The database is down or slow, or kept aborting a transaction
            // under contention after its retries: a short, retryable 503.
            Fault::Store(StoreError::Unavailable(cause) | StoreError::Contention(cause)) => {
                tracing::warn!(%cause, "store unavailable");
                Self::Overloaded {
                    retry_after_seconds: 2,
                }
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::ProofingLimited { retry_after } => Self::ProofingLimited {
                retry_after_seconds: seconds(retry_after),
            },
            StartError::ProviderNotFound { help_lines } => Self::ProviderNotFound { help_lines },
            StartError::ProviderMismatch => Self::ProviderMismatch,
            StartError::WrongProviderType => Self::WrongProviderType,
            StartError::AlreadyRegistered { pending_activation } => {
                Self::AlreadyRegistered { pending_activation }
            }
            StartError::Fault(f) => f.into(),
        }
    }
}

impl From<AgreementStepError> for ApiError {
    fn from(e: AgreementStepError) -> Self {
        match e {
            AgreementStepError::NotFound => Self::NotFound,
            AgreementStepError::Expired => Self::RegistrationExpired,
            AgreementStepError::InvalidTransition => Self::InvalidTransition,
            AgreementStepError::InvalidInput(errors) => Self::InvalidInput(errors),
            AgreementStepError::AgreementNotAccepted => Self::AgreementNotAccepted,
            AgreementStepError::Fault(f) => f.into(),
        }
    }
}

impl From<CreateAccountStepError> for ApiError {
    fn from(e: CreateAccountStepError) -> Self {
        match e {
            CreateAccountStepError::NotFound => Self::NotFound,
            CreateAccountStepError::Expired => Self::RegistrationExpired,
            // A second submission of a step that already created its account.
            CreateAccountStepError::InvalidTransition | CreateAccountStepError::AlreadyCreated => {
                Self::InvalidTransition
            }
            CreateAccountStepError::InvalidInput(errors) => Self::InvalidInput(errors),
            CreateAccountStepError::PasswordPolicy(v) => Self::PasswordPolicy(v),
            CreateAccountStepError::UsernameTaken => Self::UsernameTaken,
            CreateAccountStepError::AlreadyRegistered { pending_activation } => {
                Self::AlreadyRegistered { pending_activation }
            }
            CreateAccountStepError::Fault(f) => f.into(),
        }
    }
}

impl From<ActivationError> for ApiError {
    fn from(e: ActivationError) -> Self {
        match e {
            ActivationError::InvalidToken => Self::InvalidToken,
            ActivationError::Fault(f) => f.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::AccountLocked { locked_until } => Self::AccountLocked { locked_until },
            LoginError::AccountNotActivated => Self::AccountNotActivated,
            LoginError::AccountDisabled => Self::AccountDisabled,
            LoginError::ProviderInactive => Self::ProviderInactive,
            // Not a refusal: the handlers answer it `202` before any mapping.
            LoginError::SecondStepRequired(_) => {
                Self::Internal("a second step was answered as a refusal".to_owned())
            }
            LoginError::Fault(f) => f.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => Self::Unauthenticated,
            AuthError::AgreementNotAccepted => Self::AgreementNotAccepted,
            AuthError::Fault(f) => f.into(),
        }
    }
}

impl From<PasswordChangeError> for ApiError {
    fn from(e: PasswordChangeError) -> Self {
        match e {
            PasswordChangeError::InvalidCredentials => Self::InvalidCredentials,
            PasswordChangeError::AccountLocked { locked_until } => {
                Self::AccountLocked { locked_until }
            }
            PasswordChangeError::PasswordPolicy(v) => Self::PasswordPolicy(v),
            PasswordChangeError::Fault(f) => f.into(),
        }
    }
}

impl From<SecondFactorError> for ApiError {
    fn from(e: SecondFactorError) -> Self {
        match e {
            SecondFactorError::InvalidCredentials => Self::InvalidCredentials,
            SecondFactorError::AccountLocked { locked_until } => {
                Self::AccountLocked { locked_until }
            }
            SecondFactorError::AlreadyEnrolled => Self::MfaAlreadyEnrolled,
            SecondFactorError::NotEnrolled => Self::MfaNotEnrolled,
            SecondFactorError::InvalidCode => Self::InvalidCode,
            SecondFactorError::Fault(f) => f.into(),
        }
    }
}

impl From<MfaLoginError> for ApiError {
    fn from(e: MfaLoginError) -> Self {
        match e {
            MfaLoginError::InvalidCode => Self::InvalidLoginCode,
            MfaLoginError::AccountLocked { locked_until } => Self::AccountLocked { locked_until },
            MfaLoginError::AccountDisabled => Self::AccountDisabled,
            MfaLoginError::ProviderInactive => Self::ProviderInactive,
            MfaLoginError::PasskeysUnavailable => Self::PasskeysUnavailable,
            MfaLoginError::PasskeyLimit => Self::PasskeyLimit,
            MfaLoginError::Fault(f) => f.into(),
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> Self {
        match e {
            PasskeyError::Unavailable => Self::PasskeysUnavailable,
            PasskeyError::InvalidCredentials => Self::InvalidCredentials,
            PasskeyError::AccountLocked { locked_until } => Self::AccountLocked { locked_until },
            PasskeyError::InvalidPasskey => Self::InvalidPasskey,
            PasskeyError::Limit => Self::PasskeyLimit,
            PasskeyError::NotFound => Self::NotFound,
            PasskeyError::Fault(f) => f.into(),
        }
    }
}

impl From<ResetConfirmError> for ApiError {
    fn from(e: ResetConfirmError) -> Self {
        match e {
            ResetConfirmError::InvalidToken => Self::InvalidToken,
            ResetConfirmError::PasswordPolicy(v) => Self::PasswordPolicy(v),
            ResetConfirmError::Fault(f) => f.into(),
        }
    }
}

impl From<EmailChangeError> for ApiError {
    fn from(e: EmailChangeError) -> Self {
        match e {
            EmailChangeError::InvalidInput(errors) => Self::InvalidInput(errors),
            EmailChangeError::InvalidCredentials => Self::InvalidCredentials,
            EmailChangeError::AccountLocked { locked_until } => {
                Self::AccountLocked { locked_until }
            }
            EmailChangeError::Fault(f) => f.into(),
        }
    }
}

impl From<EmailConfirmError> for ApiError {
    fn from(e: EmailConfirmError) -> Self {
        match e {
            EmailConfirmError::InvalidToken => Self::InvalidToken,
            EmailConfirmError::Fault(f) => f.into(),
        }
    }
}

impl From<SecurityQuestionChangeError> for ApiError {
    fn from(e: SecurityQuestionChangeError) -> Self {
        match e {
            SecurityQuestionChangeError::InvalidInput(errors) => Self::InvalidInput(errors),
            SecurityQuestionChangeError::InvalidCredentials => Self::InvalidCredentials,
            SecurityQuestionChangeError::AccountLocked { locked_until } => {
                Self::AccountLocked { locked_until }
            }
            SecurityQuestionChangeError::Fault(f) => f.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use portal_domain::codes::ErrorCode;
    use portal_domain::password_policy::PolicyViolations;
    use portal_domain::service::InvalidInput;

    use super::*;

    /// Every use-case error, but its faults (which the edge may answer
    /// `overloaded`), is answered with the code the domain audits it with.
    #[test]
    fn domain_errors_are_answered_with_their_own_codes() {
        let until = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        let policy = PolicyViolations::from_vec(vec![
            portal_domain::password_policy::PasswordViolation::Reused,
        ])
        .unwrap();
        let mut answered: Vec<(ErrorCode, ApiError)> = Vec::new();
        for e in [
            StartError::ProofingLimited {
                retry_after: time::Duration::seconds(5),
            },
            StartError::ProviderNotFound { help_lines: vec![] },
            StartError::ProviderMismatch,
            StartError::WrongProviderType,
            StartError::AlreadyRegistered {
                pending_activation: true,
            },
        ] {
            answered.push((e.code(), e.into()));
        }
        for e in [
            AgreementStepError::NotFound,
            AgreementStepError::Expired,
            AgreementStepError::InvalidTransition,
            AgreementStepError::InvalidInput(InvalidInput::single("version", "is required")),
            AgreementStepError::AgreementNotAccepted,
        ] {
            answered.push((e.code(), e.into()));
        }
        for e in [
            CreateAccountStepError::NotFound,
            CreateAccountStepError::Expired,
            CreateAccountStepError::InvalidTransition,
            CreateAccountStepError::AlreadyCreated,
            CreateAccountStepError::InvalidInput(InvalidInput::single("username", "is required")),
            CreateAccountStepError::PasswordPolicy(policy.clone()),
            CreateAccountStepError::UsernameTaken,
            CreateAccountStepError::AlreadyRegistered {
                pending_activation: false,
            },
        ] {
            answered.push((e.code(), e.into()));
        }
        answered.push((
            ActivationError::InvalidToken.code(),
            ActivationError::InvalidToken.into(),
        ));
        for e in [
            LoginError::InvalidCredentials,
            LoginError::AccountLocked {
                locked_until: until,
            },
            LoginError::AccountNotActivated,
            LoginError::AccountDisabled,
            LoginError::ProviderInactive,
        ] {
            answered.push((e.code(), e.into()));
        }
        for e in [
            SecondFactorError::InvalidCredentials,
            SecondFactorError::AccountLocked {
                locked_until: until,
            },
            SecondFactorError::AlreadyEnrolled,
            SecondFactorError::NotEnrolled,
            SecondFactorError::InvalidCode,
        ] {
            answered.push((e.code(), e.into()));
        }
        for e in [
            MfaLoginError::InvalidCode,
            MfaLoginError::AccountLocked {
                locked_until: until,
            },
            MfaLoginError::AccountDisabled,
            MfaLoginError::ProviderInactive,
        ] {
            answered.push((e.code(), e.into()));
        }
        for e in [AuthError::Unauthenticated, AuthError::AgreementNotAccepted] {
            answered.push((e.code(), e.into()));
        }
        for e in [
            PasswordChangeError::InvalidCredentials,
            PasswordChangeError::AccountLocked {
                locked_until: until,
            },
            PasswordChangeError::PasswordPolicy(policy.clone()),
        ] {
            answered.push((e.code(), e.into()));
        }
        for e in [
            ResetConfirmError::InvalidToken,
            ResetConfirmError::PasswordPolicy(policy),
        ] {
            answered.push((e.code(), e.into()));
        }
        for (code, answer) in answered {
            assert_eq!(answer.error_code(), code, "{answer:?}");
            assert_eq!(answer.body()["code"], code.as_str());
        }
        let internal = Fault::Store(StoreError::Unexpected("corrupt row".to_owned()));
        assert_eq!(
            ApiError::from(LoginError::Fault(internal.clone())).error_code(),
            LoginError::Fault(internal).code()
        );
    }

    #[test]
    fn a_store_that_is_down_or_kept_aborting_is_a_retryable_503() {
        for error in [
            StoreError::Unavailable("connection refused".to_owned()),
            StoreError::Contention("deadlock detected".to_owned()),
        ] {
            let e: ApiError = Fault::Store(error).into();
            assert_eq!(
                e,
                ApiError::Overloaded {
                    retry_after_seconds: 2
                }
            );
        }
        let e: ApiError = Fault::Store(StoreError::Unexpected("corrupt row".to_owned())).into();
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn overload_retry_after_is_at_most_five_seconds() {
        let e: ApiError = Fault::Hash(HashError::Overloaded {
            retry_after: time::Duration::seconds(30),
        })
        .into();
        assert_eq!(
            e,
            ApiError::Overloaded {
                retry_after_seconds: 5
            }
        );
        let response = e.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}

//! Domain values: each a newtype that cannot hold a bad value.
//!
//! Every type has a fallible `parse` returning a typed error and no
//! `Deserialize`: outside input becomes a domain value only through `parse`.

mod account;
mod provider;
mod secret;
mod text;

pub use account::{
    AgreementVersion, AgreementVersionError, EmailAddress, EmailAddressError, SECURITY_QUESTIONS,
    SecurityAnswer, SecurityAnswerError, SecurityQuestionId, UnknownSecurityQuestion, Username,
    UsernameError,
};
pub use provider::{
    GroupName, LineOfBusiness, NameError, Payee, PersonName, ProviderId, ProviderIdError,
    ProviderKind, TaxId, TaxIdError, UnknownChoice, Zip, ZipError,
};
pub use secret::{MalformedToken, Password, PasswordError, PasswordHash, RawToken, TokenHash};

/// Normalisation used by matching, exposed for property tests and adapters
/// that must compute the same comparison keys.
pub mod normalize {
    pub use super::text::{comparison_key, normalize_display};
}

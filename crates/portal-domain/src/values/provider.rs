//! Values that identify a provider on the roster (SPEC §2).

use std::fmt;

use super::text::{comparison_key, has_control, normalize_display};

/// The plan's provider number: 1–20 ASCII letters or digits, upper-cased.
///
/// Provider numbers are printed in upper case on EOBs and welcome letters;
/// folding case spares a registrant a mismatch over `ab123` vs `AB123`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(String);

/// Why a text is not a [`ProviderId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderIdError {
    #[error("is required")]
    Empty,
    #[error("must be at most 20 characters")]
    TooLong,
    #[error("may contain only letters and digits")]
    InvalidCharacter,
}

impl ProviderId {
    pub const MAX_LEN: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, ProviderIdError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ProviderIdError::Empty);
        }
        if !trimmed.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ProviderIdError::InvalidCharacter);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(ProviderIdError::TooLong);
        }
        Ok(Self(trimmed.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Tax ID (EIN or SSN as the plan holds it): exactly 9 digits.
///
/// `12-3456789` and `123456789` are the same Tax ID: dashes and spaces are
/// dropped before the digits are counted.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaxId(String);

/// Why a text is not a [`TaxId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxIdError {
    #[error("is required")]
    Empty,
    #[error("expected 9 digits")]
    WrongLength,
    #[error("may contain only digits and dashes")]
    InvalidCharacter,
}

impl TaxId {
    pub fn parse(raw: &str) -> Result<Self, TaxIdError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TaxIdError::Empty);
        }
        let mut digits = String::with_capacity(9);
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '-' | ' ' => {}
                _ => return Err(TaxIdError::InvalidCharacter),
            }
        }
        if digits.len() != 9 {
            return Err(TaxIdError::WrongLength);
        }
        Ok(Self(digits))
    }

    /// The 9 digits, without separators.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A US ZIP code, compared on its first 5 digits (`45202-1234` = `45202`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Zip(String);

/// Why a text is not a [`Zip`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    #[error("is required")]
    Empty,
    #[error("expected 5 digits or ZIP+4 (12345-6789)")]
    Malformed,
}

impl Zip {
    pub fn parse(raw: &str) -> Result<Self, ZipError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ZipError::Empty);
        }
        let bytes = trimmed.as_bytes();
        let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
        let five = match bytes.len() {
            5 | 9 if all_digits(bytes) => &trimmed[..5],
            10 if bytes[5] == b'-' && all_digits(&bytes[..5]) && all_digits(&bytes[6..]) => {
                &trimmed[..5]
            }
            _ => return Err(ZipError::Malformed),
        };
        Ok(Self(five.to_owned()))
    }

    /// The 5-digit ZIP the comparison uses.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a text is not a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is required")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("may not contain control characters")]
    ControlCharacter,
}

fn parse_name(raw: &str, max: usize) -> Result<(String, String), NameError> {
    // Tabs and newlines are whitespace and collapse; other controls are refused.
    if has_control(raw) && raw.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(NameError::ControlCharacter);
    }
    let display = normalize_display(raw);
    if display.is_empty() {
        return Err(NameError::Empty);
    }
    if display.chars().count() > max {
        return Err(NameError::TooLong { max });
    }
    let key = comparison_key(&display);
    Ok((display, key))
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            display: String,
            key: String,
        }

        impl $name {
            pub const MAX_LEN: usize = $max;

            /// Trims, collapses whitespace and applies NFKC.
            pub fn parse(raw: &str) -> Result<Self, NameError> {
                let (display, key) = parse_name(raw, Self::MAX_LEN)?;
                Ok(Self { display, key })
            }

            /// The normalised name as it should be shown.
            pub fn as_str(&self) -> &str {
                &self.display
            }

            /// The case-insensitive comparison key.
            pub fn key(&self) -> &str {
                &self.key
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.key == other.key
            }
        }
        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.key.hash(state)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.display).finish()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.display)
            }
        }
    };
}

name_type!(
    /// A practitioner's first or last name; equal case-insensitively.
    PersonName,
    100
);
name_type!(
    /// A provider group's name; equal case-insensitively.
    GroupName,
    200
);

/// Practitioner or Group: who the registrant is (SPEC §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Practitioner,
    Group,
}

/// How a practitioner is paid (SPEC §2): individually or under a Group Payee ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payee {
    Individual,
    Group,
}

/// A line of business a provider is contracted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineOfBusiness {
    Medicaid,
    Marketplace,
}

/// A word that names none of the expected choices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected one of: {expected}")]
pub struct UnknownChoice {
    pub expected: &'static str,
}

impl ProviderKind {
    pub fn parse(raw: &str) -> Result<Self, UnknownChoice> {
        match raw.trim() {
            "practitioner" => Ok(Self::Practitioner),
            "group" => Ok(Self::Group),
            _ => Err(UnknownChoice {
                expected: "practitioner, group",
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Practitioner => "practitioner",
            Self::Group => "group",
        }
    }
}

impl Payee {
    pub fn parse(raw: &str) -> Result<Self, UnknownChoice> {
        match raw.trim() {
            "individual" => Ok(Self::Individual),
            "group" => Ok(Self::Group),
            _ => Err(UnknownChoice {
                expected: "individual, group",
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::Group => "group",
        }
    }
}

impl LineOfBusiness {
    pub fn parse(raw: &str) -> Result<Self, UnknownChoice> {
        match raw.trim() {
            "medicaid" => Ok(Self::Medicaid),
            "marketplace" => Ok(Self::Marketplace),
            _ => Err(UnknownChoice {
                expected: "medicaid, marketplace",
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Medicaid => "medicaid",
            Self::Marketplace => "marketplace",
        }
    }
}

macro_rules! debug_display_as_str {
    ($($name:ident),*) => {$(
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0).finish()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
debug_display_as_str!(ProviderId, TaxId, Zip);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_id_with_or_without_dash_is_the_same() {
        assert_eq!(TaxId::parse("12-3456789"), TaxId::parse("123456789"));
        assert_eq!(TaxId::parse("12345678"), Err(TaxIdError::WrongLength));
        assert_eq!(
            TaxId::parse("12-345678x"),
            Err(TaxIdError::InvalidCharacter)
        );
        assert_eq!(TaxId::parse("  "), Err(TaxIdError::Empty));
    }

    #[test]
    fn zip_plus_four_compares_on_five_digits() {
        assert_eq!(Zip::parse("45202-1234"), Zip::parse("45202"));
        assert_eq!(Zip::parse("452021234"), Zip::parse("45202"));
        assert_eq!(Zip::parse("4520"), Err(ZipError::Malformed));
        assert_eq!(Zip::parse("45202-12"), Err(ZipError::Malformed));
        assert_eq!(Zip::parse("4520a"), Err(ZipError::Malformed));
        assert_eq!(Zip::parse("४५२०२"), Err(ZipError::Malformed));
    }

    #[test]
    fn provider_id_is_alphanumeric_and_upper_cased() {
        assert_eq!(
            ProviderId::parse(" ab123 ").map(|p| p.0),
            Ok("AB123".to_owned())
        );
        assert_eq!(
            ProviderId::parse("a".repeat(21).as_str()),
            Err(ProviderIdError::TooLong)
        );
        assert_eq!(
            ProviderId::parse("AB-1"),
            Err(ProviderIdError::InvalidCharacter)
        );
        assert_eq!(ProviderId::parse(""), Err(ProviderIdError::Empty));
    }

    #[test]
    fn names_compare_case_insensitively_after_normalisation() {
        let a = PersonName::parse("  mary   o'BRIEN ").unwrap();
        let b = PersonName::parse("Mary O'Brien").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "mary o'BRIEN");
        assert_eq!(PersonName::parse(" \t "), Err(NameError::Empty));
        assert_eq!(
            PersonName::parse("a\u{0}b"),
            Err(NameError::ControlCharacter)
        );
        assert!(GroupName::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn choices_parse_their_words() {
        assert_eq!(ProviderKind::parse("group"), Ok(ProviderKind::Group));
        assert!(ProviderKind::parse("Group ").is_err());
        assert_eq!(Payee::parse("individual"), Ok(Payee::Individual));
        assert_eq!(
            LineOfBusiness::parse("marketplace"),
            Ok(LineOfBusiness::Marketplace)
        );
    }
}

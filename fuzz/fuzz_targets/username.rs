//! Fuzzes `Username::parse`: 3–64 ASCII letters, digits, `.`, `_`, `-` or
//! `@` after trimming; the display form is the trimmed input, the key its
//! lower case, equality ignores case, and a username re-parses to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portal_domain::values::{Username, UsernameError};

/// What `Username::parse` must answer, written the simple way.
fn oracle(raw: &str) -> Result<String, UsernameError> {
    let trimmed = raw.trim();
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_@".contains(c))
    {
        return Err(UsernameError::InvalidCharacter);
    }
    match trimmed.len() {
        0..=2 => Err(UsernameError::TooShort),
        3..=64 => Ok(trimmed.to_owned()),
        _ => Err(UsernameError::TooLong),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Username::parse(raw);
    assert_eq!(
        parsed.clone().map(|u| u.as_str().to_owned()),
        oracle(raw),
        "{raw:?}"
    );
    if let Ok(username) = parsed {
        assert_eq!(username.key(), username.as_str().to_ascii_lowercase());
        let again = Username::parse(username.as_str());
        assert_eq!(again.as_ref().map(Username::as_str), Ok(username.as_str()));
        let upper = Username::parse(&raw.to_ascii_uppercase());
        assert_eq!(upper.as_ref(), Ok(&username));
        assert_eq!(upper.as_ref().map(Username::key), Ok(username.key()));
    }
});

//! Fuzzes `EmailAddress::parse`. An accepted address is the trimmed input, at
//! most 254 characters, with exactly one `@`, a non-empty local part of at
//! most 64 characters, a dotted domain, and nothing that could break out of
//! a mail header (no control character, space, comma, angle bracket or
//! quote); it re-parses to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portal_domain::values::{EmailAddress, EmailAddressError};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let trimmed = raw.trim();
    match EmailAddress::parse(raw) {
        Ok(email) => {
            let text = email.as_str();
            assert_eq!(text, trimmed);
            assert!(text.chars().count() <= EmailAddress::MAX_LEN);
            assert_eq!(text.matches('@').count(), 1, "{text:?}");
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || ",<>\"\\;:()[]".contains(c)),
                "{text:?}"
            );
            let local = email.local_part();
            assert!(!local.is_empty() && local.len() <= 64);
            let (_, domain) = text.split_once('@').unwrap_or_default();
            assert!(domain.contains('.'), "{text:?}");
            assert!(!domain.starts_with('.') && !domain.ends_with('.'));
            assert_eq!(EmailAddress::parse(text).as_ref(), Ok(&email));
        }
        Err(EmailAddressError::Empty) => assert!(trimmed.is_empty()),
        Err(EmailAddressError::TooLong) => {
            assert!(trimmed.chars().count() > EmailAddress::MAX_LEN);
        }
        Err(EmailAddressError::Malformed) => {
            assert!(!trimmed.is_empty() && trimmed.chars().count() <= EmailAddress::MAX_LEN);
        }
    }
});

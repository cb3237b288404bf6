//! Fuzzes `Password::parse` and `PasswordPolicy::check` (SPEC §5).
//!
//! The input is `FLAGS PASSWORD \n USERNAME \n EMAIL`: the first byte picks
//! the minimum length (1–128) and whether character classes are required, the
//! rest is split on line feeds (a password cannot hold one). Each violation
//! reported must be true of the password, an accepted password must meet
//! every rule, the check is deterministic, and a parsed password re-parses to
//! itself (NFKC is idempotent).

#![no_main]

use libfuzzer_sys::fuzz_target;
use portal_domain::password_policy::{
    CharClasses, PasswordPolicy, PasswordViolation, PolicyContext,
};
use portal_domain::values::{EmailAddress, Password, Username};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut parts = text.split('\n');
    let raw = parts.next().unwrap_or_default();
    let context = PolicyContext {
        username: parts.next().and_then(|u| Username::parse(u).ok()),
        email: parts.next().and_then(|e| EmailAddress::parse(e).ok()),
        names: parts.map(str::to_owned).collect(),
    };
    let Ok(password) = Password::parse(raw) else {
        return;
    };
    let normalized = password.expose();
    assert!(!normalized.chars().any(char::is_control));
    if normalized.chars().count() <= Password::MAX_INPUT_LEN {
        let again = Password::parse(normalized).ok();
        assert_eq!(again.as_ref().map(Password::expose), Some(normalized));
    }

    let min_length = usize::from(flags & 0x7f).max(1);
    let Ok(policy) = PasswordPolicy::new(min_length, flags & 0x80 == 0) else {
        panic!("{min_length} is a valid minimum length");
    };
    let length = normalized.chars().count();
    let classes = CharClasses::of(normalized);
    let result = policy.check(&password, &context);
    assert_eq!(
        result,
        policy.check(&password, &context),
        "not deterministic"
    );

    let violations = result.as_ref().err().map_or(&[][..], |v| v.as_slice());
    let codes: Vec<&str> = violations.iter().map(PasswordViolation::code).collect();
    let mut unique = codes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        codes.len(),
        "a rule reported twice: {codes:?}"
    );

    let has = |code: &str| codes.contains(&code);
    assert_eq!(has("min_length"), length < min_length);
    assert_eq!(has("max_length"), length > PasswordPolicy::MAX_LENGTH);
    let require = policy.requires_classes();
    assert_eq!(has("lowercase"), require && !classes.lowercase);
    assert_eq!(has("uppercase"), require && !classes.uppercase);
    assert_eq!(has("digit"), require && !classes.digit);
    assert_eq!(has("symbol"), require && !classes.symbol);
    assert!(!has("reused"), "reused needs the current hash");
    if length > PasswordPolicy::MAX_LENGTH {
        assert!(!has("too_weak"), "zxcvbn never sees an over-long password");
    }

    let lowered = normalized.to_lowercase();
    let pieces = [
        context.username.as_ref().map(|u| u.key().to_lowercase()),
        context
            .email
            .as_ref()
            .map(|e| e.local_part().to_lowercase()),
    ];
    let contains = pieces
        .iter()
        .flatten()
        .any(|piece| piece.chars().count() >= 3 && lowered.contains(piece.as_str()));
    assert_eq!(has("contains_username"), contains);

    for violation in violations {
        match violation {
            PasswordViolation::MinLength { min, actual } => {
                assert_eq!((*min, *actual), (min_length, length));
            }
            PasswordViolation::MaxLength { max, actual } => {
                assert_eq!((*max, *actual), (PasswordPolicy::MAX_LENGTH, length));
            }
            PasswordViolation::TooWeak { score, .. } => {
                assert!(*score < PasswordPolicy::MIN_SCORE);
            }
            _ => {}
        }
        assert!(!violation.to_string().is_empty());
    }
});

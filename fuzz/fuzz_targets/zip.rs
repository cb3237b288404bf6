//! Fuzzes `Zip::parse`: a ZIP is 5 digits or ZIP+4 (`12345-6789` or 9
//! digits), kept as its first 5 digits; those re-parse to the same ZIP.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portal_domain::values::{Zip, ZipError};

/// What `Zip::parse` must answer, written the simple way.
fn oracle(raw: &str) -> Result<String, ZipError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ZipError::Empty);
    }
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let five = match trimmed.split_once('-') {
        None if digits(trimmed, 5) || digits(trimmed, 9) => &trimmed[..5],
        Some((five, four)) if digits(five, 5) && digits(four, 4) => five,
        _ => return Err(ZipError::Malformed),
    };
    Ok(five.to_owned())
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Zip::parse(raw);
    assert_eq!(
        parsed.clone().map(|z| z.as_str().to_owned()),
        oracle(raw),
        "{raw:?}"
    );
    if let Ok(zip) = parsed {
        let five = zip.as_str();
        assert_eq!(five.len(), 5);
        assert!(five.bytes().all(|b| b.is_ascii_digit()));
        assert!(raw.trim().starts_with(five));
        assert_eq!(Zip::parse(five).as_ref(), Ok(&zip));
        assert_eq!(Zip::parse(&format!("{five}-0000")).as_ref(), Ok(&zip));
    }
});

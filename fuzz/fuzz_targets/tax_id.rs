//! Fuzzes `TaxId::parse` against a plain restatement of its rule (SPEC §2):
//! after trimming, only digits, dashes and spaces, and exactly 9 digits. A
//! parsed Tax ID is its 9 digits and re-parses to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portal_domain::values::{TaxId, TaxIdError};

/// What `TaxId::parse` must answer, written the simple way.
fn oracle(raw: &str) -> Result<String, TaxIdError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TaxIdError::Empty);
    }
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
    {
        return Err(TaxIdError::InvalidCharacter);
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 9 {
        Ok(digits)
    } else {
        Err(TaxIdError::WrongLength)
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = TaxId::parse(raw);
    assert_eq!(
        parsed.clone().map(|t| t.as_str().to_owned()),
        oracle(raw),
        "{raw:?}"
    );
    if let Ok(tax_id) = parsed {
        let digits = tax_id.as_str();
        assert_eq!(digits.len(), 9);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(TaxId::parse(digits).as_ref(), Ok(&tax_id));
        // The dashed EIN form is the same Tax ID.
        let dashed = format!("{}-{}", &digits[..2], &digits[2..]);
        assert_eq!(TaxId::parse(&dashed).as_ref(), Ok(&tax_id));
    }
});

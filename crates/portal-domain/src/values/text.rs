//! Text normalisation shared by the value types.
//!
//! Matching is "exact as printed" after harmless normalisation only (SPEC §2):
//! trim, collapse inner whitespace, Unicode NFKC, and for comparisons a
//! case fold.

use unicode_normalization::UnicodeNormalization;

/// NFKC, then trim and collapse every run of whitespace to one space.
pub fn normalize_display(raw: &str) -> String {
    let nfkc: String = raw.nfkc().collect();
    nfkc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The comparison key of a display form: lower case of the NFKC form.
///
/// `to_lowercase` can change the NFKC form (e.g. some Greek letters), so the
/// key is normalised again: the key of a key is the key (idempotent).
pub fn comparison_key(display: &str) -> String {
    let lowered: String = display.nfkc().collect::<String>().to_lowercase();
    lowered.nfkc().collect()
}

/// True when any character is a control character (CR, LF, NUL, ...).
pub fn has_control(raw: &str) -> bool {
    raw.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_and_trims() {
        assert_eq!(
            normalize_display("  Jane \t  Q\u{00A0}Doe \n"),
            "Jane Q Doe"
        );
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        // Fullwidth letters and the "ﬁ" ligature are the same text after NFKC.
        assert_eq!(normalize_display("Ｊａｎｅ"), "Jane");
        assert_eq!(comparison_key("ﬁeld"), "field");
    }

    #[test]
    fn key_is_case_insensitive() {
        assert_eq!(comparison_key("ACME Health"), comparison_key("acme health"));
    }
}

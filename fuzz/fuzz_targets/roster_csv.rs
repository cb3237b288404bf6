//! Fuzzes `roster_csv::parse`, the roster file format (SPEC §2).
//!
//! An even first byte puts the header in front of the rest, so that most runs
//! reach the rows. A parsed roster holds only valid values (9-digit Tax IDs,
//! 5-digit ZIPs, at least one ZIP, names in their normal form), no Tax ID +
//! Provider ID twice, and no more entries than lines. A refused file has at
//! least one error, each on a line of the file, in line order, at most
//! `MAX_REPORTED_ERRORS` of them kept, and the total counts them all.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use portal_domain::roster::RosterIdentity;
use portal_domain::roster_csv::{self, COLUMNS, HEADER, MAX_REPORTED_ERRORS};
use portal_domain::values::{GroupName, PersonName, ProviderId, TaxId, Zip};

/// The number of physical lines: a line ends at `\n`, `\r\n` or a lone `\r`.
fn physical_lines(bytes: &[u8]) -> u64 {
    let mut lines = 1;
    for (i, byte) in bytes.iter().enumerate() {
        match byte {
            b'\n' => lines += 1,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => lines += 1,
            _ => {}
        }
    }
    lines
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file: Vec<u8> = if mode % 2 == 0 {
        [HEADER.as_bytes(), b"\n", rest].concat()
    } else {
        rest.to_vec()
    };
    let lines = physical_lines(&file);
    let result = roster_csv::parse("roster.csv", &file);
    assert_eq!(
        result,
        roster_csv::parse("roster.csv", &file),
        "not deterministic"
    );
    match result {
        Ok(entries) => {
            assert!((entries.len() as u64) < lines.max(2));
            let mut keys = HashSet::new();
            for entry in &entries {
                assert!(entry.is_active());
                let tax_id = entry.tax_id.as_str();
                assert!(tax_id.len() == 9 && tax_id.bytes().all(|b| b.is_ascii_digit()));
                assert_eq!(TaxId::parse(tax_id).as_ref(), Ok(&entry.tax_id));
                let provider_id = entry.provider_id.as_str();
                assert_eq!(
                    ProviderId::parse(provider_id).as_ref(),
                    Ok(&entry.provider_id)
                );
                assert!(!entry.zips.is_empty());
                for zip in &entry.zips {
                    assert_eq!(Zip::parse(zip.as_str()).as_ref(), Ok(zip));
                }
                match &entry.identity {
                    RosterIdentity::Practitioner {
                        first_name,
                        last_name,
                        ..
                    } => {
                        for name in [first_name, last_name] {
                            let again = PersonName::parse(name.as_str());
                            assert_eq!(again.as_ref().map(PersonName::as_str), Ok(name.as_str()));
                            assert_eq!(again.as_ref().map(PersonName::key), Ok(name.key()));
                        }
                    }
                    RosterIdentity::Group { group_name } => {
                        let again = GroupName::parse(group_name.as_str());
                        assert_eq!(
                            again.as_ref().map(GroupName::as_str),
                            Ok(group_name.as_str())
                        );
                        assert_eq!(again.as_ref().map(GroupName::key), Ok(group_name.key()));
                    }
                }
                assert!(
                    keys.insert((entry.tax_id.clone(), entry.provider_id.clone())),
                    "a Tax ID + Provider ID twice"
                );
            }
        }
        Err(errors) => {
            let kept = errors.errors();
            assert!(!kept.is_empty());
            assert!(kept.len() <= MAX_REPORTED_ERRORS);
            assert_eq!(errors.total(), kept.len() + errors.omitted());
            let mut previous = 1;
            for error in kept {
                assert_eq!(error.file, "roster.csv");
                assert!(
                    (previous..=lines).contains(&error.line),
                    "line {} after {previous}, of {lines}",
                    error.line
                );
                previous = error.line;
                if let Some(field) = error.field {
                    assert!(COLUMNS.contains(&field));
                }
                assert!(!error.reason.is_empty());
                assert!(error.to_string().starts_with("roster.csv:"));
            }
            assert_eq!(
                errors.to_string().lines().count(),
                kept.len() + usize::from(errors.omitted() > 0),
                "one line per error: {errors}"
            );
        }
    }
});

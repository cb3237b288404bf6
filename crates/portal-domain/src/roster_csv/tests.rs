//! Unit tests of the roster CSV parser and import.

use super::*;

fn file(rows: &[&str]) -> String {
    let mut text = String::from(HEADER);
    text.push('\n');
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

fn parse_rows(rows: &[&str]) -> Result<Vec<RosterEntry>, RosterCsvErrors> {
    parse("roster.csv", file(rows).as_bytes())
}

fn messages(result: Result<Vec<RosterEntry>, RosterCsvErrors>) -> Vec<String> {
    match result {
        Ok(entries) => panic!("expected errors, parsed {} entries", entries.len()),
        Err(errors) => errors.errors().iter().map(ToString::to_string).collect(),
    }
}

const JANE: &str = "P1001,12-3456789,practitioner,Jane,Doe,,45202;45011-1234,individual,medicaid";
const JOHN: &str = "P1002,123456789,practitioner,John,Roe,,45202,group,medicaid;marketplace";
const ACME: &str = "G2001,123456789,group,,,Acme Health Group,45202,,medicaid;marketplace";

#[test]
fn header_constant_matches_columns() {
    assert_eq!(HEADER, COLUMNS.join(","));
}

#[test]
fn parses_practitioners_and_a_group() {
    let entries = parse_rows(&[JANE, JOHN, ACME]).unwrap();
    assert_eq!(entries.len(), 3);

    let jane = &entries[0];
    assert_eq!(jane.provider_id.as_str(), "P1001");
    assert_eq!(jane.tax_id.as_str(), "123456789");
    assert_eq!(
        jane.identity,
        RosterIdentity::Practitioner {
            first_name: PersonName::parse("Jane").unwrap(),
            last_name: PersonName::parse("Doe").unwrap(),
            payee: Payee::Individual,
        }
    );
    assert_eq!(
        jane.zips,
        vec![Zip::parse("45202").unwrap(), Zip::parse("45011").unwrap()]
    );
    assert_eq!(jane.lines_of_business, vec![LineOfBusiness::Medicaid]);
    assert_eq!(jane.inactive_since, None);

    let john = &entries[1];
    assert!(matches!(
        john.identity,
        RosterIdentity::Practitioner {
            payee: Payee::Group,
            ..
        }
    ));
    assert_eq!(
        john.lines_of_business,
        vec![LineOfBusiness::Medicaid, LineOfBusiness::Marketplace]
    );

    let acme = &entries[2];
    assert_eq!(acme.kind(), ProviderKind::Group);
    assert_eq!(acme.display_name(), "Acme Health Group");
    assert!(acme.is_active());
}

#[test]
fn dashed_and_plain_tax_ids_are_the_same() {
    let entries = parse_rows(&[JANE, JOHN]).unwrap();
    assert_eq!(entries[0].tax_id, entries[1].tax_id);
}

#[cfg(feature = "testing")]
#[test]
fn matches_the_shared_sample_roster() {
    let entries = parse_rows(&[
        "P1001,12-3456789,practitioner,Jane,Doe,,45202;45011,individual,medicaid",
        "P1002,12-3456789,practitioner,John,Roe,,45202,group,medicaid",
        "G2001,12-3456789,group,,,Acme Health Group,45202,,medicaid;marketplace",
    ])
    .unwrap();
    assert_eq!(entries, crate::testing::sample::entries());
}

#[test]
fn values_are_trimmed_and_lists_deduplicated() {
    let entries = parse_rows(&[
            " p1001 , 12-3456789 ,practitioner, Jane ,  Doe ,, 45202 ; 45202-1234 ;45011 ,individual, medicaid ; medicaid ",
        ])
        .unwrap();
    let jane = &entries[0];
    assert_eq!(jane.provider_id.as_str(), "P1001");
    assert_eq!(jane.display_name(), "Jane Doe");
    assert_eq!(
        jane.zips,
        vec![Zip::parse("45202").unwrap(), Zip::parse("45011").unwrap()]
    );
    assert_eq!(jane.lines_of_business, vec![LineOfBusiness::Medicaid]);
}

#[test]
fn lines_of_business_may_be_empty() {
    let entries =
        parse_rows(&["P1001,123456789,practitioner,Jane,Doe,,45202,individual,"]).unwrap();
    assert!(entries[0].lines_of_business.is_empty());
}

#[test]
fn wrong_header_is_an_error_on_line_one() {
    let reordered =
        "tax_id,provider_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n";
    assert_eq!(
        messages(parse("roster.csv", reordered.as_bytes())),
        vec![format!(
            "roster.csv:1: expected the header {HEADER}; column 1 should be provider_id"
        )]
    );

    let missing = "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee\n";
    assert_eq!(
        messages(parse("roster.csv", missing.as_bytes())),
        vec![format!(
            "roster.csv:1: expected the header {HEADER}; found 8 columns, not 9"
        )]
    );

    let extra = format!("{HEADER},notes\n{JANE},\n");
    assert_eq!(
        messages(parse("roster.csv", extra.as_bytes())),
        vec![format!(
            "roster.csv:1: expected the header {HEADER}; found 10 columns, not 9"
        )]
    );

    // A file without a header: its first row is data, and is not echoed.
    let headless = format!("{JANE}\n");
    let errors = messages(parse("roster.csv", headless.as_bytes()));
    assert_eq!(
        errors,
        vec![format!(
            "roster.csv:1: expected the header {HEADER}; column 1 should be provider_id"
        )]
    );
    assert!(!errors[0].contains("Jane"));
}

#[test]
fn bad_tax_id_names_line_and_field() {
    let result = parse_rows(&[JANE, "P1003,12345,practitioner,Ann,Poe,,45202,individual,"]);
    let errors = result.unwrap_err();
    assert_eq!(
        errors.to_string(),
        "roster.csv:3: tax_id: expected 9 digits"
    );

    let result = parse_rows(&["P1003,12345,practitioner,Ann,Poe,,45202,individual,"]);
    let errors = result.unwrap_err();
    assert_eq!(
        errors.to_string(),
        "roster.csv:2: tax_id: expected 9 digits"
    );
    assert_eq!(
        errors.errors(),
        [RosterCsvError {
            file: "roster.csv".to_owned(),
            line: 2,
            field: Some("tax_id"),
            reason: "expected 9 digits".to_owned(),
        }]
    );
}

#[test]
fn every_bad_row_and_field_is_reported() {
    let result = parse_rows(&[
        "P-1,123456789,practitioner,Jane,Doe,,45202,individual,medicaid",
        JANE,
        ",123456789,doctor,Ann,Poe,,45202,individual,dental",
        "P1004,123456789,practitioner,,Poe,,4520,,medicaid",
    ]);
    assert_eq!(
        messages(result),
        vec![
            "roster.csv:2: provider_id: may contain only letters and digits",
            "roster.csv:4: provider_id: is required",
            "roster.csv:4: kind: expected one of: practitioner, group",
            "roster.csv:4: lines_of_business: value 1: expected one of: medicaid, marketplace",
            "roster.csv:5: first_name: is required",
            "roster.csv:5: zips: value 1: expected 5 digits or ZIP+4 (12345-6789)",
            "roster.csv:5: payee: expected one of: individual, group",
        ]
    );
}

#[test]
fn zips_are_required_and_empty_items_refused() {
    assert_eq!(
        messages(parse_rows(&[
            "P1001,123456789,practitioner,Jane,Doe,, ,individual,medicaid"
        ])),
        vec!["roster.csv:2: zips: at least one value is required"]
    );
    assert_eq!(
        messages(parse_rows(&[
            "P1001,123456789,practitioner,Jane,Doe,,45202;;45011,individual,medicaid;"
        ])),
        vec![
            "roster.csv:2: zips: value 2 is empty (values are separated by `;`)",
            "roster.csv:2: lines_of_business: value 2 is empty (values are separated by `;`)",
        ]
    );
}

#[test]
fn columns_that_do_not_apply_to_the_kind_must_be_empty() {
    assert_eq!(
        messages(parse_rows(&[
            "G2001,123456789,group,Jane,,Acme Health Group,45202,,medicaid"
        ])),
        vec!["roster.csv:2: first_name: must be empty for a group"]
    );
    assert_eq!(
        messages(parse_rows(&[
            "G2001,123456789,group,,Doe,Acme,45202,group,medicaid"
        ])),
        vec![
            "roster.csv:2: last_name: must be empty for a group",
            "roster.csv:2: payee: must be empty for a group",
        ]
    );
    assert_eq!(
        messages(parse_rows(&[
            "P1001,123456789,practitioner,Jane,Doe,Acme,45202,individual,medicaid"
        ])),
        vec!["roster.csv:2: group_name: must be empty for a practitioner"]
    );
    assert_eq!(
        messages(parse_rows(&["G2001,123456789,group,,,,45202,,medicaid"])),
        vec!["roster.csv:2: group_name: is required"]
    );
}

#[test]
fn duplicate_rows_name_the_first_line() {
    let result = parse_rows(&[
        JANE,
        ACME,
        // The same Tax ID and Provider ID, written differently.
        "p1001,123456789,practitioner,Jane,Doe,,45202,individual,medicaid",
    ]);
    assert_eq!(
        messages(result),
        vec!["roster.csv:4: duplicate of line 2: the same tax_id and provider_id"]
    );

    // The same Provider ID under another Tax ID is another entry.
    let entries = parse_rows(&[
        JANE,
        "P1001,987654321,practitioner,Jane,Doe,,45202,individual,medicaid",
    ])
    .unwrap();
    assert_eq!(entries.len(), 2);
}

#[test]
fn non_utf8_byte_names_its_line_and_field() {
    let mut bytes = file(&[JANE, ACME]).into_bytes();
    bytes.extend_from_slice(b"P1003,123456789,practitioner,Ren\xffe,Poe,,45202,individual,\n");
    assert_eq!(
        messages(parse("roster.csv", &bytes)),
        vec!["roster.csv:4: first_name: is not valid UTF-8 (byte 4 of the field)"]
    );
}

#[test]
fn empty_file_is_an_error_on_line_one() {
    assert_eq!(
        messages(parse("roster.csv", b"")),
        vec![format!(
            "roster.csv:1: the file is empty: expected the header {HEADER}"
        )]
    );
}

#[test]
fn header_only_is_an_empty_roster() {
    assert_eq!(parse("roster.csv", HEADER.as_bytes()), Ok(Vec::new()));
    assert_eq!(parse_rows(&[]), Ok(Vec::new()));
}

#[test]
fn wrong_number_of_fields_is_reported_on_its_line() {
    assert_eq!(
        messages(parse_rows(&[
            JANE,
            "P1002,123456789,practitioner,John,Roe,,45202,group",
            "G2001,123456789,group,,,Acme,45202,,medicaid,extra",
        ])),
        vec![
            "roster.csv:3: expected 9 fields, found 8",
            "roster.csv:4: expected 9 fields, found 10",
        ]
    );
}

#[test]
fn crlf_line_endings_and_blank_lines() {
    const BAD: &str = "P1,1,group,,,x,45202,,";
    let text = format!("{HEADER}\r\n{JANE}\r\n{ACME}");
    assert_eq!(parse("roster.csv", text.as_bytes()).map(|e| e.len()), Ok(2));

    // Blank lines are skipped but still counted, whatever ends a line.
    for (ending, text) in [
        (
            "CRLF",
            format!("{HEADER}\r\n{JANE}\r\n\r\n{ACME}\r\n{BAD}\r\n"),
        ),
        ("LF", format!("{HEADER}\n{JANE}\n\n{ACME}\n{BAD}\n")),
        ("CR", format!("{HEADER}\r{JANE}\r\r{ACME}\r{BAD}\r")),
        ("mixed", format!("{HEADER}\r\n{JANE}\n\r{ACME}\r\n{BAD}")),
    ] {
        assert_eq!(
            messages(parse("roster.csv", text.as_bytes())),
            vec!["roster.csv:5: tax_id: expected 9 digits"],
            "{ending}"
        );
    }

    // Blank lines before the header count too.
    let text = format!("\n\r\n{JANE}\n");
    assert_eq!(
        messages(parse("roster.csv", text.as_bytes())),
        vec![format!(
            "roster.csv:3: expected the header {HEADER}; column 1 should be provider_id"
        )]
    );
}

#[test]
fn utf8_byte_order_mark_before_the_header_is_accepted() {
    let text = format!("\u{feff}{HEADER}\n{JANE}\n");
    assert_eq!(parse("roster.csv", text.as_bytes()).map(|e| e.len()), Ok(1));
}

#[test]
fn quoted_fields_with_commas_and_quotes() {
    let entries = parse_rows(&[
        r#"G3001,123456789,group,,,"Smith, Jones ""and"" Partners","45202; 45011",,"medicaid""#,
    ])
    .unwrap();
    assert_eq!(entries[0].display_name(), r#"Smith, Jones "and" Partners"#);
    assert_eq!(entries[0].zips.len(), 2);
}

#[test]
fn a_row_spanning_lines_is_reported_where_it_starts() {
    for newline in ["\n", "\r\n"] {
        let text = [
            HEADER,
            "G3001,123456789,group,,,\"Two",
            "Lines\",45202,,medicaid",
            "P1,123456789,group,,,Acme,45202,,dental",
            "P2,123456789,group,,,\"Also",
            "two\",45202,,dental",
        ]
        .join(newline);
        assert_eq!(
            messages(parse("roster.csv", text.as_bytes())),
            vec![
                "roster.csv:4: lines_of_business: value 1: expected one of: medicaid, marketplace",
                "roster.csv:5: lines_of_business: value 1: expected one of: medicaid, marketplace",
            ],
            "{newline:?}"
        );
    }
}

#[test]
fn errors_are_capped_but_counted() {
    let rows: Vec<String> = (0..150)
        .map(|i| format!("P{i},1,group,,,Acme,45202,,"))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let errors = parse_rows(&rows).unwrap_err();
    assert_eq!(errors.errors().len(), MAX_REPORTED_ERRORS);
    assert_eq!(errors.total(), 150);
    assert_eq!(errors.omitted(), 50);
    let text = errors.to_string();
    assert_eq!(text.lines().count(), MAX_REPORTED_ERRORS + 1);
    assert!(text.starts_with("roster.csv:2: tax_id: expected 9 digits\n"));
    assert!(text.ends_with("\nroster.csv: 50 more errors not shown"));
}

#[test]
fn example_file_in_the_docs_parses() {
    let example = include_bytes!("../../../../docs/roster-example.csv");
    let entries = parse("roster-example.csv", example).unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.kind() == ProviderKind::Group)
            .count(),
        1
    );
}

#[test]
fn parses_100_000_rows() {
    const ROWS: usize = 100_000;
    let mut text = String::with_capacity(ROWS * 80);
    text.push_str(HEADER);
    text.push('\n');
    for i in 0..ROWS {
        let tax = 100_000_000 + i % 1000;
        if i % 10 == 0 {
            text.push_str(&format!(
                "G{i},{tax},group,,,Group {i},45202;45011-1234,,medicaid;marketplace\n"
            ));
        } else {
            text.push_str(&format!(
                "P{i},{tax},practitioner,First{i},Last{i},,45202,individual,medicaid\n"
            ));
        }
    }
    let entries = parse("roster.csv", text.as_bytes()).unwrap();
    assert_eq!(entries.len(), ROWS);
}

/// A reader that hands out one byte per read, so that every line break
/// falls on a read boundary.
struct OneByteAtATime<'a>(&'a [u8]);

impl Read for OneByteAtATime<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((byte, rest)), Some(slot)) => {
                *slot = *byte;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Every entry and error of `bytes`, read one byte at a time.
fn streamed(bytes: &[u8]) -> Result<Vec<RosterEntry>, RosterCsvErrors> {
    let mut rows = RosterRows::new("roster.csv", OneByteAtATime(bytes));
    let mut entries = Vec::new();
    loop {
        let batch = rows.next_entries(2);
        if batch.is_empty() {
            break;
        }
        entries.extend(batch);
    }
    rows.finish().map(|()| entries)
}

#[test]
fn read_a_byte_at_a_time_a_file_gives_the_same_entries_and_lines() {
    const BAD: &str = "P1,1,group,,,x,45202,,";
    let files = [
        file(&[JANE, JOHN, ACME]),
        format!("{HEADER}\r\n{JANE}\r\n\r\n{ACME}\r\n{BAD}\r\n"),
        format!("{HEADER}\r{JANE}\r\r{ACME}\r{BAD}\r"),
        format!("{HEADER}\r\n{JANE}\n\r{ACME}\r\n{BAD}"),
        format!("\n\r\n{JANE}\n"),
        [
            HEADER,
            "G3001,123456789,group,,,\"Two",
            "Lines\",45202,,medicaid",
            "P1,123456789,group,,,Acme,45202,,dental",
        ]
        .join("\r\n"),
        file(&[JANE, JOHN, JANE]),
        String::new(),
    ];
    for text in files {
        assert_eq!(
            streamed(text.as_bytes()),
            parse("roster.csv", text.as_bytes()),
            "{text:?}"
        );
    }
}

#[test]
fn a_bad_row_past_the_first_batches_fails_the_source_and_every_error_is_kept() {
    use crate::ports::{RosterBatches, SourceFailed};
    let mut text = String::from(HEADER);
    text.push('\n');
    for i in 0..(2 * BATCH + 10) {
        text.push_str(&format!(
            "P{i},123456789,practitioner,Jane,Doe,,45202,individual,medicaid\n"
        ));
    }
    text.push_str("P1,1,group,,,x,45202,,\n");
    text.push_str("Q1,123456789,practitioner,Jane,Doe,,4520,individual,medicaid\n");
    let mut rows = RosterRows::new("roster.csv", std::io::Cursor::new(text));
    // The first batches come before the bad rows are read...
    assert_eq!(
        rows.next_batch().map(|b| b.map(|b| b.len())),
        Ok(Some(BATCH))
    );
    assert_eq!(
        rows.next_batch().map(|b| b.map(|b| b.len())),
        Ok(Some(BATCH))
    );
    // ...then the source fails instead of ending, and nothing more comes.
    assert_eq!(rows.next_batch(), Err(SourceFailed));
    let errors = rows.finish().unwrap_err();
    let lines: Vec<u64> = errors.errors().iter().map(|e| e.line).collect();
    let first_bad = u64::try_from(2 * BATCH + 10).unwrap() + 2;
    assert_eq!(lines, vec![first_bad, first_bad + 1]);
}

#[test]
fn a_read_that_fails_is_an_error_on_its_line() {
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let head = format!("{HEADER}\n{JANE}\n");
            let bytes = head.as_bytes();
            if self.0 < bytes.len() {
                let n = (bytes.len() - self.0).min(buf.len());
                buf[..n].copy_from_slice(&bytes[self.0..self.0 + n]);
                self.0 += n;
                Ok(n)
            } else {
                Err(std::io::Error::other("the disk went away"))
            }
        }
    }
    let mut rows = RosterRows::new("roster.csv", Broken(0));
    let _ = rows.next_entries(BATCH);
    let errors = rows.finish().unwrap_err();
    assert_eq!(errors.total(), 1);
    assert!(
        errors.to_string().contains("the disk went away"),
        "{errors}"
    );
}

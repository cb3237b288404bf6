//! The roster CSV format (SPEC §2): parsing a whole file into roster entries.
//!
//! The operator loads the plan's roster from a UTF-8 CSV file with a header
//! row and exactly these columns, in this order:
//!
//! ```text
//! provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business
//! ```
//!
//! `zips` and `lines_of_business` hold several values separated by `;`.
//! A practitioner has `first_name`, `last_name` and `payee` and an empty
//! `group_name`; a group has `group_name` and empty `first_name`,
//! `last_name` and `payee`. `lines_of_business` may be empty (a provider
//! contracted for no line of business yet); `zips` may not. `docs/roster.md`
//! describes the format for operators.
//!
//! Parsing is all-or-nothing: every bad row is reported (up to
//! [`MAX_REPORTED_ERRORS`]) with its 1-based line in the file, the header
//! being line 1, and no entry is returned when any row is bad. Each error
//! reads like `roster.csv:4: tax_id: expected 9 digits`.
//!
//! This module does no I/O: it is handed the file's bytes and the name to
//! report errors under, and never opens a path itself.
//!
//! ```
//! use portal_domain::roster_csv;
//!
//! let file = b"provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n\
//!              P1001,12-3456789,practitioner,Jane,Doe,,45202;45011-1234,individual,medicaid\n";
//! let entries = roster_csv::parse("roster.csv", file)?;
//! assert_eq!(entries.len(), 1);
//!
//! let bad = b"provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n\
//!             P1001,12345,practitioner,Jane,Doe,,45202,individual,medicaid\n";
//! let errors = roster_csv::parse("roster.csv", bad).unwrap_err();
//! assert_eq!(errors.to_string(), "roster.csv:2: tax_id: expected 9 digits");
//! # Ok::<(), roster_csv::RosterCsvErrors>(())
//! ```

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use csv::{ByteRecord, ReaderBuilder};

use crate::roster::{RosterEntry, RosterIdentity};
use crate::values::{
    GroupName, LineOfBusiness, Payee, PersonName, ProviderId, ProviderKind, TaxId, Zip,
};

/// The header row, column by column, in the order the file must have them.
pub const COLUMNS: [&str; 9] = [
    "provider_id",
    "tax_id",
    "kind",
    "first_name",
    "last_name",
    "group_name",
    "zips",
    "payee",
    "lines_of_business",
];

/// The header row as it must appear on line 1.
pub const HEADER: &str =
    "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business";

/// At most this many errors are kept; the rest are only counted.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// The separator of the values in `zips` and `lines_of_business`.
pub const LIST_SEPARATOR: char = ';';

const PROVIDER_ID: usize = 0;
const TAX_ID: usize = 1;
const KIND: usize = 2;
const FIRST_NAME: usize = 3;
const LAST_NAME: usize = 4;
const GROUP_NAME: usize = 5;
const ZIPS: usize = 6;
const PAYEE: usize = 7;
const LINES_OF_BUSINESS: usize = 8;

/// One problem in a roster file, at a line and (usually) a column.
///
/// Displays as `FILE:LINE: FIELD: REASON`, or `FILE:LINE: REASON` when the
/// problem is not one column's (a wrong header, a wrong number of fields, a
/// duplicate row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RosterCsvError {
    /// The file's display name, as the caller gave it.
    pub file: String,
    /// The 1-based physical line the row starts on; the header is line 1.
    pub line: u64,
    /// The column at fault, one of [`COLUMNS`], if the problem is one column's.
    pub field: Option<&'static str>,
    /// What is wrong, in words an operator can act on.
    pub reason: String,
}

impl fmt::Display for RosterCsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "{}:{}: {}: {}", self.file, self.line, field, self.reason),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.reason),
        }
    }
}

/// Every problem found in a roster file (the first [`MAX_REPORTED_ERRORS`]
/// of them, in line order), displayed one per line.
///
/// Never empty: a file without problems parses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RosterCsvErrors {
    file: String,
    errors: Vec<RosterCsvError>,
    total: usize,
}

impl RosterCsvErrors {
    /// The errors kept, in line order.
    pub fn errors(&self) -> &[RosterCsvError] {
        &self.errors
    }

    /// How many errors were found, including those not kept.
    pub fn total(&self) -> usize {
        self.total
    }

    /// How many errors were found beyond [`MAX_REPORTED_ERRORS`].
    pub fn omitted(&self) -> usize {
        self.total - self.errors.len()
    }
}

impl fmt::Display for RosterCsvErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        let omitted = self.omitted();
        if omitted > 0 {
            write!(
                f,
                "\n{}: {omitted} more error{} not shown",
                self.file,
                if omitted == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

/// Why a roster file was not imported. Either way nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterImportError {
    /// The file has bad rows: every one is listed, with its line.
    #[error("{0}")]
    Invalid(RosterCsvErrors),
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
}

/// Parses a roster file and applies it in one store operation: all or
/// nothing, idempotent (upsert by Tax ID + Provider ID), `--replace` marks
/// the entries missing from the file inactive, `dry_run` writes nothing.
pub async fn import<R: crate::ports::ProviderRoster + ?Sized>(
    roster: &R,
    file: &str,
    bytes: &[u8],
    mode: crate::ports::ImportMode,
    dry_run: bool,
    now: time::OffsetDateTime,
) -> Result<crate::ports::ImportSummary, RosterImportError> {
    let entries = parse(file, bytes).map_err(RosterImportError::Invalid)?;
    Ok(roster.import(&entries, mode, dry_run, now).await?)
}

/// Parses a whole roster file into entries, all active (`inactive_since` is
/// `None`), in file order.
///
/// `file` is the name errors are reported under (`roster.csv` in
/// `roster.csv:4: tax_id: expected 9 digits`); it is never opened.
///
/// All or nothing: if any row is bad, or the header is not exactly
/// [`HEADER`], or the file is empty, the result is every error found and no
/// entry. A file with the header and no rows is valid and gives no entries:
/// what an empty roster means (with `--replace`, every entry becomes
/// inactive) is the caller's decision. The same Tax ID + Provider ID twice in
/// one file is an error on the second row, naming the first one's line.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Vec<RosterEntry>, RosterCsvErrors> {
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut lines = LineCounter::new(bytes);
    let mut errors = ErrorSink::new(file);
    let mut record = ByteRecord::new();

    // The header.
    match reader.read_byte_record(&mut record) {
        Ok(true) => {
            if let Some(reason) = header_problem(&record) {
                errors.push(lines.line_of(&record), None, reason);
                return Err(errors.finish());
            }
        }
        Ok(false) => {
            errors.push(
                1,
                None,
                format_args!("the file is empty: expected the header {HEADER}"),
            );
            return Err(errors.finish());
        }
        Err(error) => {
            errors.push(lines.at(reader.position().byte()), None, error);
            return Err(errors.finish());
        }
    }

    let mut entries = Vec::new();
    // (tax_id, provider_id) → the line it was first seen on.
    let mut seen: HashMap<(TaxId, ProviderId), u64> = HashMap::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {
                let line = lines.line_of(&record);
                let entry = parse_row(&record, line, &mut seen, &mut errors);
                // Once any row was bad, entries are no longer kept.
                if let Some(entry) = entry.filter(|_| errors.is_empty()) {
                    entries.push(entry);
                }
            }
            Ok(false) => break,
            // Reading from memory with `flexible` on and no UTF-8 check, the
            // reader has no error to give; should it ever, it is reported.
            Err(error) => {
                errors.push(lines.at(reader.position().byte()), None, error);
                break;
            }
        }
    }

    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors.finish())
    }
}

/// Physical line numbers of records, counted from the bytes themselves.
///
/// The CSV reader's own line count is not the physical line a record starts
/// on: it is taken before the blank lines that precede a record and before
/// the `\n` of a `\r\n` that ends the previous one. Its byte offsets are
/// exact, so lines are counted up to them here, in one pass over the file.
struct LineCounter<'a> {
    bytes: &'a [u8],
    /// Where counting stopped, and the line that offset is on (1-based).
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line a record starts on.
    fn line_of(&mut self, record: &ByteRecord) -> u64 {
        match record.position() {
            Some(position) => self.at(position.byte()),
            None => self.line,
        }
    }

    /// The line of the first byte at or after `offset` that is not a line
    /// break (a record's start, past the blank lines before it). Offsets
    /// must not go backwards; one that does answers the last line found.
    fn at(&mut self, offset: u64) -> u64 {
        let Ok(mut start) = usize::try_from(offset) else {
            return self.line;
        };
        if start < self.offset {
            return self.line;
        }
        start = start.min(self.bytes.len());
        while let Some(b'\r' | b'\n') = self.bytes.get(start) {
            start += 1;
        }
        // A line ends at `\n`, at `\r\n` (counted at its `\n`) or at a lone `\r`.
        for i in self.offset..start {
            match self.bytes.get(i) {
                Some(b'\n') => self.line += 1,
                Some(b'\r') if self.bytes.get(i + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
        }
        self.offset = start;
        self.line
    }
}

/// What is wrong with the header row, if anything.
///
/// Names only what was expected: the first row of a file without a header is
/// a provider's data, which has no place in an error message.
fn header_problem(record: &ByteRecord) -> Option<String> {
    let names = record
        .iter()
        .map(|raw| std::str::from_utf8(raw).map(str::trim));
    let mut found = 0;
    for (i, name) in names.enumerate() {
        found += 1;
        match COLUMNS.get(i) {
            Some(expected) if name.is_ok_and(|name| name == *expected) => {}
            Some(expected) => {
                return Some(format!(
                    "expected the header {HEADER}; column {} should be {expected}",
                    i + 1
                ));
            }
            None => {
                return Some(format!(
                    "expected the header {HEADER}; found {} columns, not {}",
                    record.len(),
                    COLUMNS.len()
                ));
            }
        }
    }
    if found < COLUMNS.len() {
        return Some(format!(
            "expected the header {HEADER}; found {found} columns, not {}",
            COLUMNS.len()
        ));
    }
    None
}

/// Parses one data row, reporting each of its problems; `Some` only when the
/// row itself is valid (the caller still drops it once any row was bad).
fn parse_row(
    record: &ByteRecord,
    line: u64,
    seen: &mut HashMap<(TaxId, ProviderId), u64>,
    errors: &mut ErrorSink,
) -> Option<RosterEntry> {
    if record.len() != COLUMNS.len() {
        errors.push(
            line,
            None,
            format_args!("expected {} fields, found {}", COLUMNS.len(), record.len()),
        );
        return None;
    }

    let mut cells = [""; COLUMNS.len()];
    let mut readable = true;
    for (i, raw) in record.iter().enumerate() {
        match std::str::from_utf8(raw) {
            Ok(text) => cells[i] = text,
            Err(error) => {
                errors.push(
                    line,
                    Some(COLUMNS[i]),
                    format_args!(
                        "is not valid UTF-8 (byte {} of the field)",
                        error.valid_up_to() + 1
                    ),
                );
                readable = false;
            }
        }
    }
    if !readable {
        return None;
    }

    let mut row = Row {
        cells: &cells,
        line,
        errors,
        ok: true,
    };
    // Column by column, so that a row's errors come in column order.
    let provider_id = row.value(PROVIDER_ID, ProviderId::parse);
    let tax_id = row.value(TAX_ID, TaxId::parse);
    let kind = row.value(KIND, ProviderKind::parse);
    let (first_name, last_name, group_name) = match kind {
        Some(ProviderKind::Practitioner) => {
            let first_name = row.value(FIRST_NAME, PersonName::parse);
            let last_name = row.value(LAST_NAME, PersonName::parse);
            row.empty(GROUP_NAME, "must be empty for a practitioner");
            (first_name, last_name, None)
        }
        Some(ProviderKind::Group) => {
            row.empty(FIRST_NAME, "must be empty for a group");
            row.empty(LAST_NAME, "must be empty for a group");
            (None, None, row.value(GROUP_NAME, GroupName::parse))
        }
        // Which names apply is unknown: only the kind is reported.
        None => (None, None, None),
    };
    let zips = row.list(ZIPS, Zip::parse, true);
    let payee = match kind {
        Some(ProviderKind::Practitioner) => row.value(PAYEE, Payee::parse),
        Some(ProviderKind::Group) => {
            row.empty(PAYEE, "must be empty for a group");
            None
        }
        None => None,
    };
    let lines_of_business = row.list(LINES_OF_BUSINESS, LineOfBusiness::parse, false);
    let ok = row.ok;
    let identity = match (kind, first_name, last_name, group_name, payee) {
        (Some(ProviderKind::Practitioner), Some(first_name), Some(last_name), _, Some(payee)) => {
            Some(RosterIdentity::Practitioner {
                first_name,
                last_name,
                payee,
            })
        }
        (Some(ProviderKind::Group), _, _, Some(group_name), _) => {
            Some(RosterIdentity::Group { group_name })
        }
        _ => None,
    };

    let (provider_id, tax_id) = (provider_id?, tax_id?);
    match seen.entry((tax_id, provider_id)) {
        Entry::Occupied(first) => {
            errors.push(
                line,
                None,
                format_args!(
                    "duplicate of line {}: the same tax_id and provider_id",
                    first.get()
                ),
            );
            None
        }
        Entry::Vacant(slot) => {
            let (tax_id, provider_id) = slot.key().clone();
            slot.insert(line);
            if !ok {
                return None;
            }
            Some(RosterEntry {
                provider_id,
                tax_id,
                identity: identity?,
                zips: zips?,
                lines_of_business: lines_of_business?,
                inactive_since: None,
            })
        }
    }
}

/// One row's cells being turned into values, its problems reported as found.
struct Row<'a> {
    cells: &'a [&'a str; COLUMNS.len()],
    line: u64,
    errors: &'a mut ErrorSink,
    ok: bool,
}

impl Row<'_> {
    fn fail(&mut self, column: usize, reason: impl fmt::Display) {
        self.ok = false;
        self.errors.push(self.line, Some(COLUMNS[column]), reason);
    }

    /// One value, parsed by its own type, reported with that type's message.
    fn value<T, E: fmt::Display>(
        &mut self,
        column: usize,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(self.cells[column]) {
            Ok(value) => Some(value),
            Err(error) => {
                self.fail(column, error);
                None
            }
        }
    }

    /// A column that does not apply to the row's kind.
    fn empty(&mut self, column: usize, reason: &str) {
        if !self.cells[column].trim().is_empty() {
            self.fail(column, reason);
        }
    }

    /// A `;`-separated list: each item trimmed and parsed, empty items
    /// refused, repeated items kept once (in first-seen order).
    fn list<T: PartialEq, E: fmt::Display>(
        &mut self,
        column: usize,
        parse: impl Fn(&str) -> Result<T, E>,
        required: bool,
    ) -> Option<Vec<T>> {
        let cell = self.cells[column].trim();
        if cell.is_empty() {
            if required {
                self.fail(column, "at least one value is required");
                return None;
            }
            return Some(Vec::new());
        }
        let mut values = Vec::new();
        let mut ok = true;
        for (i, item) in cell.split(LIST_SEPARATOR).enumerate() {
            let item = item.trim();
            if item.is_empty() {
                self.fail(
                    column,
                    format_args!("value {} is empty (values are separated by `;`)", i + 1),
                );
                ok = false;
                continue;
            }
            match parse(item) {
                Ok(value) => {
                    if !values.contains(&value) {
                        values.push(value);
                    }
                }
                Err(error) => {
                    self.fail(column, format_args!("value {}: {error}", i + 1));
                    ok = false;
                }
            }
        }
        ok.then_some(values)
    }
}

/// Collects errors, keeping the first [`MAX_REPORTED_ERRORS`].
struct ErrorSink {
    file: String,
    kept: Vec<RosterCsvError>,
    total: usize,
}

impl ErrorSink {
    fn new(file: &str) -> Self {
        Self {
            file: file.to_owned(),
            kept: Vec::new(),
            total: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn push(&mut self, line: u64, field: Option<&'static str>, reason: impl fmt::Display) {
        self.total += 1;
        if self.kept.len() < MAX_REPORTED_ERRORS {
            self.kept.push(RosterCsvError {
                file: self.file.clone(),
                line,
                field,
                reason: reason.to_string(),
            });
        }
    }

    fn finish(self) -> RosterCsvErrors {
        RosterCsvErrors {
            file: self.file,
            errors: self.kept,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
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

    const JANE: &str =
        "P1001,12-3456789,practitioner,Jane,Doe,,45202;45011-1234,individual,medicaid";
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
        let reordered = "tax_id,provider_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n";
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
        let example = include_bytes!("../../../docs/roster-example.csv");
        let entries = parse("roster-example.csv", example).unwrap();
        assert_eq!(entries.len(), 4);
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
}

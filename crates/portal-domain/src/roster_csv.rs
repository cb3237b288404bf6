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
mod tests;

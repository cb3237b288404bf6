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
//! This module opens nothing: it is handed the file's bytes, or a reader it
//! takes them from as it goes ([`RosterRows`], [`import`]), and the name to
//! report errors under.
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
use std::io::Read;

use csv::{ByteRecord, ReaderBuilder};

use lines::{LineBreaks, LineCounter};

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

/// Reads a roster file and applies it in one store operation: all or
/// nothing, idempotent (upsert by Tax ID + Provider ID), `--replace` marks
/// the entries missing from the file inactive, `dry_run` writes nothing.
///
/// The file is read as the store takes it, [`BATCH`] entries at a time, so
/// a roster of a million rows is never held whole. A bad row does not stop
/// the reading: every error in the file is reported, and the store, told
/// that the source failed, writes nothing.
pub async fn import<R: crate::ports::ProviderRoster + ?Sized>(
    roster: &R,
    file: &str,
    reader: impl Read + Send + 'static,
    mode: crate::ports::ImportMode,
    dry_run: bool,
    now: time::OffsetDateTime,
) -> Result<crate::ports::ImportSummary, RosterImportError> {
    let mut rows = RosterRows::new(file, reader);
    let stored = roster.import(&mut rows, mode, dry_run, now).await;
    // The file's errors first: the store only saw that its source failed.
    rows.finish().map_err(RosterImportError::Invalid)?;
    Ok(stored?)
}

/// How many entries [`RosterRows`] hands to the store at a time.
pub const BATCH: usize = 5_000;

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
    let mut rows = RosterRows::new(file, bytes);
    let mut entries = Vec::new();
    loop {
        let batch = rows.next_entries(BATCH);
        if batch.is_empty() {
            break;
        }
        entries.extend(batch);
    }
    rows.finish().map(|()| entries)
}

/// A roster file read row by row from any [`Read`], with [`parse`]'s rules
/// and messages: the entries come in batches, the errors at the end
/// ([`RosterRows::finish`]). What it keeps besides one batch is the set of
/// (Tax ID, Provider ID) pairs seen, about 40 bytes a row.
pub struct RosterRows<R> {
    reader: csv::Reader<LineBreaks<R>>,
    lines: LineCounter,
    errors: ErrorSink,
    /// (Tax ID, Provider ID) → the line it was first seen on.
    seen: HashMap<RosterKey, u64>,
    record: ByteRecord,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Rows,
    Done,
}

impl<R> fmt::Debug for RosterRows<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RosterRows")
            .field("file", &self.errors.file)
            .field("line", &self.lines.line)
            .field("errors", &self.errors.total)
            .finish_non_exhaustive()
    }
}

impl<R: Read> RosterRows<R> {
    pub fn new(file: &str, reader: R) -> Self {
        Self {
            reader: ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(LineBreaks::new(reader)),
            lines: LineCounter::new(),
            errors: ErrorSink::new(file),
            seen: HashMap::new(),
            record: ByteRecord::new(),
            stage: Stage::Header,
        }
    }

    /// Up to `most` more entries, none once the file ended. Once any error
    /// was found, reads on to the end to find the others and gives no more
    /// entries.
    pub fn next_entries(&mut self, most: usize) -> Vec<RosterEntry> {
        let mut batch = Vec::new();
        if self.stage == Stage::Header {
            self.read_header();
        }
        while self.stage == Stage::Rows && batch.len() < most.max(1) {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {
                    let line = self.line_of_record();
                    let entry = parse_row(&self.record, line, &mut self.seen, &mut self.errors);
                    // Once any row was bad, entries are no longer kept.
                    if let Some(entry) = entry.filter(|_| self.errors.is_empty()) {
                        batch.push(entry);
                    }
                }
                Ok(false) => self.stage = Stage::Done,
                Err(error) => {
                    let line = self.line_at(self.reader.position().byte());
                    self.errors.push(line, None, error);
                    self.stage = Stage::Done;
                }
            }
            if !self.errors.is_empty() {
                batch.clear();
            }
        }
        batch
    }

    /// Every error found, if any; reads the rest of the file first.
    pub fn finish(mut self) -> Result<(), RosterCsvErrors> {
        while self.stage != Stage::Done {
            let _ = self.next_entries(BATCH);
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors.finish())
        }
    }

    fn read_header(&mut self) {
        self.stage = Stage::Done;
        match self.reader.read_byte_record(&mut self.record) {
            Ok(true) => {
                let line = self.line_of_record();
                match header_problem(&self.record) {
                    Some(reason) => self.errors.push(line, None, reason),
                    None => self.stage = Stage::Rows,
                }
            }
            Ok(false) => self.errors.push(
                1,
                None,
                format_args!("the file is empty: expected the header {HEADER}"),
            ),
            Err(error) => {
                let line = self.line_at(self.reader.position().byte());
                self.errors.push(line, None, error);
            }
        }
    }

    fn line_of_record(&mut self) -> u64 {
        match self.record.position() {
            Some(position) => {
                let offset = position.byte();
                self.line_at(offset)
            }
            None => self.lines.line,
        }
    }

    fn line_at(&mut self, offset: u64) -> u64 {
        self.lines.at(&mut self.reader.get_mut().breaks, offset)
    }
}

impl<R: Read + Send> crate::ports::RosterBatches for RosterRows<R> {
    fn next_batch(&mut self) -> Result<Option<Vec<RosterEntry>>, crate::ports::SourceFailed> {
        let batch = self.next_entries(BATCH);
        if !self.errors.is_empty() {
            return Err(crate::ports::SourceFailed);
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

/// A (Tax ID, Provider ID) pair in 24 bytes, for the duplicate check of a
/// million-row file: the Tax ID's 9 digits as a number, the Provider ID's
/// at most 20 letters and digits padded with zero bytes (which no Provider
/// ID holds, so no two pairs share a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RosterKey {
    tax_id: u32,
    provider_id: [u8; ProviderId::MAX_LEN],
}

impl RosterKey {
    fn of(tax_id: &TaxId, provider_id: &ProviderId) -> Self {
        let tax_id = tax_id.as_str().bytes().fold(0u32, |n, digit| {
            n.wrapping_mul(10)
                .wrapping_add(u32::from(digit.wrapping_sub(b'0')))
        });
        let mut padded = [0u8; ProviderId::MAX_LEN];
        for (slot, byte) in padded.iter_mut().zip(provider_id.as_str().bytes()) {
            *slot = byte;
        }
        Self {
            tax_id,
            provider_id: padded,
        }
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
    seen: &mut HashMap<RosterKey, u64>,
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
    match seen.entry(RosterKey::of(&tax_id, &provider_id)) {
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

mod lines;
#[cfg(test)]
mod tests;

//! Physical line numbers for the roster reader: the line breaks noted as
//! the bytes pass to the CSV reader, counted as records start.

use std::collections::VecDeque;
use std::io::Read;

/// The bytes passing from the file to the CSV reader, with the offsets of
/// their line breaks (`\r`, `\n`) noted until [`LineCounter`] has counted
/// them: only those of the reader's read-ahead are ever held.
pub(super) struct LineBreaks<R> {
    inner: R,
    read: u64,
    pub(super) breaks: VecDeque<(u64, u8)>,
}

impl<R> LineBreaks<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            inner,
            read: 0,
            breaks: VecDeque::new(),
        }
    }
}

impl<R: Read> Read for LineBreaks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = self.read;
        for (at, byte) in (start..).zip(buf.iter().take(n)) {
            if matches!(byte, b'\r' | b'\n') {
                self.breaks.push_back((at, *byte));
            }
        }
        self.read += n as u64;
        Ok(n)
    }
}

/// Physical line numbers of records, counted from the line breaks passed.
///
/// The CSV reader's own line count is not the physical line a record starts
/// on: it is taken before the blank lines that precede a record and before
/// the `\n` of a `\r\n` that ends the previous one. Its byte offsets are
/// exact, so the breaks before them are counted here.
pub(super) struct LineCounter {
    /// Where counting stopped, and the line that offset is on (1-based).
    offset: u64,
    pub(super) line: u64,
}

impl LineCounter {
    pub(super) fn new() -> Self {
        Self { offset: 0, line: 1 }
    }

    /// The line of the first byte at or after `offset` that is not a line
    /// break (a record's start, past the blank lines before it). Offsets
    /// must not go backwards; one that does answers the last line found.
    pub(super) fn at(&mut self, breaks: &mut VecDeque<(u64, u8)>, offset: u64) -> u64 {
        if offset < self.offset {
            return self.line;
        }
        let mut start = offset;
        // A line ends at `\n`, at `\r\n` (counted at its `\n`) or at a lone `\r`.
        while let Some(&(at, byte)) = breaks.front() {
            if at > start {
                break;
            }
            if at == start {
                start += 1;
            }
            breaks.pop_front();
            let crlf = byte == b'\r' && breaks.front() == Some(&(at + 1, b'\n'));
            if !crlf {
                self.line += 1;
            }
        }
        self.offset = start;
        self.line
    }
}

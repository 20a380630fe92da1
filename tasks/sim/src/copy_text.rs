//! Rows in Postgres' COPY text format, for bulk loading the seed.
//!
//! Columns are tab-separated, rows end in a newline, NULL is `\N`, and backslash, tab, newline
//! and carriage return inside a value are backslash-escaped.

use chrono::{NaiveDate, NaiveDateTime};

/// A buffer of COPY text rows for one table.
#[derive(Debug, Default)]
pub struct CopyText {
    buf: Vec<u8>,
    at_row_start: bool,
    rows: u64,
}

impl CopyText {
    /// An empty buffer.
    pub fn new() -> Self {
        CopyText {
            buf: Vec::with_capacity(1 << 20),
            at_row_start: true,
            rows: 0,
        }
    }

    fn sep(&mut self) {
        if !self.at_row_start {
            self.buf.push(b'\t');
        }
        self.at_row_start = false;
    }

    /// Appends an integer column.
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(v.to_string().as_bytes());
        self
    }

    /// Appends a text column, escaped.
    pub fn text(&mut self, v: &str) -> &mut Self {
        self.sep();
        for b in v.bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                _ => self.buf.push(b),
            }
        }
        self
    }

    /// Appends a nullable text column.
    pub fn opt_text(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.text(v),
            None => {
                self.sep();
                self.buf.extend_from_slice(b"\\N");
                self
            }
        }
    }

    /// Appends a `TIMESTAMP(3)` column.
    pub fn ts(&mut self, v: NaiveDateTime) -> &mut Self {
        self.sep();
        self.buf
            .extend_from_slice(v.format("%Y-%m-%d %H:%M:%S%.3f").to_string().as_bytes());
        self
    }

    /// Appends a 'YYYY-MM-DD' string column.
    pub fn date(&mut self, v: NaiveDate) -> &mut Self {
        self.sep();
        self.buf
            .extend_from_slice(v.format("%Y-%m-%d").to_string().as_bytes());
        self
    }

    /// Appends a boolean column.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.buf.push(if v { b't' } else { b'f' });
        self
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.at_row_start = true;
        self.rows += 1;
    }

    /// Bytes buffered so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Rows ended so far (including those already taken).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Takes the buffered bytes, leaving the buffer empty.
    pub fn take(&mut self) -> bytes::Bytes {
        bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(1 << 20)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_nulls() {
        let mut c = CopyText::new();
        c.int(1).text("a\tb\\c\nd").opt_text(None).bool(true).end_row();
        assert_eq!(&c.take()[..], b"1\ta\\tb\\\\c\\nd\t\\N\tt\n");
        assert_eq!(c.rows(), 1);
    }
}

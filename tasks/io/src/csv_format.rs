//! The CSV landing format, both directions: what [`crate::sink`] writes and what the stages read
//! back, in one place so the two cannot drift.
//!
//! The convention is PostgreSQL's `COPY … (FORMAT csv, HEADER)`, which keeps NULL and the empty
//! string apart: **NULL is an empty, unquoted field; every text value is quoted** (so the empty
//! string is `""`), with embedded quotes doubled. Numbers, booleans (`true`/`false`), dates, times
//! and timestamps (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC instants with `+00:00`) are bare; bytea is
//! `\x` followed by hex. The first line is the quoted header. Records end with `\n`; a `\r` or `\n`
//! inside a text value is kept, since it is inside quotes.
//!
//! The reader is tote's own, not arrow-csv's: a general CSV reader drops the quotes before it
//! decides what is NULL, so `""` and an empty field both became NULL. This one tracks, per field,
//! whether it was quoted, and then converts each column with Arrow's cast kernels (exact: a value
//! that does not convert is an error, never NULL).

use std::io::BufRead;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, RecordBatch, StringBuilder};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use tote_core::{Error, Result};

/// The header line (without its `\n`): every column name quoted.
pub fn header(schema: &arrow::datatypes::Schema) -> Vec<u8> {
    let names: Vec<String> = schema.fields().iter().map(|f| quote(f.name())).collect();
    names.join(",").into_bytes()
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Appends the rows of `batch` to `buf`, one `\n`-terminated record each.
pub fn write_rows(batch: &RecordBatch, buf: &mut Vec<u8>) -> Result<()> {
    let options = FormatOptions::default().with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.6f"));
    let columns = batch.columns();
    // Arrow's display formatters for the bare types; text, bytes and UTC instants are written by hand.
    let formatters = columns
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8 | DataType::Binary | DataType::Timestamp(_, Some(_)) => Ok(None),
            _ => ArrayFormatter::try_new(c.as_ref(), &options).map(Some),
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(format!("cannot format CSV: {e}")).with_source(e))?;
    use std::io::Write;
    for row in 0..batch.num_rows() {
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            if column.is_null(row) {
                continue;
            }
            match column.data_type() {
                DataType::Utf8 => {
                    buf.push(b'"');
                    for b in column.as_string::<i32>().value(row).bytes() {
                        if b == b'"' {
                            buf.push(b'"');
                        }
                        buf.push(b);
                    }
                    buf.push(b'"');
                }
                DataType::Timestamp(_, Some(_)) => {
                    // Stored as UTC instants: write them with an explicit offset.
                    let us = column
                        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .value(row);
                    let t = chrono::DateTime::from_timestamp_micros(us).unwrap_or_default();
                    let _ = write!(buf, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f+00:00"));
                }
                DataType::Binary => {
                    buf.extend_from_slice(b"\\x");
                    buf.extend_from_slice(hex::encode(column.as_binary::<i32>().value(row)).as_bytes());
                }
                _ => {
                    if let Some(f) = &formatters[i] {
                        let _ = write!(buf, "{}", f.value(row));
                    }
                }
            }
        }
        buf.push(b'\n');
    }
    Ok(())
}

/// Reads an object written by [`header`] and [`write_rows`] back as record batches of at most
/// `batch_rows` rows of `schema`. An error is a `String` saying what is wrong and where (the line);
/// the caller knows whether the object's bytes were verified and so whose fault it is.
pub struct Reader<R> {
    input: R,
    schema: SchemaRef,
    batch_rows: usize,
    line: u64,
    header_read: bool,
    done: bool,
    record: Vec<u8>,
}

impl<R: BufRead> Reader<R> {
    /// A reader of `input` with the columns of `schema`.
    pub fn new(input: R, schema: SchemaRef, batch_rows: usize) -> Self {
        Reader {
            input,
            schema,
            batch_rows: batch_rows.max(1),
            line: 0,
            header_read: false,
            done: false,
            record: Vec::new(),
        }
    }

    /// The next record's bytes (without its final `\n`) in `self.record`; false at the end.
    /// A record spans lines while a quote is open.
    fn next_record(&mut self) -> std::result::Result<bool, String> {
        self.record.clear();
        let mut quotes = 0usize;
        loop {
            let start = self.record.len();
            let n = self
                .input
                .read_until(b'\n', &mut self.record)
                .map_err(|e| format!("cannot read line {}: {e}", self.line + 1))?;
            if n == 0 {
                if self.record.is_empty() {
                    return Ok(false);
                }
                return Err(format!(
                    "line {}: a quoted value is not closed at the end of the object",
                    self.line
                ));
            }
            self.line += 1;
            quotes += self.record[start..].iter().filter(|&&b| b == b'"').count();
            if quotes.is_multiple_of(2) {
                if self.record.last() == Some(&b'\n') {
                    self.record.pop();
                } else {
                    return Err(format!("line {}: the last record has no line end", self.line));
                }
                return Ok(true);
            }
        }
    }

    /// Splits `self.record` into `columns` fields: `None` for an empty unquoted field (NULL),
    /// the unescaped bytes otherwise.
    fn fields(&self, columns: usize, out: &mut Vec<Option<Vec<u8>>>) -> std::result::Result<(), String> {
        out.clear();
        let bytes = &self.record;
        let mut i = 0;
        loop {
            if i < bytes.len() && bytes[i] == b'"' {
                let mut value = Vec::new();
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(format!("line {}: a quoted value is not closed", self.line)),
                        Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                            value.push(b'"');
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(&b) => {
                            value.push(b);
                            i += 1;
                        }
                    }
                }
                out.push(Some(value));
            } else {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b',')
                    .map_or(bytes.len(), |p| i + p);
                let value = &bytes[i..end];
                if value.contains(&b'"') {
                    return Err(format!("line {}: a quote inside an unquoted value", self.line));
                }
                out.push((!value.is_empty()).then(|| value.to_vec()));
                i = end;
            }
            match bytes.get(i) {
                None => break,
                Some(b',') => i += 1,
                Some(_) => return Err(format!("line {}: text after a closing quote", self.line)),
            }
        }
        if out.len() != columns {
            return Err(format!(
                "line {}: {} fields, the manifest's schema has {columns} columns",
                self.line,
                out.len()
            ));
        }
        Ok(())
    }

    fn read_header(&mut self) -> std::result::Result<(), String> {
        self.header_read = true;
        if !self.next_record()? {
            return Err("the object is empty: it has no header line".to_string());
        }
        let mut fields = Vec::new();
        self.fields(self.schema.fields().len(), &mut fields)?;
        for (field, name) in self.schema.fields().iter().zip(&fields) {
            if name.as_deref() != Some(field.name().as_bytes()) {
                return Err(format!(
                    "the header names {} where the manifest's schema has column {}",
                    name.as_deref().map_or("NULL".into(), String::from_utf8_lossy),
                    field.name()
                ));
            }
        }
        Ok(())
    }

    fn read_batch(&mut self) -> std::result::Result<Option<RecordBatch>, String> {
        if !self.header_read {
            self.read_header()?;
        }
        let columns = self.schema.fields().len();
        let mut text: Vec<StringBuilder> = (0..columns).map(|_| StringBuilder::new()).collect();
        let mut binary: Vec<BinaryBuilder> = (0..columns).map(|_| BinaryBuilder::new()).collect();
        let mut fields = Vec::with_capacity(columns);
        let mut rows = 0;
        let first_line = self.line + 1;
        while rows < self.batch_rows && self.next_record()? {
            self.fields(columns, &mut fields)?;
            for (c, value) in fields.iter().enumerate() {
                let field = self.schema.field(c);
                match (value, field.data_type()) {
                    (None, DataType::Binary) => binary[c].append_null(),
                    (None, _) => text[c].append_null(),
                    (Some(v), DataType::Binary) => binary[c].append_value(unhex(v).ok_or_else(|| {
                        format!("line {}: column {} is not `\\x` and hex", self.line, field.name())
                    })?),
                    (Some(v), _) => {
                        text[c].append_value(std::str::from_utf8(v).map_err(|_| {
                            format!("line {}: column {} is not UTF-8", self.line, field.name())
                        })?)
                    }
                }
            }
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let arrays = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .map(|(c, field)| -> std::result::Result<ArrayRef, String> {
                let array: ArrayRef = match field.data_type() {
                    DataType::Binary => Arc::new(binary[c].finish()),
                    DataType::Utf8 => Arc::new(text[c].finish()),
                    target => {
                        let strings = text[c].finish();
                        cast_with_options(&strings, target, &options).map_err(|e| {
                            format!(
                                "lines {first_line}-{}: column {} does not read as {target}: {e}",
                                self.line,
                                field.name()
                            )
                        })?
                    }
                };
                if !field.is_nullable() && array.null_count() > 0 {
                    return Err(format!(
                        "lines {first_line}-{}: column {} is declared NOT NULL but holds an empty unquoted field (NULL)",
                        self.line,
                        field.name()
                    ));
                }
                Ok(array)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map(Some)
            .map_err(|e| format!("lines {first_line}-{}: {e}", self.line))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = std::result::Result<RecordBatch, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn unhex(v: &[u8]) -> Option<Vec<u8>> {
    let hex = v.strip_prefix(b"\\x")?;
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, StringArray,
        Time64MicrosecondArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Field, Schema, TimeUnit};

    /// Every type ingest lands, with the values a general CSV reader gets wrong, survives a write
    /// and a read unchanged: '' vs NULL, quotes, commas, CR/LF, backslashes and a literal `\N`,
    /// emoji, a decimal's scale, timestamps with milliseconds, bytes and a UTC instant.
    #[test]
    fn every_landed_type_reads_back_exactly_as_written() {
        let texts = [
            Some(""),
            None,
            Some("a \"quoted\", value"),
            Some("line\r\nbreak\nand\rcr"),
            Some("back\\slash and \\N"),
            Some("\\N"),
            Some("emoji 🎉 and Democratic People's Republic of Korea"),
            Some(","),
        ];
        let n = texts.len();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(38, 10), true),
            Field::new("paid", DataType::Boolean, true),
            Field::new("day", DataType::Date32, true),
            Field::new("at", DataType::Time64(TimeUnit::Microsecond), true),
            Field::new(
                "last_updated",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new(
                "instant",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                true,
            ),
            Field::new("bytes", DataType::Binary, true),
            Field::new("ratio", DataType::Float64, true),
        ]));
        let some_null = |i: usize| i % 3 == 1;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from_iter_values(0..n as i32)),
                Arc::new(StringArray::from(texts.to_vec())),
                Arc::new(
                    Decimal128Array::from_iter(
                        (0..n).map(|i| (!some_null(i)).then_some(2_355_991_800_000_000 + i as i128)),
                    )
                    .with_precision_and_scale(38, 10)
                    .unwrap(),
                ),
                Arc::new(BooleanArray::from_iter(
                    (0..n).map(|i| (!some_null(i)).then_some(i % 2 == 0)),
                )),
                Arc::new(Date32Array::from_iter(
                    (0..n).map(|i| (!some_null(i)).then_some(20_000 + i as i32)),
                )),
                Arc::new(Time64MicrosecondArray::from_iter(
                    (0..n).map(|i| (!some_null(i)).then_some(36_000_123_000 + i as i64)),
                )),
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    (0..n).map(|i| 1_700_000_000_123_000 + i as i64 * 1_000),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from_iter(
                        (0..n).map(|i| (!some_null(i)).then_some(1_700_000_000_456_000)),
                    )
                    .with_timezone("+00:00"),
                ),
                Arc::new(BinaryArray::from_iter((0..n).map(|i| match i % 3 {
                    0 => Some(&b""[..]),
                    1 => None,
                    _ => Some(&b"\x00\xff,\"\n"[..]),
                }))),
                Arc::new(Float64Array::from_iter(
                    (0..n).map(|i| (!some_null(i)).then_some(0.1 + i as f64)),
                )),
            ],
        )
        .unwrap();
        let mut buf = header(&schema);
        buf.push(b'\n');
        write_rows(&batch, &mut buf).unwrap();

        // Two rows a batch, so records that span lines also span batches.
        let read: Vec<RecordBatch> = Reader::new(&buf[..], schema.clone(), 2)
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let read = arrow::compute::concat_batches(&schema, &read).unwrap();
        assert_eq!(read, batch);
        let names = read.column(1).as_string::<i32>();
        assert!(
            names.is_valid(0) && names.value(0).is_empty(),
            "'' stays the empty string"
        );
        assert!(names.is_null(1), "NULL stays NULL");
    }

    #[test]
    fn a_null_in_a_not_null_column_and_a_short_record_are_named() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        let err = Reader::new(&b"\"id\",\"name\"\n1,\n"[..], schema.clone(), 8)
            .next()
            .unwrap()
            .unwrap_err();
        assert!(err.contains("column name is declared NOT NULL"), "{err}");
        let err = Reader::new(&b"\"id\",\"name\"\n1\n"[..], schema.clone(), 8)
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            err.contains("line 2: 1 fields, the manifest's schema has 2 columns"),
            "{err}"
        );
        let err = Reader::new(&b"\"id\",\"nom\"\n"[..], schema, 8)
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            err.contains("the header names nom where the manifest's schema has column name"),
            "{err}"
        );
    }
}

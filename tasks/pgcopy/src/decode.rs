//! Postgres binary COPY → Arrow record batches, without text parsing or generic rows.
//!
//! The binary COPY stream is a fixed header, then one tuple per row (a 16-bit field count, then
//! each field as a 32-bit length, -1 for NULL, and the value in the type's binary send format),
//! then a trailer of -1. [`CopyDecoder`] takes the stream in whatever chunks the connection hands
//! over, decodes every complete tuple straight into typed Arrow builders, and keeps the incomplete
//! tail for the next chunk. It also hands back each row's cursor key (primary key, last_updated).
//!
//! Values are converted exactly; anything that cannot be represented (a numeric with more
//! fractional digits than its decimal scale, NaN, infinite dates) is an error naming the column.
//! The one exception is a `numeric` column declared without a scale, whose scale the read learns
//! from its values: the decoder notes the largest scale it sees in each ([`CopyDecoder::scales`]),
//! and a value with more places than the column's current scale is held as a placeholder, for
//! the read to be done again at the scale its values have (`ingest` never commits such a read).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::DataType;
use bytes::{Buf, BytesMut};
use tote_core::{Error, Result};

use crate::layout::TableLayout;
use crate::types::{PgType, UNCONSTRAINED_PRECISION};
use crate::wire::{numeric_scale, numeric_to_i128, PG_EPOCH_DAYS, PG_EPOCH_MICROS, SIGNATURE};

/// A row's cursor key: (primary key, last_updated in microseconds since 1970).
pub type RowKey = (i64, i64);

enum Column {
    Bool(BooleanBuilder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Numeric(Decimal128Builder, u8, i8),
    Text(StringBuilder),
    Jsonb(StringBuilder),
    Uuid(StringBuilder),
    Bytes(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder, bool),
}

impl Column {
    /// A builder for values of `pg_type`, stored as `arrow_type` (a decimal's precision and
    /// scale come from it).
    fn new(pg_type: PgType, arrow_type: &DataType, capacity: usize) -> Column {
        match pg_type {
            PgType::Bool => Column::Bool(BooleanBuilder::with_capacity(capacity)),
            PgType::Int2 => Column::Int16(Int16Builder::with_capacity(capacity)),
            PgType::Int4 => Column::Int32(Int32Builder::with_capacity(capacity)),
            PgType::Int8 => Column::Int64(Int64Builder::with_capacity(capacity)),
            PgType::Float4 => Column::Float32(Float32Builder::with_capacity(capacity)),
            PgType::Float8 => Column::Float64(Float64Builder::with_capacity(capacity)),
            PgType::Numeric(_) => {
                let DataType::Decimal128(precision, scale) = *arrow_type else {
                    unreachable!("a numeric column is stored as a decimal: {arrow_type}")
                };
                Column::Numeric(Decimal128Builder::with_capacity(capacity), precision, scale)
            }
            PgType::Text | PgType::Json => {
                Column::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            PgType::Jsonb => Column::Jsonb(StringBuilder::with_capacity(capacity, capacity * 16)),
            PgType::Uuid => Column::Uuid(StringBuilder::with_capacity(capacity, capacity * 36)),
            PgType::Bytea => Column::Bytes(BinaryBuilder::with_capacity(capacity, capacity * 16)),
            PgType::Date => Column::Date(Date32Builder::with_capacity(capacity)),
            PgType::Time => Column::Time(Time64MicrosecondBuilder::with_capacity(capacity)),
            PgType::Timestamp => {
                Column::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity), false)
            }
            PgType::TimestampTz => {
                Column::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity), true)
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            Column::Bool(b) => b.append_null(),
            Column::Int16(b) => b.append_null(),
            Column::Int32(b) => b.append_null(),
            Column::Int64(b) => b.append_null(),
            Column::Float32(b) => b.append_null(),
            Column::Float64(b) => b.append_null(),
            Column::Numeric(b, ..) => b.append_null(),
            Column::Text(b) | Column::Jsonb(b) | Column::Uuid(b) => b.append_null(),
            Column::Bytes(b) => b.append_null(),
            Column::Date(b) => b.append_null(),
            Column::Time(b) => b.append_null(),
            Column::Timestamp(b, _) => b.append_null(),
        }
    }

    /// Appends a stand-in for a value the column cannot hold at its current scale.
    fn append_placeholder(&mut self) {
        if let Column::Numeric(b, ..) = self {
            b.append_value(0);
        }
    }

    /// Appends one non-NULL value; returns it as i64 when it can serve as a cursor key part.
    fn append(&mut self, v: &[u8]) -> std::result::Result<Option<i64>, String> {
        let fixed = |n: usize| {
            if v.len() == n {
                Ok(())
            } else {
                Err(format!("expected {n} bytes, got {}", v.len()))
            }
        };
        Ok(match self {
            Column::Bool(b) => {
                fixed(1)?;
                b.append_value(v[0] != 0);
                None
            }
            Column::Int16(b) => {
                fixed(2)?;
                let x = i16::from_be_bytes([v[0], v[1]]);
                b.append_value(x);
                Some(x as i64)
            }
            Column::Int32(b) => {
                fixed(4)?;
                let x = i32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                b.append_value(x);
                Some(x as i64)
            }
            Column::Int64(b) => {
                fixed(8)?;
                let x = i64::from_be_bytes(v.try_into().unwrap());
                b.append_value(x);
                Some(x)
            }
            Column::Float32(b) => {
                fixed(4)?;
                b.append_value(f32::from_be_bytes(v.try_into().unwrap()));
                None
            }
            Column::Float64(b) => {
                fixed(8)?;
                b.append_value(f64::from_be_bytes(v.try_into().unwrap()));
                None
            }
            Column::Numeric(b, precision, scale) => {
                b.append_value(numeric_to_i128(v, *precision, *scale)?);
                None
            }
            Column::Text(b) => {
                b.append_value(std::str::from_utf8(v).map_err(|e| format!("invalid UTF-8: {e}"))?);
                None
            }
            Column::Jsonb(b) => {
                if v.first() != Some(&1) {
                    return Err("unknown jsonb version".to_string());
                }
                b.append_value(std::str::from_utf8(&v[1..]).map_err(|e| format!("invalid UTF-8: {e}"))?);
                None
            }
            Column::Uuid(b) => {
                fixed(16)?;
                let bytes: [u8; 16] = v.try_into().map_err(|_| "uuid of the wrong length".to_string())?;
                b.append_value(uuid::Uuid::from_bytes(bytes).hyphenated().to_string());
                None
            }
            Column::Bytes(b) => {
                b.append_value(v);
                None
            }
            Column::Date(b) => {
                fixed(4)?;
                let days = i32::from_be_bytes(v.try_into().unwrap());
                if days == i32::MAX || days == i32::MIN {
                    return Err("infinite dates cannot be represented".to_string());
                }
                b.append_value(days + PG_EPOCH_DAYS);
                None
            }
            Column::Time(b) => {
                fixed(8)?;
                b.append_value(i64::from_be_bytes(v.try_into().unwrap()));
                None
            }
            Column::Timestamp(b, _) => {
                fixed(8)?;
                let us = i64::from_be_bytes(v.try_into().unwrap());
                if us == i64::MAX || us == i64::MIN {
                    return Err("infinite timestamps cannot be represented".to_string());
                }
                let unix = us + PG_EPOCH_MICROS;
                b.append_value(unix);
                Some(unix)
            }
        })
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Int16(b) => Arc::new(b.finish()),
            Column::Int32(b) => Arc::new(b.finish()),
            Column::Int64(b) => Arc::new(b.finish()),
            Column::Float32(b) => Arc::new(b.finish()),
            Column::Float64(b) => Arc::new(b.finish()),
            Column::Numeric(b, p, s) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .expect("precision and scale were validated"),
            ),
            Column::Text(b) | Column::Jsonb(b) | Column::Uuid(b) => Arc::new(b.finish()),
            Column::Bytes(b) => Arc::new(b.finish()),
            Column::Date(b) => Arc::new(b.finish()),
            Column::Time(b) => Arc::new(b.finish()),
            Column::Timestamp(b, tz) => {
                let a = b.finish();
                Arc::new(if *tz { a.with_timezone("UTC") } else { a })
            }
        }
    }
}

/// Decodes a binary COPY stream of one table into record batches of about `batch_rows` rows (a
/// batch is full at `batch_rows`, plus the rest of the chunk that filled it: Postgres sends one
/// row per chunk).
pub struct CopyDecoder {
    table: String,
    layout: TableLayout,
    columns: Vec<Column>,
    pk: usize,
    last_updated: usize,
    keys: Vec<RowKey>,
    pending: BytesMut,
    header_done: bool,
    trailer_seen: bool,
    batch_rows: usize,
    bytes: u64,
    /// For each `numeric` column declared without a scale: its position, its current scale, and
    /// the largest scale among its values so far.
    scales: Vec<ObservedScale>,
    /// For each column, its entry in `scales`, if any (looked up for every value decoded).
    scale_of: Vec<Option<usize>>,
}

/// The scales one unconstrained `numeric` column's values have, as a read sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservedScale {
    /// The column's position.
    pub column: usize,
    /// The scale it is being decoded at.
    pub scale: i8,
    /// The largest scale (`scale(value)`, the value's display scale) among its non-NULL values.
    pub largest: Option<i16>,
}

impl CopyDecoder {
    /// A decoder for `layout`, whose cursor key is columns `pk` and `last_updated`.
    pub fn new(table: &str, layout: TableLayout, pk: usize, last_updated: usize, batch_rows: usize) -> Self {
        let columns = layout
            .types
            .iter()
            .zip(layout.schema.fields())
            .map(|(t, f)| Column::new(*t, f.data_type(), batch_rows))
            .collect();
        let scales = layout
            .unconstrained_numerics()
            .into_iter()
            .map(|column| ObservedScale {
                column,
                scale: match layout.schema.field(column).data_type() {
                    DataType::Decimal128(_, scale) => *scale,
                    _ => 0,
                },
                largest: None,
            })
            .collect::<Vec<ObservedScale>>();
        let mut scale_of = vec![None; layout.types.len()];
        for (n, seen) in scales.iter().enumerate() {
            scale_of[seen.column] = Some(n);
        }
        CopyDecoder {
            scales,
            scale_of,
            table: table.to_string(),
            layout,
            columns,
            pk,
            last_updated,
            keys: Vec::with_capacity(batch_rows),
            pending: BytesMut::new(),
            header_done: false,
            trailer_seen: false,
            batch_rows,
            bytes: 0,
        }
    }

    /// What the decoder saw of each unconstrained `numeric` column's scale. A column whose
    /// largest scale exceeds its current one holds placeholders: the rows must be read again.
    pub fn scales(&self) -> &[ObservedScale] {
        &self.scales
    }

    /// Rows decoded into the current, unfinished batch.
    pub fn buffered_rows(&self) -> usize {
        self.keys.len()
    }

    /// Bytes of COPY data seen so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the current batch is full and should be taken.
    pub fn is_full(&self) -> bool {
        self.keys.len() >= self.batch_rows
    }

    /// Decodes every complete tuple in `chunk` (plus what was left over from earlier chunks).
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        self.bytes += chunk.len() as u64;
        if self.pending.is_empty() {
            let used = self.decode(chunk)?;
            if used < chunk.len() {
                self.pending.extend_from_slice(&chunk[used..]);
            }
        } else {
            self.pending.extend_from_slice(chunk);
            let pending = std::mem::take(&mut self.pending);
            let used = self.decode(&pending)?;
            self.pending = pending;
            self.pending.advance(used);
        }
        Ok(())
    }

    /// Decodes complete tuples from `buf`; returns how many bytes were consumed.
    fn decode(&mut self, buf: &[u8]) -> Result<usize> {
        let mut pos = 0;
        if !self.header_done {
            if buf.len() < 19 {
                return Ok(0);
            }
            if &buf[..11] != SIGNATURE {
                return Err(Error::internal(
                    "the source sent a COPY stream without the binary signature",
                ));
            }
            let ext = u32::from_be_bytes(buf[15..19].try_into().unwrap()) as usize;
            if buf.len() < 19 + ext {
                return Ok(0);
            }
            pos = 19 + ext;
            self.header_done = true;
        }
        let ncols = self.columns.len();
        while pos + 2 <= buf.len() {
            let nfields = i16::from_be_bytes([buf[pos], buf[pos + 1]]);
            if nfields == -1 {
                self.trailer_seen = true;
                return Ok(buf.len());
            }
            if nfields as usize != ncols {
                return Err(Error::internal(format!(
                    "COPY of {} sent {nfields} fields, expected {ncols}",
                    self.table
                )));
            }
            // Check the whole tuple is here before touching the builders.
            let mut end = pos + 2;
            for _ in 0..ncols {
                if end + 4 > buf.len() {
                    return Ok(pos);
                }
                let len = i32::from_be_bytes(buf[end..end + 4].try_into().unwrap());
                end += 4 + len.max(0) as usize;
            }
            if end > buf.len() {
                return Ok(pos);
            }
            let mut at = pos + 2;
            let (mut pk, mut lu) = (0i64, 0i64);
            for (i, column) in self.columns.iter_mut().enumerate() {
                let len = i32::from_be_bytes(buf[at..at + 4].try_into().unwrap());
                at += 4;
                if len < 0 {
                    column.append_null();
                    continue;
                }
                let value = &buf[at..at + len as usize];
                at += len as usize;
                if let Some(seen) = self.scale_of[i].map(|n| &mut self.scales[n]) {
                    let scale = numeric_scale(value).map_err(|why| {
                        Error::bad_request(format!("{}.{}: {why}", self.table, self.layout.columns[i].name))
                    })?;
                    seen.largest = seen.largest.max(Some(scale));
                    // A scale no decimal holds is left to `append`, which refuses it.
                    if scale > i16::from(seen.scale) && scale <= i16::from(UNCONSTRAINED_PRECISION) {
                        column.append_placeholder();
                        continue;
                    }
                }
                let key = column.append(value).map_err(|why| {
                    Error::bad_request(format!(
                        "{}.{} ({}): {why}",
                        self.table, self.layout.columns[i].name, self.layout.columns[i].type_name
                    ))
                })?;
                if i == self.pk {
                    pk = key.unwrap_or_default();
                } else if i == self.last_updated {
                    lu = key.unwrap_or_default();
                }
            }
            self.keys.push((pk, lu));
            pos = end;
        }
        Ok(pos)
    }

    /// Takes the rows decoded so far as a record batch, with their cursor keys.
    pub fn take_batch(&mut self) -> Result<Option<(RecordBatch, Vec<RowKey>)>> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.layout.schema), arrays).map_err(|e| {
            Error::internal(format!("cannot assemble a batch of {}: {e}", self.table)).with_source(e)
        })?;
        let keys = std::mem::replace(&mut self.keys, Vec::with_capacity(self.batch_rows));
        Ok(Some((batch, keys)))
    }

    /// Checks the stream ended properly (trailer seen, nothing left over).
    pub fn finish(&self) -> Result<()> {
        if !self.trailer_seen || !self.pending.is_empty() {
            return Err(Error::internal(format!(
                "the COPY stream of {} ended early",
                self.table
            )));
        }
        Ok(())
    }
}

/// Record batches decoded from a COPY stream, with their cursor keys.
pub struct Decoded {
    /// The rows.
    pub batch: RecordBatch,
    /// Each row's cursor key.
    pub keys: Vec<RowKey>,
    /// Bytes of COPY data they came from.
    pub bytes: u64,
}

/// Why a background decoding stopped early.
pub enum Stopped<E> {
    /// The stream failed (the source's error).
    Source(E),
    /// What the stream sent could not be decoded.
    Decode(Error),
}

impl<E> Stopped<E> {
    /// The error to report, the source's turned into one by `source`.
    pub fn into_error(self, source: impl FnOnce(E) -> Error) -> Error {
        match self {
            Stopped::Source(e) => source(e),
            Stopped::Decode(e) => e,
        }
    }
}

/// A COPY stream decoded by a task of its own, batch by batch.
///
/// Why a task: the connection's task reads the socket and hands each read to whoever polls the
/// stream. Polled from a spawned task, that hand-off stays on the worker thread that read it; polled
/// from a future a thread blocks on (a command's `main`, the Lambda's event loop) or from one task
/// that also drives other reads (concurrent chunks), each read costs a wake-up of another thread, or
/// shares one thread with every other read. At most two decoded batches wait, so memory stays bounded.
/// Dropped before the end (the reader failed), the task stops and the stream is dropped.
pub struct Decoding<E> {
    batches: tokio::sync::mpsc::Receiver<Decoded>,
    task: Option<tokio::task::JoinHandle<std::result::Result<CopyDecoder, Stopped<E>>>>,
}

impl<E: Send + 'static> Decoding<E> {
    /// Starts decoding `stream` with `decoder` on a task of its own.
    pub fn spawn<S>(mut decoder: CopyDecoder, stream: S) -> Decoding<E>
    where
        S: futures_util::Stream<Item = std::result::Result<bytes::Bytes, E>> + Send + 'static,
    {
        use futures_util::StreamExt;
        let (sender, batches) = tokio::sync::mpsc::channel(2);
        let task = tokio::spawn(async move {
            futures_util::pin_mut!(stream);
            let mut bytes = 0u64;
            loop {
                let chunk = stream.next().await;
                let done = chunk.is_none();
                if let Some(chunk) = chunk {
                    let chunk = chunk.map_err(Stopped::Source)?;
                    bytes += chunk.len() as u64;
                    decoder.push(&chunk).map_err(Stopped::Decode)?;
                }
                if decoder.is_full() || (done && decoder.buffered_rows() > 0) {
                    let (batch, keys) = decoder
                        .take_batch()
                        .map_err(Stopped::Decode)?
                        .expect("rows are buffered");
                    let decoded = Decoded {
                        batch,
                        keys,
                        bytes: std::mem::take(&mut bytes),
                    };
                    if sender.send(decoded).await.is_err() {
                        // The reader stopped; its own error says why.
                        break;
                    }
                }
                if done {
                    break;
                }
            }
            Ok(decoder)
        });
        Decoding {
            batches,
            task: Some(task),
        }
    }

    /// The next decoded batch, or `None` at the end of the stream or when decoding stopped
    /// ([`Decoding::finish`] says which).
    pub async fn next(&mut self) -> Option<Decoded> {
        self.batches.recv().await
    }

    /// Waits for the end of the decoding; returns the decoder (for [`CopyDecoder::finish`] and
    /// [`CopyDecoder::scales`]) or why it stopped.
    pub async fn finish(mut self) -> std::result::Result<CopyDecoder, Stopped<E>> {
        let task = self.task.take().expect("finished once");
        match task.await {
            Ok(decoded) => decoded,
            Err(e) => Err(Stopped::Decode(Error::internal(format!(
                "the COPY decoder failed: {e}"
            )))),
        }
    }
}

impl<E> Drop for Decoding<E> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::SourceColumn;
    use arrow::array::AsArray;
    use arrow::datatypes::Int32Type;

    fn layout() -> TableLayout {
        let column = |name: &str, oid, type_name: &str| SourceColumn {
            name: name.to_string(),
            oid,
            typmod: -1,
            type_name: type_name.to_string(),
            nullable: false,
        };
        TableLayout::new(
            "t",
            vec![
                column("t_id", 23, "integer"),
                column("last_updated", 1114, "timestamp(3) without time zone"),
            ],
        )
        .unwrap()
    }

    /// A binary COPY stream of rows (id, last_updated = id ms after 2000-01-01), without its trailer.
    fn copy_rows(ids: std::ops::Range<i32>) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        for id in ids {
            out.extend_from_slice(&2i16.to_be_bytes());
            out.extend_from_slice(&4i32.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&(i64::from(id) * 1000).to_be_bytes());
        }
        out
    }

    /// The stream in uneven pieces, as a connection hands it over, with `last` after them.
    fn pieces(
        data: Vec<u8>,
        last: Option<std::result::Result<bytes::Bytes, &'static str>>,
    ) -> impl futures_util::Stream<Item = std::result::Result<bytes::Bytes, &'static str>> {
        let mut items: Vec<_> = data
            .chunks(37)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        items.extend(last);
        futures_util::stream::iter(items)
    }

    /// Every row arrives once, in order, in batches of about the decoder's size, with its
    /// cursor key; the decoder comes back having seen the whole stream.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_decoded_on_its_own_task_arrives_whole_in_bounded_batches() {
        let trailer = bytes::Bytes::from_static(&[0xff, 0xff]);
        let decoder = CopyDecoder::new("t", layout(), 0, 1, 100);
        let mut decoding = Decoding::spawn(decoder, pieces(copy_rows(0..1050), Some(Ok(trailer))));
        let (mut ids, mut keys, mut bytes) = (Vec::new(), Vec::new(), 0);
        while let Some(decoded) = decoding.next().await {
            // A batch is taken once full; a piece of 37 bytes ends at most two rows past it.
            assert!((1..=102).contains(&decoded.batch.num_rows()));
            ids.extend(
                decoded
                    .batch
                    .column(0)
                    .as_primitive::<Int32Type>()
                    .values()
                    .iter()
                    .copied(),
            );
            keys.extend(decoded.keys);
            bytes += decoded.bytes;
        }
        let decoder = decoding.finish().await.ok().expect("decoded to the end");
        decoder.finish().unwrap();
        assert_eq!(ids, (0..1050).collect::<Vec<_>>());
        let pg_epoch = PG_EPOCH_MICROS;
        assert_eq!(keys[7], (7, 7000 + pg_epoch));
        assert_eq!(bytes, decoder.bytes());
    }

    /// A source error part-way ends the decoding with that error, and a stream that stops
    /// without its trailer is refused as ended early: neither passes for a whole table.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_that_fails_or_stops_early_is_never_taken_for_whole() {
        let decoder = CopyDecoder::new("t", layout(), 0, 1, 100);
        let mut decoding = Decoding::spawn(decoder, pieces(copy_rows(0..500), Some(Err("connection reset"))));
        while decoding.next().await.is_some() {}
        match decoding.finish().await {
            Err(Stopped::Source(e)) => assert_eq!(e, "connection reset"),
            Err(Stopped::Decode(e)) => panic!("expected the source's error, got {e}"),
            Ok(_) => panic!("a failed stream decoded as whole"),
        }

        let decoder = CopyDecoder::new("t", layout(), 0, 1, 100);
        let mut decoding = Decoding::spawn(decoder, pieces(copy_rows(0..500), None));
        while decoding.next().await.is_some() {}
        let decoder = decoding
            .finish()
            .await
            .ok()
            .expect("the stream itself did not fail");
        let early = decoder.finish().unwrap_err();
        assert!(early.to_string().contains("ended early"), "{early}");
    }
}

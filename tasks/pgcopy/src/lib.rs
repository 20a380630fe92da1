//! Postgres's binary COPY format, both directions, with Arrow on the other side.
//!
//! The ingest decodes `COPY … TO STDOUT (FORMAT binary)` from the source into Arrow record
//! batches; the load encodes record batches into `COPY … FROM STDIN (FORMAT binary)` for the
//! warehouse. One format, so one crate, as arrow-rs keeps a format's reader and writer together:
//!
//! - [`types`]: the one type vocabulary, [`PgType`]: a Postgres type by oid or by name and
//!   modifier, and the Arrow type its values are stored as;
//! - [`wire`]: the stream's framing, the epochs of its dates and timestamps, and `numeric`;
//! - [`layout`]: a source table's columns and the Arrow schema they decode into;
//! - [`decode`]: the stream decoded into record batches, on a task of its own;
//! - [`encode`]: record batches encoded into rows for a fixed list of warehouse columns.
//!
//! Hand-written because the generic row codecs are an order of magnitude slower
//! (docs/benchmarks.md). Values are converted exactly or refused, naming the column; the
//! round-trip tests need no database.

pub mod decode;
pub mod encode;
pub mod layout;
pub mod types;
pub mod wire;

pub use types::PgType;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, RecordBatch, StringArray,
        Time64MicrosecondArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use bytes::BytesMut;

    use crate::decode::CopyDecoder;
    use crate::encode::{ColumnEncoder, RowEncoder};
    use crate::layout::{SourceColumn, TableLayout};
    use crate::wire::{HEADER, TRAILER};
    use crate::PgType;

    /// A warehouse-like table: `(name, type oid, typmod, catalog type name)`.
    const COLUMNS: [(&str, u32, i32, &str); 7] = [
        ("id", 23, -1, "int4"),
        ("price", 1700, (10 << 16 | 2) + 4, "numeric"),
        ("name", 25, -1, "text"),
        ("paid", 16, -1, "bool"),
        ("day", 1082, -1, "date"),
        ("at", 1083, -1, "time"),
        ("last_updated", 1114, -1, "timestamp"),
    ];

    /// Rows with NULLs, signs, a quote, a multi-byte string and the epochs' edges.
    fn batch() -> RecordBatch {
        let schema = Schema::new(
            COLUMNS
                .iter()
                .map(|(name, oid, typmod, _)| {
                    Field::new(*name, PgType::from_oid(*oid, *typmod).unwrap().arrow_type(), true)
                })
                .collect::<Vec<_>>(),
        );
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![Some(1), Some(-7), Some(i32::MAX)])),
            Arc::new(
                Decimal128Array::from(vec![Some(123_456), None, Some(-5)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(StringArray::from(vec![
                Some("Democratic People's Republic of Korea"),
                Some("Łódź"),
                None,
            ])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            Arc::new(Date32Array::from(vec![Some(0), Some(10_957), Some(-1)])),
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(0),
                Some(86_399_999_000),
                None,
            ])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_700_000_000_123_000),
                Some(946_684_800_000_000),
                Some(-1_000),
            ])),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    /// What the encoder writes for the warehouse, the decoder reads back for the landing zone:
    /// the same values, NULLs and types, in bounded batches, with each row's cursor key.
    #[test]
    fn a_batch_encoded_for_copy_from_decodes_back_to_the_same_batch() {
        let batch = batch();
        let encoders = COLUMNS
            .iter()
            .zip(batch.schema().fields())
            .map(|((name, _, typmod, typname), f)| {
                ColumnEncoder::new(name, f.data_type(), &PgType::from_name(typname, *typmod).unwrap())
                    .unwrap()
            })
            .collect();
        let mut stream = BytesMut::from(HEADER);
        RowEncoder::new(encoders).encode(&batch, &mut stream).unwrap();
        stream.extend_from_slice(TRAILER);

        let columns = COLUMNS
            .iter()
            .map(|(name, oid, typmod, typname)| SourceColumn {
                name: name.to_string(),
                oid: *oid,
                typmod: *typmod,
                type_name: typname.to_string(),
                nullable: true,
            })
            .collect();
        let layout = TableLayout::new("t", columns).unwrap();
        let mut decoder = CopyDecoder::new("t", layout, 0, 6, 2);
        // Handed over in uneven pieces, as a connection does.
        for piece in stream.chunks(5) {
            decoder.push(piece).unwrap();
        }
        decoder.finish().unwrap();
        let (decoded, keys) = decoder.take_batch().unwrap().expect("rows");
        assert_eq!(decoded, batch);
        assert_eq!(keys[1], (-7, 946_684_800_000_000));
        assert_eq!(
            decoded.schema().field(1).data_type(),
            &DataType::Decimal128(10, 2),
            "numeric(10,2) stays exact"
        );
        assert_eq!(
            decoded.schema().field(6).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
            "naive"
        );
    }
}

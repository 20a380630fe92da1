//! Writing a batch's rows to its data object: Parquet (zstd, bounded row groups) or CSV.
//! Shared by the ingest (landing) and transform (processed) stages.
//!
//! Both stream to the store through a multipart writer, so memory is bounded by one row group
//! (Parquet) or one record batch (CSV) whatever the table's size, and both hash what they write
//! so the manifest can carry the object's SHA-256.
//!
//! CSV follows the convention of [`crate::csv_format`], which also reads it back.

use std::sync::Arc;

use crate::store::Store;
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use object_store::buffered::BufWriter;
use parquet::arrow::async_writer::{AsyncArrowWriter, AsyncFileWriter};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tote_core::batch::DataFormat;
use tote_core::batch::ObjectEntry;
use tote_core::{Error, Result};

/// Rows per Parquet row group: bounds the writer's memory.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The Parquet settings of every file tote writes: its landing and processed objects and the
/// transform's spill files. zstd level 1; at most `row_group_rows` rows per row group, which bounds
/// the writer's buffers; dictionary encoding only for text; and no min/max statistics for columns
/// stored as `FIXED_LEN_BYTE_ARRAY` (decimals of more than 18 digits, such as ToteSys's amounts).
///
/// Why those statistics are off: parquet's Arrow writer turns each record batch of such a column
/// into one shared buffer of values, and a row group's min and max are slices of that buffer. The
/// file's metadata keeps every row group's min and max until the file is closed, so the writer
/// holds on to up to two record batches of each such column per row group: memory that grows with
/// the table (most of the transform's heap at scale 300, see docs/benchmarks.md).
/// Nothing in tote reads Parquet statistics; a query engine reading these objects loses pruning
/// on amounts only.
///
/// Dictionary encoding: for ids, timestamps and amounts (mostly distinct), building the
/// dictionary was a quarter of ingest's CPU and then fell back to plain pages anyway; zstd
/// compresses repeated numbers well.
pub fn parquet_properties(schema: &Schema, row_group_rows: usize) -> WriterProperties {
    use parquet::arrow::ArrowSchemaConverter;
    use parquet::basic::Type as PhysicalType;
    use parquet::file::properties::EnabledStatistics;

    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")))
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_created_by("tote".to_string());
    for field in schema.fields() {
        if !matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8) {
            props = props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    // A schema Parquet cannot store fails when the writer starts, with its own message.
    if let Ok(parquet_schema) = ArrowSchemaConverter::new().convert(schema) {
        for column in parquet_schema.columns() {
            if column.physical_type() == PhysicalType::FIXED_LEN_BYTE_ARRAY {
                props = props.set_column_statistics_enabled(column.path().clone(), EnabledStatistics::None);
            }
        }
    }
    props.build()
}

/// The upload of one object, hashing and counting what passes through.
struct Upload {
    writer: BufWriter,
    hasher: Sha256,
    bytes: u64,
}

impl Upload {
    async fn put(&mut self, data: Bytes) -> std::io::Result<()> {
        self.hasher.update(&data);
        self.bytes += data.len() as u64;
        self.writer.put(data).await.map_err(std::io::Error::other)
    }
}

impl AsyncFileWriter for Upload {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        Box::pin(async move {
            self.put(bs)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        })
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        Box::pin(async move {
            self.writer
                .shutdown()
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        })
    }
}

enum Format {
    Parquet(Box<AsyncArrowWriter<Upload>>),
    Csv { upload: Box<Upload>, buf: Vec<u8> },
}

/// A data object being written.
pub struct ObjectSink {
    key: String,
    format: Format,
    rows: u64,
}

impl ObjectSink {
    /// Starts the object `key` in `store`, for rows of `schema`.
    pub fn create(store: &Store, key: &str, schema: Arc<Schema>, format: DataFormat) -> Result<ObjectSink> {
        let upload = Upload {
            writer: store.writer(key),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let format = match format {
            DataFormat::Parquet => {
                let props = parquet_properties(&schema, ROW_GROUP_ROWS);
                let writer = AsyncArrowWriter::try_new(upload, schema, Some(props)).map_err(|e| {
                    Error::internal(format!("cannot start Parquet object {key}: {e}")).with_source(e)
                })?;
                Format::Parquet(Box::new(writer))
            }
            DataFormat::Csv => {
                let mut buf = crate::csv_format::header(&schema);
                buf.push(b'\n');
                Format::Csv {
                    upload: Box::new(upload),
                    buf,
                }
            }
        };
        Ok(ObjectSink {
            key: key.to_string(),
            format,
            rows: 0,
        })
    }

    /// Appends a record batch.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        let key = &self.key;
        match &mut self.format {
            Format::Parquet(w) => w.write(batch).await.map_err(|e| {
                Error::internal(format!("cannot write Parquet object {key}: {e}")).with_source(e)
            }),
            Format::Csv { upload, buf } => {
                crate::csv_format::write_rows(batch, buf)?;
                if buf.len() >= 4 << 20 {
                    upload.put(Bytes::from(std::mem::take(buf))).await.map_err(|e| {
                        Error::internal(format!("cannot write CSV object {key}: {e}")).with_source(e)
                    })?;
                }
                Ok(())
            }
        }
    }

    /// Finishes the object; it exists in the store only after this returns.
    pub async fn finish(self) -> Result<ObjectEntry> {
        let key = self.key;
        let upload = match self.format {
            Format::Parquet(mut w) => {
                w.finish().await.map_err(|e| {
                    Error::internal(format!("cannot finish Parquet object {key}: {e}")).with_source(e)
                })?;
                w.into_inner()
            }
            Format::Csv { mut upload, buf } => {
                upload
                    .put(Bytes::from(buf))
                    .await
                    .map_err(|e| Error::internal(format!("cannot write {key}: {e}")).with_source(e))?;
                upload
                    .writer
                    .shutdown()
                    .await
                    .map_err(|e| Error::internal(format!("cannot finish {key}: {e}")).with_source(e))?;
                *upload
            }
        };
        let sha256 = hex::encode(upload.hasher.finalize());
        Ok(ObjectEntry {
            key,
            rows: self.rows,
            bytes: upload.bytes,
            sha256,
        })
    }
}

/// An [`ObjectSink`] driven by a task of its own: encoding, compression, hashing and upload
/// overlap with whatever produces the batches (decoding a COPY stream), on another core.
/// At most [`BackgroundSink::QUEUE`] batches wait between the two, so memory stays bounded.
///
/// Dropped without [`finish`](BackgroundSink::finish) (the producer failed), the task is
/// aborted and the object never appears, as with a dropped [`ObjectSink`].
pub struct BackgroundSink {
    queue: Option<tokio::sync::mpsc::Sender<RecordBatch>>,
    task: Option<tokio::task::JoinHandle<Result<ObjectEntry>>>,
}

impl BackgroundSink {
    /// Batches that may wait for the writer.
    pub const QUEUE: usize = 2;

    /// Moves `sink` onto a task of its own.
    pub fn spawn(mut sink: ObjectSink) -> BackgroundSink {
        let (queue, mut batches) = tokio::sync::mpsc::channel::<RecordBatch>(Self::QUEUE);
        let task = tokio::spawn(async move {
            while let Some(batch) = batches.recv().await {
                sink.write(&batch).await?;
            }
            sink.finish().await
        });
        BackgroundSink {
            queue: Some(queue),
            task: Some(task),
        }
    }

    /// Queues a record batch, waiting while the queue is full.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        let queue = self.queue.as_ref().expect("not finished");
        if queue.send(batch).await.is_err() {
            // The writer stopped early: its error says why.
            self.queue = None;
            return match self.join().await {
                Err(e) => Err(e),
                Ok(_) => Err(Error::internal("the object writer stopped before its last batch")),
            };
        }
        Ok(())
    }

    /// Writes what is queued and finishes the object; it exists in the store only after this.
    pub async fn finish(mut self) -> Result<ObjectEntry> {
        self.queue = None;
        self.join().await
    }

    async fn join(&mut self) -> Result<ObjectEntry> {
        let task = self.task.take().expect("joined once");
        task.await
            .map_err(|e| Error::internal(format!("the object writer task failed: {e}")).with_source(e))?
    }
}

impl Drop for BackgroundSink {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Decimal128Array, Int32Array, StringArray};
    use arrow::datatypes::Field;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Encoding;

    /// An amount column (numeric → Decimal128(38, 2)), an id and a text column, over several row
    /// groups: the row groups the writer keeps until the file is closed carry no statistics for
    /// the amount (which would hold a batch of it each), the other columns keep theirs, only
    /// text is dictionary-encoded, and every amount reads back exact.
    #[test]
    fn parquet_settings_keep_no_amount_statistics_and_amounts_exact() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("payment_id", DataType::Int32, false),
            Field::new("payment_amount", DataType::Decimal128(38, 2), false),
            Field::new("payment_type", DataType::Utf8, false),
        ]));
        let rows = 10_000;
        let amounts: Vec<i128> = (0..rows).map(|i| i as i128 * 1_000_003 - 7).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from_iter_values(0..rows)),
                Arc::new(
                    Decimal128Array::from(amounts.clone())
                        .with_precision_and_scale(38, 2)
                        .unwrap(),
                ),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["SALES_RECEIPT", "PURCHASE_PAYMENT"][i as usize % 2]),
                )),
            ],
        )
        .unwrap();
        let mut writer = ArrowWriter::try_new(
            Vec::new(),
            schema.clone(),
            Some(parquet_properties(&schema, 1_000)),
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.flush().unwrap();
        let kept = writer.flushed_row_groups();
        assert_eq!(kept.len(), 10);
        for group in kept {
            assert!(
                group.column(0).statistics().is_some(),
                "ids keep their statistics"
            );
            assert!(
                group.column(1).statistics().is_none(),
                "an amount's statistics are slices of a whole batch, held until the file closes"
            );
            assert!(
                group.column(2).statistics().is_some(),
                "text keeps its statistics"
            );
            let dictionary = |c: usize| {
                group
                    .column(c)
                    .encodings()
                    .any(|e| matches!(e, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY))
            };
            assert!(!dictionary(0) && !dictionary(1) && dictionary(2));
        }
        let bytes = Bytes::from(writer.into_inner().unwrap());
        let read: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let back: Vec<i128> = read
            .iter()
            .flat_map(|b| {
                b.column(1)
                    .as_primitive::<arrow::datatypes::Decimal128Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(back, amounts);
    }
}

//! A source table's new versions for one run (`T__changes`), spilled to local disk.
//!
//! The first run after a full ingest sees every row of every table; holding those in memory would
//! make the transform's peak grow with the source (docs/benchmarks.md has the measurements). Instead, [`Changes::read`]
//! streams the new landing batches, drops versions already seen in this run (re-reads and full
//! refreshes repeat `(primary key, last_updated)` pairs; only the versions a later batch could
//! read again are remembered, see [`remember_floors`]), and appends the rest to a zstd Parquet
//! file in a temporary directory. Models then scan that file through a DataFusion
//! [`StreamingTable`], one bounded record batch at a time, as often as they name it. In Lambda
//! the directory is `/tmp`: ephemeral storage, which the stack sets to 4 GiB for the transform
//! (context `transformTmpMb`).
//!
//! A run reads every source table's changes ([`read_all`]) and registers them for the models
//! ([`register`]): `T__changes`, `T__latest` (the newest of them per key) and `T__deletions`.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use tote_core::batch::{self, Manifest};
use tote_core::tables::{primary_key, SOURCE_TABLES};
use tote_core::{Error, ErrorKind, Result};
use tote_io::commit_log::CommitLog;
use tote_io::store::Store;

use crate::deletions::RunDeletions;
use crate::error::{internal, model_error};
use crate::input::NewInput;

/// Rows per record batch when a spill file is read back, and per row group when it is written.
const SPILL_BATCH_ROWS: usize = 32 * 1024;

/// One table's new versions in this run.
#[derive(Debug)]
pub struct Changes {
    /// Their schema: the newest landing batch's, every column nullable (older batches lack
    /// columns added since, which read as NULL).
    pub schema: SchemaRef,
    /// How many versions.
    pub rows: u64,
    /// The keys the run's batches found deleted.
    pub deletions: RunDeletions,
    /// Whether no key has two versions among them: then the newest version of each key
    /// (`T__latest`) is every version.
    pub unique_keys: bool,
    /// The spill file, when there is at least one row.
    file: Option<PathBuf>,
}

impl Changes {
    /// Reads the new versions of `table` from its landing batches `manifests` (in commit order),
    /// spilling them to a file in `dir`. With no batch, an empty table with the schema of the
    /// last batch ever committed (`last_known`), or a placeholder for a table never ingested.
    pub async fn read(
        landing: &Store,
        table: &str,
        manifests: &[Manifest],
        last_known: Option<&Manifest>,
        dir: &Path,
    ) -> Result<Changes> {
        let Some(newest) = manifests.last() else {
            let schema = match last_known {
                Some(m) => batch::schema_of(m).map_err(|e| Error::new(ErrorKind::BadBatch, e))?,
                None => empty_schema(table),
            };
            return Ok(Changes {
                schema: Arc::new(relaxed(&schema)),
                rows: 0,
                deletions: RunDeletions::new(&primary_key(table)),
                unique_keys: true,
                file: None,
            });
        };
        let newest = batch::schema_of(newest).map_err(|e| Error::new(ErrorKind::BadBatch, e))?;
        let schema = Arc::new(widest_decimals(&relaxed(&newest), manifests));
        let pk = primary_key(table);
        let mut deletions = RunDeletions::new(&pk);
        let path = dir.join(format!("{table}.parquet"));
        let file = File::create(&path).map_err(|e| spill_error(&path, e))?;
        let properties = tote_io::sink::parquet_properties(&schema, SPILL_BATCH_ROWS);
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(internal)?;
        let mut writer = SpillWriter::start(writer, &path);
        let floors = remember_floors(manifests);
        let mut seen: HashSet<(i64, i64)> = HashSet::new();
        let mut rows = 0u64;
        let mut keys_written = KeysWritten::default();
        for (manifest, floor) in manifests.iter().zip(floors) {
            for object in &manifest.objects {
                let body = tote_io::objects::read_object(landing, manifest, object).await?;
                for b in tote_io::objects::object_batches(landing, manifest, object, body)? {
                    let b = align(&b?, &schema)?;
                    let keys = row_keys(&b, &pk)?;
                    deletions.observe_versions(keys.iter().map(|k| k.0));
                    if seen.is_empty() && floor.is_none() {
                        // Nothing to drop and nothing to remember (a first run's one batch).
                        keys_written.add(keys.iter().map(|k| k.0));
                        rows += b.num_rows() as u64;
                        writer.write(b)?;
                        continue;
                    }
                    let mask: BooleanArray = keys
                        .iter()
                        .map(|k| {
                            let new = !seen.contains(k);
                            if new && floor.is_some_and(|f| k.1 >= f) {
                                seen.insert(*k);
                            }
                            Some(new)
                        })
                        .collect();
                    keys_written.add(
                        keys.iter()
                            .zip(mask.values().iter())
                            .filter(|(_, new)| *new)
                            .map(|(k, _)| k.0),
                    );
                    let kept = arrow::compute::filter_record_batch(&b, &mask).map_err(internal)?;
                    rows += kept.num_rows() as u64;
                    writer.write(kept)?;
                }
            }
            // A batch's deletions and versions are disjoint, so their order within it is moot.
            deletions.add(&tote_io::objects::read_deletions(landing, manifest).await?)?;
            // Versions below the floor can no longer be re-read by a later batch of this run.
            match floor {
                Some(f) => seen.retain(|k| k.1 >= f),
                None => seen.clear(),
            }
        }
        writer.close().await?;
        Ok(Changes {
            schema,
            rows,
            deletions,
            unique_keys: keys_written.unique,
            file: (rows > 0).then_some(path),
        })
    }

    /// Every version in memory: only for the small tables whose current state is kept.
    pub fn batches(&self) -> Result<Vec<RecordBatch>> {
        let Some(path) = &self.file else {
            return Ok(Vec::new());
        };
        open(path, None, (0, 1))?.map(|b| b.map_err(internal)).collect()
    }

    /// The versions as a table a model can scan (any number of times), streaming from disk.
    pub fn table(&self) -> Result<Arc<dyn TableProvider>> {
        let Some(path) = &self.file else {
            let empty = MemTable::try_new(self.schema.clone(), vec![vec![]]).map_err(internal)?;
            return Ok(Arc::new(empty));
        };
        Ok(Arc::new(SpillTable {
            schema: self.schema.clone(),
            path: path.clone(),
            row_groups: (self.rows as usize).div_ceil(SPILL_BATCH_ROWS),
        }))
    }
}

/// Reads each table's new versions and deletions (`T__changes`, `T__deletions`) from its new
/// landing batches in `input`, spilling versions under `spill`. A table without new batches has
/// none, with the schema of its last landing batch.
pub(crate) async fn read_all(
    landing: &Store,
    input: &NewInput,
    spill: &Path,
) -> Result<BTreeMap<&'static str, Changes>> {
    let mut changes: BTreeMap<&'static str, Changes> = BTreeMap::new();
    for table in SOURCE_TABLES {
        let log = CommitLog::new(landing.clone(), table);
        let mut manifests = Vec::new();
        for entry in input.of(table) {
            manifests.push(log.manifest(entry).await?);
        }
        let known = if manifests.is_empty() {
            log.last().await?
        } else {
            None
        };
        let known = match known {
            Some(entry) => Some(log.manifest(&entry).await?),
            None => None,
        };
        let table_changes = Changes::read(landing, table, &manifests, known.as_ref(), spill).await?;
        changes.insert(table, table_changes);
    }
    Ok(changes)
}

/// Registers each table's `T__changes`, `T__latest` and `T__deletions` for the models.
///
/// `T__latest` is the newest of the run's versions of each key. When no key has two versions in
/// the run (a first run, and most runs after it) it is `T__changes` itself, and a dimension
/// model reading it costs a scan; otherwise it is [`latest_versions`] of `T__changes`, a sort and
/// a window over the run's versions (at scale 100, 2 s of a first run).
pub(crate) async fn register(ctx: &SessionContext, changes: &BTreeMap<&'static str, Changes>) -> Result<()> {
    for (table, table_changes) in changes {
        let name = format!("{table}__changes");
        ctx.register_table(name.as_str(), table_changes.table()?)
            .map_err(|e| model_error(&name, e))?;
        let latest = format!("{table}__latest");
        let provider = match table_changes.unique_keys {
            true => table_changes.table()?,
            false => {
                let sql = latest_versions(&name, &primary_key(table), &table_changes.schema);
                let view = ctx.sql(&sql).await.map_err(|e| model_error(&latest, e))?;
                view.into_view()
            }
        };
        ctx.register_table(latest.as_str(), provider)
            .map_err(|e| model_error(&latest, e))?;
        let name = format!("{table}__deletions");
        ctx.register_table(name.as_str(), table_changes.deletions.table()?)
            .map_err(|e| model_error(&name, e))?;
    }
    Ok(())
}

/// The query of the newest version (greatest `last_updated`) of each `key` among the rows of
/// relation `name`, with `schema`'s columns.
pub(crate) fn latest_versions(name: &str, key: &str, schema: &SchemaRef) -> String {
    use tote_core::tables::quote_ident;
    let columns: Vec<String> = schema.fields().iter().map(|f| quote_ident(f.name())).collect();
    format!(
        "SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY last_updated DESC) \
         AS tote_version_rank FROM {name}) WHERE tote_version_rank = 1",
        columns = columns.join(", "),
        key = quote_ident(key),
        name = quote_ident(name),
    )
}

/// The spill file's writer on a thread of its own, fed through a channel of a few record
/// batches: encoding and compressing the versions (half the time of reading them) overlaps with
/// decoding the landing objects, and memory holds at most the batches in the channel.
struct SpillWriter {
    batches: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    done: tokio::task::JoinHandle<Result<()>>,
}

impl SpillWriter {
    fn start(mut writer: ArrowWriter<File>, path: &Path) -> SpillWriter {
        let (batches, incoming) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let path = path.to_path_buf();
        let done = tokio::task::spawn_blocking(move || {
            for b in incoming {
                writer.write(&b).map_err(|e| spill_error(&path, e))?;
            }
            writer.close().map(drop).map_err(|e| spill_error(&path, e))
        });
        SpillWriter {
            batches: Some(batches),
            done,
        }
    }

    /// Hands a batch to the writer; an error is the writer's, which stopped.
    fn write(&mut self, b: RecordBatch) -> Result<()> {
        match self.batches.as_ref().map(|tx| tx.send(b)) {
            Some(Ok(())) => Ok(()),
            // The writer stopped on an error, which `close` reports.
            _ => {
                self.batches = None;
                Ok(())
            }
        }
    }

    /// Waits for every batch to be written and the file closed.
    async fn close(mut self) -> Result<()> {
        self.batches = None;
        (&mut self.done)
            .await
            .map_err(|e| Error::internal(format!("the spill writer ended abnormally: {e}")).with_source(e))?
    }
}

/// Whether the keys written so far are all different, told apart in a compressed bitmap: a
/// table's keys are dense integers, so the bitmap holds millions of them in a few hundred
/// kilobytes (1.6 M keys of `transaction` at scale 100 in about 200 KB) rather than growing with
/// the rows.
struct KeysWritten {
    keys: roaring::RoaringTreemap,
    unique: bool,
}

impl Default for KeysWritten {
    fn default() -> Self {
        KeysWritten {
            keys: roaring::RoaringTreemap::new(),
            unique: true,
        }
    }
}

impl KeysWritten {
    fn add(&mut self, keys: impl Iterator<Item = i64>) {
        if !self.unique {
            return;
        }
        for k in keys {
            // The bitmap holds unsigned keys: a negative key is a distinct large one.
            if !self.keys.insert(k as u64) {
                self.unique = false;
                self.keys.clear();
                return;
            }
        }
    }
}

/// A spill file as a table. A scan decodes only the columns its query names (a model that reads
/// dates from three columns of a twelve-column table decodes three), and shares the file's row
/// groups among the session's partitions, so that one scan decodes on every core.
#[derive(Debug)]
struct SpillTable {
    schema: SchemaRef,
    path: PathBuf,
    row_groups: usize,
}

#[async_trait::async_trait]
impl TableProvider for SpillTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        // Parquet hands columns back in file order; the scan asks for them in that order and
        // reorders them to the projection's.
        let all: Vec<usize> = (0..self.schema.fields().len()).collect();
        let wanted = projection.unwrap_or(&all);
        let mut columns = wanted.clone();
        columns.sort_unstable();
        columns.dedup();
        let order: Vec<usize> = wanted
            .iter()
            .map(|c| columns.binary_search(c).expect("every wanted column is read"))
            .collect();
        let schema = Arc::new(self.schema.project(&columns)?);
        let streams = state
            .config()
            .target_partitions()
            .clamp(1, self.row_groups.max(1));
        let partitions = (0..streams)
            .map(|part| {
                Arc::new(SpillPartition {
                    schema: schema.clone(),
                    path: self.path.clone(),
                    columns: columns.clone(),
                    part,
                    streams,
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            partitions,
            Some(&order),
            [],
            false,
            limit,
        )?))
    }
}

/// One share of a spill file's row groups, some of its columns: each scan opens it afresh.
#[derive(Debug)]
struct SpillPartition {
    schema: SchemaRef,
    path: PathBuf,
    /// The columns read, ascending.
    columns: Vec<usize>,
    /// This share: the row groups whose index is `part` modulo `streams`.
    part: usize,
    streams: usize,
}

impl PartitionStream for SpillPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = self.schema.clone();
        let batches: Box<dyn Iterator<Item = datafusion::error::Result<RecordBatch>> + Send> =
            match open(&self.path, Some(&self.columns), (self.part, self.streams)) {
                Ok(reader) => Box::new(reader.map(move |b| {
                    // The file's own field metadata aside, the columns are the table's.
                    // (A scan that names no column, `count(*)`, still gets its row counts.)
                    b.and_then(|b| {
                        let rows = RecordBatchOptions::new().with_row_count(Some(b.num_rows()));
                        RecordBatch::try_new_with_options(schema.clone(), b.columns().to_vec(), &rows)
                    })
                    .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
                })),
                Err(e) => Box::new(std::iter::once(Err(DataFusionError::External(Box::new(e))))),
            };
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures_util::stream::iter(batches),
        ))
    }
}

/// Reads a spill file: `columns` of it (ascending; `None`: every one), and of its row groups the
/// share `part` of `shares` (those whose index is `part` modulo `shares`).
fn open(
    path: &Path,
    columns: Option<&[usize]>,
    (part, shares): (usize, usize),
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
    let file = File::open(path).map_err(|e| spill_error(path, e))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(internal)?;
    if let Some(columns) = columns {
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
        builder = builder.with_projection(mask);
    }
    let row_groups = (0..builder.metadata().num_row_groups())
        .filter(|g| g % shares == part)
        .collect();
    builder
        .with_row_groups(row_groups)
        .with_batch_size(SPILL_BATCH_ROWS)
        .build()
        .map_err(internal)
}

fn spill_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::internal(format!(
        "cannot write or read the transform's spill file {}: {e}; the transform needs local disk \
         (TMPDIR) about the size of the new landing batches",
        path.display()
    ))
}

/// `schema` with each decimal column as wide in scale as in any of the run's batches: ingest
/// gives an unconstrained `numeric` the scale its values have, which may differ between batches,
/// and older batches are cast to this schema ([`align`]) without losing a digit.
fn widest_decimals(schema: &Schema, manifests: &[Manifest]) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Decimal128(precision, scale) => {
                let widest = manifests
                    .iter()
                    .filter_map(|m| m.schema.iter().find(|c| &c.name == f.name()))
                    .filter_map(|c| match c.arrow_type.parse::<DataType>() {
                        Ok(DataType::Decimal128(_, s)) => Some(s),
                        _ => None,
                    })
                    .fold(*scale, i8::max);
                f.as_ref()
                    .clone()
                    .with_data_type(DataType::Decimal128(*precision, widest))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new(fields)
}

/// `schema` with every field nullable.
fn relaxed(schema: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    )
}

/// Casts `b` to `schema` (relaxed): columns it lacks (added later in the source) become NULL.
pub(crate) fn align(b: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| match b.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => arrow::compute::cast(c, f.data_type()).map_err(internal),
            None => Ok(arrow::array::new_null_array(f.data_type(), b.num_rows())),
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(internal)
}

/// A placeholder schema for a table never ingested: its key and timestamps only. Models that
/// name its other columns fail, naming the model, until the table has been ingested once.
fn empty_schema(table: &str) -> Schema {
    use arrow::datatypes::TimeUnit;
    Schema::new(vec![
        Field::new(primary_key(table), DataType::Int32, false),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new(
            "last_updated",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ])
}

/// For each batch, the oldest `last_updated` (µs) a later batch of the same run could read again:
/// the least `since` of the batches after it, `i64::MIN` when one of them is a full read (a full
/// refresh, or a manifest without a cursor), and `None` after the last batch.
///
/// Only versions at or above its floor are remembered for de-duplication, so the set holds the
/// lookback window of an incremental chain, and nothing at all for a first run's single full
/// batch per table: the transform's memory does not grow with the source. (Ingest already drops
/// re-reads it can tell by the cursor's `recent` keys; this also covers full refreshes and a
/// lookback widened between runs.)
fn remember_floors(manifests: &[Manifest]) -> Vec<Option<i64>> {
    let mut floors = vec![None; manifests.len()];
    let mut floor: Option<i64> = None;
    for (i, manifest) in manifests.iter().enumerate().rev() {
        floors[i] = floor;
        let since = manifest
            .cursor
            .as_ref()
            .and_then(|c| c.since)
            .map_or(i64::MIN, |t| t.and_utc().timestamp_micros());
        floor = Some(floor.map_or(since, |f| f.min(since)));
    }
    floors
}

/// `(primary key, last_updated µs)` of each row.
fn row_keys(b: &RecordBatch, pk: &str) -> Result<Vec<(i64, i64)>> {
    let ids = b.column_by_name(pk).ok_or_else(|| bad_column(pk))?;
    let ids = arrow::compute::cast(ids, &DataType::Int64).map_err(internal)?;
    let ids = ids.as_primitive::<arrow::datatypes::Int64Type>();
    let lus = b
        .column_by_name("last_updated")
        .ok_or_else(|| bad_column("last_updated"))?;
    let lus = lus.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    Ok((0..b.num_rows()).map(|i| (ids.value(i), lus.value(i))).collect())
}

fn bad_column(name: &str) -> Error {
    Error::new(
        ErrorKind::BadBatch,
        format!("a landing batch has no `{name}` column"),
    )
}

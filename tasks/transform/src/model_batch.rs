//! One model's processed batch of a run: the model's query, its rows streamed into one Parquet
//! object and its deletions into another, its findings, then the manifest and the model's log
//! entry.
//!
//! Every batch is tagged with its run and its input ([`Run`]), so the same input never gives two
//! outputs: a retry of the run keeps the batch an earlier attempt committed from the same input,
//! and meeting a batch of the same run from other input (another execution's transform running
//! now) stops this one with the retryable `Tote.Busy`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use futures_util::StreamExt;
use tote_core::batch::{self, Finding, LogEntry, Manifest, ObjectEntry};
use tote_core::config::DataFormat;
use tote_core::progress::{self, Task, Unit};
use tote_core::{fault, Error, ErrorKind, Result};
use tote_io::commit_log::CommitLog;
use tote_io::sink::ObjectSink;
use tote_io::store::Store;

use crate::companions;
use crate::error::model_error;
use crate::models;

/// The run every model's batch belongs to, as the batch's manifest records it.
pub(crate) struct Run {
    /// The run's number: the position its checkpoint takes in the `_transform` log.
    pub(crate) number: u64,
    /// The run's tag ([`tote_core::checkpoint::run_tag`]): the first input of each of its batches.
    pub(crate) tag: String,
    /// The landing batches it consumes (`table/seq`): the rest of each batch's inputs.
    pub(crate) inputs: Vec<String>,
    /// The execution asking, recorded in the manifests.
    pub(crate) execution: Option<String>,
}

/// What one model's run committed (or found committed by an earlier attempt of the run).
pub(crate) struct ModelOutput {
    /// The rows of its batch.
    pub(crate) rows: u64,
    /// The rows of its deletions object.
    pub(crate) deleted: u64,
    /// The id of its batch.
    pub(crate) batch_id: String,
    /// Milliseconds spent writing its rows' object.
    pub(crate) write_ms: u64,
}

impl ModelOutput {
    /// The output another attempt of the run committed, as its log entry tells it.
    fn committed(entry: &LogEntry) -> ModelOutput {
        ModelOutput {
            rows: entry.rows,
            deleted: 0,
            batch_id: entry.batch_id.clone(),
            write_ms: 0,
        }
    }
}

/// Runs one model and commits its output as a processed batch of `run`: its rows stream
/// straight into one Parquet object, its deletions into another, then the manifest and the log
/// entry. `None` when it produced nothing; the committed batch when an earlier attempt of this
/// run committed it from the same input; `Tote.Busy` when another transform committed it from
/// other input.
pub(crate) async fn run_model(
    ctx: &SessionContext,
    processed: &Store,
    model: &models::Model,
    run: &Run,
) -> Result<Option<ModelOutput>> {
    let log = CommitLog::new(processed.clone(), &model.name);
    let last_entry = log.last().await?;
    if let Some(entry) = &last_entry {
        if same_run(&log, entry, &model.name, run).await? {
            tracing::info!(model = %model.name, run = run.number, "already committed by an earlier attempt of this run");
            return Ok(Some(ModelOutput::committed(entry)));
        }
    }
    let batch_id = batch::new_batch_id();
    let query = query(ctx, model).await?;
    let model_rows = progress::task(&format!("model {}", model.name), Unit::Rows, None);
    let Some(written) = write_objects(ctx, processed, model, batch_id, query, &model_rows).await? else {
        return Ok(None);
    };
    let findings = companions::run_findings(ctx, model).await?;
    fault::point("transform.after_data")?;
    let manifest = written.manifest(&model.name, run, findings);
    if let Some(entry) = commit(processed, &log, last_entry.as_ref(), &manifest, run).await? {
        return Ok(Some(ModelOutput::committed(&entry)));
    }
    fault::point("transform.after_model_commit")?;
    report_committed(&manifest, written.output.deleted);
    Ok(Some(written.output))
}

/// A model's query, planned and started.
struct Query {
    /// The schema it yields.
    schema: SchemaRef,
    /// Its rows, as they come.
    rows: SendableRecordBatchStream,
}

/// Plans `model`'s query, checks that it yields the columns the model declares, and starts it.
async fn query(ctx: &SessionContext, model: &models::Model) -> Result<Query> {
    let frame = ctx
        .sql(&model.sql)
        .await
        .map_err(|e| model_error(&model.name, e))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    models::check_columns(model, schema.fields().iter().map(|f| f.name().as_str()))?;
    let rows = frame
        .execute_stream()
        .await
        .map_err(|e| model_error(&model.name, e))?;
    Ok(Query { schema, rows })
}

/// A model's batch with its objects written, before a manifest names them.
struct Written {
    /// What the batch holds, as the run's answer reports it.
    output: ModelOutput,
    /// The schema of its rows: its rows object's, or the query's when it has no rows.
    schema: SchemaRef,
    /// Its rows object, when it has rows.
    objects: Vec<ObjectEntry>,
    /// Its deletions object, when the model's deletions query selected any.
    deletions: Option<ObjectEntry>,
}

impl Written {
    /// The batch's manifest, as `model`'s output of `run`, with its `findings`.
    fn manifest(&self, model: &str, run: &Run, findings: Vec<Finding>) -> Manifest {
        Manifest {
            batch_id: self.output.batch_id.clone(),
            stage: batch::Stage::Transform,
            table: model.to_string(),
            execution: run.execution.clone(),
            written_at: chrono::Utc::now(),
            format: batch::DataFormat::Parquet,
            rows: self.output.rows,
            schema: batch::columns_of(&self.schema, model),
            cursor: None,
            full_refresh: false,
            objects: self.objects.clone(),
            inputs: std::iter::once(run.tag.clone())
                .chain(run.inputs.iter().cloned())
                .collect(),
            findings,
            keys: None,
            deletions: self.deletions.clone(),
        }
    }
}

/// Writes the objects of `model`'s batch `batch_id`: the rows of its `query`, counted on
/// `progress`, then its deletions. `None` when it has neither.
async fn write_objects(
    ctx: &SessionContext,
    processed: &Store,
    model: &models::Model,
    batch_id: String,
    query: Query,
    progress: &Task,
) -> Result<Option<Written>> {
    let key = tote_core::layout::data_key(&model.name, &batch_id, DataFormat::Parquet);
    let mut rows = stream_rows(query.rows, processed, &key, &model.name, progress).await?;
    let (deletions, deleted) = companions::write_deletions(ctx, processed, model, &batch_id).await?;
    if rows.open.is_none() && deletions.is_none() {
        return Ok(None);
    }
    let at = Instant::now();
    let (objects, schema) = match rows.open {
        Some((sink, schema)) => (vec![sink.finish().await?], schema),
        None => (vec![], query.schema),
    };
    rows.writing += at.elapsed();
    Ok(Some(Written {
        output: ModelOutput {
            rows: rows.count,
            deleted,
            batch_id,
            write_ms: rows.writing.as_millis() as u64,
        },
        schema,
        objects,
        deletions,
    }))
}

/// A model's rows, streamed into their Parquet object.
struct RowsObject {
    /// The object's sink and schema, from the first batch with rows; `None` when no batch had
    /// any, so a model with no rows writes no object.
    open: Option<(ObjectSink, SchemaRef)>,
    /// How many rows.
    count: u64,
    /// The time writing them took (encoding, zstd, SHA-256, the store's put), as the model
    /// waited for it.
    writing: Duration,
}

/// Streams a model's `rows` straight into the Parquet object `key`, created with the first
/// batch that has rows; counts them on `progress`.
async fn stream_rows(
    mut rows: SendableRecordBatchStream,
    processed: &Store,
    key: &str,
    model: &str,
    progress: &Task,
) -> Result<RowsObject> {
    let mut object = RowsObject {
        open: None,
        count: 0,
        writing: Duration::ZERO,
    };
    while let Some(b) = rows.next().await {
        let b = b.map_err(|e| model_error(model, e))?;
        if b.num_rows() == 0 {
            continue;
        }
        progress.advance(b.num_rows() as u64, 0);
        let (sink, _) = match &mut object.open {
            Some(open) => open,
            None => object.open.insert((
                ObjectSink::create(processed, key, b.schema(), DataFormat::Parquet)?,
                b.schema(),
            )),
        };
        object.count += b.num_rows() as u64;
        let at = Instant::now();
        sink.write(&b).await?;
        object.writing += at.elapsed();
    }
    Ok(object)
}

/// Writes `manifest` and commits it at its model's next log position, after `last_entry`.
/// `None` when this attempt's batch is committed; the entry that stands when another transform
/// of this run, from the same input, won the position; `Tote.Busy` when one from other input did.
async fn commit(
    processed: &Store,
    log: &CommitLog,
    last_entry: Option<&LogEntry>,
    manifest: &Manifest,
    run: &Run,
) -> Result<Option<LogEntry>> {
    tote_io::commit_log::write_manifest(processed, manifest).await?;
    let next = last_entry.map_or(1, |e| e.seq + 1);
    if log.commit(next, manifest).await? {
        return Ok(None);
    }
    // Another transform of this run won the position: its output stands if it came
    // from the same input (and this attempt's objects stay invisible).
    match log.last().await? {
        Some(entry) if same_run(log, &entry, &manifest.table, run).await? => Ok(Some(entry)),
        _ => Err(busy(&manifest.table, run.number)),
    }
}

/// Logs a batch this attempt committed and emits its metrics (rows, bytes, one batch).
fn report_committed(manifest: &Manifest, deleted: u64) {
    let (model, rows) = (manifest.table.as_str(), manifest.rows);
    let batch_id = manifest.batch_id.as_str();
    tracing::info!(model = %model, rows, deleted, batch_id, "committed processed batch");
    tote_core::metrics::emit(
        "transform",
        &[("Stage", "transform"), ("Table", model)],
        &[
            ("Rows", rows as f64),
            (
                "Bytes",
                manifest.objects.iter().map(|o| o.bytes).sum::<u64>() as f64,
            ),
            ("Batches", 1.0),
        ],
    );
}

/// Whether `entry` is `run`'s output of `model`, made from the same inputs; an output of this run
/// from other input means another transform is running this run now ([`busy`]).
async fn same_run(log: &CommitLog, entry: &LogEntry, model: &str, run: &Run) -> Result<bool> {
    let committed = log.manifest(entry).await?;
    if tote_core::checkpoint::run_of(&committed) != Some(run.number) {
        return Ok(false);
    }
    if committed.inputs[1..] != *run.inputs {
        return Err(busy(model, run.number));
    }
    Ok(true)
}

/// Another transform (another execution's) committed `model` for the same run first, from other
/// input: this attempt stops, leaving only invisible objects, and its retry starts over from
/// whatever that transform checkpoints.
fn busy(model: &str, run: u64) -> Error {
    Error::new(
        ErrorKind::Busy,
        format!(
            "another transform committed {model} for run {run} while this one ran (two executions \
             overlap); retry once it has finished (the state machine retries Tote.Busy by itself)"
        ),
    )
}

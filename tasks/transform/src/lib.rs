//! Stage 2 of tote: committed landing batches → the sales, purchases and payments star schemas.
//!
//! One call of [`transform`] is one *run*:
//!
//! 1. read the transform's own checkpoint (the last entry of the `_transform` log in the processed
//!    store): for each source table, the last landing batch consumed, and the current-state
//!    snapshots;
//! 2. read every landing batch committed after it, for every table (not only this execution's,
//!    so a run that failed earlier is caught up); with none, stop: a quiet run reads only logs;
//! 3. build each table's `T__changes` (new versions, deduplicated on `(primary key, last_updated)`)
//!    and, for the tables a model names, its current state `T` (the previous snapshot merged with
//!    the changes, written back as a new snapshot);
//! 4. run the SQL models ([`models`]; eleven built in) with DataFusion and commit each non-empty result as a
//!    processed batch (Parquet, manifest, log entry), then the checkpoint.
//!
//! Retrying a run after a crash redoes it from the same checkpoint; a model whose batch for that
//! run is already committed (from the same input) is skipped, so the same input never gives two
//! outputs. Two transforms at once (overlapping executions) race for each model's next log
//! position: the loser stops with the retryable `Tote.Busy`, and never checkpoints input that a
//! committed model did not see.

mod changes;
mod deletions;
mod error;
mod input;
pub mod models;
mod session;
mod state;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::prelude::SessionContext;
use futures_util::StreamExt;
use tote_core::batch::{self, CommitLog, Manifest, ObjectEntry};
use tote_core::config::{Config, DataFormat};
use tote_core::progress::{self, Unit};
use tote_core::store::Store;

use crate::error::{internal, model_error};
use crate::input::NewInput;
use tote_core::{fault, Error, ErrorKind, Result};
use tracing::Instrument;

/// The name of the transform's own checkpoint log in the processed store.
use tote_core::checkpoint::Checkpoint;

/// The transform function's event and answer, as the stage contract declares them.
pub use tote_core::event::transform::{
    Steps, TransformAnswer, TransformEvent, TransformRequest, TransformResponse,
};

/// Milliseconds since `since`.
fn millis_since(since: std::time::Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// Handles one event of the transform function ([`transform`]). The Lambda binary and the local
/// executor both call it, through [`tote_core::event::respond`].
pub async fn handle(config: &Config, event: TransformEvent) -> Result<TransformAnswer> {
    use tote_core::event::StageEvent;
    let span = tracing::info_span!("transform", execution = event.execution().unwrap_or_default());
    async move {
        Ok(match event {
            TransformEvent::Transform(request) => {
                TransformAnswer::Transform(transform(config, &request).await?)
            }
        })
    }
    .instrument(span)
    .await
}

/// Runs the transform once, as configured, and emits its metrics.
pub async fn transform(config: &Config, request: &TransformRequest) -> Result<TransformResponse> {
    let started = std::time::Instant::now();
    let response = run(config, request).await?;
    tote_core::metrics::emit(
        "transform",
        &[("Stage", "transform"), ("Table", "all")],
        &[("Duration", started.elapsed().as_millis() as f64)],
    );
    Ok(response)
}

/// One run of the transform.
async fn run(config: &Config, request: &TransformRequest) -> Result<TransformResponse> {
    let landing = Store::open(&config.landing, "TOTE_LANDING")?;
    let processed = Store::open(&config.processed, "TOTE_PROCESSED")?;
    let models = &config.models;

    let previous = Checkpoint::latest(&processed).await?;
    let run = previous.as_ref().map_or(1, |c| c.run + 1);
    let consumed_before = previous.as_ref().map(|c| c.consumed.clone()).unwrap_or_default();

    let Some(input) = NewInput::find(&landing, &processed, models, &consumed_before, run).await? else {
        tracing::info!("no new landing batches");
        return Ok(TransformResponse::default());
    };
    let run_tag = tote_core::checkpoint::run_tag(run);
    let mut response = TransformResponse {
        changed: true,
        run: Some(run),
        ..Default::default()
    };
    let consumed_after = input.consumed_after(&consumed_before);
    let inputs = input.names();
    let spill = session::spill_dir()?;
    let ctx = session::session(config, spill.path())?;
    let step = std::time::Instant::now();
    let changes = changes::read_all(&landing, &input, spill.path()).await?;
    response.consumed = changes
        .iter()
        .map(|(table, c)| (table.to_string(), c.rows))
        .collect();
    response.steps.read_ms = millis_since(step);

    let step = std::time::Instant::now();
    let snapshot_objects =
        state::current_state(&ctx, &processed, previous.as_ref(), models, &changes, run).await?;
    response.steps.current_state_ms = millis_since(step);
    changes::register(&ctx, &changes).await?;
    fault::point("transform.after_state")?;

    // The models, each on its own task: one at a time until one of them commits (or finds
    // committed) its batch of this run, then a few at a time ([`models_at_once`]). Until then
    // a rival transform of the same run (an overlapping execution) meets this one at the same
    // model and stops with `Tote.Busy`, as when all ran in order; afterwards it meets a committed
    // model of this run whichever it tries.
    let models_done = progress::task("transform: models", Unit::Steps, Some(models.len() as u64));
    let inputs = Arc::new(inputs);
    let mut queue = models.iter().enumerate();
    let mut running = tokio::task::JoinSet::new();
    let mut outputs = BTreeMap::new();
    loop {
        let at_once = if outputs.is_empty() {
            1
        } else {
            models_at_once(config.transform_memory_mb)
        };
        while running.len() < at_once {
            let Some((index, model)) = queue.next() else { break };
            let (ctx, processed, model, run_tag, inputs, request) = (
                ctx.clone(),
                processed.clone(),
                model.clone(),
                run_tag.clone(),
                Arc::clone(&inputs),
                request.clone(),
            );
            running.spawn(async move {
                let step = std::time::Instant::now();
                let output = run_model(&ctx, &processed, &model, run, &run_tag, &inputs, &request).await;
                (index, model.name, output, millis_since(step))
            });
        }
        // Dropping the set on an error aborts the models still running, as a crash would.
        let Some(finished) = running.join_next().await else {
            break;
        };
        let (index, name, output, ms) =
            finished.map_err(|e| Error::internal(format!("a model's task ended abnormally: {e}")))?;
        models_done.advance(1, 0);
        release_freed_memory();
        response.steps.models_ms.insert(name.clone(), ms);
        if let Some(output) = output? {
            response.steps.write_ms += output.write_ms;
            response.rows.insert(name.clone(), output.rows);
            if output.deleted > 0 {
                response.deleted.insert(name, output.deleted);
            }
            outputs.insert(index, output.batch_id);
        }
    }
    // The batches in model order, whichever finished first.
    response.batches = outputs.into_values().collect();
    drop(models_done);

    let step = std::time::Instant::now();
    let rows = response.rows.values().sum();
    let checkpoint = Checkpoint {
        run,
        consumed: consumed_after,
        snapshots: snapshot_objects,
        rows,
        execution: request.execution.clone(),
    };
    if !checkpoint.commit(&processed).await? {
        tracing::warn!(
            run,
            "another transform committed this run first; its checkpoint stands"
        );
    }
    response.steps.checkpoint_ms = millis_since(step);
    fault::point("transform.after_checkpoint")?;
    Ok(response)
}

/// What one model's run committed (or found committed by an earlier attempt of the run).
struct ModelOutput {
    rows: u64,
    deleted: u64,
    batch_id: String,
    /// Milliseconds spent writing its rows' object.
    write_ms: u64,
}

impl ModelOutput {
    fn committed(entry: &batch::LogEntry) -> ModelOutput {
        ModelOutput {
            rows: entry.rows,
            deleted: 0,
            batch_id: entry.batch_id.clone(),
            write_ms: 0,
        }
    }
}

/// Runs one model and commits its output as a processed batch of run `run`: its rows stream
/// straight into one Parquet object, its deletions into another, then the manifest and the log
/// entry. `None` when it produced nothing; the committed batch when an earlier attempt of this
/// run committed it from the same input; `Tote.Busy` when another transform committed it from
/// other input.
async fn run_model(
    ctx: &SessionContext,
    processed: &Store,
    model: &models::Model,
    run: u64,
    run_tag: &str,
    inputs: &[String],
    request: &TransformRequest,
) -> Result<Option<ModelOutput>> {
    let log = CommitLog::new(processed.clone(), &model.name);
    let last_entry = log.last().await?;
    if let Some(entry) = &last_entry {
        if same_run(&log, entry, &model.name, run, inputs).await? {
            tracing::info!(model = %model.name, run, "already committed by an earlier attempt of this run");
            return Ok(Some(ModelOutput::committed(entry)));
        }
    }
    // The model's rows stream straight into its Parquet object; the object is created with
    // the first non-empty batch, so a model with no rows writes nothing.
    let batch_id = batch::new_batch_id();
    let key = batch::data_key(&model.name, &batch_id, DataFormat::Parquet);
    let frame = ctx
        .sql(&model.sql)
        .await
        .map_err(|e| model_error(&model.name, e))?;
    let model_schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    models::check_columns(model, model_schema.fields().iter().map(|f| f.name().as_str()))?;
    let mut stream = frame
        .execute_stream()
        .await
        .map_err(|e| model_error(&model.name, e))?;
    let mut output: Option<(tote_core::sink::ObjectSink, SchemaRef)> = None;
    let mut rows = 0u64;
    let mut writing = std::time::Duration::ZERO;
    let model_rows = progress::task(&format!("model {}", model.name), Unit::Rows, None);
    while let Some(b) = stream.next().await {
        let b = b.map_err(|e| model_error(&model.name, e))?;
        if b.num_rows() == 0 {
            continue;
        }
        model_rows.advance(b.num_rows() as u64, 0);
        let (sink, _) = match &mut output {
            Some(open) => open,
            None => output.insert((
                tote_core::sink::ObjectSink::create(processed, &key, b.schema(), DataFormat::Parquet)?,
                b.schema(),
            )),
        };
        rows += b.num_rows() as u64;
        let at = std::time::Instant::now();
        sink.write(&b).await?;
        writing += at.elapsed();
    }
    let (deletions, deleted) = write_deletions(ctx, processed, model, &batch_id).await?;
    if output.is_none() && deletions.is_none() {
        return Ok(None);
    }
    let at = std::time::Instant::now();
    let (objects, schema) = match output {
        Some((sink, schema)) => (vec![sink.finish().await?], schema),
        None => (vec![], model_schema),
    };
    writing += at.elapsed();
    let findings = run_findings(ctx, model).await?;
    fault::point("transform.after_data")?;
    let manifest = Manifest {
        batch_id: batch_id.clone(),
        stage: batch::Stage::Transform,
        table: model.name.clone(),
        execution: request.execution.clone(),
        written_at: chrono::Utc::now(),
        format: batch::DataFormat::Parquet,
        rows,
        schema: batch::columns_of(&schema, &model.name),
        cursor: None,
        full_refresh: false,
        objects,
        inputs: std::iter::once(run_tag.to_string())
            .chain(inputs.iter().cloned())
            .collect(),
        findings,
        keys: None,
        deletions,
    };
    batch::write_manifest(processed, &manifest).await?;
    let next = last_entry.as_ref().map_or(1, |e| e.seq + 1);
    if !log.commit(next, &manifest).await? {
        // Another transform of this run won the position: its output stands if it came
        // from the same input (and this attempt's objects stay invisible).
        match log.last().await? {
            Some(entry) if same_run(&log, &entry, &model.name, run, inputs).await? => {
                return Ok(Some(ModelOutput::committed(&entry)));
            }
            _ => return Err(busy(&model.name, run)),
        }
    }
    fault::point("transform.after_model_commit")?;
    tracing::info!(model = %model.name, rows, deleted, batch_id, "committed processed batch");
    tote_core::metrics::emit(
        "transform",
        &[("Stage", "transform"), ("Table", &model.name)],
        &[
            ("Rows", rows as f64),
            (
                "Bytes",
                manifest.objects.iter().map(|o| o.bytes).sum::<u64>() as f64,
            ),
            ("Batches", 1.0),
        ],
    );
    Ok(Some(ModelOutput {
        rows,
        deleted,
        batch_id,
        write_ms: writing.as_millis() as u64,
    }))
}

/// Whether `entry` is run `run`'s output of `model`, made from the same `inputs`; an output of
/// this run from other input means another transform is running this run now ([`busy`]).
async fn same_run(
    log: &CommitLog,
    entry: &batch::LogEntry,
    model: &str,
    run: u64,
    inputs: &[String],
) -> Result<bool> {
    let committed = log.manifest(entry).await?;
    if tote_core::checkpoint::run_of(&committed) != Some(run) {
        return Ok(false);
    }
    if committed.inputs[1..] != *inputs {
        return Err(busy(model, run));
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

/// Hands the memory the previous model freed back to the operating system. With glibc, memory
/// freed by one model stays with the thread's arena, partly fragmented, and the next model's
/// buffers land beside it, so the peak grew a little with every model over a large run.
/// (Elsewhere, as in the musl-based Lambda images, there is nothing to do.)
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the OS; it does not touch live allocations.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The share of the memory pool one running model is given: the default pool, with which every
/// built-in model runs at scale 300 (docs/benchmarks.md). Four models sharing that pool starved
/// one of them (`dim_design`'s sort found 1 MB left at scale 100), so concurrency is bounded by
/// the pool as well as by the cores.
const MODEL_MEMORY_MB: usize = 64;

/// How many models run at once: one per core, at most 4, and at most one per
/// [`MODEL_MEMORY_MB`] of `TOTE_TRANSFORM_MEMORY_MB` (so one at a time at the default 64, and up
/// to 4 in Lambda, where the pool is a quarter of the function's memory). A model's query runs
/// on every core already, but writing its output (Parquet encoding, zstd, SHA-256) runs on the
/// model's own task, so one model's writing overlaps another's query. Beyond the pool each
/// running model holds at most one row group of output.
fn models_at_once(memory_mb: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min((memory_mb / MODEL_MEMORY_MB).max(1))
}

/// Runs a model's deletions query and writes what it selects as the deletions object of batch
/// `batch_id`; nothing when the model has no deletions query or it selects no row.
async fn write_deletions(
    ctx: &SessionContext,
    processed: &Store,
    model: &models::Model,
    batch_id: &str,
) -> Result<(Option<ObjectEntry>, u64)> {
    let Some(sql) = &model.deletions_sql else {
        return Ok((None, 0));
    };
    let found = companion_rows(ctx, &format!("{}.deletions", model.name), sql).await?;
    let found: Vec<RecordBatch> = found
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| deletions::conform(b, &model.name))
        .collect::<Result<_>>()?;
    let Some(first) = found.first() else {
        return Ok((None, 0));
    };
    let key = batch::deletions_key(&model.name, batch_id);
    let mut sink = tote_core::sink::ObjectSink::create(processed, &key, first.schema(), DataFormat::Parquet)?;
    let mut rows = 0u64;
    for b in &found {
        rows += b.num_rows() as u64;
        sink.write(b).await?;
    }
    Ok((Some(sink.finish().await?), rows))
}

/// Every row of a model's companion query (`what`: `<model>.findings` or `<model>.deletions`),
/// in memory: such queries select few rows.
async fn companion_rows(ctx: &SessionContext, what: &str, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql)
        .await
        .map_err(|e| model_error(what, e))?
        .collect()
        .await
        .map_err(|e| model_error(what, e))
}

/// Runs a model's findings query: every row with affected rows is a finding, also logged.
async fn run_findings(ctx: &SessionContext, model: &models::Model) -> Result<Vec<batch::Finding>> {
    let Some(sql) = &model.findings_sql else {
        return Ok(Vec::new());
    };
    let what = format!("{}.findings", model.name);
    let batches = companion_rows(ctx, &what, sql).await?;
    let mut findings = Vec::new();
    for b in batches {
        let column = b
            .column_by_name("column_name")
            .ok_or_else(|| findings_shape(&what))?;
        let message = b.column_by_name("message").ok_or_else(|| findings_shape(&what))?;
        let affected = b
            .column_by_name("affected_rows")
            .ok_or_else(|| findings_shape(&what))?;
        let column = arrow::compute::cast(column, &DataType::Utf8).map_err(internal)?;
        let message = arrow::compute::cast(message, &DataType::Utf8).map_err(internal)?;
        let affected = arrow::compute::cast(affected, &DataType::UInt64).map_err(internal)?;
        let (column, message) = (column.as_string::<i32>(), message.as_string::<i32>());
        let affected = affected.as_primitive::<arrow::datatypes::UInt64Type>();
        for i in 0..b.num_rows() {
            let rows = if affected.is_null(i) { 0 } else { affected.value(i) };
            if rows == 0 {
                continue;
            }
            let finding = batch::Finding {
                column: column.value(i).to_string(),
                message: message.value(i).to_string(),
                rows,
            };
            tracing::warn!(model = %model.name, column = %finding.column, rows, "data-quality finding: {}", finding.message);
            findings.push(finding);
        }
    }
    Ok(findings)
}

fn findings_shape(what: &str) -> Error {
    Error::new(
        ErrorKind::ModelFailed,
        format!("{what} must select column_name, message and affected_rows"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_run_at_once_only_as_far_as_the_memory_budget_goes() {
        assert_eq!(models_at_once(64), 1, "the default budget: one at a time");
        assert_eq!(models_at_once(16), 1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(models_at_once(128), cores.clamp(1, 4).min(2));
        assert_eq!(models_at_once(1 << 20), cores.clamp(1, 4));
    }
}

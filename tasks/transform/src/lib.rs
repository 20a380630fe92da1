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
mod companions;
mod deletions;
mod error;
mod input;
mod model_batch;
pub mod models;
mod session;
mod state;

use std::collections::BTreeMap;
use std::sync::Arc;

use tote_core::checkpoint::Checkpoint;
use tote_core::config::Config;
use tote_core::progress::{self, Unit};
use tote_core::store::Store;
use tote_core::{fault, Error, Result};
use tracing::Instrument;

use crate::input::NewInput;
use crate::model_batch::{run_model, Run};

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
    let of_run = Arc::new(Run {
        number: run,
        tag: run_tag,
        inputs,
        execution: request.execution.clone(),
    });
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
            let (ctx, processed, model, of_run) =
                (ctx.clone(), processed.clone(), model.clone(), Arc::clone(&of_run));
            running.spawn(async move {
                let step = std::time::Instant::now();
                let output = run_model(&ctx, &processed, &model, &of_run).await;
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

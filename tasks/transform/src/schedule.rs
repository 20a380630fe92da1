//! The models of a run, each on its own task: one at a time until one of them commits (or finds
//! committed) its batch of this run, then a few at a time ([`models_at_once`]).
//!
//! Until the first commit a rival transform of the same run (an overlapping execution) meets
//! this one at the same model and stops with `Tote.Busy`, as when all run in order; afterwards it
//! meets a committed model of this run whichever it tries.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use tokio::task::JoinSet;
use tote_core::config::Config;
use tote_core::progress::{self, Unit};
use tote_core::{Error, Result};
use tote_io::store::Store;

use crate::model_batch::{run_model, ModelOutput, Run};
use crate::{millis_since, models, TransformResponse};

/// The share of the memory pool one running model is given: the default pool, with which every
/// built-in model runs at scale 300 (docs/benchmarks.md). Four models sharing that pool starved
/// one of them (`dim_design`'s sort found 1 MB left at scale 100), so concurrency is bounded by
/// the pool as well as by the cores.
const MODEL_MEMORY_MB: usize = 64;

/// Runs every model of `config` over the session `ctx` as part of `run`, and adds what each
/// committed to `response`: its rows, deletions and time, and the batches in model order,
/// whichever finished first. The first error stops the run; dropping the models still running
/// aborts them, as a crash would.
pub(crate) async fn run_models(
    config: &Config,
    ctx: &SessionContext,
    processed: &Store,
    run: Arc<Run>,
    response: &mut TransformResponse,
) -> Result<()> {
    let models = &config.models;
    let models_done = progress::task("transform: models", Unit::Steps, Some(models.len() as u64));
    let mut queue = models.iter().enumerate();
    let mut running = JoinSet::new();
    let mut outputs = BTreeMap::new();
    loop {
        let at_once = if outputs.is_empty() {
            1
        } else {
            models_at_once(config.transform_memory_mb)
        };
        while running.len() < at_once {
            let Some((index, model)) = queue.next() else { break };
            running.spawn(timed_model(
                index,
                ctx.clone(),
                processed.clone(),
                model.clone(),
                Arc::clone(&run),
            ));
        }
        let Some(finished) = running.join_next().await else {
            break;
        };
        let finished =
            finished.map_err(|e| Error::internal(format!("a model's task ended abnormally: {e}")))?;
        models_done.advance(1, 0);
        release_freed_memory();
        let index = finished.index;
        if let Some(batch_id) = record(response, finished)? {
            outputs.insert(index, batch_id);
        }
    }
    response.batches = outputs.into_values().collect();
    drop(models_done);
    Ok(())
}

/// A model that ran: its place among the models, its name, what it committed, and how long it
/// took.
struct Finished {
    index: usize,
    name: String,
    output: Result<Option<ModelOutput>>,
    ms: u64,
}

/// Runs `model`, the `index`th, timed: the future each model's task runs.
async fn timed_model(
    index: usize,
    ctx: SessionContext,
    processed: Store,
    model: models::Model,
    run: Arc<Run>,
) -> Finished {
    let step = std::time::Instant::now();
    let output = run_model(&ctx, &processed, &model, &run).await;
    Finished {
        index,
        name: model.name,
        output,
        ms: millis_since(step),
    }
}

/// Adds a finished model's time, rows and deletions to `response`; the batch it committed, if
/// any, or its error.
fn record(response: &mut TransformResponse, finished: Finished) -> Result<Option<String>> {
    let Finished { name, output, ms, .. } = finished;
    response.steps.models_ms.insert(name.clone(), ms);
    let Some(output) = output? else {
        return Ok(None);
    };
    response.steps.write_ms += output.write_ms;
    response.rows.insert(name.clone(), output.rows);
    if output.deleted > 0 {
        response.deleted.insert(name, output.deleted);
    }
    Ok(Some(output.batch_id))
}

/// How many models run at once: one per core, at most 4, and at most one per
/// [`MODEL_MEMORY_MB`] of `TOTE_TRANSFORM_MEMORY_MB` (so one at a time at the default 64, and up
/// to 4 in Lambda, where the pool is a quarter of the function's memory). A model's query runs
/// on every core already, but writing its output (Parquet encoding, zstd, SHA-256) runs on the
/// model's own task, so one model's writing overlaps another's query. Beyond the pool each
/// running model holds at most one row group of output.
pub(crate) fn models_at_once(memory_mb: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min((memory_mb / MODEL_MEMORY_MB).max(1))
}

/// Hands the memory the previous model freed back to the operating system. With glibc, memory
/// freed by one model stays with the thread's arena, partly fragmented, and the next model's
/// buffers land beside it, so without this the peak grows a little with every model over a
/// large run. (Elsewhere, as in the musl-based Lambda images, there is nothing to do.)
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the OS; it does not touch live allocations.
    unsafe {
        libc::malloc_trim(0);
    }
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

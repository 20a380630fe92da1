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
//!
//! The steps are modules of their own: the new input (`input`), the changes (`changes`, with
//! each table's run deletions in `deletions`), the current state (`state`), the models of a run
//! (`schedule`), one model's batch and its commit (`model_batch`, its findings and deletions
//! queries in `companions`), and the checkpoint's commit (`checkpoint`); the DataFusion session
//! the queries share, with its memory budget and functions, is `session`, and the failures of its
//! queries are told by `error`.

mod changes;
mod checkpoint;
mod companions;
mod deletions;
mod error;
mod input;
mod model_batch;
pub mod models;
mod schedule;
mod session;
mod state;

use std::sync::Arc;
use std::time::Instant;

use tote_core::checkpoint::Checkpoint;
use tote_core::config::Config;
use tote_core::{fault, Result};
use tote_io::store::Store;
use tracing::Instrument;

use crate::input::NewInput;
use crate::model_batch::Run;

/// The transform function's event and answer, as the stage contract declares them.
pub use tote_core::event::transform::{
    Steps, TransformAnswer, TransformEvent, TransformRequest, TransformResponse,
};

/// Milliseconds since `since`.
fn millis_since(since: Instant) -> u64 {
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
    let started = Instant::now();
    let response = run(config, request).await?;
    tote_core::metrics::emit(
        "transform",
        &[("Stage", "transform"), ("Table", "all")],
        &[("Duration", started.elapsed().as_millis() as f64)],
    );
    Ok(response)
}

/// One run of the transform, in the steps of the crate's doc.
async fn run(config: &Config, request: &TransformRequest) -> Result<TransformResponse> {
    let landing = Store::open(&config.landing, "TOTE_LANDING")?;
    let processed = Store::open(&config.processed, "TOTE_PROCESSED")?;
    let models = &config.models;

    // 1. Where the run starts: the checkpoint.
    let previous = tote_io::checkpoint::latest(&processed).await?;
    let run = previous.as_ref().map_or(1, |c| c.run + 1);
    let consumed_before = previous.as_ref().map(|c| c.consumed.clone()).unwrap_or_default();

    // 2. The new input, if any.
    let Some(input) = NewInput::find(&landing, &processed, models, &consumed_before, run).await? else {
        tracing::info!("no new landing batches");
        return Ok(TransformResponse::default());
    };
    let mut response = TransformResponse {
        changed: true,
        run: Some(run),
        ..Default::default()
    };
    let spill = session::spill_dir()?;
    let ctx = session::session(config, spill.path())?;

    // 3. The changes and the current state.
    let step = Instant::now();
    let changes = changes::read_all(&landing, &input, spill.path()).await?;
    response.consumed = changes
        .iter()
        .map(|(table, c)| (table.to_string(), c.rows))
        .collect();
    response.steps.read_ms = millis_since(step);
    let step = Instant::now();
    let snapshots = state::current_state(&ctx, &processed, previous.as_ref(), models, &changes, run).await?;
    response.steps.current_state_ms = millis_since(step);
    changes::register(&ctx, &changes).await?;
    fault::point("transform.after_state")?;

    // 4. The models, each committing its batch, then the checkpoint.
    let of_run = Arc::new(Run {
        number: run,
        tag: tote_core::checkpoint::run_tag(run),
        inputs: input.names(),
        execution: request.execution.clone(),
    });
    schedule::run_models(config, &ctx, &processed, of_run, &mut response).await?;
    let step = Instant::now();
    let checkpoint = Checkpoint {
        run,
        consumed: input.consumed_after(&consumed_before),
        snapshots,
        rows: response.rows.values().sum(),
        execution: request.execution.clone(),
    };
    checkpoint::commit(&processed, &checkpoint).await?;
    response.steps.checkpoint_ms = millis_since(step);
    fault::point("transform.after_checkpoint")?;
    Ok(response)
}

//! The load Lambda: a thin wrapper over [`tote_load::load`].
//!
//! Event (see docs/stage-contract.md): `{"action": "load", "phase": "dimensions" | "facts" | "all",
//! "execution": …}`. Errors reach Step Functions with the stable name as `errorType`
//! (`Tote.WarehouseUnavailable`, `Tote.MissingDimension`, `Tote.BadBatch`, `Tote.Config`).

use serde_json::Value;
use tote_core::config::Config;
use tote_core::lambda::{self, Diagnostic};
use tracing::Instrument;

async fn handle(config: &Config, payload: Value) -> Result<Value, Diagnostic> {
    let request: tote_load::LoadRequest = lambda::parse(payload, "load")?;
    let span = tracing::info_span!(
        "load",
        execution = %request.execution.as_deref().unwrap_or(""),
        phase = ?request.phase
    );
    let result = tote_load::load(config, &request).instrument(span).await;
    lambda::respond("load", result)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run(handle).await
}

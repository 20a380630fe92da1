//! The transform Lambda: a thin wrapper over [`tote_transform::transform`].
//!
//! Event (see docs/stage-contract.md): `{"action": "transform", "execution": …}`. Errors reach
//! Step Functions with the stable name as `errorType` (`Tote.ModelFailed`, `Tote.BadBatch`, …).

use serde_json::Value;
use tote_core::config::Config;
use tote_core::lambda::{self, Diagnostic};
use tracing::Instrument;

async fn handle(config: &Config, payload: Value) -> Result<Value, Diagnostic> {
    let request: tote_transform::TransformRequest = lambda::parse(payload, "transform")?;
    let span = tracing::info_span!("transform", execution = %request.execution.as_deref().unwrap_or(""));
    let result = tote_transform::transform(config, &request).instrument(span).await;
    lambda::respond("transform", result)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run(handle).await
}

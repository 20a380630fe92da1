//! The transform Lambda: a thin wrapper over [`tote_transform::transform`].
//!
//! Event (see docs/stage-contract.md): `{"action": "transform", "execution": …}`. Errors reach
//! Step Functions with the stable name as `errorType` (`Tote.ModelFailed`, `Tote.BadBatch`, …).

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tote_core::config::Config;
use tracing::Instrument;

fn diagnostic(e: tote_core::Error) -> Diagnostic {
    Diagnostic {
        error_type: e.kind().name().to_string(),
        error_message: e.message().to_string(),
    }
}

async fn handle(config: &Config, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let request: tote_transform::TransformRequest = serde_json::from_value(event.payload).map_err(|e| {
        diagnostic(tote_core::Error::bad_request(format!(
            "invalid transform request: {e}"
        )))
    })?;
    let span = tracing::info_span!("transform", execution = %request.execution.as_deref().unwrap_or(""));
    let response = async {
        tote_transform::transform(config, &request)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "transform failed"))
    }
    .instrument(span)
    .await
    .map_err(diagnostic)?;
    serde_json::to_value(response).map_err(|e| diagnostic(tote_core::Error::internal(e.to_string())))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tote_core::logging::init_json();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let config = &config;
    lambda_runtime::run(service_fn(move |event| handle(config, event))).await
}

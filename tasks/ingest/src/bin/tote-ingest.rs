//! The ingest Lambda: a thin wrapper over [`tote_ingest::plan`] and [`tote_ingest::ingest`].
//!
//! Events (see docs/stage-contract.md): `{"action": "plan", …}` or
//! `{"action": "ingest", "table": …, "execution": …, "full_refresh": …}` (`action` defaults to
//! `ingest`). Errors reach Step Functions with the stable name as `errorType` (`Tote.*`), so the
//! state machine's Retry and Catch can match them.

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
    let payload = event.payload;
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("ingest")
        .to_string();
    let execution = payload
        .get("execution")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let bad = |e: serde_json::Error| {
        diagnostic(tote_core::Error::bad_request(format!(
            "invalid {action} request: {e}"
        )))
    };
    match action.as_str() {
        "plan" => {
            let request: tote_ingest::PlanRequest = serde_json::from_value(payload).map_err(bad)?;
            let span = tracing::info_span!("plan", execution = %execution);
            let _guard = span.enter();
            let plan = tote_ingest::plan(config, &request).map_err(diagnostic)?;
            tracing::info!(
                tables = plan.tables.len(),
                full_refresh = plan.full_refresh,
                "planned"
            );
            serde_json::to_value(plan).map_err(|e| diagnostic(tote_core::Error::internal(e.to_string())))
        }
        "ingest" => {
            let request: tote_ingest::IngestRequest = serde_json::from_value(payload).map_err(bad)?;
            let span = tracing::info_span!("ingest", execution = %execution, table = %request.table);
            let response = async {
                tote_ingest::ingest(config, &request)
                    .await
                    .inspect_err(|e| tracing::error!(error = %e, "ingest failed"))
            }
            .instrument(span)
            .await
            .map_err(diagnostic)?;
            serde_json::to_value(response).map_err(|e| diagnostic(tote_core::Error::internal(e.to_string())))
        }
        other => Err(diagnostic(tote_core::Error::bad_request(format!(
            "unknown action `{other}` for the ingest function; use plan or ingest"
        )))),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tote_core::logging::init_json();
    // Invalid configuration fails the cold start, naming the variable.
    let config = Config::from_env().map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e
    })?;
    let config = &config;
    lambda_runtime::run(service_fn(move |event| handle(config, event))).await
}

//! The ingest Lambda: a thin wrapper over [`tote_ingest::plan`] and [`tote_ingest::ingest`].
//!
//! Events (see docs/stage-contract.md): `{"action": "plan", …}` or
//! `{"action": "ingest", "table": …, "execution": …, "full_refresh": …}` (`action` defaults to
//! `ingest`). Errors reach Step Functions with the stable name as `errorType` (`Tote.*`), so the
//! state machine's Retry and Catch can match them.

use serde_json::Value;
use tote_core::config::Config;
use tote_core::lambda::{self, Diagnostic};
use tracing::Instrument;

async fn handle(config: &Config, payload: Value) -> Result<Value, Diagnostic> {
    let execution = payload
        .get("execution")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match lambda::action(&payload, "ingest") {
        "plan" => {
            let request: tote_ingest::PlanRequest = lambda::parse(payload, "plan")?;
            let span = tracing::info_span!("plan", execution = %execution);
            let _guard = span.enter();
            lambda::respond("plan", tote_ingest::plan(config, &request))
        }
        "ingest" => {
            let request: tote_ingest::IngestRequest = lambda::parse(payload, "ingest")?;
            let span = tracing::info_span!("ingest", execution = %execution, table = %request.table);
            let result = tote_ingest::ingest(config, &request).instrument(span).await;
            lambda::respond("ingest", result)
        }
        other => Err(lambda::diagnostic(tote_core::Error::bad_request(format!(
            "unknown action `{other}` for the ingest function; use plan or ingest"
        )))),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run(handle).await
}

//! The shared shape of tote's three Lambda binaries: a thin `main` over a plain async function.
//!
//! Each stage's binary parses its event, calls its library function and answers with JSON. What
//! they share lives here: JSON logs, configuration read (and validated) once per cold start, and
//! errors returned with their stable name as the Lambda `errorType` (`Tote.*`), which is what the
//! state machine's Retry and Catch clauses match.

use std::future::Future;

pub use lambda_runtime::Diagnostic;
use lambda_runtime::{service_fn, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::error::Error;

/// A tote error as a Lambda error: `errorType` is the stable name, `errorMessage` the message.
pub fn diagnostic(e: Error) -> Diagnostic {
    Diagnostic {
        error_type: e.kind().name().to_string(),
        error_message: e.message().to_string(),
    }
}

/// Parses an event into a stage's request; a malformed one is `Tote.BadRequest`, naming `what`.
pub fn parse<T: DeserializeOwned>(payload: Value, what: &str) -> Result<T, Diagnostic> {
    serde_json::from_value(payload)
        .map_err(|e| diagnostic(Error::bad_request(format!("invalid {what} request: {e}"))))
}

/// A stage's result as the Lambda's answer, logging a failure before it is returned.
pub fn respond<T: Serialize>(stage: &str, result: crate::Result<T>) -> Result<Value, Diagnostic> {
    match result {
        Ok(response) => {
            serde_json::to_value(response).map_err(|e| diagnostic(Error::internal(e.to_string())))
        }
        Err(e) => {
            tracing::error!(error = %e, "{stage} failed");
            Err(diagnostic(e))
        }
    }
}

/// The `action` an event names (`default` when it names none).
pub fn action<'a>(payload: &'a Value, default: &'a str) -> &'a str {
    payload.get("action").and_then(Value::as_str).unwrap_or(default)
}

/// Runs the Lambda runtime loop with `handler`, after JSON logging and a configuration read from
/// the environment. Invalid configuration fails the cold start, naming the variable.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(&'static Config, Value) -> Fut,
    Fut: Future<Output = Result<Value, Diagnostic>>,
{
    crate::logging::init_json();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let config: &'static Config = Box::leak(Box::new(config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handler(config, event.payload)
    }))
    .await
}

//! The shared shape of tote's three Lambda binaries: a thin `main` over a plain async function.
//!
//! Each stage's binary is `lambda::run(tote_stage::handle)`: JSON logs, configuration read (and
//! validated) once per cold start, the event parsed into the stage's event type and its answer
//! encoded ([`crate::event::respond`]), and errors returned with their stable name as the Lambda
//! `errorType` (`Tote.*`), which is what the state machine's Retry clauses match.

use std::future::Future;

pub use lambda_runtime::Diagnostic;
use lambda_runtime::{service_fn, LambdaEvent};
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

/// Runs the Lambda runtime loop over `handle`, after JSON logging and a configuration read from
/// the environment. Invalid configuration fails the cold start, naming the variable.
pub async fn run<E, A, F, Fut>(handle: F) -> Result<(), lambda_runtime::Error>
where
    E: crate::event::StageEvent + 'static,
    A: serde::Serialize + 'static,
    F: Fn(&'static Config, E) -> Fut,
    Fut: Future<Output = crate::Result<A>> + Send + 'static,
{
    let stage = E::STAGE;
    crate::logging::init_json();
    crate::metrics::to_stdout();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let config: &'static Config = Box::leak(Box::new(config));
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        // Boxed: the stage futures are deep, and an unboxed one overflows the compiler's layout query.
        let call: std::pin::Pin<Box<dyn Future<Output = crate::Result<Value>> + Send>> =
            match E::from_json(event.payload) {
                Ok(event) => {
                    let answer = handle(config, event);
                    Box::pin(async move { crate::event::encode(&answer.await?) })
                }
                Err(e) => Box::pin(std::future::ready(Err(e))),
            };
        async move {
            call.await.map_err(|e| {
                let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                tracing::error!(error = %e, causes = ?causes, "{stage} failed");
                diagnostic(e)
            })
        }
    }))
    .await
}

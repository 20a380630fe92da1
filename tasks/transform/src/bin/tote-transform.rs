//! The transform Lambda: the runtime loop over [`tote_transform::handle`], which takes the event the
//! state machine sends, parsed into its type (see docs/stage-contract.md). Errors reach Step Functions with the stable
//! name as `errorType` (`Tote.*`), which the state machine's Retry clauses match.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tote_core::lambda::run(tote_transform::handle).await
}

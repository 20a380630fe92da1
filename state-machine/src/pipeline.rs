//! The deployed state machine, run locally: the embedded definition, the in-process stage
//! handler, local alerts, and one function per thing the CLI does with an execution.
//!
//! `state-machine/definition.asl.json` is the exact ASL that CDK deploys, with its task
//! resources replaced by placeholders (`${Function:ingest}`, …). [`StageHandler`] answers its
//! `lambda:invoke` tasks by calling the stage's `handle` function in-process with the same event
//! the Lambda would get, and answers with the envelope the `lambda:invoke` integration returns
//! (`{StatusCode, Payload, …}`; a failure as Error = the `errorType`, Cause = the JSON error
//! body), so `ResultSelector` and Retry behave as they do in AWS.
//!
//! Executions are recorded under `$TOTE_HOME/executions` (input, history, status, output or
//! error) and can be redriven. The definition catches nothing, so that a redrive re-runs what
//! failed (docs/redrive-and-alerts.md); a failed execution writes one alert, as the deployed
//! stack's EventBridge rule publishes one, to stderr and to `$TOTE_HOME/alerts.jsonl`, with the
//! failed states read from the history.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tote_asl::{
    Clock, ExecutionRecord, ExecutionStatus, ExecutionStore, Executor, Failure, HistoryEvent, StateMachine,
    TaskContext, TaskFuture, TaskHandler,
};
use tote_core::config::Config;
use tote_core::event::{respond, Recovery};
use tote_core::{Error, ErrorKind};

/// The deployed definition, as exported from CDK by `scripts/export-asl`.
pub const DEFINITION: &str = include_str!("../definition.asl.json");

/// The state machine's name, locally (`$$.StateMachine.Name`).
pub const STATE_MACHINE: &str = "tote-pipeline";

/// The resource of the `lambda:invoke` optimised integration.
const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// The embedded definition, loaded and validated.
pub fn state_machine() -> anyhow::Result<StateMachine> {
    Ok(StateMachine::from_json_str(STATE_MACHINE, DEFINITION)?)
}

/// Runs the pipeline's Task states in this process.
pub struct StageHandler {
    config: Arc<Config>,
}

impl StageHandler {
    /// A handler running the stages with `config`.
    pub fn new(config: Config) -> StageHandler {
        StageHandler {
            config: Arc::new(config),
        }
    }

    async fn invoke_function(
        config: Arc<Config>,
        function: String,
        payload: Value,
    ) -> Result<Value, Failure> {
        let result = match function.as_str() {
            "${Function:ingest}" => respond(payload, |e| tote_ingest::handle(&config, e)).await,
            "${Function:transform}" => respond(payload, |e| tote_transform::handle(&config, e)).await,
            "${Function:load}" => respond(payload, |e| tote_load::handle(&config, e)).await,
            other => {
                return Err(Failure::new(
                    "Lambda.ResourceNotFoundException",
                    format!(
                    "no local function for {other}; the definition names ${{Function:ingest|transform|load}}"
                ),
                ))
            }
        };
        match result {
            Ok(payload) => Ok(json!({
                "ExecutedVersion": "$LATEST",
                "Payload": payload,
                "StatusCode": 200,
            })),
            Err(e) => Err(failure(&e)),
        }
    }
}

/// A stage error as the `lambda:invoke` integration reports a function error.
fn failure(e: &Error) -> Failure {
    let body = json!({"errorType": e.kind().name(), "errorMessage": e.message()});
    Failure::new(e.kind().name(), body.to_string())
}

impl TaskHandler for StageHandler {
    fn invoke<'a>(
        &'a self,
        resource: &'a str,
        parameters: Value,
        _context: &'a TaskContext,
    ) -> TaskFuture<'a> {
        Box::pin(async move {
            match resource {
                LAMBDA_INVOKE => {
                    let function = parameters["FunctionName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let payload = parameters.get("Payload").cloned().unwrap_or(json!({}));
                    // Each invocation on its own task, so that Map iterations use every core.
                    let call = tokio::spawn(Self::invoke_function(self.config.clone(), function, payload));
                    call.await.unwrap_or_else(|e| {
                        Err(Failure::new("Lambda.Unknown", format!("the stage panicked: {e}")))
                    })
                }
                other => Err(Failure::new(
                    "States.Runtime",
                    format!("the local executor cannot run resource {other}"),
                )),
            }
        })
    }
}

/// The load's row counts per model in a finished execution's output (`RowCounts` as JSON): the
/// dimensions' from `load_dimensions`, each fact's from its `load_facts` iteration.
pub fn loaded_rows(output: &Value) -> impl Iterator<Item = (&String, &Value)> {
    let facts = output["load_facts"].as_array().into_iter().flatten();
    std::iter::once(&output["load_dimensions"])
        .chain(facts)
        .flat_map(|load| load["rows"].as_object().into_iter().flatten())
}

/// The ingest results per table in a finished execution's output: each table ingested in one
/// invocation (`ingest`, the IngestTables Map) and each table read in chunks (`chunked`, the
/// CommitChunks Map).
pub fn ingested_tables(output: &Value) -> impl Iterator<Item = &Value> {
    ["ingest", "chunked"]
        .into_iter()
        .flat_map(|key| output[key].as_array().into_iter().flatten())
}

/// Appends one alert (a JSON line) to `path` and prints it on stderr.
pub fn write_alert(path: &Path, alert: &Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let line = serde_json::to_string(alert)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")?;
    eprintln!("ALERT {line}");
    Ok(())
}

/// The alert for a finished execution that did not succeed, as the deployed stack's
/// EventBridge rule publishes it, plus the failed states (known locally from the history).
pub fn alert_for(record: &ExecutionRecord) -> Value {
    json!({
        "execution": record.name,
        "status": record.status.to_string(),
        "failed_states": record.resume.as_ref().map(|r| r.failed_states()).unwrap_or_default(),
        "error": record.error,
        "cause": record.cause,
        "redrive": format!("tote executions redrive {}", record.name),
        "what_to_do": what_to_do(record),
    })
}

/// What recovers a failed execution, by its error. A redrive re-runs the failed states with the
/// same input, so it cannot help when the input itself was refused.
pub fn what_to_do(record: &ExecutionRecord) -> String {
    let name = &record.name;
    let recovery = record
        .error
        .as_deref()
        .and_then(ErrorKind::from_name)
        .map(ErrorKind::recovery);
    match recovery {
        Some(Recovery::NewExecution) => "the execution's input was refused, and a redrive would send it \
             again: start a new execution with corrected input (`tote run --tables …`)"
            .to_string(),
        Some(Recovery::FullRefresh) => format!(
            "a source table's schema changed: accept it with a full refresh of that table \
             (`tote run --tables <table> --full-refresh`), then redrive with `tote executions \
             redrive {name}` or let the next run catch up"
        ),
        Some(Recovery::Redrive | Recovery::FixConfiguration) | None => format!(
            "after fixing the cause, redrive it with `tote executions redrive {name}` (only what \
             failed runs again), or start a new execution, which catches up too"
        ),
    }
}

/// Runs executions of the pipeline against one configuration, recording them in
/// `$TOTE_HOME/executions`.
pub struct Pipeline {
    executor: Executor,
    alerts: PathBuf,
}

impl Pipeline {
    /// A pipeline for `config`, with the system clock.
    pub fn new(config: Config) -> Pipeline {
        let store = ExecutionStore::new(config.home.join("executions"));
        let alerts = config.home.join("alerts.jsonl");
        let executor = Executor::new(Arc::new(StageHandler::new(config))).with_store(store);
        Pipeline { executor, alerts }
    }

    /// The same, with another clock (tests use a virtual one, so retries do not sleep).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Pipeline {
        self.executor = self.executor.with_clock(clock);
        self
    }

    /// Calls `listener` with every history event as it happens (progress on a terminal).
    pub fn with_listener(mut self, listener: impl Fn(&HistoryEvent) + Send + Sync + 'static) -> Pipeline {
        self.executor = self.executor.with_listener(Arc::new(listener));
        self
    }

    /// The recorded executions.
    pub fn store(&self) -> &ExecutionStore {
        self.executor.store().expect("a pipeline always has a store")
    }

    /// Starts an execution called `name` with `input` and runs it to its end.
    pub async fn start(&self, name: &str, input: Value) -> anyhow::Result<ExecutionRecord> {
        let record = self.executor.start(&state_machine()?, Some(name), input).await?;
        self.alert_if_failed(&record)?;
        Ok(record)
    }

    /// Redrives the failed execution `name`: only its failed states and Map iterations run again.
    pub async fn redrive(&self, name: &str) -> anyhow::Result<ExecutionRecord> {
        let record = self.executor.redrive(name).await?;
        self.alert_if_failed(&record)?;
        Ok(record)
    }

    fn alert_if_failed(&self, record: &ExecutionRecord) -> anyhow::Result<()> {
        if record.status != ExecutionStatus::Succeeded {
            write_alert(&self.alerts, &alert_for(record))?;
        }
        Ok(())
    }
}

/// A fresh execution name: `run-<UTC time>-<random>`, unique and sortable.
pub fn new_execution_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("run-{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), &id[..6])
}

/// The execution input for `tote run`: `{}` (what the schedule sends), or the named tables and a
/// full refresh, as a console user would write them.
pub fn execution_input(tables: Option<&[String]>, full_refresh: bool) -> Value {
    let mut input = serde_json::Map::new();
    if let Some(tables) = tables {
        input.insert("tables".into(), json!(tables));
    }
    if full_refresh {
        input.insert("full_refresh".into(), json!(true));
    }
    Value::Object(input)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tote_core::ErrorKind;

    /// Every `Retry` of every task in `states` (Map iterators included): its `ErrorEquals`.
    fn retried(states: &serde_json::Value, out: &mut Vec<(String, BTreeSet<String>)>) {
        for (name, state) in states.as_object().into_iter().flatten() {
            if state["Type"] == "Task" {
                let names: BTreeSet<String> = state["Retry"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|r| r["ErrorEquals"].as_array().into_iter().flatten())
                    .filter_map(|e| e.as_str())
                    .filter(|e| e.starts_with("Tote."))
                    .map(str::to_string)
                    .collect();
                out.push((name.clone(), names));
            }
            for nested in [&state["ItemProcessor"]["States"], &state["Iterator"]["States"]] {
                retried(nested, out);
            }
        }
    }

    /// The definition CDK deploys (exported from pipeline.ts) retries exactly the errors
    /// `ErrorKind::is_retryable` names, at every stage task: the two sides cannot drift apart.
    #[test]
    fn every_task_retries_exactly_the_errors_rust_calls_retryable() {
        let definition: serde_json::Value = serde_json::from_str(super::DEFINITION).unwrap();
        let expected: BTreeSet<String> = ErrorKind::ALL
            .iter()
            .filter(|k| k.is_retryable())
            .map(|k| k.name().to_string())
            .collect();
        let mut tasks = Vec::new();
        retried(&definition["States"], &mut tasks);
        assert!(
            tasks.len() >= 5,
            "plan, ingest, transform and both loads: {tasks:?}"
        );
        for (task, names) in tasks {
            assert_eq!(names, expected, "{task} retries");
        }
    }
}

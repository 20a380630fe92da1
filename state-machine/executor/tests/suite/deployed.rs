//! The definition CDK deploys (`state-machine/definition.asl.json`, exported by
//! `scripts/export-asl`) loads and runs here, with stub stages answering in the
//! `lambda:invoke` envelope the stage contract describes (docs/stage-contract.md).
//!
//! These tests hold the executor to the real definition, not the definition to a flow:
//! they check the contract-level behaviour (the stages called, one alert per failure,
//! the execution's error) rather than state names.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tote_asl::{handler_fn, EventType, ExecutionStatus, Executor, Failure, StateMachine, VirtualClock};

const LAMBDA: &str = "arn:aws:states:::lambda:invoke";

/// The fact models the stub plan names; the definition loads each in its own iteration.
const FACTS: [&str; 3] = ["fact_payment", "fact_purchase_order", "fact_sales_order"];

fn deployed() -> StateMachine {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../definition.asl.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    StateMachine::from_json_str("tote", &text).unwrap_or_else(|e| panic!("{e}"))
}

/// What the stub stages saw, and which call should fail how.
#[derive(Default)]
struct Stages {
    /// `(resource, FunctionName, payload)` per call.
    calls: Mutex<Vec<(String, String, Value)>>,
    /// `(action[/phase], failure, times)`: fail the next `times` matching calls.
    fault: Mutex<Option<(String, Failure, usize)>>,
    /// Tables whose ingest reports `changed: true`.
    changed: Vec<&'static str>,
    /// Whether the plan reads sales_order in two chunks.
    chunked: bool,
}

impl Stages {
    fn new(changed: &[&'static str]) -> Arc<Stages> {
        Arc::new(Stages {
            changed: changed.to_vec(),
            ..Stages::default()
        })
    }

    fn chunked(changed: &[&'static str]) -> Arc<Stages> {
        Arc::new(Stages {
            changed: changed.to_vec(),
            chunked: true,
            ..Stages::default()
        })
    }

    fn fail(&self, what: &str, error: &str, times: usize) {
        let cause = json!({"errorType": error, "errorMessage": format!("{what} failed")}).to_string();
        *self.fault.lock().unwrap() = Some((what.to_owned(), Failure::new(error, cause), times));
    }

    fn answer(&self, resource: &str, parameters: &Value) -> Result<Value, Failure> {
        // Every task of the definition is a stage: it publishes nothing (the failure alert is an
        // EventBridge rule on the execution's status, not a state).
        assert_eq!(
            resource, LAMBDA,
            "stage tasks use the optimised Lambda integration, and no task publishes"
        );
        let function = parameters["FunctionName"].as_str().unwrap_or_default().to_owned();
        let payload = parameters["Payload"].clone();
        self.calls
            .lock()
            .unwrap()
            .push((resource.to_owned(), function.clone(), payload.clone()));
        let action = payload["action"].as_str().unwrap_or_default();
        let what = match (payload["phase"].as_str(), payload["chunk"]["index"].as_u64()) {
            (Some(phase), _) => format!("{action}/{phase}"),
            (None, Some(index)) => format!("{action}/chunk{index}"),
            (None, None) => action.to_owned(),
        };
        if let Some((target, failure, times)) = self.fault.lock().unwrap().as_mut() {
            if *target == what && *times > 0 {
                *times -= 1;
                return Err(failure.clone());
            }
        }
        let result = match what.as_str() {
            "plan" => json!({
                "tables": payload["tables"].as_array().cloned().unwrap_or_else(|| vec![json!("address"), json!("staff")]),
                "full_refresh": payload["full_refresh"].as_bool().unwrap_or(false),
                "facts": FACTS,
                "chunks": if self.chunked { json!([
                    {"table": "sales_order", "group": "g-1", "index": 0, "chunks": 2, "from": null, "to": 500, "until": "2026-12-02T10:00:00"},
                    {"table": "sales_order", "group": "g-1", "index": 1, "chunks": 2, "from": 500, "to": null, "until": "2026-12-02T10:00:00"}
                ]) } else { json!([]) },
                "chunked": if self.chunked { json!([
                    {"table": "sales_order", "group": "g-1", "chunks": 2, "until": "2026-12-02T10:00:00"}
                ]) } else { json!([]) }
            }),
            "ingest/chunk0" | "ingest/chunk1" => {
                json!({"table": "sales_order", "changed": true, "batch_id": format!("part-{what}"), "rows": 10, "keys": []})
            }
            "commit_chunks" => {
                json!({"table": payload["table"], "changed": true, "batch_id": payload["group"], "rows": 20, "keys": []})
            }
            "ingest" => {
                let table = payload["table"].as_str().unwrap_or_default();
                let changed = self.changed.contains(&table);
                json!({"table": table, "changed": changed, "batch_id": changed.then_some("b-1"), "rows": u8::from(changed), "keys": []})
            }
            "transform" => json!({"changed": true, "batches": ["t-1"], "rows": {"fact_sales_order": 1}}),
            "load/dimensions" | "load/facts" => json!({"batches": 1, "rows": {}}),
            "freshness" => json!({"freshness_millis": 0, "table_freshness_millis": {}}),
            other => panic!("unexpected request {other}: {payload}"),
        };
        Ok(json!({"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200}))
    }

    fn lambda_calls(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _, _)| r == LAMBDA)
            .map(|(_, f, p)| {
                let action = p["action"].as_str().unwrap_or_default();
                match (
                    p["phase"].as_str(),
                    p["model"].as_str(),
                    p["chunk"]["index"].as_u64(),
                ) {
                    (Some(phase), Some(model), _) => format!("{f} {action}/{phase} {model}"),
                    (Some(phase), None, _) => format!("{f} {action}/{phase}"),
                    (None, _, Some(index)) => format!("{f} {action} chunk {index}"),
                    _ => format!("{f} {action}"),
                }
            })
            .collect()
    }
}

fn executor(stages: &Arc<Stages>) -> (Executor, VirtualClock) {
    let clock = VirtualClock::default();
    let stages = Arc::clone(stages);
    let handler = handler_fn(move |resource, parameters, _context| {
        let answer = stages.answer(resource, &parameters);
        Box::pin(async move { answer })
    });
    (
        Executor::new(Arc::new(handler))
            .with_clock(Arc::new(clock.clone()))
            .with_seed(5),
        clock,
    )
}

#[tokio::test]
async fn a_scheduled_run_calls_every_stage_once() {
    let stages = Stages::new(&["staff"]);
    let (executor, _) = executor(&stages);
    let record = executor
        .start(&deployed(), Some("scheduled"), json!({}))
        .await
        .unwrap();
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        record.error,
        record.cause
    );
    let mut calls = stages.lambda_calls();
    // The Map iterations of each fan-out run concurrently: their order is not the contract.
    calls[1..3].sort();
    calls[5..8].sort();
    assert_eq!(
        calls,
        [
            "${Function:ingest} plan",
            "${Function:ingest} ingest",
            "${Function:ingest} ingest",
            "${Function:transform} transform",
            "${Function:load} load/dimensions",
            "${Function:load} load/facts fact_payment",
            "${Function:load} load/facts fact_purchase_order",
            "${Function:load} load/facts fact_sales_order",
            "${Function:load} freshness",
        ]
    );
    let plan = &stages.calls.lock().unwrap()[0].2;
    assert_eq!(
        plan,
        &json!({"action": "plan", "execution": "scheduled", "tables": null, "full_refresh": null})
    );
}

/// With nothing new the definition still transforms and loads (each a no-op then), so a plain
/// execution catches up what a failed one left behind.
#[tokio::test]
async fn nothing_new_still_transforms_and_loads() {
    let stages = Stages::new(&[]);
    let (executor, _) = executor(&stages);
    let record = executor.start(&deployed(), None, json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let calls = stages.lambda_calls();
    for function in ["${Function:transform}", "${Function:load}"] {
        assert!(
            calls.iter().any(|c| c.starts_with(function)),
            "{function}: {calls:?}"
        );
    }
}

#[tokio::test]
async fn console_input_reaches_the_plan_request() {
    let stages = Stages::new(&["staff"]);
    let (executor, _) = executor(&stages);
    let input = json!({"tables": ["staff", "sales_order"], "full_refresh": true});
    let record = executor.start(&deployed(), Some("console"), input).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let calls = stages.calls.lock().unwrap();
    assert_eq!(calls[0].2["tables"], json!(["staff", "sales_order"]));
    assert_eq!(calls[0].2["full_refresh"], json!(true));
    let ingested: Vec<&Value> = calls
        .iter()
        .filter(|c| c.2["action"] == "ingest")
        .map(|c| &c.2)
        .collect();
    assert_eq!(ingested.len(), 2);
    assert!(ingested.iter().all(|p| p["full_refresh"] == json!(true)));
}

#[tokio::test]
async fn a_non_retryable_load_failure_fails_at_that_state_and_a_redrive_reruns_only_it() {
    let stages = Stages::new(&["staff"]);
    stages.fail("load/facts", "Tote.MissingDimension", 1);
    let (executor, clock) = executor(&stages);
    let record = executor
        .start(&deployed(), Some("broken"), json!({}))
        .await
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("Tote.MissingDimension"));
    assert!(record
        .cause
        .as_deref()
        .unwrap_or_default()
        .contains("load/facts failed"));
    assert!(clock.sleeps().is_empty(), "not retried");
    // The failure is not caught: the execution fails at the work state itself, so that a
    // redrive re-runs it. Alerts come from an EventBridge rule on the execution's status
    // (docs/redrive-and-alerts.md), never from the definition.
    // The first fact's iteration failed; its siblings committed their own models.
    assert_eq!(
        record.resume.as_ref().map(|r| r.failed_states()),
        Some(vec!["LoadFacts[0] > LoadFact".to_string()])
    );

    let calls_before = stages.calls.lock().unwrap().len();
    let redriven = executor.redrive_record(record).await.unwrap();
    assert_eq!(redriven.status, ExecutionStatus::Succeeded);
    let calls = stages.calls.lock().unwrap();
    let again: Vec<&Value> = calls[calls_before..].iter().map(|c| &c.2).collect();
    // The failure aborted the sibling iterations, so the redrive runs the fact loads that did
    // not succeed (each a no-op where its model had committed) and the freshness after them;
    // the plan, the ingest, the transform and the dimensions are not run again.
    let mut facts: Vec<&str> = again
        .iter()
        .filter(|p| p["phase"] == "facts")
        .filter_map(|p| p["model"].as_str())
        .collect();
    facts.sort_unstable();
    let failed_before = calls[..calls_before]
        .iter()
        .filter(|c| c.2["phase"] == "facts")
        .count();
    assert!(facts.contains(&FACTS[0]), "the failed fact runs again: {again:?}");
    assert!(facts.len() <= FACTS.len() && facts.windows(2).all(|w| w[0] != w[1]));
    assert_eq!(again.len(), facts.len() + 1, "{again:?}");
    assert_eq!(again.last().unwrap()["action"], "freshness");
    assert!(failed_before >= 1);
}

#[tokio::test]
async fn a_transient_source_error_is_retried_with_full_jitter() {
    let stages = Stages::new(&["staff"]);
    stages.fail("ingest", "Tote.SourceUnavailable", 1);
    let (executor, clock) = executor(&stages);
    let record = executor.start(&deployed(), None, json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let waits = clock.sleeps();
    assert_eq!(waits.len(), 1);
    assert!(waits[0] <= std::time::Duration::from_secs(5), "{waits:?}");
}

/// A table the plan reads in chunks runs through the Distributed Map, one child execution per
/// chunk of the one Map Run, and is then committed once.
#[tokio::test]
async fn a_chunked_table_is_ingested_chunk_by_chunk_in_child_executions_then_committed_once() {
    let stages = Stages::chunked(&["staff"]);
    let (executor, _) = executor(&stages);
    let record = executor
        .start(&deployed(), Some("backfill"), json!({}))
        .await
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{:?}", record.cause);
    let mut calls = stages.lambda_calls();
    calls[1..3].sort();
    calls[3..5].sort();
    calls[8..11].sort();
    assert_eq!(
        calls[..6],
        [
            "${Function:ingest} plan",
            "${Function:ingest} ingest",
            "${Function:ingest} ingest",
            "${Function:ingest} ingest chunk 0",
            "${Function:ingest} ingest chunk 1",
            "${Function:ingest} commit_chunks",
        ]
    );
    assert_eq!(calls[6], "${Function:transform} transform");
    // Each chunk's ingest gets its chunk and the pipeline run's name, not the child's.
    let chunk_calls: Vec<Value> = stages
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.2.clone())
        .filter(|p| p["chunk"].is_object())
        .collect();
    assert_eq!(chunk_calls.len(), 2);
    for p in &chunk_calls {
        assert_eq!(p["execution"], "backfill");
        assert_eq!(p["table"], "sales_order");
        assert_eq!(p["full_refresh"], true);
    }
    let commit = stages
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.2.clone())
        .find(|p| p["action"] == "commit_chunks")
        .unwrap();
    assert_eq!(
        commit,
        json!({"action": "commit_chunks", "table": "sales_order", "group": "g-1", "chunks": 2,
               "until": "2026-12-02T10:00:00", "execution": "backfill"})
    );
    // The history records the Map Run and each chunk as its child execution.
    let of = |t: EventType| record.events.iter().filter(move |e| e.event_type == t);
    let runs: Vec<_> = of(EventType::MapRunStarted).collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].details.map_run.as_deref(), Some("backfill/IngestChunks"));
    assert_eq!(runs[0].details.length, Some(2));
    assert_eq!(of(EventType::MapRunSucceeded).count(), 1);
    let mut children: Vec<&str> = of(EventType::MapIterationSucceeded)
        .filter_map(|e| e.details.child_execution.as_deref())
        .collect();
    children.sort_unstable();
    assert_eq!(children, ["backfill/IngestChunks:0", "backfill/IngestChunks:1"]);
    // The inline Maps have no Map Run.
    assert!(of(EventType::MapIterationSucceeded)
        .filter(|e| e.details.name.as_deref() == Some("IngestTables"))
        .all(|e| e.details.child_execution.is_none()));
}

/// A chunk that fails for good fails the Map Run and the execution there; a redrive redrives the
/// Map Run, running only the failed child execution again, then the commit and the rest.
#[tokio::test]
async fn a_failed_chunk_fails_the_map_run_and_a_redrive_reruns_only_that_chunk() {
    let stages = Stages::chunked(&[]);
    stages.fail("ingest/chunk1", "Tote.SchemaDrift", 1);
    let (executor, _) = executor(&stages);
    let record = executor
        .start(&deployed(), Some("broken"), json!({}))
        .await
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("Tote.SchemaDrift"));
    assert!(record
        .events
        .iter()
        .any(|e| e.event_type == EventType::MapRunFailed));
    assert!(!stages.lambda_calls().iter().any(|c| c.contains("commit_chunks")));

    let before = stages.calls.lock().unwrap().len();
    let redriven = executor.redrive_record(record).await.unwrap();
    assert_eq!(
        redriven.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        redriven.cause
    );
    let again = stages.lambda_calls()[before..].to_vec();
    assert_eq!(again[0], "${Function:ingest} ingest chunk 1", "{again:?}");
    assert_eq!(again[1], "${Function:ingest} commit_chunks");
    assert_eq!(
        again.iter().filter(|c| c.contains("chunk 0")).count(),
        0,
        "the chunk that succeeded is not run again: {again:?}"
    );
    assert!(redriven
        .events
        .iter()
        .any(|e| e.event_type == EventType::MapRunRedriven));
}

//! Redrive: a failed execution is persisted, then continued from disk by a fresh executor
//! (as `tote executions redrive` would, in a new process), re-running only what failed.

use std::sync::Arc;

use serde_json::{json, Value};
use tempfile::TempDir;
use tote_asl::{
    EventType, ExecutionRecord, ExecutionStatus, ExecutionStore, Executor, ExecutorError, Progress,
    ResumePoint, VirtualClock,
};

use crate::support::{machine, Reply, Scripted};

fn ok(v: Value) -> Reply {
    Reply::Result(v)
}

fn drift(cause: &str) -> Reply {
    Reply::Error("Tote.SchemaDrift".into(), Some(cause.into()))
}

/// An executor persisting to `dir`, as a separate process would build it.
fn process(dir: &TempDir, handler: Arc<Scripted>) -> Executor {
    Executor::new(handler)
        .with_clock(Arc::new(VirtualClock::default()))
        .with_store(ExecutionStore::new(dir.path()))
        .with_seed(3)
}

fn types(record: &ExecutionRecord) -> Vec<EventType> {
    record.events.iter().map(|e| e.event_type).collect()
}

/// plan -> load -> done, the shape of tote's pipeline tail.
fn pipeline() -> Value {
    json!({
        "StartAt": "Plan",
        "States": {
            "Plan": {"Type": "Task", "Resource": "plan", "ResultPath": "$.plan", "Next": "Load"},
            "Load": {"Type": "Task", "Resource": "load", "Parameters": {"tables.$": "$.plan.tables"},
                     "ResultPath": "$.load", "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    })
}

#[tokio::test]
async fn redrive_reruns_only_the_failed_task_with_its_original_input() {
    let dir = TempDir::new().unwrap();
    let first = Scripted::new();
    first.script("plan", vec![ok(json!({"tables": ["staff"]}))]);
    first.script(
        "load",
        vec![Reply::Error("Tote.BadBatch".into(), Some("bad checksum".into()))],
    );
    let failed = process(&dir, first.clone())
        .start(
            &machine(pipeline()),
            Some("run-1"),
            json!({"full_refresh": false}),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("Tote.BadBatch"));
    let resume = failed.resume.clone().expect("a resume point");
    assert_eq!(resume.state, "Load");
    assert_eq!(
        resume.input,
        json!({"full_refresh": false, "plan": {"tables": ["staff"]}})
    );

    // The cause is removed; a new process redrives from the store.
    let second = Scripted::new();
    second.script("load", vec![ok(json!({"rows": 12}))]);
    let redriven = process(&dir, second.clone()).redrive("run-1").await.unwrap();
    assert_eq!(redriven.status, ExecutionStatus::Succeeded);
    assert_eq!(
        redriven.output,
        Some(json!({"full_refresh": false, "plan": {"tables": ["staff"]}, "load": {"rows": 12}}))
    );
    assert!(
        second.calls_to("plan").is_empty(),
        "the successful Plan is not re-run"
    );
    assert_eq!(
        second.calls_to("load")[0].parameters,
        json!({"tables": ["staff"]})
    );
    assert_eq!(redriven.redrive_count, 1);
    assert!(redriven.redrive_date.is_some());
    assert_eq!(redriven.error, None);
    assert_eq!(redriven.resume, None);

    // One continuous history: the first attempt, then the redrive.
    let ids: Vec<u64> = redriven.events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    let t = types(&redriven);
    let failed_at = t.iter().position(|e| *e == EventType::ExecutionFailed).unwrap();
    assert_eq!(t[failed_at + 1], EventType::ExecutionRedriven);
    assert_eq!(redriven.events[failed_at + 1].details.redrive_count, Some(1));
    assert_eq!(
        redriven.events[failed_at + 1].previous_event_id,
        redriven.events[failed_at].id
    );
    assert_eq!(t[failed_at + 2], EventType::TaskStateEntered);
    assert_eq!(
        redriven.events[failed_at + 2].details.name.as_deref(),
        Some("Load")
    );
    assert_eq!(t.last(), Some(&EventType::ExecutionSucceeded));

    // And the store agrees.
    let stored = ExecutionStore::new(dir.path()).load("run-1").unwrap();
    assert_eq!(stored, redriven);
}

fn tables_map(max_concurrency: u64) -> Value {
    json!({
        "StartAt": "Tables",
        "States": {
            "Tables": {
                "Type": "Map",
                "ItemsPath": "$.tables",
                "MaxConcurrency": max_concurrency,
                "ItemSelector": {"table.$": "$$.Map.Item.Value", "execution.$": "$$.Execution.Name"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Ingest",
                    "States": {
                        "Ingest": {"Type": "Task", "Resource": "ingest", "ResultPath": "$.ingest", "Next": "Stage"},
                        "Stage": {"Type": "Task", "Resource": "stage", "InputPath": "$.ingest", "End": true}
                    }
                },
                "ResultPath": "$.results",
                "End": true
            }
        }
    })
}

fn tables_input() -> Value {
    json!({"tables": ["address", "staff", "payment", "sales_order", "currency"]})
}

/// `ingest` echoes; `stage` returns "<table>-staged" except for the tables in `failing`.
fn map_handler(failing: &[&str]) -> Arc<Scripted> {
    let handler = Scripted::new();
    let failing: Vec<String> = failing.iter().map(|t| t.to_string()).collect();
    handler.script_fn(
        "stage",
        Arc::new(move |params: &Value| {
            let table = params["table"].as_str().unwrap_or_default().to_owned();
            if failing.contains(&table) {
                drift(&table)
            } else {
                ok(json!(format!("{table}-staged")))
            }
        }),
    );
    handler
}

#[tokio::test]
async fn map_redrive_reruns_failed_iterations_from_their_failed_state() {
    let dir = TempDir::new().unwrap();
    let first = map_handler(&["payment", "currency"]);
    let failed = process(&dir, first.clone())
        .start(&machine(tables_map(0)), Some("run-map"), tables_input())
        .await
        .unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("Tote.SchemaDrift"));
    assert_eq!(
        failed.cause.as_deref(),
        Some("payment"),
        "the lowest failed index reports"
    );
    assert_eq!(first.calls_to("ingest").len(), 5);
    let resume = failed.resume.clone().unwrap();
    assert_eq!(
        resume.failed_states(),
        vec!["Tables[2] > Stage", "Tables[4] > Stage"]
    );

    let second = Scripted::new();
    second.script("stage", vec![ok(json!("redriven"))]);
    let redriven = process(&dir, second.clone()).redrive("run-map").await.unwrap();
    assert_eq!(redriven.status, ExecutionStatus::Succeeded);
    assert!(
        second.calls_to("ingest").is_empty(),
        "Ingest succeeded everywhere and is not re-run"
    );
    let staged: Vec<Value> = second
        .calls_to("stage")
        .into_iter()
        .map(|c| c.parameters)
        .collect();
    assert_eq!(
        staged,
        vec![
            json!({"table": "payment", "execution": "run-map"}),
            json!({"table": "currency", "execution": "run-map"})
        ],
        "only the failed iterations' failed state runs, with its original input"
    );
    assert_eq!(
        redriven.output.unwrap()["results"],
        json!([
            "address-staged",
            "staff-staged",
            "redriven",
            "sales_order-staged",
            "redriven"
        ])
    );
    let restarted: Vec<usize> = redriven
        .events
        .iter()
        .skip_while(|e| e.event_type != EventType::ExecutionRedriven)
        .filter(|e| e.event_type == EventType::MapIterationStarted)
        .map(|e| e.details.index.unwrap())
        .collect();
    assert_eq!(restarted, vec![2, 4]);
}

#[tokio::test]
async fn map_redrive_starts_iterations_that_never_started() {
    let dir = TempDir::new().unwrap();
    let failed = process(&dir, map_handler(&["staff"]))
        .start(&machine(tables_map(1)), Some("run-serial"), tables_input())
        .await
        .unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    let Some(tote_asl::Nested::Map { iterations, .. }) = &failed.resume.as_ref().unwrap().nested else {
        panic!("a Map resume point");
    };
    let statuses: Vec<&str> = iterations
        .iter()
        .map(|p| match p {
            Progress::Succeeded { .. } => "succeeded",
            Progress::Failed { .. } => "failed",
            Progress::NotStarted => "not started",
        })
        .collect();
    assert_eq!(
        statuses,
        ["succeeded", "failed", "not started", "not started", "not started"]
    );

    let second = map_handler(&[]);
    let redriven = process(&dir, second.clone()).redrive("run-serial").await.unwrap();
    assert_eq!(redriven.status, ExecutionStatus::Succeeded);
    let ingested: Vec<Value> = second
        .calls_to("ingest")
        .into_iter()
        .map(|c| c.parameters["table"].clone())
        .collect();
    assert_eq!(
        ingested,
        vec![json!("payment"), json!("sales_order"), json!("currency")]
    );
    assert_eq!(
        second.calls_to("stage").len(),
        4,
        "staff resumes at Stage; three start fresh"
    );
}

#[tokio::test]
async fn parallel_redrive_reruns_only_the_failed_branch() {
    let dir = TempDir::new().unwrap();
    let definition = json!({
        "StartAt": "Load",
        "States": {"Load": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Dimensions", "States": {"Dimensions": {"Type": "Task", "Resource": "dims", "End": true}}},
                {"StartAt": "Facts", "States": {"Facts": {"Type": "Task", "Resource": "facts", "End": true}}}
            ],
            "End": true
        }}
    });
    let first = Scripted::new();
    first.script("dims", vec![ok(json!("dims loaded"))]);
    first.script("facts", vec![Reply::Error("Tote.MissingDimension".into(), None)]);
    let failed = process(&dir, first)
        .start(&machine(definition), Some("run-par"), json!({}))
        .await
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("Tote.MissingDimension"));

    let second = Scripted::new();
    second.script("facts", vec![ok(json!("facts loaded"))]);
    let redriven = process(&dir, second.clone()).redrive("run-par").await.unwrap();
    assert_eq!(redriven.output, Some(json!(["dims loaded", "facts loaded"])));
    assert!(second.calls_to("dims").is_empty());
}

#[tokio::test]
async fn a_caught_failure_redrives_at_the_fail_state_like_step_functions() {
    // Catch -> Alert -> Fail: the failed task exited through its catcher, so the only
    // state without an exit is the Fail state; redrive re-runs it and fails again,
    // without re-sending the alert.
    let dir = TempDir::new().unwrap();
    let definition = json!({
        "StartAt": "Load",
        "States": {
            "Load": {"Type": "Task", "Resource": "load", "End": true,
                     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Alert"}]},
            "Alert": {"Type": "Task", "Resource": "alert", "ResultPath": null, "Next": "Failed"},
            "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
        }
    });
    let first = Scripted::new();
    first.script(
        "load",
        vec![Reply::Error("Tote.BadBatch".into(), Some("bad".into()))],
    );
    let failed = process(&dir, first)
        .start(&machine(definition), Some("run-caught"), json!({}))
        .await
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("Tote.BadBatch"));
    assert_eq!(failed.resume.as_ref().unwrap().state, "Failed");

    let second = Scripted::new();
    let again = process(&dir, second.clone()).redrive("run-caught").await.unwrap();
    assert_eq!(again.status, ExecutionStatus::Failed);
    assert_eq!(again.redrive_count, 1);
    assert!(second.calls().is_empty(), "neither Load nor Alert runs again");
}

#[tokio::test]
async fn retries_start_over_and_redrive_can_repeat() {
    let dir = TempDir::new().unwrap();
    let definition = json!({
        "StartAt": "Load",
        "States": {"Load": {"Type": "Task", "Resource": "load", "End": true,
            "Retry": [{"ErrorEquals": ["Tote.WarehouseUnavailable"], "MaxAttempts": 1}]}}
    });
    let down = || Reply::Error("Tote.WarehouseUnavailable".into(), None);
    let first = Scripted::new();
    first.script("load", vec![down()]);
    let failed = process(&dir, first.clone())
        .start(&machine(definition), Some("run-retry"), json!({}))
        .await
        .unwrap();
    assert_eq!(first.calls().len(), 2, "one attempt plus one retry");
    assert_eq!(failed.status, ExecutionStatus::Failed);

    let second = Scripted::new();
    second.script("load", vec![down()]);
    let again = process(&dir, second.clone()).redrive("run-retry").await.unwrap();
    assert_eq!(
        second.calls().len(),
        2,
        "the retrier's budget is fresh after a redrive"
    );
    assert_eq!((again.status, again.redrive_count), (ExecutionStatus::Failed, 1));

    let third = Scripted::new();
    third.script("load", vec![ok(json!("up"))]);
    let done = process(&dir, third).redrive("run-retry").await.unwrap();
    assert_eq!((done.status, done.redrive_count), (ExecutionStatus::Succeeded, 2));
    let redrives = done
        .events
        .iter()
        .filter(|e| e.event_type == EventType::ExecutionRedriven)
        .count();
    assert_eq!(redrives, 2);
}

#[tokio::test]
async fn redrive_refusals() {
    let dir = TempDir::new().unwrap();
    let handler = Scripted::new();
    handler.script("plan", vec![ok(json!({"tables": []}))]);
    let executor = process(&dir, handler.clone());
    let fine = executor
        .start(&machine(pipeline()), Some("fine"), json!({}))
        .await
        .unwrap();
    assert_eq!(fine.status, ExecutionStatus::Succeeded);
    let done = executor.redrive("fine").await;
    assert!(
        matches!(done, Err(ExecutorError::NotRedrivable { .. })),
        "{done:?}"
    );
    let missing = executor.redrive("nope").await;
    assert!(
        matches!(
            missing,
            Err(ExecutorError::Store(tote_asl::StoreError::NotFound { .. }))
        ),
        "{missing:?}"
    );
    let without_store = Executor::new(handler).redrive("fine").await;
    assert!(
        matches!(without_store, Err(ExecutorError::NoStore)),
        "{without_store:?}"
    );
}

#[tokio::test]
async fn in_memory_redrive_without_a_store() {
    let first = Scripted::new();
    first.script("plan", vec![ok(json!({"tables": ["staff"]}))]);
    first.script("load", vec![Reply::Error("Tote.BadBatch".into(), None)]);
    let executor = Executor::new(first.clone()).with_clock(Arc::new(VirtualClock::default()));
    let failed = executor
        .start(&machine(pipeline()), None, json!({}))
        .await
        .unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    first.script("load", vec![ok(json!(1))]);
    let done = executor.redrive_record(failed).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(first.calls_to("plan").len(), 1);
}

#[test]
fn resume_points_are_plain_json() {
    let point: ResumePoint = serde_json::from_value(json!({
        "state": "Tables",
        "input": {"tables": ["a"]},
        "nested": {"type": "map", "items": ["a"], "iterations": [
            {"status": "FAILED", "resume": {"state": "Ingest", "input": "a"}}
        ]}
    }))
    .unwrap();
    assert_eq!(point.failed_states(), vec!["Tables[0] > Ingest"]);
}

#[tokio::test]
async fn a_panicking_handler_fails_the_task_and_the_execution_stays_redrivable() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = TempDir::new().unwrap();
    let broken = Arc::new(AtomicBool::new(true));
    let flag = broken.clone();
    let handler = tote_asl::handler_fn(move |_resource, params, _ctx| {
        let broken = flag.load(Ordering::SeqCst);
        Box::pin(async move {
            if broken {
                panic!("stage bug");
            }
            Ok(params)
        })
    });
    let executor = Executor::new(Arc::new(handler))
        .with_clock(Arc::new(VirtualClock::default()))
        .with_store(ExecutionStore::new(dir.path()));
    let definition = json!({
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": "work", "End": true,
            "Retry": [{"ErrorEquals": ["Tote.SourceUnavailable"]}]}}
    });
    let failed = executor
        .start(&machine(definition), Some("panicky"), json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("States.TaskFailed"));
    assert_eq!(
        failed.cause.as_deref(),
        Some("The task handler panicked: stage bug")
    );
    assert!(types(&failed).contains(&EventType::TaskFailed));

    broken.store(false, std::sync::atomic::Ordering::SeqCst);
    let fixed = executor.redrive("panicky").await.unwrap();
    assert_eq!(fixed.status, ExecutionStatus::Succeeded);
    assert_eq!(fixed.output, Some(json!({"n": 1})));
}

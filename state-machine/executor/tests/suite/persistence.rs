//! The on-disk execution store: layout, listing, loading, names, and live events.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tempfile::TempDir;
use tote_asl::{
    EventType, ExecutionStatus, ExecutionStore, Executor, ExecutorError, HistoryEvent, StoreError,
    VirtualClock,
};

use crate::support::{machine, Scripted};

fn definition() -> Value {
    json!({
        "StartAt": "Tables",
        "States": {
            "Tables": {
                "Type": "Map",
                "ItemsPath": "$.tables",
                "ItemProcessor": {"StartAt": "Ingest", "States": {
                    "Ingest": {"Type": "Task", "Resource": "ingest", "End": true}
                }},
                "Next": "Pause"
            },
            "Pause": {"Type": "Wait", "Seconds": 10, "End": true}
        }
    })
}

#[tokio::test]
async fn executions_are_persisted_as_folders_and_load_back_identically() {
    let dir = TempDir::new().unwrap();
    let clock = VirtualClock::default();
    let seen: Arc<Mutex<Vec<HistoryEvent>>> = Arc::default();
    let sink = seen.clone();
    let executor = Executor::new(Scripted::new())
        .with_clock(Arc::new(clock.clone()))
        .with_store(ExecutionStore::new(dir.path().join("executions")))
        .with_listener(Arc::new(move |e: &HistoryEvent| {
            sink.lock().unwrap().push(e.clone())
        }));
    let record = executor
        .start(
            &machine(definition()),
            Some("first"),
            json!({"tables": ["a", "b"]}),
        )
        .await
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);

    let folder = dir.path().join("executions/first");
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "definition.asl.json",
            "events.jsonl",
            "execution.json",
            "input.json"
        ]
    );
    let lines = std::fs::read_to_string(folder.join("events.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), record.events.len());
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("execution.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "SUCCEEDED");
    assert_eq!(
        summary["executionArn"],
        "arn:aws:states:local:000000000000:execution:conformance:first"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&std::fs::read_to_string(folder.join("input.json")).unwrap()).unwrap(),
        json!({"tables": ["a", "b"]})
    );

    let loaded = ExecutionStore::new(dir.path().join("executions"))
        .load("first")
        .unwrap();
    assert_eq!(loaded, record);
    assert_eq!(
        *seen.lock().unwrap(),
        record.events,
        "the listener saw every event, in order"
    );

    // Event timestamps come from the executor's clock: the Wait state took 10 virtual seconds.
    let at = |t: EventType| {
        record
            .events
            .iter()
            .find(|e| e.event_type == t)
            .unwrap()
            .timestamp
    };
    assert_eq!(
        at(EventType::WaitStateExited) - at(EventType::WaitStateEntered),
        chrono::Duration::seconds(10)
    );
}

#[tokio::test]
async fn map_iteration_events_carry_scope_and_chain_previous_ids() {
    let executor = Executor::new(Scripted::new()).with_clock(Arc::new(VirtualClock::default()));
    let record = executor
        .start(&machine(definition()), None, json!({"tables": ["a", "b"]}))
        .await
        .unwrap();
    for (index, table) in ["a", "b"].iter().enumerate() {
        let started = record
            .events
            .iter()
            .find(|e| e.event_type == EventType::MapIterationStarted && e.details.index == Some(index))
            .unwrap();
        let inside: Vec<&HistoryEvent> = record
            .events
            .iter()
            .filter(|e| e.scope.len() == 1 && e.scope[0].index == index)
            .collect();
        assert_eq!(inside[0].event_type, EventType::TaskStateEntered);
        assert_eq!(inside[0].details.input, Some(json!(table)));
        assert_eq!(
            inside[0].previous_event_id, started.id,
            "an iteration's first event follows its start"
        );
        for pair in inside.windows(2) {
            assert_eq!(pair[1].previous_event_id, pair[0].id);
        }
        assert_eq!(inside[0].scope[0].state, "Tables");
    }
    assert!(
        record
            .events
            .iter()
            .all(|e| e.scope.is_empty() || e.scope.len() == 1),
        "one level of nesting here"
    );
}

#[tokio::test]
async fn listing_is_newest_first_and_names_are_checked() {
    let dir = TempDir::new().unwrap();
    let clock = VirtualClock::default();
    let store = ExecutionStore::new(dir.path());
    let executor = Executor::new(Scripted::new())
        .with_clock(Arc::new(clock.clone()))
        .with_store(store.clone());
    let fail = machine(
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Tote.Config", "Cause": "no"}}}),
    );
    executor.start(&fail, Some("older"), json!({})).await.unwrap();
    clock.advance(std::time::Duration::from_secs(60));
    executor
        .start(&machine(definition()), Some("newer"), json!({"tables": []}))
        .await
        .unwrap();
    std::fs::create_dir(dir.path().join("not-an-execution")).unwrap();

    let listed = store.list().unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["newer", "older"]);
    assert_eq!(listed[1].status, ExecutionStatus::Failed);
    assert_eq!(listed[1].error.as_deref(), Some("Tote.Config"));
    assert!(store.contains("older") && !store.contains("not-an-execution"));

    let again = executor.start(&fail, Some("older"), json!({})).await;
    assert!(
        matches!(again, Err(ExecutorError::Store(StoreError::AlreadyExists { .. }))),
        "{again:?}"
    );
    let bad = executor.start(&fail, Some("../escape"), json!({})).await;
    assert!(
        matches!(bad, Err(ExecutorError::Store(StoreError::InvalidName { .. }))),
        "{bad:?}"
    );
    assert!(ExecutionStore::new(dir.path().join("absent"))
        .list()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn generated_names_are_reproducible_with_a_seed() {
    let run = || async {
        Executor::new(Scripted::new())
            .with_clock(Arc::new(VirtualClock::default()))
            .with_seed(11)
            .start(&machine(definition()), None, json!({"tables": []}))
            .await
            .unwrap()
            .name
    };
    let name = run().await;
    assert_eq!(name.len(), 36, "a UUID: {name}");
    assert_eq!(run().await, name);
}

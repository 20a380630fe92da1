//! A deployed execution as a record the page reads, so that `tote aws report` and `tote report`
//! draw the same page.
//!
//! GetExecutionHistory's events differ from the local history in two ways this module settles:
//! a task event does not name its state (it follows that state's `StateEntered` in its chain of
//! `previousEventId`s), and an event inside a Map iteration carries no scope (its chain leads
//! back to the iteration's `MapIterationStarted`). Each event takes its chain's state and scope;
//! `MapIteration*` events stand in the Map's own scope, as locally. Event types the local
//! history does not have (`LambdaFunction*`, `MapRun*`, activities) are left out.

use std::collections::HashMap;

use serde_json::Value;
use tote_asl::{EventDetails, EventType, ExecutionRecord, ExecutionStatus, HistoryEvent, ScopeFrame};

use crate::aws::{AwsEvent, Execution};

/// The record of a deployed execution: its description, its definition and its history.
pub fn record(execution: &Execution, definition: Value, events: &[AwsEvent]) -> ExecutionRecord {
    let json = |s: &Option<String>| {
        s.as_deref()
            .map(|s| serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string())))
    };
    // Per event: its chain's scope and the state it is in.
    let mut context: HashMap<i64, (Vec<ScopeFrame>, Option<String>)> = HashMap::new();
    let mut iteration_of: HashMap<i64, ScopeFrame> = HashMap::new();
    let mut history = Vec::new();
    let mut sorted: Vec<&AwsEvent> = events.iter().collect();
    sorted.sort_by_key(|e| e.id);
    for e in sorted {
        let (mut scope, mut state) = context.get(&e.previous).cloned().unwrap_or_default();
        if let Some(frame) = iteration_of.get(&e.previous) {
            scope.push(frame.clone());
            state = None;
        }
        let event_type: Option<EventType> = serde_json::from_value(Value::String(e.kind.clone())).ok();
        let is_iteration_end = matches!(
            event_type,
            Some(
                EventType::MapIterationSucceeded
                    | EventType::MapIterationFailed
                    | EventType::MapIterationAborted
            )
        );
        if is_iteration_end {
            scope.pop();
        }
        if e.kind.ends_with("StateEntered") {
            state = e.name.clone();
        }
        if event_type == Some(EventType::MapIterationStarted) {
            if let (Some(map), Some(index)) = (&e.name, e.index) {
                iteration_of.insert(
                    e.id,
                    ScopeFrame {
                        state: map.clone(),
                        index: index as usize,
                    },
                );
            }
        }
        context.insert(e.id, (scope.clone(), state.clone()));
        let Some(event_type) = event_type else { continue };
        let name = match event_type {
            EventType::MapIterationStarted
            | EventType::MapIterationSucceeded
            | EventType::MapIterationFailed
            | EventType::MapIterationAborted => e.name.clone(),
            _ => e.name.clone().or(state),
        };
        history.push(HistoryEvent {
            id: e.id as u64,
            previous_event_id: e.previous as u64,
            timestamp: e.timestamp,
            event_type,
            scope,
            details: EventDetails {
                name,
                input: json(&e.input),
                output: json(&e.output),
                error: e.error.clone(),
                cause: e.cause.clone(),
                index: e.index.map(|i| i as usize),
                ..EventDetails::default()
            },
        });
    }
    let status: ExecutionStatus =
        serde_json::from_value(Value::String(execution.status.clone())).unwrap_or(ExecutionStatus::Running);
    ExecutionRecord {
        name: execution.name.clone(),
        execution_arn: execution.arn.clone(),
        state_machine_name: execution.arn.split(':').nth_back(1).unwrap_or("").to_string(),
        status,
        start_date: execution.started.unwrap_or_default(),
        stop_date: execution.stopped,
        redrive_count: execution.redrives.max(0) as u64,
        redrive_date: None,
        output: execution.output.clone(),
        error: execution.error.clone(),
        cause: execution.cause.clone(),
        resume: None,
        input: execution.input.clone().unwrap_or(Value::Null),
        definition,
        events: history,
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::report::{Outcome, Page};

    /// A small deployed execution: Plan, a Map over two tables, then a Transform that failed,
    /// with the API's own event types (Lambda task events named by their chain only).
    fn history() -> Vec<AwsEvent> {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut events = Vec::new();
        let mut add = |id: i64, previous: i64, kind: &str, name: Option<&str>, index: Option<i32>| {
            events.push(AwsEvent {
                id,
                previous,
                timestamp: t0 + chrono::Duration::milliseconds(id * 100),
                kind: kind.into(),
                name: name.map(str::to_string),
                input: (kind == "TaskStateEntered" && previous > 7)
                    .then(|| format!(r#"{{"table": "{}"}}"#, if id < 14 { "staff" } else { "design" })),
                output: None,
                error: (kind == "TaskFailed").then(|| "Tote.ModelFailed".into()),
                cause: (kind == "TaskFailed").then(|| "model dim_staff failed".into()),
                index,
            });
        };
        add(1, 0, "ExecutionStarted", None, None);
        add(2, 1, "TaskStateEntered", Some("Plan"), None);
        add(3, 2, "TaskScheduled", None, None);
        add(4, 3, "TaskStarted", None, None);
        add(5, 4, "TaskSucceeded", None, None);
        add(6, 5, "TaskStateExited", Some("Plan"), None);
        add(7, 6, "MapStateEntered", Some("IngestTables"), None);
        add(8, 7, "MapStateStarted", None, None);
        add(9, 8, "MapIterationStarted", Some("IngestTables"), Some(0));
        add(10, 9, "TaskStateEntered", Some("IngestTable"), None);
        add(11, 10, "TaskScheduled", None, None);
        add(12, 11, "TaskSucceeded", None, None);
        add(13, 12, "TaskStateExited", Some("IngestTable"), None);
        add(14, 8, "MapIterationStarted", Some("IngestTables"), Some(1));
        add(15, 14, "TaskStateEntered", Some("IngestTable"), None);
        add(16, 15, "TaskScheduled", None, None);
        add(17, 16, "LambdaFunctionScheduled", None, None);
        add(18, 16, "TaskSucceeded", None, None);
        add(19, 18, "TaskStateExited", Some("IngestTable"), None);
        add(20, 13, "MapIterationSucceeded", Some("IngestTables"), Some(0));
        add(21, 19, "MapIterationSucceeded", Some("IngestTables"), Some(1));
        add(22, 21, "MapStateSucceeded", None, None);
        add(23, 22, "MapStateExited", Some("IngestTables"), None);
        add(24, 23, "TaskStateEntered", Some("Transform"), None);
        add(25, 24, "TaskScheduled", None, None);
        add(26, 25, "TaskFailed", None, None);
        add(27, 26, "ExecutionFailed", None, None);
        events
    }

    #[test]
    fn a_deployed_history_reads_like_the_local_one() {
        let definition = serde_json::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/definition.asl.json")).unwrap(),
        )
        .unwrap();
        let execution = Execution {
            name: "nightly".into(),
            arn: "arn:aws:states:eu-west-2:111122223333:execution:Tote:nightly".into(),
            status: "FAILED".into(),
            started: Some(
                DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
                    .unwrap()
                    .to_utc(),
            ),
            stopped: Some(
                DateTime::parse_from_rfc3339("2026-12-01T10:00:02.7Z")
                    .unwrap()
                    .to_utc(),
            ),
            redrives: 0,
            input: None,
            output: None,
            error: Some("Tote.ModelFailed".into()),
            cause: Some("model dim_staff failed".into()),
            failed_state: Some("Transform".into()),
        };
        let record = record(&execution, definition, &history());
        assert_eq!(record.events.len(), 26, "the Lambda event is left out");
        // A task event takes its state's name; an iteration's events take its scope.
        let scheduled: Vec<_> = record
            .events
            .iter()
            .filter(|e| e.event_type == EventType::TaskScheduled)
            .map(|e| (e.details.name.clone().unwrap(), e.scope.first().map(|f| f.index)))
            .collect();
        assert_eq!(
            scheduled,
            [
                ("Plan".to_string(), None),
                ("IngestTable".to_string(), Some(0)),
                ("IngestTable".to_string(), Some(1)),
                ("Transform".to_string(), None)
            ]
        );
        let page = Page::of(&record, &[]);
        let outcome = |name: &str| page.states.iter().find(|s| s.name == name).unwrap().outcome;
        assert_eq!(outcome("Plan"), Outcome::Succeeded);
        assert_eq!(outcome("IngestTables"), Outcome::Succeeded);
        assert_eq!(outcome("Transform"), Outcome::Failed);
        assert_eq!(outcome("LoadDimensions"), Outcome::NotRun);
        let lanes: Vec<&str> = page.iterations["IngestTables"]
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(lanes, ["IngestTables[staff]", "IngestTables[design]"]);
        let failure = page.failure.unwrap();
        assert_eq!(failure.state.as_deref(), Some("Transform"));
        assert_eq!(failure.error, "Tote.ModelFailed");
        assert!(
            failure.advice.contains("tote aws redrive nightly"),
            "{}",
            failure.advice
        );
    }
}

//! Runs every conformance document in `tests/conformance/`.
//!
//! A document is a JSON object:
//!
//! | field                       | meaning                                                        |
//! |-----------------------------|----------------------------------------------------------------|
//! | `description`               | what it checks                                                 |
//! | `source`                    | where the example and its expected result come from            |
//! | `notes`                     | optional: deviations, e.g. errata in the cited page            |
//! | `definition`                | the ASL definition                                             |
//! | `input`                     | the execution input (default `{}`)                             |
//! | `task_results`              | optional: `{resource: [reply, ...]}` (see `support::Reply`)    |
//! | `expected_output`           | the execution output, or                                       |
//! | `expected_error`            | `{"error": ..., "cause": ...}` (`cause_contains` for a part)   |
//! | `expected_definition_error` | a problem the definition must be rejected with                 |
//! | `expected_task_calls`       | optional: `[{"resource", "parameters"}]`, in call order        |
//! | `expected_sleeps`           | optional: every sleep requested, in seconds                    |
//! | `expected_events`           | optional: the history's event types, in order                  |
//!
//! Every document runs under a virtual clock starting 2024-01-01T00:00:00Z, seed 7,
//! execution name `conformance`, state machine name `conformance`. All documents run and
//! all mismatches are reported together.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tote_asl::{ExecutionStatus, StateMachine};

use crate::support::{executor, seconds, Scripted};

/// The suite must stay at least this large: a document deleted by mistake fails the suite.
const MINIMUM_DOCUMENTS: usize = 40;

fn documents() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

async fn check(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    for field in ["description", "source", "definition"] {
        if doc.get(field).is_none() {
            return Err(format!("missing '{field}'"));
        }
    }
    let machine = match StateMachine::new("conformance", doc["definition"].clone()) {
        Ok(machine) => machine,
        Err(e) => {
            return match doc.get("expected_definition_error").and_then(Value::as_str) {
                Some(expected) if e.problems.iter().any(|p| p.contains(expected)) => Ok(()),
                _ => Err(format!("definition rejected: {e}")),
            };
        }
    };
    if let Some(expected) = doc.get("expected_definition_error") {
        return Err(format!("definition accepted, expected rejection with {expected}"));
    }
    let handler = Scripted::from_json(doc.get("task_results"));
    let (executor, clock) = executor(handler.clone());
    let input = doc.get("input").cloned().unwrap_or_else(|| json!({}));
    let record = executor
        .start(&machine, Some("conformance"), input)
        .await
        .map_err(|e| format!("could not run: {e}"))?;
    let mut problems = Vec::new();
    match (doc.get("expected_output"), doc.get("expected_error")) {
        (Some(expected), None) => {
            if record.status != ExecutionStatus::Succeeded {
                problems.push(format!(
                    "status {} ({:?}: {:?}), expected SUCCEEDED",
                    record.status, record.error, record.cause
                ));
            } else if record.output.as_ref() != Some(expected) {
                problems.push(format!(
                    "output\n      {}\n    expected\n      {}",
                    record.output.unwrap_or_default(),
                    expected
                ));
            }
        }
        (None, Some(expected)) => {
            let error = record.error.clone().unwrap_or_default();
            let cause = record.cause.clone().unwrap_or_default();
            if record.status == ExecutionStatus::Succeeded {
                problems.push(format!("succeeded with {:?}, expected an error", record.output));
            }
            if expected.get("error").and_then(Value::as_str) != Some(error.as_str()) {
                problems.push(format!(
                    "error {error:?} ({cause}), expected {}",
                    expected["error"]
                ));
            }
            if let Some(c) = expected.get("cause").and_then(Value::as_str) {
                if c != cause {
                    problems.push(format!("cause {cause:?}, expected {c:?}"));
                }
            }
            if let Some(c) = expected.get("cause_contains").and_then(Value::as_str) {
                if !cause.contains(c) {
                    problems.push(format!("cause {cause:?} lacks {c:?}"));
                }
            }
        }
        _ => problems.push("needs exactly one of expected_output, expected_error".to_owned()),
    }
    if let Some(expected) = doc.get("expected_task_calls") {
        let calls: Vec<Value> = handler
            .calls()
            .into_iter()
            .map(|c| json!({"resource": c.resource, "parameters": c.parameters}))
            .collect();
        if &Value::Array(calls.clone()) != expected {
            problems.push(format!(
                "task calls\n      {}\n    expected\n      {expected}",
                Value::Array(calls)
            ));
        }
    }
    if let Some(expected) = doc.get("expected_sleeps") {
        let expected: Vec<f64> = serde_json::from_value(expected.clone()).map_err(|e| e.to_string())?;
        let actual = seconds(&clock);
        if actual != expected {
            problems.push(format!("sleeps {actual:?}, expected {expected:?}"));
        }
    }
    if let Some(expected) = doc.get("expected_events") {
        let actual: Vec<Value> = record
            .events
            .iter()
            .map(|e| serde_json::to_value(e.event_type).expect("serializable"))
            .collect();
        if &Value::Array(actual.clone()) != expected {
            problems.push(format!(
                "events {}\n    expected {expected}",
                Value::Array(actual)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n    "))
    }
}

#[tokio::test]
async fn conformance_documents() {
    let paths = documents();
    let mut failures = Vec::new();
    for path in &paths {
        if let Err(problem) = check(path).await {
            failures.push(format!(
                "{}:\n    {problem}",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance documents failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
    assert!(
        paths.len() >= MINIMUM_DOCUMENTS,
        "only {} conformance documents; keep at least {MINIMUM_DOCUMENTS}",
        paths.len()
    );
}

#[test]
fn documents_are_numbered_and_cite_a_source() {
    for path in documents() {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.len() > 3 && name[..2].chars().all(|c| c.is_ascii_digit()) && &name[2..3] == "-",
            "{name}: documents are named NN-name.json"
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let source = doc["source"].as_str().unwrap_or_default();
        assert!(
            !source.is_empty(),
            "{name}: 'source' must say where the case comes from"
        );
    }
}

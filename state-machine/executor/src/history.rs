//! Execution history and its persistence.
//!
//! Every execution records [`HistoryEvent`]s named as in the Step Functions console
//! (`ExecutionStarted`, `TaskStateEntered`, `TaskScheduled`, `TaskSucceeded`,
//! `MapIterationStarted`, ...), each with an id, the id of the previous event in the same
//! branch of the run, a timestamp from the executor's clock, and the details that matter
//! (state name, input, output, error, cause). Events inside Map iterations and Parallel
//! branches carry a `scope` saying which, e.g. `[{"state": "IngestTables", "index": 3}]`.
//!
//! An [`ExecutionStore`] keeps executions on disk, one folder each:
//!
//! ```text
//! <root>/<execution name>/
//!     execution.json       status, dates, output or error and cause, redrive count,
//!                          and the resume point of a failed execution
//!     input.json           the execution input
//!     definition.asl.json  the definition it ran (a redrive uses this one)
//!     events.jsonl         the history, one event per line, appended as it happens
//! ```
//!
//! `events.jsonl` is written and flushed event by event, so a running execution can be
//! watched and a crashed one still shows how far it got; `execution.json` is replaced
//! atomically (write then rename) when the execution starts, ends or is redriven.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::redrive::ResumePoint;

/// The type of a history event, named as in Step Functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    /// The execution started (details: input).
    ExecutionStarted,
    /// The execution succeeded (details: output).
    ExecutionSucceeded,
    /// The execution failed (details: error, cause).
    ExecutionFailed,
    /// The execution ran past the state machine's `TimeoutSeconds`.
    ExecutionTimedOut,
    /// The execution was redriven (details: redrive count).
    ExecutionRedriven,
    /// A Task state was entered (details: name, raw input).
    TaskStateEntered,
    /// A task attempt was scheduled (details: resource, parameters, timeout, retry count).
    TaskScheduled,
    /// A task attempt started.
    TaskStarted,
    /// A task attempt returned a result (details: output, the raw result).
    TaskSucceeded,
    /// A task attempt failed (details: error, cause).
    TaskFailed,
    /// A task attempt exceeded `TimeoutSeconds`.
    TaskTimedOut,
    /// A Task state was left normally (details: output).
    TaskStateExited,
    /// A Pass state was entered.
    PassStateEntered,
    /// A Pass state was left.
    PassStateExited,
    /// A Choice state was entered.
    ChoiceStateEntered,
    /// A Choice state was left.
    ChoiceStateExited,
    /// A Wait state was entered.
    WaitStateEntered,
    /// A Wait state was left.
    WaitStateExited,
    /// A Succeed state was entered.
    SucceedStateEntered,
    /// A Succeed state was left.
    SucceedStateExited,
    /// A Fail state was entered (it has no exit).
    FailStateEntered,
    /// A Parallel state was entered.
    ParallelStateEntered,
    /// A Parallel state's branches started.
    ParallelStateStarted,
    /// Every branch of a Parallel state succeeded.
    ParallelStateSucceeded,
    /// A branch of a Parallel state failed (details: error, cause).
    ParallelStateFailed,
    /// A Parallel state was left normally.
    ParallelStateExited,
    /// A Map state was entered.
    MapStateEntered,
    /// A Map state's iterations started (details: length).
    MapStateStarted,
    /// A Map iteration started (details: index).
    MapIterationStarted,
    /// A Map iteration succeeded (details: index).
    MapIterationSucceeded,
    /// A Map iteration failed (details: index, error, cause).
    MapIterationFailed,
    /// A Map iteration was stopped before finishing. Step Functions records it for
    /// iterations in flight when another fails; this executor lets those finish, so it
    /// never records it.
    MapIterationAborted,
    /// Every iteration of a Map state succeeded (or failures were tolerated).
    MapStateSucceeded,
    /// A Map state failed (details: error, cause).
    MapStateFailed,
    /// A Map state was left normally.
    MapStateExited,
    /// A Distributed Map's Map Run started (details: map run, length); each iteration is a
    /// child execution of it (details of the iteration events: child execution).
    MapRunStarted,
    /// A Distributed Map's Map Run was redriven: only its unsuccessful child executions run again.
    MapRunRedriven,
    /// A Map Run's child executions all succeeded (or their failures were tolerated).
    MapRunSucceeded,
    /// A Map Run failed (details: error, cause).
    MapRunFailed,
}

impl EventType {
    /// The `<Type>StateEntered` event for a state type name (`Task`, `Map`, ...).
    pub fn entered(state_type: &str) -> EventType {
        match state_type {
            "Task" => EventType::TaskStateEntered,
            "Pass" => EventType::PassStateEntered,
            "Choice" => EventType::ChoiceStateEntered,
            "Wait" => EventType::WaitStateEntered,
            "Succeed" => EventType::SucceedStateEntered,
            "Fail" => EventType::FailStateEntered,
            "Parallel" => EventType::ParallelStateEntered,
            _ => EventType::MapStateEntered,
        }
    }

    /// The `<Type>StateExited` event for a state type name (`Fail` has none; `None`).
    pub fn exited(state_type: &str) -> Option<EventType> {
        Some(match state_type {
            "Task" => EventType::TaskStateExited,
            "Pass" => EventType::PassStateExited,
            "Choice" => EventType::ChoiceStateExited,
            "Wait" => EventType::WaitStateExited,
            "Succeed" => EventType::SucceedStateExited,
            "Parallel" => EventType::ParallelStateExited,
            "Map" => EventType::MapStateExited,
            _ => return None,
        })
    }

    /// Whether this is a `<Type>StateEntered` event.
    pub fn is_state_entered(self) -> bool {
        [
            "Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map",
        ]
        .iter()
        .any(|t| EventType::entered(t) == self)
    }

    /// Whether this is a `<Type>StateExited` event.
    pub fn is_state_exited(self) -> bool {
        ["Task", "Pass", "Choice", "Wait", "Succeed", "Parallel", "Map"]
            .iter()
            .any(|t| EventType::exited(t) == Some(self))
    }
}

/// Which Map iteration or Parallel branch an event happened in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeFrame {
    /// The Map or Parallel state.
    pub state: String,
    /// The iteration index or branch number.
    pub index: usize,
}

/// One entry of an execution's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// 1-based, increasing in the order events happened.
    pub id: u64,
    /// The previous event in the same iteration/branch (0 for the first event).
    pub previous_event_id: u64,
    /// When it happened, by the executor's clock.
    pub timestamp: DateTime<Utc>,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Where it happened: empty at the top level.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<ScopeFrame>,
    /// The details that apply to this type of event.
    #[serde(flatten)]
    pub details: EventDetails,
}

/// The details of an event; only the fields that apply are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDetails {
    /// The state's name (state and task events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The state's raw input, or the execution input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The state's output, the task's result, or the execution output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The error name of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The cause of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The task's `Resource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The task's effective parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// The task's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_seconds: Option<u64>,
    /// How many times the state had been retried before this attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u64>,
    /// A Map iteration's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// A Map state's number of items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// A Distributed Map's Map Run: `<execution>/<label>` (the label, or the state's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_run: Option<String>,
    /// The child execution of a Distributed Map iteration: `<map run>:<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_execution: Option<String>,
    /// The execution's redrive count (`ExecutionRedriven`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_count: Option<u64>,
}

/// An execution's status, as `DescribeExecution` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Started and not finished (or its process died).
    Running,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Exceeded the state machine's `TimeoutSeconds`.
    TimedOut,
    /// Stopped from outside.
    Aborted,
}

impl ExecutionStatus {
    /// Whether an execution with this status can be redriven.
    pub fn is_redrivable(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        )
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        })
    }
}

/// Everything known about one execution. `execution.json` holds the fields that are not
/// marked as living in their own files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRecord {
    /// The execution's name (unique within a store).
    pub name: String,
    /// Its id, a local ARN (`$$.Execution.Id`).
    pub execution_arn: String,
    /// The state machine's name.
    pub state_machine_name: String,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// When it started.
    pub start_date: DateTime<Utc>,
    /// When it last ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<DateTime<Utc>>,
    /// How many times it has been redriven.
    #[serde(default)]
    pub redrive_count: u64,
    /// When it was last redriven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_date: Option<DateTime<Utc>>,
    /// The output, once succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The error name, once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error cause, once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Where a redrive resumes, once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumePoint>,
    /// The input (`input.json`).
    #[serde(skip)]
    pub input: Value,
    /// The definition it runs (`definition.asl.json`).
    #[serde(skip)]
    pub definition: Value,
    /// The history (`events.jsonl`).
    #[serde(skip)]
    pub events: Vec<HistoryEvent>,
}

/// One line of an execution listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummary {
    /// The execution's name.
    pub name: String,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// When it started.
    pub start_date: DateTime<Utc>,
    /// When it last ended.
    pub stop_date: Option<DateTime<Utc>>,
    /// How many times it has been redriven.
    pub redrive_count: u64,
    /// The error name, if failed.
    pub error: Option<String>,
}

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No execution of that name.
    #[error("no execution named '{name}' in {}", root.display())]
    NotFound {
        /// The name looked for.
        name: String,
        /// The store's root.
        root: PathBuf,
    },
    /// An execution of that name already exists.
    #[error("an execution named '{name}' already exists in {}", root.display())]
    AlreadyExists {
        /// The name.
        name: String,
        /// The store's root.
        root: PathBuf,
    },
    /// The name cannot be used.
    #[error("invalid execution name '{name}': {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why not.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file holds something other than what was written.
    #[error("{}: not a valid execution file: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
}

/// Checks an execution name the way Step Functions does (1 to 80 characters; no
/// whitespace, brackets, wildcards, control characters or `"#%\^|~`$&,;:/`), which also
/// keeps it safe as a folder name.
pub fn validate_execution_name(name: &str) -> Result<(), StoreError> {
    let invalid = |reason: &str| {
        Err(StoreError::InvalidName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        })
    };
    let count = name.chars().count();
    if count == 0 || count > 80 {
        return invalid("it must be 1 to 80 characters long");
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(*c))
    {
        return invalid(&format!("it must not contain {c:?}"));
    }
    if name.chars().all(|c| c == '.') {
        return invalid("it must not consist of dots only");
    }
    Ok(())
}

/// Executions kept on disk under one root folder; see the module docs for the layout.
#[derive(Debug, Clone)]
pub struct ExecutionStore {
    root: PathBuf,
}

/// An open `events.jsonl`, appended to event by event.
#[derive(Debug)]
pub(crate) struct EventSink {
    path: PathBuf,
    file: File,
}

impl EventSink {
    pub(crate) fn append(&mut self, event: &HistoryEvent) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(event).map_err(|source| StoreError::Json {
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

const RECORD_FILE: &str = "execution.json";
const INPUT_FILE: &str = "input.json";
const DEFINITION_FILE: &str = "definition.asl.json";
const EVENTS_FILE: &str = "events.jsonl";

impl ExecutionStore {
    /// A store rooted at `root` (created when the first execution is saved).
    pub fn new(root: impl Into<PathBuf>) -> ExecutionStore {
        ExecutionStore { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of the execution called `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Whether an execution called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.dir(name).join(RECORD_FILE).is_file()
    }

    /// Every execution in the store, newest first. Folders that do not hold a readable
    /// `execution.json` are skipped.
    pub fn list(&self) -> Result<Vec<ExecutionSummary>, StoreError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    path: self.root.clone(),
                    source,
                })
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path().join(RECORD_FILE);
            if !path.is_file() {
                continue;
            }
            match read_json::<ExecutionRecord>(&path) {
                Ok(r) => out.push(ExecutionSummary {
                    name: r.name,
                    status: r.status,
                    start_date: r.start_date,
                    stop_date: r.stop_date,
                    redrive_count: r.redrive_count,
                    error: r.error,
                }),
                Err(e) => tracing::warn!("skipping unreadable execution: {e}"),
            }
        }
        out.sort_by(|a, b| b.start_date.cmp(&a.start_date).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }

    /// Loads an execution: its record, input, definition and full history.
    pub fn load(&self, name: &str) -> Result<ExecutionRecord, StoreError> {
        validate_execution_name(name)?;
        let dir = self.dir(name);
        let record_path = dir.join(RECORD_FILE);
        if !record_path.is_file() {
            return Err(StoreError::NotFound {
                name: name.to_owned(),
                root: self.root.clone(),
            });
        }
        let mut record: ExecutionRecord = read_json(&record_path)?;
        record.input = read_json(&dir.join(INPUT_FILE))?;
        record.definition = read_json(&dir.join(DEFINITION_FILE))?;
        let events_path = dir.join(EVENTS_FILE);
        let file = File::open(&events_path).map_err(|source| StoreError::Io {
            path: events_path.clone(),
            source,
        })?;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|source| StoreError::Io {
                path: events_path.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            record
                .events
                .push(serde_json::from_str(&line).map_err(|source| StoreError::Json {
                    path: events_path.clone(),
                    source,
                })?);
        }
        Ok(record)
    }

    /// Creates the folder of a new execution and writes its files; fails if it exists.
    pub(crate) fn create(&self, record: &ExecutionRecord) -> Result<EventSink, StoreError> {
        validate_execution_name(&record.name)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let dir = self.dir(&record.name);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists {
                    name: record.name.clone(),
                    root: self.root.clone(),
                })
            }
            Err(source) => return Err(StoreError::Io { path: dir, source }),
        }
        write_json(&dir.join(INPUT_FILE), &record.input)?;
        write_json(&dir.join(DEFINITION_FILE), &record.definition)?;
        self.save(record)?;
        self.open_events(&record.name)
    }

    /// Opens an existing execution's history for appending (a redrive continues it).
    pub(crate) fn open_events(&self, name: &str) -> Result<EventSink, StoreError> {
        let path = self.dir(name).join(EVENTS_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(EventSink { path, file })
    }

    /// Replaces `execution.json` atomically.
    pub(crate) fn save(&self, record: &ExecutionRecord) -> Result<(), StoreError> {
        write_json(&self.dir(&record.name).join(RECORD_FILE), record)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StoreError> {
    let text = fs::read(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| StoreError::Json {
        path: path.to_owned(),
        source,
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Json {
        path: path.to_owned(),
        source,
    })?;
    text.push(b'\n');
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, &text)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_execution_name("run-2024-01-01T00.00.00").is_ok());
        assert!(validate_execution_name("日本").is_ok());
        for bad in ["", "a b", "a/b", "..", "a\\b", "a:b", &"x".repeat(81)] {
            assert!(validate_execution_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn event_json_shape() {
        let event = HistoryEvent {
            id: 2,
            previous_event_id: 1,
            timestamp: "2024-01-01T00:00:00Z".parse().unwrap(),
            event_type: EventType::TaskStateEntered,
            scope: vec![ScopeFrame {
                state: "M".into(),
                index: 0,
            }],
            details: EventDetails {
                name: Some("T".into()),
                input: Some(serde_json::json!({"a": 1})),
                ..EventDetails::default()
            },
        };
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(
            text,
            r#"{"id":2,"previousEventId":1,"timestamp":"2024-01-01T00:00:00Z","type":"TaskStateEntered","scope":[{"state":"M","index":0}],"name":"T","input":{"a":1}}"#
        );
        assert_eq!(serde_json::from_str::<HistoryEvent>(&text).unwrap(), event);
    }
}

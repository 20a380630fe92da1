//! `tote report`: one self-contained HTML page per execution, an operator's picture of a run.
//!
//! [`Page::of`] reads an execution's record (its definition, history and output, as
//! `tote executions show` has them) into a page model: every state of the definition with its
//! outcome, attempts and time, the Map's iterations as lanes, rows per table through the three
//! stages, per-table freshness over recent executions, the event history, and for a failure the
//! error, the cause and what to do. [`html`] renders it. The page needs no network: CSS, the
//! drawing code and the layout library (dagre, MIT, vendored beside this file) are inline.

pub mod aws;
pub mod html;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tote_asl::{EventType, ExecutionRecord, ExecutionStatus, HistoryEvent};
use tote_core::event::Recovery;
use tote_core::ErrorKind;

/// How a state ended, as the console colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Left normally on the first attempt.
    Succeeded,
    /// Left normally after at least one failed attempt.
    Retried,
    /// Failed (the execution stopped there).
    Failed,
    /// Entered and not left (the execution is still running, or its process died).
    Running,
    /// Never entered.
    NotRun,
}

impl Outcome {
    /// The word the page shows.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::Running => "running",
            Outcome::NotRun => "not run",
        }
    }
}

/// One state of the definition (or one Map iteration) as it ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateRun {
    /// The state's name (an iteration: the Map's name and the item's table or index).
    pub name: String,
    /// Its type in the definition (`Task`, `Map`, `Choice`, …).
    pub kind: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Task attempts (0 for a state that is not a Task).
    pub attempts: u64,
    /// When it was first entered and last left, in milliseconds from the execution's start.
    pub span_ms: Option<(i64, i64)>,
    /// Whether it ran again in a redrive (entered after the last `ExecutionRedriven`).
    pub redriven: bool,
}

impl StateRun {
    /// Its duration in milliseconds, if it ran.
    pub fn duration_ms(&self) -> Option<i64> {
        self.span_ms.map(|(a, b)| b - a)
    }
}

/// Rows of one source table through the stages, or of one star table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rows {
    /// Row versions ingested (source tables).
    pub ingested: u64,
    /// Bytes of landing objects written (source tables).
    pub bytes: u64,
    /// Rows found deleted at the source (source tables) or recorded deleted (star tables).
    pub deleted: u64,
    /// Star rows the transform produced (star tables).
    pub transformed: u64,
    /// Rows the load inserted or updated (star tables).
    pub loaded: u64,
}

/// One execution's per-table freshness, for the chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FreshnessPoint {
    /// The execution.
    pub execution: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// Per source table, the freshness after its fact load, in milliseconds.
    pub tables: BTreeMap<String, u64>,
}

/// What the page says about a failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureView {
    /// The state that failed.
    pub state: Option<String>,
    /// The error name, e.g. `Tote.Config`.
    pub error: String,
    /// The cause, as the stage reported it.
    pub cause: String,
    /// What to do about it.
    pub advice: String,
}

/// The page model of one execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    /// The execution's name.
    pub execution: String,
    /// Its status (`SUCCEEDED`, `FAILED`, …).
    pub status: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// How long it ran, start to last stop, in milliseconds.
    pub duration_ms: Option<i64>,
    /// How many times it was redriven.
    pub redrives: u64,
    /// The definition's top-level states, in the order the definition reaches them.
    pub states: Vec<StateRun>,
    /// The transitions between them (`from`, `to`).
    pub edges: Vec<Edge>,
    /// Per Map state, its iterations in item order.
    pub iterations: BTreeMap<String, Vec<StateRun>>,
    /// Per source table (ingest) and per star table (transform, load).
    pub rows: BTreeMap<String, Rows>,
    /// Per-table freshness over recent executions, oldest first.
    pub freshness: Vec<FreshnessPoint>,
    /// The history.
    pub events: Vec<HistoryEvent>,
    /// The failure, when the execution did not succeed.
    pub failure: Option<FailureView>,
}

impl Page {
    /// The page of `record`; `recent` are the executions whose freshness the chart shows (the
    /// record itself is added when missing).
    pub fn of(record: &ExecutionRecord, recent: &[ExecutionRecord]) -> Page {
        let started = record.start_date;
        let offset = |t: DateTime<Utc>| (t - started).num_milliseconds();
        let redriven_at = record
            .events
            .iter()
            .rev()
            .find(|e| e.event_type == EventType::ExecutionRedriven)
            .map(|e| e.id);
        let top: Vec<&HistoryEvent> = record.events.iter().filter(|e| e.scope.is_empty()).collect();
        let (order, edges) = reachable(&record.definition);
        let states = order
            .iter()
            .map(|(name, kind)| state_run(name, kind, &top, redriven_at, &offset))
            .collect();

        let mut iterations = BTreeMap::new();
        for (map, _) in order.iter().filter(|(_, k)| k == "Map") {
            let mut by_index: BTreeMap<usize, Vec<&HistoryEvent>> = BTreeMap::new();
            for e in &record.events {
                if let Some(frame) = e.scope.first().filter(|f| &f.state == map) {
                    by_index.entry(frame.index).or_default().push(e);
                }
            }
            let lanes = by_index
                .into_iter()
                .map(|(index, events)| {
                    // A lane is named by its item: the source table it ingests or the fact
                    // model it loads.
                    let item = events
                        .iter()
                        .find_map(|e| {
                            let input = e.details.input.as_ref()?;
                            ["table", "model"]
                                .iter()
                                .find_map(|key| input.get(key)?.as_str())
                                .map(str::to_string)
                        })
                        .unwrap_or_else(|| index.to_string());
                    let mut run = state_run("", "Task", &events, redriven_at, &offset);
                    run.name = format!("{map}[{item}]");
                    run
                })
                .collect();
            iterations.insert(map.clone(), lanes);
        }

        let finished_badly = !matches!(
            record.status,
            ExecutionStatus::Succeeded | ExecutionStatus::Running
        );
        let failure = finished_badly.then(|| failure_view(record));
        Page {
            execution: record.name.clone(),
            status: record.status.to_string(),
            started,
            duration_ms: record.stop_date.map(offset),
            redrives: record.redrive_count,
            states,
            edges,
            iterations,
            rows: rows(record),
            freshness: freshness(record, recent),
            events: record.events.clone(),
            failure,
        }
    }
}

/// A state's name and its type.
type Typed = (String, String);

/// A transition: the state it leaves and the state it enters.
type Edge = (String, String);

/// The states the definition reaches from `StartAt`, breadth first, with their types, and the
/// transitions (`Next`, `Default`, each choice's and catcher's `Next`).
fn reachable(definition: &Value) -> (Vec<Typed>, Vec<Edge>) {
    let states = definition.get("States").and_then(Value::as_object);
    let mut order: Vec<Typed> = Vec::new();
    let mut edges = Vec::new();
    let mut queue: std::collections::VecDeque<String> = definition
        .get("StartAt")
        .and_then(Value::as_str)
        .map(str::to_string)
        .into_iter()
        .collect();
    while let Some(name) = queue.pop_front() {
        if order.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let Some(state) = states.and_then(|s| s.get(&name)) else {
            continue;
        };
        let kind = state
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let mut next: Vec<String> = Vec::new();
        next.extend(state.get("Next").and_then(Value::as_str).map(str::to_string));
        next.extend(state.get("Default").and_then(Value::as_str).map(str::to_string));
        for list in ["Choices", "Catch"] {
            for rule in state.get(list).and_then(Value::as_array).into_iter().flatten() {
                next.extend(rule.get("Next").and_then(Value::as_str).map(str::to_string));
            }
        }
        for to in next {
            if !edges.contains(&(name.clone(), to.clone())) {
                edges.push((name.clone(), to.clone()));
            }
            queue.push_back(to);
        }
        order.push((name, kind));
    }
    (order, edges)
}

/// How state `name` ran, from `events` (its scope's events; an empty `name` takes them all).
fn state_run(
    name: &str,
    kind: &str,
    events: &[&HistoryEvent],
    redriven_at: Option<u64>,
    offset: &dyn Fn(DateTime<Utc>) -> i64,
) -> StateRun {
    let mine: Vec<&&HistoryEvent> = events
        .iter()
        .filter(|e| name.is_empty() || e.details.name.as_deref() == Some(name))
        .filter(|e| !is_execution_event(e.event_type))
        .collect();
    let attempts = mine
        .iter()
        .filter(|e| e.event_type == EventType::TaskScheduled)
        .count() as u64;
    let failures = mine
        .iter()
        .filter(|e| matches!(e.event_type, EventType::TaskFailed | EventType::TaskTimedOut))
        .count() as u64;
    let last = mine.last().map(|e| e.event_type);
    let exited = mine.iter().any(|e| e.event_type.is_state_exited());
    let outcome = match last {
        None => Outcome::NotRun,
        Some(t) if t.is_state_exited() || t == EventType::MapIterationSucceeded => {
            if failures > 0 {
                Outcome::Retried
            } else {
                Outcome::Succeeded
            }
        }
        Some(
            EventType::TaskFailed
            | EventType::TaskTimedOut
            | EventType::MapStateFailed
            | EventType::MapIterationFailed
            | EventType::ParallelStateFailed
            | EventType::FailStateEntered,
        ) => Outcome::Failed,
        Some(_) if exited => Outcome::Succeeded,
        Some(_) => Outcome::Running,
    };
    StateRun {
        name: name.to_string(),
        kind: kind.to_string(),
        outcome,
        attempts,
        span_ms: match (mine.first(), mine.last()) {
            (Some(a), Some(b)) => Some((offset(a.timestamp), offset(b.timestamp))),
            _ => None,
        },
        redriven: redriven_at.is_some_and(|at| mine.iter().any(|e| e.id > at)),
    }
}

fn is_execution_event(t: EventType) -> bool {
    matches!(
        t,
        EventType::ExecutionStarted
            | EventType::ExecutionSucceeded
            | EventType::ExecutionFailed
            | EventType::ExecutionTimedOut
            | EventType::ExecutionRedriven
    )
}

/// The last successful result (`Payload`) of each task named `name` in the history.
fn payloads<'a>(record: &'a ExecutionRecord, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    record
        .events
        .iter()
        .filter(move |e| e.event_type == EventType::TaskSucceeded && e.details.name.as_deref() == Some(name))
        .filter_map(|e| e.details.output.as_ref()?.get("Payload"))
}

/// Rows per table through the stages, from the tasks' results.
fn rows(record: &ExecutionRecord) -> BTreeMap<String, Rows> {
    let mut rows: BTreeMap<String, Rows> = BTreeMap::new();
    let number = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).unwrap_or(0);
    // IngestTable: a table ingested in one invocation; CommitChunk: a table read in chunks.
    for payload in ["IngestTable", "CommitChunk"]
        .iter()
        .flat_map(|task| payloads(record, task))
    {
        if let Some(table) = payload.get("table").and_then(Value::as_str) {
            let r = rows.entry(table.to_string()).or_default();
            r.ingested += number(payload, "rows");
            r.bytes += number(payload, "bytes");
            r.deleted += number(payload, "deleted");
        }
    }
    for payload in payloads(record, "Transform") {
        for (model, n) in payload
            .get("rows")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            rows.entry(model.clone()).or_default().transformed += n.as_u64().unwrap_or(0);
        }
    }
    // LoadFact: each fact's iteration of the LoadFacts Map; LoadFacts: the single fact task of
    // executions recorded before the facts were loaded at once.
    for task in ["LoadDimensions", "LoadFact", "LoadFacts"] {
        for payload in payloads(record, task) {
            for (model, counts) in payload
                .get("rows")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let r = rows.entry(model.clone()).or_default();
                r.loaded += number(counts, "inserted") + number(counts, "updated");
                r.deleted += number(counts, "deleted");
            }
        }
    }
    rows
}

/// Per-table freshness after each execution's loads, oldest first.
fn freshness(record: &ExecutionRecord, recent: &[ExecutionRecord]) -> Vec<FreshnessPoint> {
    let mut points: Vec<FreshnessPoint> = recent
        .iter()
        .chain(std::iter::once(record).filter(|r| !recent.iter().any(|x| x.name == r.name)))
        .filter_map(|r| {
            // MeasureFreshness measures it after every load; before it existed, LoadFacts did.
            let tables = ["MeasureFreshness", "LoadFacts"]
                .iter()
                .find_map(|task| payloads(r, task).last())?
                .get("table_freshness_millis")?
                .as_object()?
                .iter()
                .map(|(t, v)| (t.clone(), v.as_u64().unwrap_or(0)))
                .collect();
            Some(FreshnessPoint {
                execution: r.name.clone(),
                started: r.start_date,
                tables,
            })
        })
        .collect();
    points.sort_by_key(|p| p.started);
    points
}

/// The failure panel: the state that failed, the error, the cause and what to do.
fn failure_view(record: &ExecutionRecord) -> FailureView {
    let failed = record
        .events
        .iter()
        .rev()
        .find(|e| e.event_type.is_state_entered())
        .and_then(|e| e.details.name.clone());
    let error = record.error.clone().unwrap_or_else(|| record.status.to_string());
    // A deployed execution is redriven through the Step Functions API.
    let redrive = match record.execution_arn.contains(":local:") {
        true => "tote executions redrive",
        false => "tote aws redrive",
    };
    let advice = match ErrorKind::from_name(&error).map(ErrorKind::recovery) {
        Some(Recovery::NewExecution) => "The execution's input was refused: start a new execution with corrected input (a redrive would send the same input again).".to_string(),
        Some(Recovery::FixConfiguration) => format!(
            "Fix the configuration the cause names (a URL, a secret, a setting), then redrive: `{redrive} {}` re-runs only what failed.",
            record.name
        ),
        Some(Recovery::FullRefresh) => "The source's schema changed: run a full refresh of the table the cause names (execution input {\"tables\": [\"…\"], \"full_refresh\": true}).".to_string(),
        _ => format!(
            "After fixing the cause, redrive it: `{redrive} {}` re-runs only what failed (a new execution catches up too).",
            record.name
        ),
    };
    // A Lambda's cause is its error JSON; the message is what a person reads.
    let cause = record.cause.clone().unwrap_or_default();
    let cause = serde_json::from_str::<Value>(&cause)
        .ok()
        .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_string))
        .unwrap_or(cause);
    FailureView {
        state: failed,
        error,
        cause,
        advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> ExecutionRecord {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/executions");
        tote_asl::ExecutionStore::new(root).load(name).unwrap()
    }

    fn state<'a>(page: &'a Page, name: &str) -> &'a StateRun {
        page.states.iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn a_successful_run_shows_every_state_of_its_definition_in_order() {
        let page = Page::of(&fixture("first"), &[]);
        let names: Vec<&str> = page.states.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names[0], "ReadRequest");
        for expected in [
            "Plan",
            "IngestTables",
            "Transform",
            "LoadDimensions",
            "LoadFacts",
            "Done",
        ] {
            assert!(names.contains(&expected), "{names:?}");
        }
        assert!(names.iter().position(|n| *n == "Plan") < names.iter().position(|n| *n == "Transform"));
        // Not every branch of a Choice runs.
        assert_eq!(state(&page, "UseFullRefresh").outcome, Outcome::NotRun);
        assert_eq!(state(&page, "Plan").outcome, Outcome::Succeeded);
        assert_eq!(state(&page, "Plan").attempts, 1);
        let lanes = &page.iterations["IngestTables"];
        assert_eq!(lanes.len(), 11);
        assert!(lanes.iter().any(|l| l.name == "IngestTables[sales_order]"));
        assert!(lanes
            .iter()
            .all(|l| l.outcome == Outcome::Succeeded && l.attempts == 1));
        let (start, end) = state(&page, "IngestTables").span_ms.unwrap();
        for lane in lanes {
            let (a, b) = lane.span_ms.unwrap();
            assert!(start <= a && b <= end, "{lane:?} inside the Map's span");
        }
        assert!(page.duration_ms.unwrap() >= end);
        assert_eq!(
            page.rows["sales_order"].ingested,
            page.rows["fact_sales_order"].transformed
        );
        assert_eq!(
            page.rows["fact_sales_order"].loaded,
            page.rows["fact_sales_order"].transformed
        );
        assert!(page.rows["sales_order"].bytes > 0);
        assert!(page.failure.is_none());
        assert!(page
            .edges
            .contains(&("Transform".into(), "LoadDimensions".into())));
    }

    #[test]
    fn a_failed_then_redriven_run_shows_what_ran_again() {
        let record = fixture("broken");
        let page = Page::of(&record, &[fixture("first")]);
        assert_eq!(page.status, "SUCCEEDED");
        assert_eq!(page.redrives, 1);
        let dims = state(&page, "LoadDimensions");
        assert_eq!(
            dims.outcome,
            Outcome::Retried,
            "failed once, then succeeded in the redrive"
        );
        assert_eq!(dims.attempts, 2);
        assert!(dims.redriven);
        assert!(state(&page, "LoadFacts").redriven);
        assert!(
            !state(&page, "Transform").redriven,
            "what succeeded before the failure is not re-run"
        );
        assert!(!state(&page, "IngestTables").redriven);
        // Freshness over both executions, oldest first.
        let runs: Vec<&str> = page.freshness.iter().map(|p| p.execution.as_str()).collect();
        assert_eq!(runs, ["first", "broken"]);
        assert_eq!(page.freshness[1].tables.len(), 11);
    }

    #[test]
    fn a_failed_run_names_the_state_the_error_the_cause_and_what_to_do() {
        // The history up to the failure, as it stood before the redrive.
        let mut record = fixture("broken");
        let failed_at = record
            .events
            .iter()
            .position(|e| e.event_type == EventType::ExecutionFailed)
            .unwrap();
        record.events.truncate(failed_at + 1);
        record.status = tote_asl::ExecutionStatus::Failed;
        record.error = record.events[failed_at].details.error.clone();
        record.cause = record.events[failed_at].details.cause.clone();
        record.redrive_count = 0;
        let page = Page::of(&record, &[]);
        assert_eq!(state(&page, "LoadDimensions").outcome, Outcome::Failed);
        assert_eq!(state(&page, "LoadFacts").outcome, Outcome::NotRun);
        assert_eq!(state(&page, "Transform").outcome, Outcome::Succeeded);
        let failure = page.failure.unwrap();
        assert_eq!(failure.state.as_deref(), Some("LoadDimensions"));
        assert_eq!(failure.error, "Tote.Config");
        assert!(
            failure.cause.contains("refused the credentials"),
            "{}",
            failure.cause
        );
        assert!(
            failure.advice.contains("tote executions redrive broken"),
            "{}",
            failure.advice
        );
    }
}

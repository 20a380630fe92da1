//! Stage events: what a stage's Lambda receives and answers, as types.
//!
//! Each stage takes one tagged event ([`IngestEvent`], [`TransformEvent`], [`LoadEvent`]: the
//! `action` field names the variant) and returns one answer. The stage's `handle` function works
//! on those types only; JSON is the adapter's business ([`respond`]), and the Lambda binaries and
//! the local executor (`tote run`) both go through it, so the two paths cannot drift apart.
//!
//! The action names and the error names are declared once, in `tasks/core/stages.json`
//! ([`declaration`]), which the CDK stack reads too: a test here checks that the event types
//! spell exactly the declared actions, and one in `infra-cdk` that every Task sends one.

pub mod ingest;
pub mod load;
pub mod transform;

use std::future::Future;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

pub use ingest::{
    Chunk, ChunkedTable, IngestAnswer, IngestEvent, IngestRequest, IngestResponse, PlanRequest, PlanResponse,
};
pub use load::{
    FreshnessRequest, FreshnessResponse, LoadAnswer, LoadEvent, LoadRequest, LoadResponse, Phase, RowCounts,
};
pub use transform::{Steps, TransformAnswer, TransformEvent, TransformRequest, TransformResponse};

/// The declaration of the stage contract's names, shared with the CDK stack.
pub const DECLARATION_JSON: &str = include_str!("../../stages.json");

/// The stage contract's names, as `stages.json` declares them.
#[derive(Debug, Deserialize)]
pub struct Declaration {
    /// Each stage function and the actions it takes.
    pub stages: Vec<StageSpec>,
    /// What recovers a failed execution, by recovery class: a sentence for a person.
    pub recoveries: std::collections::BTreeMap<Recovery, String>,
    /// Every stable error name, in [`crate::ErrorKind::ALL`] order.
    pub errors: Vec<ErrorSpec>,
}

/// One stage function's actions.
#[derive(Debug, Deserialize)]
pub struct StageSpec {
    /// The stage (`ingest`, `transform`, `load`).
    pub stage: String,
    /// The action an event without one is taken to name.
    pub default: String,
    /// Every action the stage takes.
    pub actions: Vec<String>,
    /// The load phases (the load's `phase` values), where the stage has them.
    #[serde(default)]
    pub phases: Vec<String>,
}

/// One stable error name.
#[derive(Debug, Deserialize)]
pub struct ErrorSpec {
    /// The name, e.g. `Tote.SourceUnavailable`: the Lambda `errorType`.
    pub name: String,
    /// Whether the state machine retries it.
    pub retryable: bool,
    /// What recovers an execution that failed with it.
    pub recovery: Recovery,
    /// What it means.
    pub meaning: String,
}

/// What recovers an execution that failed with an error, as `stages.json` classes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// Fix the cause (or wait, for a transient error), then redrive: only what failed runs again.
    Redrive,
    /// Fix the configuration the cause names, then redrive.
    FixConfiguration,
    /// Start a new execution with corrected input: a redrive would send the same input again.
    NewExecution,
    /// Accept the source's new schema with a full refresh of the table, then redrive.
    FullRefresh,
}

/// The declaration, parsed once. It is compiled in, and its tests check it parses, so a failure
/// here is a broken build, not a runtime condition.
pub fn declaration() -> &'static Declaration {
    static DECLARATION: OnceLock<Declaration> = OnceLock::new();
    DECLARATION
        .get_or_init(|| serde_json::from_str(DECLARATION_JSON).expect("tasks/core/stages.json is valid"))
}

impl Declaration {
    /// The declared stage `stage`.
    pub fn stage(&self, stage: &str) -> &StageSpec {
        self.stages
            .iter()
            .find(|s| s.stage == stage)
            .unwrap_or_else(|| panic!("stage {stage} is not declared in tasks/core/stages.json"))
    }
}

/// A stage's event type: deserialised from the JSON the state machine sends, tagged by `action`.
pub trait StageEvent: DeserializeOwned + Serialize + Send {
    /// The stage whose function takes it, as `stages.json` names it.
    const STAGE: &'static str;

    /// The execution that sent it, for log spans.
    fn execution(&self) -> Option<&str>;

    /// The event in `json`: its `action` (the stage's default when it names none) must be one the
    /// stage declares, and its fields those of that action's request; otherwise `Tote.BadRequest`.
    fn from_json(mut json: Value) -> Result<Self> {
        let spec = declaration().stage(Self::STAGE);
        let action = match json.get("action") {
            None => spec.default.clone(),
            Some(Value::String(a)) => a.clone(),
            Some(other) => other.to_string(),
        };
        if !spec.actions.contains(&action) {
            return Err(Error::bad_request(format!(
                "unknown action `{action}` for the {} function; use {}",
                Self::STAGE,
                one_of(&spec.actions)
            )));
        }
        if let Value::Object(fields) = &mut json {
            fields.insert("action".to_string(), Value::String(action.clone()));
        }
        serde_json::from_value(json)
            .map_err(|e| Error::bad_request(format!("invalid {action} request: {e}")).with_source(e))
    }
}

/// `a, b or c`.
fn one_of(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The JSON adapter of a stage: the event in `json` parsed into `E`, given to `handle`, and its
/// answer encoded. The Lambda binaries and the local executor both call the stages through it.
pub async fn respond<E, A, F, Fut>(json: Value, handle: F) -> Result<Value>
where
    E: StageEvent,
    A: Serialize,
    F: FnOnce(E) -> Fut,
    Fut: Future<Output = Result<A>>,
{
    encode(&handle(E::from_json(json)?).await?)
}

/// A stage's answer as JSON.
pub fn encode<A: Serialize>(answer: &A) -> Result<Value> {
    serde_json::to_value(answer)
        .map_err(|e| Error::internal(format!("cannot encode a response: {e}")).with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    /// One event of every variant, as serde spells it: the tags must be the declared actions.
    fn actions_of<E: Serialize>(events: &[E]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                serde_json::to_value(e).unwrap()["action"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn the_event_types_take_exactly_the_declared_actions() {
        let until = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let ingest = [
            IngestEvent::Plan(PlanRequest::default()),
            IngestEvent::Ingest(IngestRequest {
                table: "staff".into(),
                execution: None,
                full_refresh: false,
                chunk: None,
            }),
            IngestEvent::CommitChunks(ChunkedTable {
                table: "staff".into(),
                group: "g".into(),
                chunks: 1,
                until,
                execution: None,
            }),
        ];
        let d = declaration();
        assert_eq!(actions_of(&ingest), d.stage("ingest").actions);
        assert_eq!(
            actions_of(&[TransformEvent::Transform(TransformRequest::default())]),
            d.stage("transform").actions
        );
        assert_eq!(
            actions_of(&[
                LoadEvent::Load(LoadRequest::default()),
                LoadEvent::Freshness(FreshnessRequest::default())
            ]),
            d.stage("load").actions
        );
        let phases: Vec<String> = [Phase::Dimensions, Phase::Facts, Phase::All]
            .iter()
            .map(|p| serde_json::to_value(p).unwrap().as_str().unwrap().to_string())
            .collect();
        assert_eq!(phases, d.stage("load").phases);
        for stage in &d.stages {
            assert!(stage.actions.contains(&stage.default), "{}", stage.stage);
        }
    }

    #[test]
    fn the_error_kinds_are_the_declared_errors_in_order() {
        let d = declaration();
        let declared: Vec<&str> = d.errors.iter().map(|e| e.name.as_str()).collect();
        let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(kinds, declared);
        for e in &d.errors {
            assert!(
                d.recoveries.contains_key(&e.recovery),
                "{}: {:?}",
                e.name,
                e.recovery
            );
        }
        assert_eq!(ErrorKind::from_name("Tote.Busy"), Some(ErrorKind::Busy));
        assert_eq!(ErrorKind::from_name("States.Timeout"), None);
    }

    #[test]
    fn an_event_without_an_action_is_the_default_one_and_an_unknown_action_is_refused() {
        let e = IngestEvent::from_json(serde_json::json!({"table": "staff"})).unwrap();
        assert!(matches!(e, IngestEvent::Ingest(ref r) if r.table == "staff"));
        let e = LoadEvent::from_json(serde_json::json!({"phase": "facts", "execution": "x"})).unwrap();
        assert_eq!(e.execution(), Some("x"));
        let err =
            IngestEvent::from_json(serde_json::json!({"action": "drop", "table": "staff"})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadRequest);
        assert_eq!(
            err.message(),
            "unknown action `drop` for the ingest function; use plan, ingest or commit_chunks"
        );
        let err = IngestEvent::from_json(serde_json::json!({"action": "ingest"})).unwrap_err();
        assert!(
            err.message()
                .starts_with("invalid ingest request: missing field `table`"),
            "{err}"
        );
    }
}

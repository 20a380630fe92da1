//! The load function's events and answers: a load of a phase or of one model, and the
//! freshness measured after every load (docs/stage-contract.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StageEvent;

/// An event the load function takes, by its `action` (`load` when it names none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum LoadEvent {
    /// `{"action": "load", "phase": …, "model"?: …}`: every new processed batch of the phase (or model).
    Load(LoadRequest),
    /// `{"action": "freshness", …}`: the pipeline's freshness, measured and emitted; loads nothing.
    Freshness(FreshnessRequest),
}

impl StageEvent for LoadEvent {
    const STAGE: &'static str = "load";

    fn execution(&self) -> Option<&str> {
        match self {
            LoadEvent::Load(r) => r.execution.as_deref(),
            LoadEvent::Freshness(r) => r.execution.as_deref(),
        }
    }
}

/// What the load function answers, by the event it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum LoadAnswer {
    /// A load.
    Load(LoadResponse),
    /// The freshness alone.
    Freshness(FreshnessResponse),
}

/// Which models a load call handles. The state machine loads all dimensions in one step and the
/// facts in the next, so a fact never meets a dimension key that is still on its way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The eight dimension tables.
    Dimensions,
    /// The three fact tables.
    Facts,
    /// Dimensions, then facts.
    #[default]
    All,
}

impl Phase {
    /// The phase as requests spell it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Dimensions => "dimensions",
            Phase::Facts => "facts",
            Phase::All => "all",
        }
    }
}

/// What the state machine (or `tote load`) asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRequest {
    /// The execution asking, recorded in the ledger.
    #[serde(default)]
    pub execution: Option<String>,
    /// Which models to load (default: all).
    #[serde(default)]
    pub phase: Phase,
    /// One model of the phase to load alone: the state machine loads each fact in its own Map
    /// iteration, concurrently. A load of one model does not measure freshness (the other
    /// models may still be on their way); the `MeasureFreshness` state does, after them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Rows of one model handled by one load call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Rows copied into staging from the batches.
    pub staged: u64,
    /// New rows: new dimension keys, new fact versions.
    pub inserted: u64,
    /// Dimension rows rewritten because a value changed.
    pub updated: u64,
    /// Rows that changed nothing: unchanged dimension rows, fact versions already present.
    pub skipped: u64,
    /// Deletions recorded: rows that leave the source's current state (schema `current`).
    #[serde(default)]
    pub deleted: u64,
    /// Earlier deletions undone: their key came back with a new version.
    #[serde(default)]
    pub restored: u64,
    /// Wall time spent loading, in milliseconds (for the benchmark and the run summary).
    #[serde(default)]
    pub millis: u64,
}

impl RowCounts {
    /// Adds `other`'s counts to these (one model's rows over several batches).
    pub fn add(&mut self, other: RowCounts) {
        self.staged += other.staged;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.skipped += other.skipped;
        self.deleted += other.deleted;
        self.restored += other.restored;
        self.millis += other.millis;
    }
}

/// What one load call did. Small: ids and counts only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadResponse {
    /// Processed batches loaded by this call, in order.
    pub batches: Vec<String>,
    /// Batches found already in the ledger (loaded by an earlier or concurrent attempt).
    pub already_loaded: u64,
    /// Rows per model (models with no batch are absent).
    pub rows: BTreeMap<String, RowCounts>,
    /// Warehouse migrations applied by this call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrated: Vec<i32>,
    /// The freshness after a load of a whole phase with facts in it.
    #[serde(flatten)]
    pub freshness: FreshnessResponse,
}

/// The pipeline's freshness as a load step answers it: after a whole load, or alone
/// (`{"action": "freshness"}`, the `MeasureFreshness` state after the concurrent fact loads).
/// Both fields are always present (`null` and `{}` when unmeasured): the state's ResultSelector
/// names them, and a path that matches nothing would fail the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshnessResponse {
    /// The pipeline's freshness in milliseconds (`tote_load::freshness`), when the source could be asked.
    #[serde(default)]
    pub freshness_millis: Option<u64>,
    /// The same per source table, in milliseconds (what `tote report` charts over executions).
    #[serde(default)]
    pub table_freshness_millis: BTreeMap<String, u64>,
}

/// What `{"action": "freshness"}` carries: only the execution, for the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshnessRequest {
    /// The execution asking.
    #[serde(default)]
    pub execution: Option<String>,
}

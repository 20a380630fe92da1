//! The transform function's event and answer (docs/stage-contract.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StageEvent;

/// An event the transform function takes, by its `action` (`transform` when it names none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum TransformEvent {
    /// `{"action": "transform", …}`: every committed landing batch not yet transformed.
    Transform(TransformRequest),
}

impl StageEvent for TransformEvent {
    const STAGE: &'static str = "transform";

    fn execution(&self) -> Option<&str> {
        match self {
            TransformEvent::Transform(r) => r.execution.as_deref(),
        }
    }
}

/// What the transform function answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TransformAnswer {
    /// One run of the transform.
    Transform(TransformResponse),
}

/// What the state machine (or `tote transform`) asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformRequest {
    /// The execution asking, recorded in the manifests.
    #[serde(default)]
    pub execution: Option<String>,
}

/// What one run did. Small: names and counts only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformResponse {
    /// Whether any landing batch was new.
    pub changed: bool,
    /// The run number (the checkpoint's log position), when something changed.
    pub run: Option<u64>,
    /// New row versions consumed, per source table.
    pub consumed: BTreeMap<String, u64>,
    /// Rows produced, per model (models with no rows are absent).
    pub rows: BTreeMap<String, u64>,
    /// Processed batch ids committed by this run.
    pub batches: Vec<String>,
    /// Deletions recorded, per model (models with none are absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deleted: BTreeMap<String, u64>,
    /// Where the run's time went (`tote transform --json` and `tote bench`; the state machine
    /// does not select it).
    #[serde(default)]
    pub steps: Steps,
}

/// Wall time of a run's steps, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Steps {
    /// The new landing batches: read, their checksums checked, deduplicated, spilled to disk.
    pub read_ms: u64,
    /// The current state of the tables the models name: merged and written as snapshots.
    pub current_state_ms: u64,
    /// Each model, from its query to its commit.
    pub models_ms: BTreeMap<String, u64>,
    /// Of the models' time, what writing their Parquet objects took (encoding, zstd, SHA-256,
    /// the store's put), as the transform waited for it.
    pub write_ms: u64,
    /// The checkpoint committed.
    pub checkpoint_ms: u64,
}

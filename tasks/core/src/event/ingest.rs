//! The ingest function's events and answers: the plan, one table's ingest (or one chunk of a
//! whole-table read), and the commit of a chunked read (docs/stage-contract.md).

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::StageEvent;

/// An event the ingest function takes, by its `action` (`ingest` when it names none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum IngestEvent {
    /// `{"action": "plan", …}`: which tables to ingest, and the chunks of large whole-table reads.
    Plan(PlanRequest),
    /// `{"action": "ingest", "table": …}`: one table, or with a `chunk` one range of a chunked read.
    Ingest(IngestRequest),
    /// `{"action": "commit_chunks", …}`: the parts of a chunked read committed as one batch.
    CommitChunks(ChunkedTable),
}

impl StageEvent for IngestEvent {
    const STAGE: &'static str = "ingest";

    fn execution(&self) -> Option<&str> {
        match self {
            IngestEvent::Plan(r) => r.execution.as_deref(),
            IngestEvent::Ingest(r) => r.execution.as_deref(),
            IngestEvent::CommitChunks(r) => r.execution.as_deref(),
        }
    }
}

/// What the ingest function answers, by the event it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum IngestAnswer {
    /// The plan.
    Plan(PlanResponse),
    /// One table's (or one chunk's) ingest.
    Ingest(IngestResponse),
    /// The commit of a chunked read: the ingest response of its one batch.
    CommitChunks(IngestResponse),
}

/// What the state machine (or `tote ingest`) asks for: one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRequest {
    /// The ToteSys table.
    pub table: String,
    /// The execution asking, recorded in the manifest.
    #[serde(default)]
    pub execution: Option<String>,
    /// Re-read the whole table and accept its current schema.
    #[serde(default)]
    pub full_refresh: bool,
    /// Read only this key range of a chunked read (chunks (`tote_ingest::chunks`)), recording a part instead of
    /// committing a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<Chunk>,
}

/// What one ingest did. Small: names, keys and counts only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// The table.
    pub table: String,
    /// Whether a batch was committed (false: no new versions).
    pub changed: bool,
    /// The committed batch, if any.
    pub batch_id: Option<String>,
    /// Its position in the table's landing log.
    pub seq: Option<u64>,
    /// New row versions in it.
    pub rows: u64,
    /// Rows read from the source, re-reads of the lookback window included.
    pub rows_read: u64,
    /// Lower bound of the read (`None`: whole table).
    pub since: Option<NaiveDateTime>,
    /// High-water mark after this ingest.
    pub high_water: Option<NaiveDateTime>,
    /// Data object keys of the batch, relative to the landing store.
    pub keys: Vec<String>,
    /// Keys found deleted since the table's last batch (recorded in this batch).
    #[serde(default)]
    pub deleted: u64,
    /// Bytes of the batch's data object.
    #[serde(default)]
    pub bytes: u64,
}

/// The first step of an execution: which tables to ingest, checked against the allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// Tables named in the execution input (`None` or empty: every allowed table).
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// Whether the execution input asked for a full refresh.
    #[serde(default)]
    pub full_refresh: Option<bool>,
    /// The execution asking.
    #[serde(default)]
    pub execution: Option<String>,
}

/// The plan: the tables, in dependency order, whether to refresh them fully, the tables read in
/// chunks, and the fact models the state machine loads, one Map iteration each, after the
/// dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanResponse {
    /// Tables to ingest, each in one invocation.
    pub tables: Vec<String>,
    /// Every chunk of the tables read in chunks (chunks (`tote_ingest::chunks`)), one invocation each: the items of
    /// the `IngestChunks` Distributed Map.
    #[serde(default)]
    pub chunks: Vec<Chunk>,
    /// The tables read in chunks, each committed by one `commit_chunks` once its chunks are in.
    #[serde(default)]
    pub chunked: Vec<ChunkedTable>,
    /// Full refresh requested.
    pub full_refresh: bool,
    /// Every fact model of the star schema (built-in and `TOTE_MODELS`), in load order. All of
    /// them, whichever tables are ingested: a fact load with nothing new is a no-op, and one
    /// with batches left by an earlier execution catches them up.
    #[serde(default)]
    pub facts: Vec<String>,
}

/// One primary-key range of a chunked read: what one invocation reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The source table.
    pub table: String,
    /// The batch id the chunks commit as, fixed by the plan.
    pub group: String,
    /// This chunk's position, from 0, in key order.
    pub index: u32,
    /// How many chunks the read has.
    pub chunks: u32,
    /// The range's first key (`None`: from the smallest).
    pub from: Option<i64>,
    /// The key after the range's last (`None`: to the greatest, keys inserted since included).
    pub to: Option<i64>,
    /// The high-water mark: every chunk writes the versions dated at or below it.
    pub until: NaiveDateTime,
    /// The scale of each `numeric` column declared without one, as the plan found it over the
    /// whole table at or below `until`: every chunk's data then has the same schema, and no chunk
    /// scans the whole table for it.
    #[serde(default)]
    pub scales: std::collections::BTreeMap<String, i8>,
}

/// A chunked table, as the commit step is asked to commit it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkedTable {
    /// The source table.
    pub table: String,
    /// The batch id the chunks commit as.
    pub group: String,
    /// How many chunks.
    pub chunks: u32,
    /// The high-water mark of the read.
    pub until: NaiveDateTime,
    /// The execution asking, recorded in the manifest.
    #[serde(default)]
    pub execution: Option<String>,
}

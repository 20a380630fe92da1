//! The new input of a run: which committed landing batches it consumes.
//!
//! Every landing batch committed after the checkpoint, for every source table (not only this
//! execution's, so a run that failed earlier is caught up). When some model already committed
//! this run (an attempt that crashed, or another execution's transform running now), the run
//! keeps the input it started with, so that every output of a run, and its checkpoint, cover the
//! same input; batches committed since wait for the next run.

use std::collections::{BTreeMap, BTreeSet};

use tote_core::batch::LogEntry;
use tote_core::tables::SOURCE_TABLES;
use tote_core::Result;
use tote_io::commit_log::CommitLog;
use tote_io::store::Store;

use crate::models;

/// The landing batches one run consumes.
pub(crate) struct NewInput {
    /// Per source table with any, the log entries of its new landing batches, in commit order.
    entries: BTreeMap<&'static str, Vec<LogEntry>>,
}

impl NewInput {
    /// The landing batches run `run` consumes, per table: every one committed after
    /// `consumed_before` (the checkpoint's), or, when some model already committed this run, the
    /// input that run started with. `None` when nothing is new.
    pub(crate) async fn find(
        landing: &Store,
        processed: &Store,
        models: &[models::Model],
        consumed_before: &BTreeMap<&'static str, u64>,
        run: u64,
    ) -> Result<Option<NewInput>> {
        // New landing batches per table.
        let mut new_entries = BTreeMap::new();
        for table in SOURCE_TABLES {
            let log = CommitLog::new(landing.clone(), table);
            let entries = log.entries_after(consumed_before.get(table).copied()).await?;
            if !entries.is_empty() {
                new_entries.insert(table, entries);
            }
        }
        if new_entries.is_empty() {
            return Ok(None);
        }
        let run_tag = tote_core::checkpoint::run_tag(run);
        if let Some(pinned) = run_input(processed, models, &run_tag).await? {
            tracing::info!(run, "continuing a run already partly committed, with its input");
            for (table, entries) in new_entries.iter_mut() {
                entries.retain(|e| pinned.contains(&format!("{table}/{}", e.seq)));
            }
            new_entries.retain(|_, entries| !entries.is_empty());
        }
        Ok(Some(NewInput { entries: new_entries }))
    }

    /// The log entries of `table`'s new landing batches, in commit order; none for a table
    /// without new batches.
    pub(crate) fn of(&self, table: &str) -> &[LogEntry] {
        self.entries.get(table).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The batches as every output of the run lists them among its inputs: `table/seq`, table
    /// by table in [`SOURCE_TABLES`] order, each table's in commit order. A retry of the run
    /// compares them with a committed output's, so the order is part of the run's identity.
    pub(crate) fn names(&self) -> Vec<String> {
        SOURCE_TABLES
            .iter()
            .flat_map(|table| self.of(table).iter().map(move |e| format!("{table}/{}", e.seq)))
            .collect()
    }

    /// What the run's checkpoint records as consumed: `before` (the previous checkpoint's), with
    /// the last new landing batch of each table that has one.
    pub(crate) fn consumed_after(&self, before: &BTreeMap<&'static str, u64>) -> BTreeMap<&'static str, u64> {
        let mut consumed = before.clone();
        for (table, entries) in &self.entries {
            if let Some(last) = entries.last() {
                consumed.insert(table, last.seq);
            }
        }
        consumed
    }
}

/// The input (`table/seq` of each landing batch) of run `run_tag`, if some model has already
/// committed its output for that run.
async fn run_input(
    processed: &Store,
    models: &[models::Model],
    run_tag: &str,
) -> Result<Option<BTreeSet<String>>> {
    for model in models {
        let log = CommitLog::new(processed.clone(), &model.name);
        if let Some(entry) = log.last().await? {
            let manifest = log.manifest(&entry).await?;
            if manifest.inputs.first().map(String::as_str) == Some(run_tag) {
                return Ok(Some(manifest.inputs[1..].iter().cloned().collect()));
            }
        }
    }
    Ok(None)
}

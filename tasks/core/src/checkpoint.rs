//! The transform's checkpoint, as every stage that needs it reads it.
//!
//! The transform commits one [`Checkpoint`] per run to the log [`CHECKPOINT_LOG`] of the processed
//! store, at the run's number: per source table, the last landing batch consumed, and the
//! current-state snapshots ([`state_key`]) the next run starts from. Each processed batch
//! names its run first in its own `inputs` ([`run_tag`]), then the landing batches it was made
//! from. The load and `tote status` read the checkpoint to tell how far the warehouse has got
//! through each table's landing log.
//!
//! A checkpoint is stored in the batch manifest format (so the commit log, its create-if-absent
//! commit and the object checks are the same as for any batch): the manifest's `inputs` hold
//! `table/seq` per table, its `objects` the snapshots, and its `table` is [`CHECKPOINT_LOG`].
//! Only this module maps a checkpoint to its stored form; `tote_io::checkpoint` reads and commits
//! it.

use std::collections::BTreeMap;

use crate::batch::{self, Manifest, ObjectEntry};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{self, state_prefix, CHECKPOINT_LOG};
use crate::tables::SOURCE_TABLES;

/// The tag a processed batch of run `run` carries first in its `inputs`.
pub fn run_tag(run: u64) -> String {
    format!("{CHECKPOINT_LOG}/{run}")
}

/// The run a processed batch belongs to, from its first input.
pub fn run_of(batch: &Manifest) -> Option<u64> {
    batch
        .inputs
        .first()?
        .strip_prefix(CHECKPOINT_LOG)?
        .strip_prefix('/')?
        .parse()
        .ok()
}

/// The key of a new current-state snapshot of `table` written by run `run`.
pub fn state_key(table: &str, run: u64) -> String {
    layout::state_key(table, run, &batch::new_batch_id())
}

/// One transform run's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The run, which is also the checkpoint's position in [`CHECKPOINT_LOG`].
    pub run: u64,
    /// Per source table, the last landing batch (its seq) the run consumed.
    pub consumed: BTreeMap<&'static str, u64>,
    /// The current-state snapshots the run left, one per table a model names.
    pub snapshots: Vec<ObjectEntry>,
    /// Star rows the run produced.
    pub rows: u64,
    /// The execution that ran it, if any.
    pub execution: Option<String>,
}

impl Checkpoint {
    /// The snapshot of `table`'s current state, if the run left one.
    pub fn snapshot(&self, table: &str) -> Option<&ObjectEntry> {
        let prefix = state_prefix(table);
        self.snapshots.iter().find(|o| o.key.starts_with(&prefix))
    }

    /// A manifest reading just `object`, one of this checkpoint's snapshots, through the checked
    /// object reads of `tote_io::objects`.
    pub fn snapshot_manifest(&self, object: &ObjectEntry) -> Manifest {
        Manifest {
            objects: vec![object.clone()],
            ..self.to_manifest()
        }
    }

    /// The checkpoint of run `run` from its stored form; a bad one is `Tote.BadBatch`.
    pub fn from_manifest(run: u64, manifest: &Manifest) -> Result<Checkpoint> {
        let mut consumed = BTreeMap::new();
        for input in &manifest.inputs {
            let (table, seq) = input
                .split_once('/')
                .and_then(|(t, s)| Some((SOURCE_TABLES.iter().find(|x| **x == t)?, s.parse::<u64>().ok()?)))
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::BadBatch,
                        format!("transform checkpoint {run} has a bad input `{input}`"),
                    )
                })?;
            consumed.insert(*table, seq);
        }
        Ok(Checkpoint {
            run,
            consumed,
            snapshots: manifest.objects.clone(),
            rows: manifest.rows,
            execution: manifest.execution.clone(),
        })
    }

    /// The checkpoint's stored form: a manifest in [`CHECKPOINT_LOG`], with a fresh batch id.
    pub fn to_manifest(&self) -> Manifest {
        Manifest {
            batch_id: layout::checkpoint_batch_id(self.run, &batch::new_batch_id()),
            stage: batch::Stage::Transform,
            table: CHECKPOINT_LOG.to_string(),
            execution: self.execution.clone(),
            written_at: chrono::Utc::now(),
            format: batch::DataFormat::Parquet,
            rows: self.rows,
            schema: vec![],
            cursor: None,
            full_refresh: false,
            objects: self.snapshots.clone(),
            inputs: self.consumed.iter().map(|(t, s)| format!("{t}/{s}")).collect(),
            findings: vec![],
            keys: None,
            deletions: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            run: 7,
            consumed: [("staff", 3), ("sales_order", 12)].into(),
            snapshots: vec![ObjectEntry {
                key: state_key("staff", 7),
                bytes: 10,
                sha256: "00".into(),
                rows: 2,
            }],
            rows: 40,
            execution: Some("e".into()),
        }
    }

    #[test]
    fn a_checkpoint_survives_its_stored_form() {
        let c = checkpoint();
        let stored = c.to_manifest();
        assert_eq!(stored.table, CHECKPOINT_LOG);
        assert_eq!(Checkpoint::from_manifest(7, &stored).unwrap(), c);
        assert!(c.snapshot("staff").is_some() && c.snapshot("sta").is_none());
    }

    #[test]
    fn a_bad_consumed_input_is_a_bad_batch_naming_it() {
        let mut stored = checkpoint().to_manifest();
        stored.inputs.push("_prisma_migrations/1".into());
        let err = Checkpoint::from_manifest(7, &stored).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadBatch);
        assert!(err.to_string().contains("_prisma_migrations/1"), "{err}");
    }

    #[test]
    fn a_batch_names_its_run_first() {
        let batch = Manifest {
            inputs: vec![run_tag(12), "staff/3".into()],
            ..checkpoint().to_manifest()
        };
        assert_eq!(run_of(&batch), Some(12));
        let other = Manifest {
            inputs: vec!["staff/3".into()],
            ..batch
        };
        assert_eq!(run_of(&other), None);
    }
}

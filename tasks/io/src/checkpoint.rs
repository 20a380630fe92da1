//! The transform's checkpoints in the processed store: read, and committed at their run's number.
//!
//! What a checkpoint holds and its stored form are the contract's ([`tote_core::checkpoint`]);
//! this module reads and writes that form through the checkpoint log
//! ([`tote_core::layout::CHECKPOINT_LOG`]), with the commit log's create-if-absent commit.

use tote_core::checkpoint::Checkpoint;
use tote_core::layout::CHECKPOINT_LOG;
use tote_core::Result;

use crate::commit_log::{write_manifest, CommitLog};
use crate::store::Store;

/// The latest checkpoint in `processed`, if any run has committed one.
pub async fn latest(processed: &Store) -> Result<Option<Checkpoint>> {
    let log = CommitLog::new(processed.clone(), CHECKPOINT_LOG);
    match log.last().await? {
        Some(entry) => Ok(Some(Checkpoint::from_manifest(
            entry.seq,
            &log.manifest(&entry).await?,
        )?)),
        None => Ok(None),
    }
}

/// The checkpoint of run `run`, if it committed one.
pub async fn of_run(processed: &Store, run: u64) -> Result<Option<Checkpoint>> {
    let log = CommitLog::new(processed.clone(), CHECKPOINT_LOG);
    match log.entry(run).await? {
        Some(entry) => Ok(Some(Checkpoint::from_manifest(
            run,
            &log.manifest(&entry).await?,
        )?)),
        None => Ok(None),
    }
}

/// Commits `checkpoint` at its run's position: `false` when another transform committed that run
/// first (its checkpoint stands).
pub async fn commit(processed: &Store, checkpoint: &Checkpoint) -> Result<bool> {
    let manifest = checkpoint.to_manifest();
    write_manifest(processed, &manifest).await?;
    CommitLog::new(processed.clone(), CHECKPOINT_LOG)
        .commit(checkpoint.run, &manifest)
        .await
}

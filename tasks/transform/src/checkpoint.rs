//! The transform's own checkpoint, committed once every model has committed its batch of the
//! run: the run's number, the last landing batch it consumed per table, the current-state
//! snapshots it left, and its rows ([`Checkpoint`]). The next run starts from it.

use tote_core::checkpoint::Checkpoint;
use tote_core::Result;
use tote_io::store::Store;

/// Commits `checkpoint` at its run's position in the `_transform` log. When another transform
/// (an overlapping execution) committed the same run first, its checkpoint stands.
pub(crate) async fn commit(processed: &Store, checkpoint: &Checkpoint) -> Result<()> {
    if !tote_io::checkpoint::commit(processed, checkpoint).await? {
        tracing::warn!(
            run = checkpoint.run,
            "another transform committed this run first; its checkpoint stands"
        );
    }
    Ok(())
}

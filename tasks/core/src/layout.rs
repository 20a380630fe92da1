//! Where every object lives in the landing and processed stores: the one place that writes a key.
//!
//! Both stores hold batches the same way, for a source table or a model `T`:
//! ```text
//! T/_log/00000000000000000001.json      commit log entry (seq 1), create-if-absent
//! T/<batch id>/manifest.json            the batch's manifest
//! T/<batch id>/part-00000.parquet       its rows (part-00000.csv in a CSV landing zone)
//! T/<batch id>/keys.parquet             a landing batch's key set (the table's keys at its read)
//! T/<batch id>/deletions.parquet        the keys the batch found deleted (or restored)
//! T/_chunks/<group>/<index>.json        one part of a chunked read, before its batch commits
//! ```
//! and the processed store also holds the transform's checkpoint log and its snapshots:
//! ```text
//! _transform/_log/<seq>.json            one checkpoint per run, at the run's number
//! _transform/run-<run>-<id>/manifest.json
//! _state/<table>/run-<run>-<id>.parquet a source table's current state after run <run>
//! ```
//! A reader never lists data objects to find a batch's rows: it follows the log to a manifest,
//! and the manifest names its objects. The functions here are what every stage, `tote status` and
//! the bench (which hands DuckDB the committed data keys) call to name an object.

use crate::batch::DataFormat;

/// Digits of a commit log entry's sequence number in its key, so that keys sort as numbers.
const SEQ_WIDTH: usize = 20;

/// The log the transform commits its checkpoints to, in the processed store.
pub const CHECKPOINT_LOG: &str = "_transform";

/// The key of object `name` of batch `batch_id` of `table` (a source table or a model): every
/// object of a batch, and its manifest, lives under `<table>/<batch_id>/`.
pub fn object_key(table: &str, batch_id: &str, name: &str) -> String {
    format!("{table}/{batch_id}/{name}")
}

/// The key of the manifest of batch `batch_id` of `table`.
pub fn manifest_key(table: &str, batch_id: &str) -> String {
    object_key(table, batch_id, "manifest.json")
}

/// The key of a batch's rows, in `format`.
pub fn data_key(table: &str, batch_id: &str, format: DataFormat) -> String {
    object_key(table, batch_id, &format!("part-00000.{}", format.name()))
}

/// The key of a landing batch's key set (the table's keys in its snapshot).
pub fn key_set_key(table: &str, batch_id: &str) -> String {
    object_key(table, batch_id, "keys.parquet")
}

/// The key of a batch's deletions.
pub fn deletions_key(table: &str, batch_id: &str) -> String {
    object_key(table, batch_id, "deletions.parquet")
}

/// The prefix under which `table`'s commit log entries live.
pub fn log_prefix(table: &str) -> String {
    format!("{table}/_log/")
}

/// The key of entry `seq` of `table`'s commit log.
pub fn log_entry_key(table: &str, seq: u64) -> String {
    format!("{}{seq:0width$}.json", log_prefix(table), width = SEQ_WIDTH)
}

/// The key of part `index` of chunk group `group` of `table`: one chunk's read, recorded until
/// the group's batch commits.
pub fn chunk_part_key(table: &str, group: &str, index: u32) -> String {
    format!("{table}/_chunks/{group}/{index}.json")
}

/// The prefix of every current-state snapshot of `table`.
pub fn state_prefix(table: &str) -> String {
    format!("_state/{table}/")
}

/// The key of a current-state snapshot of `table` written by run `run`, unique by `id`.
pub fn state_key(table: &str, run: u64, id: &str) -> String {
    format!("{}run-{run:08}-{id}.parquet", state_prefix(table))
}

/// The batch id of run `run`'s checkpoint, unique by `id`.
pub fn checkpoint_batch_id(run: u64, id: &str) -> String {
    format!("run-{run:08}-{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys are a stored format: a deployed landing zone was written with them, so they may
    /// not change shape.
    #[test]
    fn keys_keep_their_stored_shape() {
        assert_eq!(
            data_key("staff", "b1", DataFormat::Csv),
            "staff/b1/part-00000.csv"
        );
        assert_eq!(
            manifest_key("fact_payment", "b2"),
            "fact_payment/b2/manifest.json"
        );
        assert_eq!(log_entry_key("staff", 7), "staff/_log/00000000000000000007.json");
        assert!(log_entry_key("staff", 7).starts_with(&log_prefix("staff")));
        assert_eq!(chunk_part_key("payment", "g", 3), "payment/_chunks/g/3.json");
        assert_eq!(state_key("staff", 12, "x"), "_state/staff/run-00000012-x.parquet");
        assert!(state_key("staff", 12, "x").starts_with(&state_prefix("staff")));
        assert!(!state_key("staff", 12, "x").starts_with(&state_prefix("sta")));
    }
}

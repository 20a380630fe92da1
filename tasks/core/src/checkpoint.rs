//! The transform's checkpoint, as every stage that needs it reads it.
//!
//! The transform commits one checkpoint per run to the log [`LOG`] of the processed store, at the
//! run's number: its `inputs` name, per source table, the last landing batch consumed
//! (`table/seq`). Each processed batch names its run first in its own `inputs`
//! ([`run_tag`]), then the landing batches it was made from. The load and `tote status` read the
//! checkpoint to tell how far the warehouse has got through each table's landing log.

use std::collections::BTreeMap;

use crate::batch::Manifest;
use crate::error::{Error, ErrorKind, Result};
use crate::tables::SOURCE_TABLES;

/// The name of the transform's checkpoint log in the processed store.
pub const LOG: &str = "_transform";

/// The tag a processed batch of run `run` carries first in its `inputs`.
pub fn run_tag(run: u64) -> String {
    format!("{LOG}/{run}")
}

/// The run a processed batch belongs to, from its first input.
pub fn run_of(batch: &Manifest) -> Option<u64> {
    batch
        .inputs
        .first()?
        .strip_prefix(LOG)?
        .strip_prefix('/')?
        .parse()
        .ok()
}

/// The last consumed landing seq per table of a checkpoint (none consumed: empty).
pub fn consumed(checkpoint: Option<&Manifest>) -> Result<BTreeMap<&'static str, u64>> {
    let mut out = BTreeMap::new();
    for input in checkpoint.map(|m| m.inputs.as_slice()).unwrap_or(&[]) {
        let (table, seq) = input
            .split_once('/')
            .and_then(|(t, s)| Some((SOURCE_TABLES.iter().find(|x| **x == t)?, s.parse::<u64>().ok()?)))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::BadBatch,
                    format!("transform checkpoint has a bad input `{input}`"),
                )
            })?;
        out.insert(*table, seq);
    }
    Ok(out)
}

//! A source table's deletions for one run (`T__deletions`), in commit order with its versions.
//!
//! An ingest batch holds the versions its snapshot read and the keys that snapshot no longer had;
//! the two are disjoint. Across the batches of one run a key can be deleted and then come back
//! (a later batch has a version of it): that deletion is history, `restored`, and the key is in
//! the current state again. A deletion no later batch of the run undoes is *open*: the key is
//! gone from the current state, and from the snapshots the transform keeps of small tables.
//!
//! Deletions are few next to versions and are held in memory: a key and two small values each.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use datafusion::datasource::MemTable;
use tote_core::batch::{deletions_schema, DETECTED_AT, RESTORED};
use tote_core::{Error, ErrorKind, Result};

/// One table's deletions in this run, in the order they were found.
#[derive(Debug)]
pub struct RunDeletions {
    key: String,
    /// `(key, detected_at µs, restored)`.
    found: Vec<(i64, i64, bool)>,
    /// Key → position in `found` of its open deletion.
    open: HashMap<i64, usize>,
}

impl RunDeletions {
    /// No deletions yet, for a table whose key column is `key`.
    pub fn new(key: &str) -> Self {
        RunDeletions {
            key: key.to_string(),
            found: Vec::new(),
            open: HashMap::new(),
        }
    }

    /// A later batch holds versions of these keys: their open deletions are undone.
    pub fn observe_versions(&mut self, keys: impl Iterator<Item = i64>) {
        if self.open.is_empty() {
            return;
        }
        for k in keys {
            if let Some(at) = self.open.remove(&k) {
                self.found[at].2 = true;
            }
        }
    }

    /// Adds one ingest batch's deletions (its deletions object's record batches).
    pub fn add(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for b in batches {
            let bad = |what: &str| {
                Error::new(
                    ErrorKind::BadBatch,
                    format!("a landing deletions object has no {what} column"),
                )
            };
            let keys = b.column_by_name(&self.key).ok_or_else(|| bad(&self.key))?;
            let keys = keys
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| bad(&format!("Int64 {}", self.key)))?;
            let at = b.column_by_name(DETECTED_AT).ok_or_else(|| bad(DETECTED_AT))?;
            let at = at
                .as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or_else(|| bad(DETECTED_AT))?;
            for (k, t) in keys.values().iter().zip(at.values().iter()) {
                self.open.insert(*k, self.found.len());
                self.found.push((*k, *t, false));
            }
        }
        Ok(())
    }

    /// The keys deleted at the end of the run.
    pub fn open_keys(&self) -> HashSet<i64> {
        self.open.keys().copied().collect()
    }

    /// `T__deletions`: the key, `detected_at`, `restored`.
    pub fn table(&self) -> Result<Arc<MemTable>> {
        let schema = deletions_schema(&self.key, true);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(self.found.iter().map(|f| f.0))),
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    self.found.iter().map(|f| f.1),
                )),
                Arc::new(BooleanArray::from_iter(self.found.iter().map(|f| Some(f.2)))),
            ],
        )
        .map_err(|e| Error::internal(e.to_string()))?;
        let table =
            MemTable::try_new(schema, vec![vec![batch]]).map_err(|e| Error::internal(e.to_string()))?;
        Ok(Arc::new(table))
    }
}

/// Checks that a model's deletions query gave its key (the first column), `detected_at` and
/// `restored`, none NULL, and returns the batch in the deletions object's schema.
pub fn conform(b: &RecordBatch, model: &str) -> Result<RecordBatch> {
    let selected: Vec<&str> = b
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let bad = |why: &str| {
        Error::new(
            ErrorKind::ModelFailed,
            format!(
                "{model}.deletions.sql must select the model's key column, {DETECTED_AT} and {RESTORED}, none \
                 NULL; it selected {} ({why}); fix it (or TOTE_MODELS) and run again",
                selected.join(", ")
            ),
        )
    };
    let key = selected.first().ok_or_else(|| bad("no column"))?.to_string();
    let schema = deletions_schema(&key, true);
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let c = b
                .column_by_name(f.name())
                .ok_or_else(|| bad(&format!("no {}", f.name())))?;
            let c = arrow::compute::cast(c, f.data_type()).map_err(|e| bad(&e.to_string()))?;
            if c.null_count() > 0 {
                return Err(bad(&format!("{} has NULL", f.name())));
            }
            Ok(c)
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema, columns).map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    /// A deletions query must give the key, `detected_at` and `restored`, none NULL: anything else
    /// fails the model, naming its file and what it selected.
    #[test]
    fn a_deletions_query_of_the_wrong_shape_fails_its_model_naming_it() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("design_id", DataType::Int32, false),
            Field::new(
                DETECTED_AT,
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow::array::Int32Array::from(vec![7])),
                Arc::new(TimestampMicrosecondArray::from(vec![0])),
            ],
        )
        .unwrap();
        let err = conform(&b, "dim_design").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ModelFailed);
        let message = err.to_string();
        assert!(message.contains("dim_design.deletions.sql"), "{message}");
        assert!(
            message.contains("design_id, detected_at") && message.contains("no restored"),
            "{message}"
        );

        let mut found = RunDeletions::new("design_id");
        found.add(&[]).unwrap();
        assert!(found.open_keys().is_empty());
    }

    /// A deletion undone by a later batch of the run is history (`restored`), not the state.
    #[test]
    fn a_key_back_in_a_later_batch_of_the_run_is_restored() {
        let batch = |keys: Vec<i64>| {
            RecordBatch::try_new(
                deletions_schema("design_id", false),
                vec![
                    Arc::new(Int64Array::from(keys.clone())),
                    Arc::new(TimestampMicrosecondArray::from(vec![1; keys.len()])),
                ],
            )
            .unwrap()
        };
        let mut run = RunDeletions::new("design_id");
        run.add(&[batch(vec![1, 2, 3])]).unwrap();
        run.observe_versions([2].into_iter());
        assert_eq!(run.open_keys(), [1, 3].into_iter().collect());
        run.add(&[batch(vec![2])]).unwrap();
        assert_eq!(
            run.open_keys(),
            [1, 2, 3].into_iter().collect(),
            "deleted again after it came back"
        );
    }
}

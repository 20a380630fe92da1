//! Deletions in the warehouse: recorded beside the star tables, never applied to them.
//!
//! A processed batch may carry deletions (a deletions object: the model's key, when the ingest
//! found the source row gone, and whether a later version of the same run restored it). Within
//! the batch's transaction, after its versions:
//!
//! 1. a deletion still in force whose key this batch brings back (a new version or dimension row
//!    under the same id) is marked restored by this batch ([`Deletions::restore`]);
//! 2. the batch's own deletions are recorded ([`record`]).
//!
//! In that order, because the transform already resolved the order within its run: a deletion
//! the batch carries is either restored by a later version of the same run (it says so) or is the
//! last word on its key. Schema `current` (migration 0002) reads the deletions in force.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use chrono::NaiveDateTime;
use tokio_postgres::Transaction;
use tote_core::batch::{Manifest, DETECTED_AT, RESTORED};
use tote_core::tables::quote_ident;
use tote_core::{Error, ErrorKind, Result};
use tote_io::store::Store;

use crate::{warehouse_error, Kind, Target};

/// Rows per INSERT when recording deletions: bounds the parameter arrays.
const CHUNK: usize = 10_000;

/// Whether the batch being loaded can restore a deletion, found before its versions are written.
pub(crate) struct Deletions {
    in_force: bool,
    /// For a fact: the largest record id before the batch, so its new versions are those above.
    fact_after: i64,
}

impl Deletions {
    /// Whether the model had deletions in force when the batch began (looked up only when the
    /// batch has versions; `false` otherwise).
    pub(crate) fn in_force(&self) -> bool {
        self.in_force
    }

    /// Looks up whether `target` has deletions in force (only when the batch has versions).
    pub(crate) async fn of(tx: &Transaction<'_>, target: &Target<'_>, has_rows: bool) -> Result<Deletions> {
        let none = Deletions {
            in_force: false,
            fact_after: 0,
        };
        if !has_rows {
            return Ok(none);
        }
        let in_force: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM deletion WHERE star_table = $1 AND restored_by IS NULL)",
                &[&target.model],
            )
            .await
            .map_err(warehouse_error)?
            .get(0);
        if !in_force {
            return Ok(none);
        }
        let fact_after = match target.kind {
            Kind::Fact { record_id, .. } => tx
                .query_one(
                    &format!(
                        "SELECT coalesce(max({})::bigint, 0) FROM {}",
                        quote_ident(record_id),
                        quote_ident(target.model)
                    ),
                    &[],
                )
                .await
                .map_err(warehouse_error)?
                .get(0),
            Kind::Dimension { .. } => 0,
        };
        Ok(Deletions { in_force, fact_after })
    }

    /// Marks restored, by processed batch `batch_id` (position `seq` in its model's log), the
    /// deletions in force that an earlier batch recorded and whose key this batch just wrote. Only
    /// earlier ones: a batch loaded again out of order (a ledger rolled back) must not undo a later
    /// deletion. `staged`: the batch's rows went through the staging table (a dimension, or a fact
    /// batch that met versions already present); otherwise it copied straight into its fact table
    /// exactly the rows above the record id it started from.
    pub(crate) async fn restore(
        &self,
        tx: &Transaction<'_>,
        target: &Target<'_>,
        staged: bool,
        (batch_id, seq): (&str, i64),
    ) -> Result<u64> {
        if !self.in_force {
            return Ok(0);
        }
        let written = match target.kind {
            Kind::Dimension { key } => format!("SELECT {}::bigint FROM tote_stage", quote_ident(key)),
            Kind::Fact { version, .. } if staged => {
                format!("SELECT {}::bigint FROM tote_stage", quote_ident(&version[0]))
            }
            Kind::Fact { record_id, version } => format!(
                "SELECT {}::bigint FROM {} WHERE {} > $4::bigint",
                quote_ident(&version[0]),
                quote_ident(target.model),
                quote_ident(record_id)
            ),
        };
        let sql = format!(
            "UPDATE deletion SET restored_by = $1 \
             WHERE star_table = $2 AND restored_by IS NULL AND batch_seq < $3 AND natural_id IN ({written})"
        );
        let restored = match target.kind {
            Kind::Fact { .. } if !staged => {
                tx.execute(&sql, &[&batch_id, &target.model, &seq, &self.fact_after])
                    .await
            }
            _ => tx.execute(&sql, &[&batch_id, &target.model, &seq]).await,
        }
        .map_err(warehouse_error)?;
        Ok(restored)
    }
}

/// Records the deletions `manifest` carries, as recorded by processed batch `batch_id` (position
/// `seq` in its model's log). A deletion recorded already (the batch loaded again) is kept as is.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    store: &Store,
    target: &Target<'_>,
    manifest: &Manifest,
    (batch_id, seq): (&str, i64),
    what: &str,
) -> Result<u64> {
    if manifest.deletions.is_none() {
        return Ok(0);
    }
    let key = target.kind.natural_key();
    let mut recorded = 0;
    for b in tote_io::objects::read_deletions(store, manifest).await? {
        let (ids, at, restored) = columns(&b, key, what)?;
        for start in (0..ids.len()).step_by(CHUNK) {
            let end = (start + CHUNK).min(ids.len());
            recorded += tx
                .execute(
                    "INSERT INTO deletion (star_table, natural_id, detected_at, batch_id, batch_seq, restored_by) \
                     SELECT $1, d.id, d.at, $2, $6::int8, CASE WHEN d.restored THEN $2 END \
                     FROM unnest($3::int8[], $4::timestamp[], $5::bool[]) AS d(id, at, restored) \
                     ON CONFLICT DO NOTHING",
                    &[
                        &target.model,
                        &batch_id,
                        &&ids[start..end],
                        &&at[start..end],
                        &&restored[start..end],
                        &seq,
                    ],
                )
                .await
                .map_err(warehouse_error)?;
        }
    }
    Ok(recorded)
}

/// The key, `detected_at` and `restored` of a deletions record batch.
fn columns(b: &RecordBatch, key: &str, what: &str) -> Result<(Vec<i64>, Vec<NaiveDateTime>, Vec<bool>)> {
    let bad = |why: String| {
        Error::new(
            ErrorKind::BadBatch,
            format!(
                "{what}: its deletions {why}; a model's deletions query must select the warehouse \
                 table's key ({key}), {DETECTED_AT} and {RESTORED}"
            ),
        )
    };
    let column = |name: &str, t: DataType| {
        b.column_by_name(name)
            .filter(|c| c.data_type() == &t)
            .ok_or_else(|| bad(format!("have no {t} column {name}")))
    };
    let ids = column(key, DataType::Int64)?;
    let at = column(DETECTED_AT, DataType::Timestamp(TimeUnit::Microsecond, None))?;
    let restored = column(RESTORED, DataType::Boolean)?;
    let ids = ids.as_primitive::<Int64Type>().values().to_vec();
    let at = at
        .as_primitive::<TimestampMicrosecondType>()
        .values()
        .iter()
        .map(|us| {
            chrono::DateTime::from_timestamp_micros(*us)
                .map(|t| t.naive_utc())
                .ok_or_else(|| bad(format!("have an impossible {DETECTED_AT} {us}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let restored = restored.as_boolean().iter().map(|r| r.unwrap_or(false)).collect();
    Ok((ids, at, restored))
}

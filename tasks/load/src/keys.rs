//! The dimension keys a fact batch refers to, checked set-based.
//!
//! A fact table's foreign keys are enforced by Postgres with one referential-integrity trigger
//! per key per row (nine keys on `fact_sales_order`), which made the triggers most of a first load
//! (docs/benchmarks.md has the profile). Instead, while a batch is streamed to the warehouse, [`KeyCollector`]
//! gathers the distinct values of every foreign-key column (in tote, a hash insert per value),
//! and [`KeyCollector::check`] then asks the warehouse once per key whether every value is
//! present, locking those dimension rows `FOR KEY SHARE` exactly as the triggers would, so a
//! concurrent delete of a referenced row waits for the batch. A value that is missing fails the
//! batch with `Tote.MissingDimension`, naming table, column and key.
//!
//! Memory stays bounded: a key column with more than `TOTE_LOAD_KEY_VALUES` (default 100,000)
//! distinct values in one batch (`fact_payment.transaction_id`, one per row) stops being gathered in tote, and its
//! values are read back by the warehouse from the rows the batch wrote instead, and checked with
//! one anti-join. Such a key protects its dimension with one `SHARE` lock on the table instead of
//! a `FOR KEY SHARE` lock on each of its rows: locking 1.6 M `dim_transaction` rows one by one
//! writes every one of them and took 8.1 s of a 19 s first load at scale 100 (docs/benchmarks.md).
//! The table lock keeps a concurrent delete (or any write) of the dimension waiting until the
//! batch commits, as the row locks did; other fact loads, which take the same lock, are not held
//! up, and the dimensions are loaded before the facts, so only an overlapping execution's
//! dimension load waits.
//!
//! Only single-column keys whose types are in [`CHECKED_TYPES`] are covered; a table with any
//! other foreign key keeps the per-row triggers.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Int16Type, Int32Type, Int64Type, Schema};
use tokio_postgres::{Client, Transaction};
use tote_core::tables::quote_ident;
use tote_core::{Error, ErrorKind, Result};

use crate::warehouse_error;

/// Referenced-column types the set-based check handles (as `format_type` spells them); the
/// values travel as a `text[]` parameter cast to an array of this type.
pub const CHECKED_TYPES: &[&str] = &[
    "smallint",
    "integer",
    "bigint",
    "date",
    "text",
    "character varying",
];

/// One single-column foreign key of a fact table.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    /// The referencing column of the fact table.
    pub column: String,
    /// The referenced table's name, for messages.
    pub ref_name: String,
    /// The referenced table, schema-qualified and quoted.
    pub ref_table: String,
    /// The referenced column.
    pub ref_column: String,
    /// The referenced column's type, one of [`CHECKED_TYPES`].
    pub ref_type: &'static str,
}

/// The foreign keys of a fact table, from the catalog.
#[derive(Debug, Clone, Default)]
pub struct ForeignKeys {
    /// The keys the set-based check covers.
    pub keys: Vec<ForeignKey>,
    /// Whether the table also has a foreign key it does not cover (several columns, or another
    /// type), in which case the per-row triggers always stay on.
    pub uncovered: bool,
}

impl ForeignKeys {
    /// Reads the foreign keys of warehouse table `model` from the catalog.
    pub async fn of(client: &Client, model: &str) -> Result<ForeignKeys> {
        let rows = client
            .query(
                "SELECT cardinality(c.conkey) = 1, a.attname::text, rt.relname::text, \
                        rn.nspname::text, ra.attname::text, format_type(ra.atttypid, NULL) \
                 FROM pg_constraint c \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
                 JOIN pg_class rt ON rt.oid = c.confrelid \
                 JOIN pg_namespace rn ON rn.oid = rt.relnamespace \
                 JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] \
                 WHERE c.conrelid = to_regclass($1) AND c.contype = 'f' \
                 ORDER BY c.conname",
                &[&quote_ident(model)],
            )
            .await
            .map_err(warehouse_error)?;
        let mut keys = ForeignKeys::default();
        for row in rows {
            let type_name: String = row.get(5);
            let ref_type = CHECKED_TYPES.iter().find(|t| **t == type_name);
            let (Some(ref_type), true) = (ref_type, row.get::<_, bool>(0)) else {
                keys.uncovered = true;
                continue;
            };
            let (column, ref_name, ref_schema, ref_column): (String, String, String, String) =
                (row.get(1), row.get(2), row.get(3), row.get(4));
            keys.keys.push(ForeignKey {
                column,
                ref_table: format!("{}.{}", quote_ident(&ref_schema), quote_ident(&ref_name)),
                ref_name,
                ref_column,
                ref_type,
            });
        }
        Ok(keys)
    }
}

/// The distinct values of one foreign-key column seen so far.
#[derive(Debug)]
enum Values {
    Int(HashSet<i64>),
    Date(HashSet<i32>),
    Text(HashSet<String>),
    /// More than the collector's limit: the warehouse reads them from the rows written.
    Many,
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Int(s) => s.len(),
            Values::Date(s) => s.len(),
            Values::Text(s) => s.len(),
            Values::Many => 0,
        }
    }
}

/// Gathers the distinct foreign-key values of a batch while it streams to the warehouse.
#[derive(Debug)]
pub struct KeyCollector<'a> {
    /// (key, position of its column in the batch, values seen).
    keys: Vec<(&'a ForeignKey, usize, Values)>,
    /// Distinct values gathered per column at most.
    limit: usize,
}

impl<'a> KeyCollector<'a> {
    /// A collector for `keys` over batches of `schema`, gathering at most `limit` distinct
    /// values per column; `None` when a key's column is missing from the schema or of a type the
    /// collector does not read (the triggers then check).
    pub fn new(keys: &'a ForeignKeys, schema: &Schema, limit: usize) -> Option<KeyCollector<'a>> {
        if keys.uncovered {
            return None;
        }
        let mut collected = Vec::new();
        for key in &keys.keys {
            let (position, field) = schema.column_with_name(&key.column)?;
            let values = match field.data_type() {
                DataType::Int16 | DataType::Int32 | DataType::Int64 => Values::Int(HashSet::new()),
                DataType::Date32 => Values::Date(HashSet::new()),
                DataType::Utf8 => Values::Text(HashSet::new()),
                _ => return None,
            };
            collected.push((key, position, values));
        }
        Some(KeyCollector {
            keys: collected,
            limit,
        })
    }

    /// Adds the foreign-key values of `batch` (NULLs refer to nothing and are skipped).
    pub fn observe(&mut self, batch: &RecordBatch) {
        let limit = self.limit;
        for (_, position, values) in &mut self.keys {
            let array = batch.column(*position);
            match values {
                Values::Int(set) => match array.data_type() {
                    DataType::Int16 => {
                        set.extend(array.as_primitive::<Int16Type>().iter().flatten().map(i64::from))
                    }
                    DataType::Int32 => {
                        set.extend(array.as_primitive::<Int32Type>().iter().flatten().map(i64::from))
                    }
                    _ => set.extend(array.as_primitive::<Int64Type>().iter().flatten()),
                },
                Values::Date(set) => set.extend(array.as_primitive::<Date32Type>().iter().flatten()),
                Values::Text(set) => {
                    for v in array.as_string::<i32>().iter().flatten() {
                        if !set.contains(v) {
                            set.insert(v.to_string());
                        }
                    }
                }
                Values::Many => {}
            }
            if values.len() > limit {
                *values = Values::Many;
            }
        }
    }

    /// Checks that every value seen is present in its dimension and locks those rows
    /// `FOR KEY SHARE` (a key read back from the warehouse: its dimension table, `SHARE`); the
    /// first missing value is a `Tote.MissingDimension` error. `written`
    /// is an SQL source of the rows the batch wrote (`tote_stage`, or the fact table with a
    /// record-id range), from which the warehouse reads the values of a key with too many to
    /// gather.
    pub async fn check(
        &self,
        tx: &Transaction<'_>,
        model: &str,
        written: &Written<'_>,
        what: &str,
    ) -> Result<()> {
        for (key, _, values) in &self.keys {
            let missing = match values {
                Values::Many => check_in_warehouse(tx, key, written).await?,
                values => check_values(tx, key, values).await?,
            };
            let Some(missing) = missing else { continue };
            return Err(Error::new(
                ErrorKind::MissingDimension,
                format!(
                    "{what}: a fact refers to a dimension key the warehouse does not have: insert into \
                     \"{model}\": Key ({col})=({missing}) is not present in table \"{dim}\"; nothing of \
                     this batch was written. Load the dimensions first (phase \"dimensions\"), or check \
                     the transform's batches of that dimension",
                    col = key.column,
                    dim = key.ref_name,
                ),
            ));
        }
        Ok(())
    }
}

/// Where the rows a batch wrote can be read back.
pub enum Written<'a> {
    /// The staging table `tote_stage`.
    Stage,
    /// The fact table: the rows whose record id is above the one before the batch.
    Fact {
        /// The fact table, quoted.
        table: &'a str,
        /// Its record-id column, quoted.
        record_id: &'a str,
        /// The largest record id before the batch.
        after: i64,
    },
}

/// Finds (and locks) gathered `values` of `key` in its dimension; the first missing one.
async fn check_values(tx: &Transaction<'_>, key: &ForeignKey, values: &Values) -> Result<Option<String>> {
    let mut texts: Vec<String> = match values {
        Values::Int(set) => set.iter().map(i64::to_string).collect(),
        Values::Date(set) => set
            .iter()
            .map(|d| {
                (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
                    + chrono::Duration::days(i64::from(*d)))
                .to_string()
            })
            .collect(),
        Values::Text(set) => set.iter().cloned().collect(),
        Values::Many => unreachable!("read back by the warehouse"),
    };
    if texts.is_empty() {
        return Ok(None);
    }
    texts.sort_unstable();
    let (table, column, ty) = (&key.ref_table, quote_ident(&key.ref_column), key.ref_type);
    let present: i64 = tx
        .query_one(
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM {table} r \
                     WHERE r.{column} = ANY($1::text[]::{ty}[]) FOR KEY SHARE OF r) AS present"
            ),
            &[&texts],
        )
        .await
        .map_err(warehouse_error)?
        .get(0);
    if present == texts.len() as i64 {
        return Ok(None);
    }
    let missing: String = tx
        .query_one(
            &format!(
                "SELECT k::text FROM unnest($1::text[]::{ty}[]) AS k \
                     WHERE NOT EXISTS (SELECT 1 FROM {table} r WHERE r.{column} = k) \
                     ORDER BY k LIMIT 1"
            ),
            &[&texts],
        )
        .await
        .map_err(warehouse_error)?
        .get(0);
    Ok(Some(missing))
}

/// Checks the values of `key` in the rows the batch wrote, the dimension locked against writes
/// until the batch commits; the first missing value.
async fn check_in_warehouse(
    tx: &Transaction<'_>,
    key: &ForeignKey,
    written: &Written<'_>,
) -> Result<Option<String>> {
    // The rows the batch wrote, as `f`.
    let (rows, after) = match written {
        Written::Stage => ("tote_stage f".to_string(), 0),
        Written::Fact {
            table,
            record_id,
            after,
        } => (format!("{table} f WHERE f.{record_id} > $1::bigint"), *after),
    };
    // The same, ready for one more condition.
    let written_rows = match written {
        Written::Stage => format!("{rows} WHERE"),
        Written::Fact { .. } => format!("{rows} AND"),
    };
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = match written {
        Written::Stage => vec![],
        Written::Fact { .. } => vec![&after],
    };
    let (table, column, ref_column) = (
        &key.ref_table,
        quote_ident(&key.column),
        quote_ident(&key.ref_column),
    );
    let keys = format!("SELECT DISTINCT f.{column} AS k FROM {rows}");
    tx.batch_execute(&format!("LOCK TABLE {table} IN SHARE MODE"))
        .await
        .map_err(warehouse_error)?;
    let missing: i64 = tx
        .query_one(
            &format!(
                "SELECT count(*) FROM {written_rows} f.{column} IS NOT NULL AND NOT EXISTS \
                 (SELECT 1 FROM {table} r WHERE r.{ref_column} = f.{column})"
            ),
            &params,
        )
        .await
        .map_err(warehouse_error)?
        .get(0);
    if missing == 0 {
        return Ok(None);
    }
    let row = tx
        .query_one(
            &format!(
                "SELECT k::text FROM ({keys}) AS keys WHERE k IS NOT NULL AND NOT EXISTS \
                 (SELECT 1 FROM {table} r WHERE r.{ref_column} = keys.k) ORDER BY k LIMIT 1"
            ),
            &params,
        )
        .await
        .map_err(warehouse_error)?;
    Ok(Some(row.get(0)))
}

//! The current state `T` of the source tables the models name: the latest version of every row
//! that still exists.
//!
//! The transform keeps a compacted snapshot of each such table in the processed store
//! (`_state/T/…`), which the checkpoint records. A run merges the previous snapshot with its new
//! versions, drops the keys its ingests found deleted, and writes the result back as the next
//! snapshot; a table the run did not change keeps its snapshot. The shipped models name only
//! small tables, so a run costs what changed, not the history.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tote_core::batch::ObjectEntry;
use tote_core::checkpoint::Checkpoint;
use tote_core::config::DataFormat;
use tote_core::tables::primary_key;
use tote_core::{Error, Result};
use tote_io::store::Store;

use crate::changes::{self, align, Changes};
use crate::error::{internal, model_error};
use crate::models;

/// The current state `T` of every table a model names: the previous snapshot merged with the
/// run's versions and without its deleted keys, written back as a new snapshot when it changed.
/// Registers each as a table and returns the snapshot objects the checkpoint records.
pub(crate) async fn current_state(
    ctx: &SessionContext,
    processed: &Store,
    previous: Option<&Checkpoint>,
    models: &[models::Model],
    changes: &BTreeMap<&'static str, Changes>,
    run: u64,
) -> Result<Vec<ObjectEntry>> {
    let mut snapshot_objects = Vec::new();
    for table in models::current_state_tables(models) {
        let schema = &changes[table].schema;
        let table_changes = changes[table].batches()?;
        let deleted = changes[table].deletions.open_keys();
        let previous_snapshot = previous_snapshot(processed, previous, table).await?;
        if table_changes.is_empty() && deleted.is_empty() {
            if let Some(object) = previous.and_then(|c| c.snapshot(table)) {
                snapshot_objects.push(object.clone());
            }
            register(
                ctx,
                table,
                schema_of_batches(&previous_snapshot, schema),
                previous_snapshot,
            )?;
            continue;
        }
        let state = merge_state(ctx, table, schema, &previous_snapshot, &table_changes).await?;
        let state = without_keys(state, &primary_key(table), &deleted)?;
        snapshot_objects.push(write_snapshot(processed, table, run, schema, &state).await?);
        register(ctx, table, schema_of_batches(&state, schema), state)?;
    }
    Ok(snapshot_objects)
}

/// The rows of `table`'s snapshot in the `previous` checkpoint; none before the first run, or
/// when no model named the table then.
async fn previous_snapshot(
    processed: &Store,
    previous: Option<&Checkpoint>,
    table: &str,
) -> Result<Vec<RecordBatch>> {
    match previous.and_then(|c| Some((c, c.snapshot(table)?))) {
        Some((checkpoint, object)) => {
            tote_io::objects::read_batch(processed, &checkpoint.snapshot_manifest(object)).await
        }
        None => Ok(Vec::new()),
    }
}

/// Writes `state` as run `run`'s snapshot of `table`, in one Parquet object.
async fn write_snapshot(
    processed: &Store,
    table: &str,
    run: u64,
    schema: &SchemaRef,
    state: &[RecordBatch],
) -> Result<ObjectEntry> {
    let key = tote_core::checkpoint::state_key(table, run);
    let mut sink = tote_io::sink::ObjectSink::create(
        processed,
        &key,
        schema_of_batches(state, schema),
        DataFormat::Parquet,
    )?;
    for b in state {
        sink.write(b).await?;
    }
    sink.finish().await
}

/// The schema of the first of `batches`, or `fallback` when there are none.
fn schema_of_batches(batches: &[RecordBatch], fallback: &SchemaRef) -> SchemaRef {
    batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| fallback.clone())
}

/// The previous snapshot merged with the new versions: the latest version of every key.
async fn merge_state(
    ctx: &SessionContext,
    table: &str,
    schema: &SchemaRef,
    previous: &[RecordBatch],
    changes: &[RecordBatch],
) -> Result<Vec<RecordBatch>> {
    let mut all: Vec<RecordBatch> = Vec::new();
    for b in previous.iter().chain(changes) {
        all.push(align(b, schema)?);
    }
    let relaxed = schema_of_batches(&all, schema);
    let name = format!("{table}__merge");
    register(ctx, &name, relaxed, all)?;
    let sql = changes::latest_versions(&name, &primary_key(table), schema);
    let df = ctx.sql(&sql).await.map_err(|e| model_error(table, e))?;
    let out = df.collect().await.map_err(|e| model_error(table, e))?;
    ctx.deregister_table(&name).map_err(|e| model_error(table, e))?;
    Ok(out)
}

/// Registers `batches` (those with rows) as table `name`, in memory: with the schema of the
/// first of them, or `schema` when none has a row.
fn register(ctx: &SessionContext, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
    let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    let schema = schema_of_batches(&batches, &schema);
    let table = MemTable::try_new(schema, vec![batches]).map_err(|e| model_error(name, e))?;
    ctx.register_table(name, Arc::new(table))
        .map_err(|e| model_error(name, e))?;
    Ok(())
}

/// `batches` without the rows whose `key` is in `gone`.
fn without_keys(batches: Vec<RecordBatch>, key: &str, gone: &HashSet<i64>) -> Result<Vec<RecordBatch>> {
    if gone.is_empty() {
        return Ok(batches);
    }
    batches
        .into_iter()
        .map(|b| {
            let ids = b
                .column_by_name(key)
                .ok_or_else(|| Error::internal(format!("the current state has no {key} column")))?;
            let ids = arrow::compute::cast(ids, &DataType::Int64).map_err(internal)?;
            let keep: arrow::array::BooleanArray = ids
                .as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .map(|id| Some(!id.is_some_and(|id| gone.contains(&id))))
                .collect();
            arrow::compute::filter_record_batch(&b, &keep).map_err(internal)
        })
        .collect()
}

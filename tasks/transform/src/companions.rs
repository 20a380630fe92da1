//! A model's companion queries, run after its own: `<model>.deletions.sql`, the rows its table
//! loses from the current state (written as the batch's deletions object), and
//! `<model>.findings.sql`, the data-quality findings the batch's manifest reports. Both select few
//! rows and are held in memory.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use tote_core::batch::{self, ObjectEntry};
use tote_core::config::DataFormat;
use tote_core::{Error, ErrorKind, Result};
use tote_io::store::Store;

use crate::deletions;
use crate::error::{internal, model_error};
use crate::models;

/// Runs a model's deletions query and writes what it selects as the deletions object of batch
/// `batch_id`; nothing when the model has no deletions query or it selects no row.
pub(crate) async fn write_deletions(
    ctx: &SessionContext,
    processed: &Store,
    model: &models::Model,
    batch_id: &str,
) -> Result<(Option<ObjectEntry>, u64)> {
    let Some(sql) = &model.deletions_sql else {
        return Ok((None, 0));
    };
    let found = companion_rows(ctx, &format!("{}.deletions", model.name), sql).await?;
    let found: Vec<RecordBatch> = found
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| deletions::conform(b, &model.name))
        .collect::<Result<_>>()?;
    let Some(first) = found.first() else {
        return Ok((None, 0));
    };
    let key = tote_core::layout::deletions_key(&model.name, batch_id);
    let mut sink = tote_io::sink::ObjectSink::create(processed, &key, first.schema(), DataFormat::Parquet)?;
    let mut rows = 0u64;
    for b in &found {
        rows += b.num_rows() as u64;
        sink.write(b).await?;
    }
    Ok((Some(sink.finish().await?), rows))
}

/// Every row of a model's companion query (`what`: `<model>.findings` or `<model>.deletions`),
/// in memory: such queries select few rows.
async fn companion_rows(ctx: &SessionContext, what: &str, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql)
        .await
        .map_err(|e| model_error(what, e))?
        .collect()
        .await
        .map_err(|e| model_error(what, e))
}

/// Runs a model's findings query: every row with affected rows is a finding, also logged.
pub(crate) async fn run_findings(ctx: &SessionContext, model: &models::Model) -> Result<Vec<batch::Finding>> {
    let Some(sql) = &model.findings_sql else {
        return Ok(Vec::new());
    };
    let what = format!("{}.findings", model.name);
    let batches = companion_rows(ctx, &what, sql).await?;
    let mut findings = Vec::new();
    for b in batches {
        let column = b
            .column_by_name("column_name")
            .ok_or_else(|| findings_shape(&what))?;
        let message = b.column_by_name("message").ok_or_else(|| findings_shape(&what))?;
        let affected = b
            .column_by_name("affected_rows")
            .ok_or_else(|| findings_shape(&what))?;
        let column = arrow::compute::cast(column, &DataType::Utf8).map_err(internal)?;
        let message = arrow::compute::cast(message, &DataType::Utf8).map_err(internal)?;
        let affected = arrow::compute::cast(affected, &DataType::UInt64).map_err(internal)?;
        let (column, message) = (column.as_string::<i32>(), message.as_string::<i32>());
        let affected = affected.as_primitive::<arrow::datatypes::UInt64Type>();
        for i in 0..b.num_rows() {
            let rows = if affected.is_null(i) { 0 } else { affected.value(i) };
            if rows == 0 {
                continue;
            }
            let finding = batch::Finding {
                column: column.value(i).to_string(),
                message: message.value(i).to_string(),
                rows,
            };
            tracing::warn!(model = %model.name, column = %finding.column, rows, "data-quality finding: {}", finding.message);
            findings.push(finding);
        }
    }
    Ok(findings)
}

/// A findings query selected other columns than a finding has: it fails its model.
fn findings_shape(what: &str) -> Error {
    Error::new(
        ErrorKind::ModelFailed,
        format!("{what} must select column_name, message and affected_rows"),
    )
}

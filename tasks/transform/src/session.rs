//! The DataFusion session of one run: the memory budget its queries share, the local directory
//! they (and the run's new versions) spill to, and the functions the models may call.

use std::sync::Arc;

use arrow::array::{AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::SessionContext;
use tote_core::config::Config;
use tote_core::{Error, Result};

use crate::error::internal;
use crate::schedule::models_at_once;

/// How many sorted runs a sort that spilled merges at once; more runs take more merge passes.
/// Every run being merged has read and decode buffers that the memory pool does not count, so
/// with no limit the merge's memory grows with the table; at 8 the transform's peak heap stays
/// flat from scale 300 to 600 and the run is no slower (docs/benchmarks.md has the figures).
const SPILL_MERGE_FAN_IN: usize = 8;

/// The run's temporary directory on local disk, removed when dropped: the new versions are
/// spilled there, so memory does not grow with the change, and so are the sorts of its queries.
pub(crate) fn spill_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("tote-transform-")
        .tempdir()
        .map_err(|e| {
            Error::internal(format!(
                "cannot create a temporary directory for the transform: {e}"
            ))
        })
}

/// The query engine for one run: sorts and aggregations may hold `TOTE_TRANSFORM_MEMORY_MB`
/// between them and spill the rest to `spill` (the run's temporary directory), so a first run
/// over the whole source needs no more memory than a small one. The models' functions
/// (`iso_currency_name`) are registered.
pub(crate) fn session(config: &Config, spill: &std::path::Path) -> Result<SessionContext> {
    use datafusion::execution::memory_pool::FairSpillPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    let pool = config.transform_memory_mb << 20;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(pool)))
        .with_temp_file_path(spill)
        .with_max_spill_merge_fan_in(SPILL_MERGE_FAN_IN)
        .build_arc()
        .map_err(internal)?;
    // Each sort reserves memory for merging its spill files (10 MiB by default), once per
    // partition: with many cores and a small pool the reservations alone would not fit, so they
    // are a share of the pool instead.
    let partitions = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let mut session = datafusion::prelude::SessionConfig::new().with_target_partitions(partitions);
    // And once per model running at the same time.
    let models = models_at_once(config.transform_memory_mb);
    session.options_mut().execution.sort_spill_reservation_bytes = pool / (4 * partitions * models);
    let ctx = SessionContext::new_with_config_rt(session, runtime);
    ctx.register_udf(iso_currency_name_udf());
    Ok(ctx)
}

/// `iso_currency_name(code)`: the ISO 4217 name of a currency code (NULL for an unknown code).
fn iso_currency_name_udf() -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        "iso_currency_name",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let codes = arrays[0].as_string::<i32>();
            let names: StringArray = codes
                .iter()
                .map(|c| {
                    c.and_then(rust_iso4217::from_code)
                        .map(|cur| cur.name.to_string())
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(names)))
        }),
    )
}

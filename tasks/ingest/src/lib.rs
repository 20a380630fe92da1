//! Stage 1 of tote: ToteSys source tables → the immutable landing zone.
//!
//! An execution starts with its plan ([`plan()`]), then one call of [`ingest`] ingests one table
//! incrementally (`ingest_once` is one attempt), and [`handle`] serves both as the ingest
//! function's events. Each step of an ingest is a module:
//!
//! 1. `plan`: the tables an execution names, checked against the allow-list ([`allowed_table`]),
//!    and the whole-table reads too large for one invocation split into key ranges
//!    ([`chunks::split`]);
//! 2. `window`: where the table's last committed batch left off: its cursor (high-water mark
//!    `(last_updated, primary key)` and the keys seen within the lookback window) and its schema;
//!    where this read starts, and the re-read versions it drops;
//! 3. `read`: in one `REPEATABLE READ, READ ONLY` snapshot, the table's columns from the catalog
//!    (refusing unsupported types and dropped or retyped columns, [`check_drift`]) and
//!    `COPY (SELECT … WHERE last_updated >= hwm - lookback) TO STDOUT (FORMAT binary)`, decoded
//!    straight into Arrow batches (`tote_pgcopy::decode`) and streamed to one Parquet or CSV object;
//! 4. [`reconcile`]: in the same snapshot, the table's keys against the key set the last batch
//!    recorded: the deletions, and the rows new to the table that the window could not see;
//! 5. `commit`: the manifest, then the log entry that makes the batch visible (a chunk records
//!    its part instead, [`chunks`]); an attempt that lost the race for the log, or read a
//!    `numeric` column at another scale than its values have, is attempted again.
//!
//! `range` is a chunk's key range, which the plan, the read and reconcile share; `tote_pgcopy::layout` the
//! source's columns and their Arrow schema.
//!
//! The lookback is measured in the source's own time, back from the high-water mark, never
//! against a wall clock: a transaction that commits late with an old `last_updated` is still
//! inside the next read's window, and the keys remembered from the window tell it from a re-read.
//! Versions can still appear in two batches (after a full refresh, say); downstream treats a
//! `(primary key, last_updated)` pair it has seen as a duplicate.
//!
//! A crash anywhere before the log entry leaves only invisible objects; a retry starts over from
//! the log and yields exactly one visible batch. Values never enter SQL text: the window's lower
//! bound reaches the COPY through a transaction-local setting passed as a bind parameter.

pub mod chunks;
mod commit;
mod plan;
mod range;
mod read;
pub mod reconcile;
mod window;

use std::collections::BTreeMap;

use tote_core::batch;
use tote_core::config::Config;
use tote_core::{Error, Result};
use tote_io::pg::{self, Role};
use tote_io::store::Store;
use tracing::Instrument;

use crate::commit::{Attempt, Retries};
use crate::range::KeyRange;
use crate::read::{DataObject, KeyColumns, Read};
use crate::window::Previous;

/// The ingest function's events and answers, as the stage contract declares them.
pub use tote_core::event::ingest::{
    IngestAnswer, IngestEvent, IngestRequest, IngestResponse, PlanRequest, PlanResponse,
};

/// The tables this stage accepts by default: the ToteSys allow-list shared by every stage.
pub use tote_core::tables::SOURCE_TABLES;

/// A requested table checked against the allow-list.
pub use crate::plan::allowed_table;

/// Rows per Arrow record batch while streaming, and the schema check of an incremental read.
pub use crate::read::{check_drift, BATCH_ROWS};

/// Handles one event of the ingest function: the plan ([`plan()`]), one table's ingest
/// ([`ingest`]; with a `chunk`, one range of a chunked read) or the commit of a chunked read
/// ([`chunks::commit`]). The Lambda binary and the local executor both call it, through
/// [`tote_core::event::respond`].
pub async fn handle(config: &Config, event: IngestEvent) -> Result<IngestAnswer> {
    use tote_core::event::StageEvent;
    let span = tracing::info_span!(
        "ingest",
        execution = event.execution().unwrap_or_default(),
        table = tracing::field::Empty
    );
    async move {
        Ok(match event {
            IngestEvent::Plan(request) => IngestAnswer::Plan(plan(config, &request).await?),
            IngestEvent::CommitChunks(request) => {
                tracing::Span::current().record("table", request.table.as_str());
                IngestAnswer::CommitChunks(chunks::commit(config, &request).await?)
            }
            IngestEvent::Ingest(request) => {
                tracing::Span::current().record("table", request.table.as_str());
                IngestAnswer::Ingest(ingest(config, &request).await?)
            }
        })
    }
    .instrument(span)
    .await
}

/// Validates an execution's request (every named table must be on the allow-list) and splits a
/// whole-table read of more than `TOTE_CHUNK_ROWS` rows into chunks ([`chunks::split`]).
pub async fn plan(config: &Config, request: &PlanRequest) -> Result<PlanResponse> {
    let tables = plan::tables(config, request)?;
    let full_refresh = request.full_refresh.unwrap_or(false);
    let (tables, mut chunked, chunks) = chunks::split(config, tables, full_refresh).await?;
    for c in &mut chunked {
        c.execution.clone_from(&request.execution);
    }
    Ok(PlanResponse {
        tables,
        chunks,
        chunked,
        full_refresh,
        facts: plan::facts(config),
    })
}

/// Ingests one table into the landing store, as configured: attempts it until one commits (or
/// finds nothing to commit), starting over after a lost commit race and reading again at the
/// scales a read found (the retries of `commit`).
pub async fn ingest(config: &Config, request: &IngestRequest) -> Result<IngestResponse> {
    let table = allowed_table(config, &request.table)?;
    let landing = Store::open(&config.landing, "TOTE_LANDING")?;
    let url = tote_io::secrets::source_url(config).await?;
    let mut retries = Retries::new(table);
    loop {
        let attempt = ingest_once(config, &landing, url.as_str(), table, request, retries.scales()).await?;
        if let Some(response) = retries.after(attempt)? {
            return Ok(response);
        }
    }
}

/// One attempt, reading unconstrained `numeric` columns at `scales` when given (else at the
/// scale a sample of the window shows).
///
/// The steps, as the README describes the stage: find where the last batch left off; open a
/// read-only snapshot and check the table's columns against it; read the versions in the window;
/// reconcile the table's keys (deletions, and rows new to the table that the window could not
/// see, which are read by key); then write the batch and commit it to the log.
async fn ingest_once(
    config: &Config,
    landing: &Store,
    url: &str,
    table: &str,
    request: &IngestRequest,
    scales: Option<&BTreeMap<String, i8>>,
) -> Result<Attempt> {
    let chunk = chunk_of(table, request)?;
    // A chunk is one range of a whole-table read.
    let whole = request.full_refresh || chunk.is_some();
    let previous = Previous::read(landing, table, whole).await?;
    let lookback = config.lookback_span();

    let mut client = pg::connect(url, Role::Source).await?;
    let err = |e: tokio_postgres::Error| pg::classify(&e, Role::Source, url);
    let tx = read::snapshot(&mut client).await.map_err(err)?;
    let (mut layout, clock) = read::table_layout(&tx, table, previous.manifest.as_ref(), whole, &err).await?;
    let keys = KeyColumns::of(table, &layout)?;
    // The mark the cursor is measured against: this snapshot's clock, or for a chunk the mark
    // the plan fixed for every chunk of the read.
    let mark = chunk.map_or(clock, |c| c.until);
    let since = window::read_from(table, previous.cursor.as_ref(), clock, lookback);
    let filter = read::filter(&tx, chunk, since, &keys.name, &err).await?;
    read::set_numeric_scales(&tx, table, &mut layout, chunk, scales, &filter, &err).await?;

    let batch_id = batch::new_batch_id();
    let data = DataObject::new(landing, table, &batch_id, &layout, config.landing_format);
    let mut read = Read::new(
        &tx,
        table,
        &layout,
        &keys,
        &err,
        data,
        previous.window(lookback, mark),
    );
    // A chunk reads every row of its range, for its keys, and writes those at or below its mark.
    let until = chunk.map(|c| c.until.and_utc().timestamp_micros());
    let (rows_read, read_keys) = read
        .versions(&filter, &previous.seen(), until, since.is_some())
        .await?;
    let reconciliation = reconcile::Reconcile {
        table,
        key: &keys.name,
        landing,
        batch_id: &batch_id,
        previous: previous.manifest.as_ref(),
        detected_at: reconcile::to_millis(clock),
        read: &read_keys,
        range: chunk.map(KeyRange::of),
    }
    .run(&tx, &err)
    .await?;
    read.unread(&reconciliation.unread).await?;
    if let Some(scales) = read.rescale(chunk.is_none()) {
        return commit::rescale(table, chunk, scales);
    }
    let (data, window) = read.finish();
    tx.commit().await.map_err(err)?;
    commit::boundary(chunk, ["ingest.after_keys", "chunk.after_keys"])?;

    commit::Batch {
        table,
        request,
        landing,
        batch_id,
        format: config.landing_format,
        schema: layout.column_specs(),
        full_refresh: whole,
        since,
        mark,
        rows_read,
        data,
        window,
        reconciliation,
    }
    .commit(&previous)
    .await
}

/// The chunk `request` reads, if it is one; a chunk of another table than the request names is
/// refused.
fn chunk_of<'r>(table: &str, request: &'r IngestRequest) -> Result<Option<&'r chunks::Chunk>> {
    let chunk = request.chunk.as_ref();
    if let Some(c) = chunk.filter(|c| c.table != table) {
        return Err(Error::bad_request(format!(
            "the chunk names table {} but the request names {table}",
            c.table
        )));
    }
    Ok(chunk)
}

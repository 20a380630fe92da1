//! Stage 1 of tote: ToteSys source tables → the immutable landing zone.
//!
//! One call of [`ingest`] ingests one table incrementally:
//!
//! 1. find the table's last committed batch in the landing log: its cursor (high-water mark
//!    `(last_updated, primary key)` and the keys seen within the lookback window) and its schema;
//! 2. in one `REPEATABLE READ, READ ONLY` snapshot, read the table's columns from the catalog
//!    (refusing unsupported types and dropped or retyped columns) and stream
//!    `COPY (SELECT … WHERE last_updated >= hwm - lookback) TO STDOUT (FORMAT binary)`;
//! 3. decode the stream straight into Arrow batches ([`decode`]), drop the re-read versions the
//!    previous batch already holds, and stream the rest to one Parquet or CSV object ([`sink`]);
//! 4. write the manifest, then commit the log entry that makes the batch visible.
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
pub mod decode;
mod range;
pub mod reconcile;
pub mod types;

use std::collections::{BTreeMap, HashSet};

use arrow::array::{BooleanArray, RecordBatch};
use chrono::{DateTime, NaiveDateTime};
use tote_core::batch::{self, ColumnSpec, CommitLog, Cursor, Manifest};
use tote_core::config::Config;
use tote_core::pg::{self, Role};
use tote_core::progress::{self, Unit};
use tote_core::store::Store;
use tote_core::tables::{primary_key, quote_ident};
use tote_core::{fault, Error, ErrorKind, Result};
use tracing::Instrument;

use crate::decode::{CopyDecoder, RowKey};
use crate::range::KeyRange;
use crate::types::{SourceColumn, TableLayout};

/// The ingest function's events and answers, as the stage contract declares them.
pub use tote_core::event::ingest::{
    IngestAnswer, IngestEvent, IngestRequest, IngestResponse, PlanRequest, PlanResponse,
};

/// The tables this stage accepts by default: the ToteSys allow-list shared by every stage.
pub use tote_core::tables::SOURCE_TABLES;

/// Rows per Arrow record batch while streaming.
pub const BATCH_ROWS: usize = 16 * 1024;
/// How many times a lost commit race is retried before giving up.
const COMMIT_ATTEMPTS: u32 = 3;

/// Handles one event of the ingest function: the plan ([`plan`]), one table's ingest
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
    let tables = match &request.tables {
        None => config.tables.clone(),
        Some(named) if named.is_empty() => config.tables.clone(),
        Some(named) => {
            for name in named {
                allowed_table(config, name)?;
            }
            // Keep the allow-list's (dependency) order, without duplicates.
            config
                .tables
                .iter()
                .filter(|t| named.contains(t))
                .cloned()
                .collect()
        }
    };
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
        facts: config
            .models
            .iter()
            .filter(|m| m.kind.is_fact())
            .map(|m| m.name.clone())
            .collect(),
    })
}

/// Ingests one table into the landing store, as configured.
pub async fn ingest(config: &Config, request: &IngestRequest) -> Result<IngestResponse> {
    let table = allowed_table(config, &request.table)?;
    let landing = Store::open(&config.landing, "TOTE_LANDING")?;
    let url = config.source_url().await?;
    let url = url.as_str();
    let started = std::time::Instant::now();
    // Attempts that lost the commit race, and reads done again at their values' scales.
    let (mut lost, mut rescaled) = (0, 0);
    let mut scales = None;
    loop {
        match ingest_once(config, &landing, url, table, request, scales.as_ref()).await? {
            Attempt::Rescale(found) if rescaled < COMMIT_ATTEMPTS => {
                tracing::info!(
                    table,
                    ?found,
                    "a numeric column's values have another scale than the sample showed; reading again at it"
                );
                rescaled += 1;
                scales = Some(found);
            }
            Attempt::Rescale(found) => {
                return Err(Error::new(
                    ErrorKind::SourceUnavailable,
                    format!(
                        "{table}: the scale of its numeric columns changed between {rescaled} reads ({found:?}); retry later"
                    ),
                ))
            }
            Attempt::Committed(response) => {
                tote_core::metrics::emit(
                    "ingest",
                    &[("Stage", "ingest"), ("Table", table)],
                    &[
                        ("Rows", response.rows as f64),
                        ("Bytes", response.bytes as f64),
                        ("Batches", u8::from(response.changed).into()),
                        ("Deletions", response.deleted as f64),
                        ("Duration", started.elapsed().as_millis() as f64),
                    ],
                );
                return Ok(response);
            }
            Attempt::LostRace if lost + 1 < COMMIT_ATTEMPTS => {
                lost += 1;
                tracing::warn!(
                    table,
                    attempt = lost,
                    "another ingest of this table committed first; starting over"
                );
            }
            Attempt::LostRace => {
                return Err(Error::new(
                    ErrorKind::SourceUnavailable,
                    format!(
                        "{table}: other ingests kept committing first ({} attempts); retry later",
                        lost + 1
                    ),
                ))
            }
        }
    }
}

/// Checks a requested table name against the allow-list; returns it as the allow-list spells it.
pub fn allowed_table<'a>(config: &'a Config, requested: &str) -> Result<&'a str> {
    if let Some(t) = config.tables.iter().find(|t| t.as_str() == requested) {
        return Ok(t);
    }
    let shown: String = requested
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    let why = if requested == "_prisma_migrations" {
        "it holds the application's migrations, not data".to_string()
    } else if SOURCE_TABLES.contains(&requested) {
        "it is not in TOTE_TABLES".to_string()
    } else {
        "it is not a ToteSys table".to_string()
    };
    Err(Error::bad_request(format!(
        "refusing to ingest table \"{shown}\": {why}; allowed: {}",
        config.tables.join(", ")
    )))
}

/// How one attempt of an ingest ended.
enum Attempt {
    /// It committed its batch (or found nothing to commit).
    Committed(IngestResponse),
    /// Another writer committed the same log position first.
    LostRace,
    /// A `numeric` column declared without a scale has values of another scale than the read
    /// assumed: read again at these (column → scale).
    Rescale(BTreeMap<String, i8>),
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
    let chunk = request.chunk.as_ref();
    if let Some(c) = chunk.filter(|c| c.table != table) {
        return Err(Error::bad_request(format!(
            "the chunk names table {} but the request names {table}",
            c.table
        )));
    }
    // A chunk is one range of a whole-table read. Its commit boundaries are fault points of
    // their own (`chunk.*`), so that a test can crash a chunk and not a whole-table ingest.
    let whole = request.full_refresh || chunk.is_some();
    let at =
        |[whole_table, of_chunk]: [&'static str; 2]| if chunk.is_some() { of_chunk } else { whole_table };
    let previous = Previous::read(landing, table, whole).await?;
    let lookback = config.lookback_span();

    let mut client = pg::connect(url, Role::Source).await?;
    let err = |e: tokio_postgres::Error| pg::classify(&e, Role::Source, url);
    let tx = snapshot(&mut client).await.map_err(err)?;
    let (mut layout, clock) = table_layout(&tx, table, &previous, whole, &err).await?;
    let keys = KeyColumns::of(table, &layout)?;
    // The mark the cursor is measured against: this snapshot's clock, or for a chunk the mark
    // the plan fixed for every chunk of the read.
    let mark = chunk.map_or(clock, |c| c.until);
    let since = read_from(table, previous.cursor.as_ref(), clock, lookback);
    let range = chunk.map(KeyRange::of);
    let window_filter = match chunk {
        None => {
            let filter = window_filter(&tx, since, &err).await?;
            match scales {
                Some(scales) => layout.set_numeric_scales(scales),
                None => sample_numeric_scales(&tx, table, &mut layout, &filter)
                    .await
                    .map_err(err)?,
            }
            filter
        }
        Some(c) => {
            // The scales the plan found over the whole table, the same for every chunk.
            layout.set_numeric_scales(&c.scales);
            chunk_filter(&tx, c, &keys.name, &err).await?
        }
    };

    let batch_id = batch::new_batch_id();
    let mut read = Read {
        tx: &tx,
        table,
        layout: &layout,
        keys: &keys,
        err: &err,
        progress: progress::task(&format!("ingest {table}"), Unit::Rows, None),
        data: DataObject {
            landing,
            key: batch::data_key(table, &batch_id, config.landing_format),
            schema: layout.schema.clone(),
            format: config.landing_format,
            sink: None,
            rows: 0,
        },
        window: Window::new(
            lookback.num_microseconds().unwrap_or(i64::MAX),
            previous.cursor.as_ref(),
            mark.and_utc().timestamp_micros(),
        ),
        scales: Vec::new(),
    };
    // What the read keeps of the keys it sees, for reconciling them: an incremental read its
    // window's, a read of the whole table or of a chunk's range every key. (A key column that
    // may hold NULL is not the key set's: the source's aggregate and key stream answer for it.)
    // A chunk reads every row of its range, for its keys, and writes those at or below its mark.
    let read_keys = match since {
        Some(_) => reconcile::ReadKeys::Window(HashSet::new()),
        None if !layout.columns[keys.pk].nullable => reconcile::ReadKeys::Table(Vec::new()),
        None => reconcile::ReadKeys::Unknown,
    };
    let until = chunk.map(|c| c.until.and_utc().timestamp_micros());
    let (rows_read, read_keys) = read
        .versions(&window_filter, previous.cursor.as_ref(), until, read_keys)
        .await?;
    let reconciliation = reconcile::Reconcile {
        table,
        key: &keys.name,
        landing,
        batch_id: &batch_id,
        previous: previous.manifest.as_ref(),
        detected_at: reconcile::to_millis(clock),
        read: &read_keys,
        range,
    }
    .run(&tx, &err)
    .await?;
    read.unread(&reconciliation.unread).await?;
    // A chunk reads at the scales the plan found over the whole table, the same for every
    // chunk: only a value with more places than those stops it. Any other read takes its
    // values' own largest scales.
    if let Some(scales) = read.rescale(chunk.is_none()) {
        if chunk.is_some() {
            return Err(Error::new(
                ErrorKind::SchemaDrift,
                format!(
                    "{table}: numeric values committed since the plan have more decimal places than it \
                     found ({scales:?}); start the full refresh again"
                ),
            ));
        }
        // Nothing of this attempt is committed: its objects stay invisible.
        return Ok(Attempt::Rescale(scales));
    }
    let Read { data, window, .. } = read;
    tx.commit().await.map_err(err)?;
    fault::point(at(["ingest.after_keys", "chunk.after_keys"]))?;

    let high_water = window.high_water();
    warn_if_ahead_of_the_clock(table, high_water, mark);
    let response = IngestResponse {
        table: table.to_string(),
        changed: false,
        batch_id: None,
        seq: None,
        rows: 0,
        rows_read,
        since,
        high_water: high_water.map(|(lu, _)| lu),
        keys: vec![],
        deleted: 0,
        bytes: 0,
    };
    if data.sink.is_none() && !reconciliation.changed && chunk.is_none() {
        tracing::info!(table, rows_read, "no new versions, no deletions");
        return Ok(Attempt::Committed(response));
    }
    let rows = data.rows;
    let objects = data.finish().await?.into_iter().collect();
    fault::point(at(["ingest.after_data", "chunk.after_data"]))?;

    let manifest = Manifest {
        batch_id: batch_id.clone(),
        stage: batch::Stage::Ingest,
        table: table.to_string(),
        execution: request.execution.clone(),
        written_at: chrono::Utc::now(),
        format: config.landing_format,
        rows,
        schema: layout.column_specs(),
        cursor: Some(Cursor {
            since,
            high_water,
            recent: window.recent(),
            source_clock: Some(mark),
        }),
        full_refresh: whole,
        objects,
        inputs: vec![],
        findings: vec![],
        keys: Some(reconciliation.keys),
        deletions: reconciliation.deletions,
    };
    batch::write_manifest(landing, &manifest).await?;
    fault::point(at(["ingest.after_manifest", "chunk.after_manifest"]))?;
    if let Some(c) = chunk {
        let part = chunks::record_part(landing, c, manifest).await?;
        tracing::info!(
            table,
            chunk = c.index,
            chunks = c.chunks,
            part = part.batch_id,
            rows = part.rows,
            "recorded chunk"
        );
        return Ok(Attempt::Committed(IngestResponse {
            changed: true,
            batch_id: Some(part.batch_id.clone()),
            rows: part.rows,
            keys: part.objects.iter().map(|o| o.key.clone()).collect(),
            deleted: part.deletions.as_ref().map_or(0, |d| d.rows),
            bytes: part.objects.iter().map(|o| o.bytes).sum(),
            ..response
        }));
    }
    if !previous.log.commit(previous.next_seq, &manifest).await? {
        return Ok(Attempt::LostRace);
    }
    fault::point("ingest.after_commit")?;
    tracing::info!(
        table,
        batch_id,
        seq = previous.next_seq,
        rows,
        rows_read,
        deleted = reconciliation.deleted,
        "committed landing batch"
    );
    Ok(Attempt::Committed(IngestResponse {
        changed: true,
        batch_id: Some(batch_id),
        seq: Some(previous.next_seq),
        rows,
        keys: manifest.objects.iter().map(|o| o.key.clone()).collect(),
        deleted: reconciliation.deleted,
        bytes: manifest.objects.iter().map(|o| o.bytes).sum(),
        ..response
    }))
}

/// A `REPEATABLE READ, READ ONLY` transaction on the source: one snapshot for everything a read
/// (or a plan) looks at.
pub(crate) async fn snapshot(
    client: &mut tokio_postgres::Client,
) -> std::result::Result<tokio_postgres::Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}

/// Where the table's last landing batch left off.
struct Previous {
    /// The table's commit log.
    log: CommitLog,
    /// The log position this ingest commits to.
    next_seq: u64,
    /// The last batch's manifest (its schema, key set and cursor).
    manifest: Option<Manifest>,
    /// The cursor an incremental read continues from (`None` for a first read or a full refresh).
    cursor: Option<Cursor>,
}

impl Previous {
    async fn read(landing: &Store, table: &str, full_refresh: bool) -> Result<Previous> {
        let log = CommitLog::new(landing.clone(), table);
        let last = log.last().await?;
        let manifest = match &last {
            Some(entry) => Some(log.manifest(entry).await?),
            None => None,
        };
        let cursor = match full_refresh {
            true => None,
            false => manifest.as_ref().and_then(|m| m.cursor.clone()),
        };
        Ok(Previous {
            next_seq: last.as_ref().map_or(1, |e| e.seq + 1),
            log,
            manifest,
            cursor,
        })
    }
}

/// The table's columns in the snapshot, checked against the previous batch's (an incremental read
/// refuses a changed schema), and the source's clock read in the same snapshot.
async fn table_layout(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    previous: &Previous,
    full_refresh: bool,
    err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
) -> Result<(TableLayout, NaiveDateTime)> {
    let columns = read_columns(tx, table).await.map_err(err)?;
    if columns.is_empty() {
        return Err(Error::bad_request(format!(
            "table {table} does not exist in the source's public schema"
        )));
    }
    // The source's clock, read after the snapshot was taken (by the query above).
    let clock: NaiveDateTime = tx
        .query_one("SELECT clock_timestamp()::timestamp(6)", &[])
        .await
        .map_err(err)?
        .get(0);
    let layout = TableLayout::new(table, columns)?;
    if let (false, Some(prev)) = (full_refresh, &previous.manifest) {
        check_drift(table, &prev.schema, &layout.column_specs())?;
    }
    Ok((layout, clock))
}

/// The cursor's columns: the primary key (by name and position) and `last_updated`.
struct KeyColumns {
    name: String,
    pk: usize,
    lu: usize,
}

impl KeyColumns {
    fn of(table: &str, layout: &TableLayout) -> Result<KeyColumns> {
        let name = primary_key(table);
        let missing = |column: &str| {
            Error::new(
                ErrorKind::SchemaDrift,
                format!("{table} has no {column} column any more"),
            )
        };
        Ok(KeyColumns {
            pk: layout.position(&name).ok_or_else(|| missing(&name))?,
            lu: layout
                .position("last_updated")
                .ok_or_else(|| missing("last_updated"))?,
            name,
        })
    }
}

/// The `WHERE` clause of a read from `since` (empty for a whole-table read). The bound travels
/// as a setting, never in the SQL text, and is read through a scalar subquery, so Postgres parses
/// it once (an InitPlan) rather than once per row of the scan.
async fn window_filter(
    tx: &tokio_postgres::Transaction<'_>,
    since: Option<NaiveDateTime>,
    err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
) -> Result<String> {
    let Some(since) = since else {
        return Ok(String::new());
    };
    tx.execute(
        "SELECT set_config('tote.since', $1, true)",
        &[&since.format("%Y-%m-%d %H:%M:%S%.6f").to_string()],
    )
    .await
    .map_err(err)?;
    Ok(" WHERE last_updated >= (SELECT current_setting('tote.since')::timestamp)".to_string())
}

/// The `WHERE` clause of a chunk's read: its key range, every row of it (the read writes those
/// at or below the chunk's mark, and keeps every key for the range's key set). The bounds travel
/// as settings.
async fn chunk_filter(
    tx: &tokio_postgres::Transaction<'_>,
    chunk: &chunks::Chunk,
    key: &str,
    err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
) -> Result<String> {
    let range = KeyRange::of(chunk);
    range.bind(tx).await.map_err(err)?;
    Ok(range.filter(key))
}

/// What a read keeps of each batch it streams: the rows to write, given the batch, its cursor
/// keys and the window (to observe them).
type Keep<'k> = dyn FnMut(RecordBatch, &[RowKey], &mut Window) -> Result<RecordBatch> + Send + 'k;

/// One ingest's reads from its snapshot into the batch's data object.
struct Read<'a, 'd, 't> {
    tx: &'a tokio_postgres::Transaction<'t>,
    table: &'a str,
    layout: &'a TableLayout,
    keys: &'a KeyColumns,
    err: &'a (dyn Fn(tokio_postgres::Error) -> Error + Sync),
    progress: progress::Task,
    data: DataObject<'d>,
    window: Window,
    /// What the reads saw of the unconstrained `numeric` columns' scales.
    scales: Vec<decode::ObservedScale>,
}

impl Read<'_, '_, '_> {
    /// Streams `COPY (SELECT <every column> FROM <table><rest>) TO STDOUT (FORMAT binary)` in
    /// record batches; `keep` sees each batch with its cursor keys (and the window, to observe
    /// them) and returns the rows to write to the data object. Returns the rows read.
    async fn copy(&mut self, rest: &str, keep: &mut Keep<'_>) -> Result<u64> {
        let select: Vec<String> = self.layout.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let sql = format!(
            "COPY (SELECT {} FROM public.{}{rest}) TO STDOUT (FORMAT binary)",
            select.join(", "),
            quote_ident(self.table)
        );
        let decoder = CopyDecoder::new(
            self.table,
            self.layout.clone(),
            self.keys.pk,
            self.keys.lu,
            BATCH_ROWS,
        );
        let stream = self.tx.copy_out(&sql).await.map_err(self.err)?;
        let mut decoding = decode::Decoding::spawn(decoder, stream);
        let mut rows_read = 0u64;
        while let Some(decode::Decoded { batch, keys, bytes }) = decoding.next().await {
            rows_read += keys.len() as u64;
            self.progress.advance(keys.len() as u64, bytes);
            let rows = keep(batch, &keys, &mut self.window)?;
            self.data.write(rows).await?;
        }
        let decoder = decoding
            .finish()
            .await
            .map_err(|stopped| stopped.into_error(self.err))?;
        decoder.finish()?;
        for seen in decoder.scales() {
            match self.scales.iter_mut().find(|s| s.column == seen.column) {
                Some(s) => s.largest = s.largest.max(seen.largest),
                None => self.scales.push(*seen),
            }
        }
        Ok(rows_read)
    }

    /// The scales to read the unconstrained `numeric` columns at again, every column's (its
    /// values' largest, or the scale it was read at when it had no value), or `None` when the
    /// reads stand: no value had more places than its column was read at (a placeholder) and,
    /// when `exact`, every column was read at its values' largest scale.
    fn rescale(&self, exact: bool) -> Option<BTreeMap<String, i8>> {
        let largest = |seen: &decode::ObservedScale| seen.largest.map(|l| l.clamp(0, 38) as i8);
        let over = |seen: &decode::ObservedScale| largest(seen).is_some_and(|l| l > seen.scale);
        let differs = |seen: &decode::ObservedScale| largest(seen).is_some_and(|l| l != seen.scale);
        let again = self
            .scales
            .iter()
            .any(|seen| over(seen) || (exact && differs(seen)));
        again.then(|| {
            self.scales
                .iter()
                .map(|seen| {
                    let name = self.layout.columns[seen.column].name.clone();
                    (name, largest(seen).unwrap_or(seen.scale))
                })
                .collect()
        })
    }

    /// Reads the window's versions, writing those the previous read did not see and, given
    /// `until` (µs, a chunk's mark), only those dated at or below it. Returns the rows read and
    /// the keys it read, every row's, kept as `keys` asks: an incremental read's (to tell a key
    /// new to the table that the window could not see), or a whole-table or chunk read's, sorted,
    /// up to [`reconcile::TABLE_KEYS_IN_MEMORY`] (beyond it, [`reconcile::ReadKeys::Unknown`]).
    async fn versions(
        &mut self,
        window_filter: &str,
        previous: Option<&Cursor>,
        until: Option<i64>,
        mut keys: reconcile::ReadKeys,
    ) -> Result<(u64, reconcile::ReadKeys)> {
        use reconcile::ReadKeys;
        let seen: HashSet<RowKey> = previous
            .map(|c| {
                c.recent
                    .iter()
                    .map(|(pk, lu)| (*pk, lu.and_utc().timestamp_micros()))
                    .collect()
            })
            .unwrap_or_default();
        let rows_read = self
            .copy(window_filter, &mut |batch, read, window| {
                match &mut keys {
                    ReadKeys::Window(set) => set.extend(read.iter().map(|k| k.0)),
                    ReadKeys::Table(all) if all.len() + read.len() > reconcile::TABLE_KEYS_IN_MEMORY => {
                        keys = ReadKeys::Unknown;
                    }
                    ReadKeys::Table(all) => all.extend(read.iter().map(|k| k.0)),
                    ReadKeys::Unknown => {}
                }
                let (batch, read) = match until {
                    Some(until) => at_or_below(batch, read, until)?,
                    None => (batch, std::borrow::Cow::Borrowed(read)),
                };
                let fresh = keep_unseen(batch, &read, &seen)?;
                for k in read.iter() {
                    window.observe(*k);
                }
                Ok(fresh)
            })
            .await?;
        if let ReadKeys::Table(all) = &mut keys {
            // A table read in its heap's order: ascending already unless rows moved.
            all.sort_unstable();
        }
        Ok((rows_read, keys))
    }

    /// Reads by key the rows new to the table that the window could not see: a late commit older
    /// than the lookback, or an id deleted and inserted again with an old `last_updated`. The keys
    /// travel as a setting, never in the SQL text.
    async fn unread(&mut self, unread: &[i64]) -> Result<()> {
        if unread.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            table = self.table,
            rows = unread.len(),
            "rows new to the table are dated below the read window (a transaction that committed later \
             than TOTE_LOOKBACK allows, or an id re-inserted with an old last_updated); reading them by key"
        );
        let list = format!(
            "{{{}}}",
            unread.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        );
        self.tx
            .execute("SELECT set_config('tote.unread', $1, true)", &[&list])
            .await
            .map_err(self.err)?;
        let by_key = format!(
            " WHERE {}::int8 = ANY (current_setting('tote.unread')::int8[])",
            quote_ident(&self.keys.name)
        );
        self.copy(&by_key, &mut |batch, keys, window| {
            for k in keys {
                window.observe(*k);
            }
            Ok(batch)
        })
        .await?;
        Ok(())
    }
}

/// Rows dated after the source's own clock are read again from the clock, so nothing is missed;
/// but a time-zone mismatch makes every read re-read that much, which the operator should fix.
fn warn_if_ahead_of_the_clock(table: &str, high_water: Option<(NaiveDateTime, i64)>, clock: NaiveDateTime) {
    if let Some((lu, _)) = high_water.filter(|(lu, _)| *lu > clock + chrono::Duration::minutes(1)) {
        tracing::warn!(
            table,
            ahead_seconds = (lu - clock).num_seconds(),
            "{table} has rows dated after the source's own clock; tote reads again from the clock, so nothing \
             is missed, but if the application writes UTC while tote's session uses another time zone, \
             every read re-reads that much: set TimeZone = 'UTC' for tote's user (ALTER ROLE … SET TimeZone)"
        );
    }
}

/// The batch's data object, created with its first row.
struct DataObject<'a> {
    landing: &'a Store,
    key: String,
    schema: arrow::datatypes::SchemaRef,
    format: tote_core::batch::DataFormat,
    sink: Option<tote_core::sink::BackgroundSink>,
    /// Rows written.
    rows: u64,
}

impl DataObject<'_> {
    async fn write(&mut self, rows: RecordBatch) -> Result<()> {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        self.rows += rows.num_rows() as u64;
        if self.sink.is_none() {
            self.sink = Some(tote_core::sink::BackgroundSink::spawn(
                tote_core::sink::ObjectSink::create(
                    self.landing,
                    &self.key,
                    self.schema.clone(),
                    self.format,
                )?,
            ));
        }
        self.sink.as_mut().expect("sink created").write(rows).await
    }

    async fn finish(self) -> Result<Option<tote_core::batch::ObjectEntry>> {
        match self.sink {
            Some(sink) => Ok(Some(sink.finish().await?)),
            None => Ok(None),
        }
    }
}

/// Where an incremental read starts: `lookback` below the earlier of the previous read's
/// high-water mark and the source's clock at that read (a row dated in the future by a clock
/// that ran ahead must not lift the start past rows written once it was set right). `None`, the
/// whole table, for a first read, a full refresh, or when the source's clock now reads earlier
/// than at the previous read: it jumped back (a correction, a daylight-saving change in a
/// non-UTC zone), so rows written since may be dated anywhere below the mark. Versions re-read
/// that way are harmless downstream (the transform and the load skip versions they have).
fn read_from(
    table: &str,
    previous: Option<&Cursor>,
    clock: NaiveDateTime,
    lookback: chrono::Duration,
) -> Option<NaiveDateTime> {
    let previous = previous?;
    let (high, _) = previous.high_water?;
    match previous.source_clock {
        Some(then) if clock < then => {
            tracing::warn!(
                table,
                %then,
                now = %clock,
                "the source's clock reads earlier than at the last read (it jumped back); \
                 re-reading the whole table so that no row dated before the jump is missed"
            );
            None
        }
        Some(then) => Some(high.min(then) - lookback),
        None => Some(high - lookback),
    }
}

/// Rows of the read window whose `numeric` scales [`sample_numeric_scales`] looks at.
const SCALE_SAMPLE_ROWS: u32 = 1000;

/// Sets the scale of each `numeric` column declared without one to the largest scale its values
/// have in a sample of the read window (`max(scale(c))` over its first rows, in the same
/// snapshot), so that `235599.18` lands as `235599.18` and not `235599.1800000000`. Postgres keeps
/// a scale per value; Arrow has one per column, so the column takes the largest scale of all its
/// values in the read: the read notes every value's scale, and reads again at that scale when
/// the sample was wrong ([`Attempt::Rescale`]), so a column's scale costs no scan of its own.
/// With no value in the sample the column keeps the default scale.
async fn sample_numeric_scales(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    layout: &mut TableLayout,
    window_filter: &str,
) -> std::result::Result<(), tokio_postgres::Error> {
    let columns = layout.unconstrained_numerics();
    if columns.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = columns
        .iter()
        .map(|&i| quote_ident(&layout.columns[i].name))
        .collect();
    let scales: Vec<String> = names.iter().map(|c| format!("max(scale({c}))::int4")).collect();
    let row = tx
        .query_one(
            &format!(
                "SELECT {} FROM (SELECT {} FROM public.{}{window_filter} LIMIT {SCALE_SAMPLE_ROWS}) sample",
                scales.join(", "),
                names.join(", "),
                quote_ident(table)
            ),
            &[],
        )
        .await?;
    for (n, &i) in columns.iter().enumerate() {
        if let Some(scale) = row.get::<_, Option<i32>>(n) {
            layout.set_numeric_scale(i, scale.clamp(0, 38) as i8);
        }
    }
    Ok(())
}

/// The table's columns, in physical order, from the catalog (in the caller's snapshot).
async fn read_columns(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
) -> std::result::Result<Vec<SourceColumn>, tokio_postgres::Error> {
    let rows = tx
        .query(
            "SELECT a.attname::text, a.atttypid::oid, a.atttypmod, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass(format('public.%I', $1::text)) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SourceColumn {
            name: r.get(0),
            oid: r.get(1),
            typmod: r.get(2),
            type_name: r.get(3),
            nullable: r.get(4),
        })
        .collect())
}

/// Refuses dropped or retyped columns; accepts added ones.
pub fn check_drift(table: &str, before: &[ColumnSpec], now: &[ColumnSpec]) -> Result<()> {
    let mut changes = Vec::new();
    for old in before {
        match now.iter().find(|c| c.name == old.name) {
            None => changes.push(format!("column {} ({}) was dropped", old.name, old.source_type)),
            Some(new) if new.source_type != old.source_type => changes.push(format!(
                "column {} changed type from {} to {}",
                old.name, old.source_type, new.source_type
            )),
            Some(_) => {}
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::SchemaDrift,
        format!(
            "{table}: {}; nothing was ingested. To accept the new schema, run a full refresh of {table} \
             (`tote ingest --table {table} --full-refresh`, or execution input \
             {{\"tables\": [\"{table}\"], \"full_refresh\": true}})",
            changes.join("; ")
        ),
    ))
}

/// The rows of `batch` dated at or below `until` (µs), with their cursor keys.
fn at_or_below(
    batch: RecordBatch,
    keys: &[RowKey],
    until: i64,
) -> Result<(RecordBatch, std::borrow::Cow<'_, [RowKey]>)> {
    if keys.iter().all(|k| k.1 <= until) {
        return Ok((batch, std::borrow::Cow::Borrowed(keys)));
    }
    let mask: BooleanArray = keys.iter().map(|k| Some(k.1 <= until)).collect();
    let rows = arrow::compute::filter_record_batch(&batch, &mask)
        .map_err(|e| Error::internal(format!("cannot filter rows: {e}")).with_source(e))?;
    let kept = keys.iter().copied().filter(|k| k.1 <= until).collect();
    Ok((rows, std::borrow::Cow::Owned(kept)))
}

/// Drops the rows whose `(primary key, last_updated)` the previous batch already holds.
fn keep_unseen(batch: RecordBatch, keys: &[RowKey], seen: &HashSet<RowKey>) -> Result<RecordBatch> {
    if seen.is_empty() || !keys.iter().any(|k| seen.contains(k)) {
        return Ok(batch);
    }
    let mask: BooleanArray = keys.iter().map(|k| Some(!seen.contains(k))).collect();
    arrow::compute::filter_record_batch(&batch, &mask)
        .map_err(|e| Error::internal(format!("cannot filter rows: {e}")).with_source(e))
}

/// Tracks the high-water mark and the keys within the lookback window below it, in bounded
/// memory: keys that fall out of the window as the mark rises are pruned.
struct Window {
    lookback_us: i64,
    clock: i64,
    high: Option<RowKey>,
    recent: Vec<RowKey>,
}

impl Window {
    /// `clock`: the source's clock at this read (µs); the window ends at the earlier of it and
    /// the high-water mark, as the next read's start does ([`read_from`]).
    fn new(lookback_us: i64, previous: Option<&Cursor>, clock: i64) -> Window {
        let mut w = Window {
            lookback_us,
            clock,
            high: None,
            recent: Vec::new(),
        };
        if let Some(c) = previous {
            w.high = c.high_water.map(|(lu, pk)| (pk, lu.and_utc().timestamp_micros()));
            for (pk, lu) in &c.recent {
                w.recent.push((*pk, lu.and_utc().timestamp_micros()));
            }
        }
        w
    }

    fn observe(&mut self, key: RowKey) {
        let (pk, lu) = key;
        if self.high.is_none_or(|(hpk, hlu)| (lu, pk) > (hlu, hpk)) {
            self.high = Some(key);
        }
        self.recent.push(key);
        if self.recent.len() > 4096 && self.recent.len().is_power_of_two() {
            self.prune();
        }
    }

    fn prune(&mut self) {
        if let Some((_, hlu)) = self.high {
            let floor = hlu.min(self.clock).saturating_sub(self.lookback_us);
            self.recent.retain(|(_, lu)| *lu >= floor);
        }
        self.recent.sort_unstable();
        self.recent.dedup();
    }

    fn high_water(&self) -> Option<(NaiveDateTime, i64)> {
        self.high.map(|(pk, lu)| (micros_to_naive(lu), pk))
    }

    fn recent(mut self) -> Vec<(i64, NaiveDateTime)> {
        self.prune();
        self.recent
            .into_iter()
            .map(|(pk, lu)| (pk, micros_to_naive(lu)))
            .collect()
    }
}

fn micros_to_naive(us: i64) -> NaiveDateTime {
    DateTime::from_timestamp_micros(us)
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array};

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn cursor(high: &str, clock: Option<&str>) -> Cursor {
        Cursor {
            since: None,
            high_water: Some((at(high), 7)),
            recent: vec![],
            source_clock: clock.map(at),
        }
    }

    #[test]
    fn a_read_starts_the_lookback_below_the_earlier_of_the_mark_and_the_clock() {
        let lookback = chrono::Duration::minutes(10);
        let now = at("2026-12-02 12:00:00");
        assert_eq!(
            read_from("t", None, now, lookback),
            None,
            "a first read reads everything"
        );
        let previous = cursor("2026-12-02 11:00:00", Some("2026-12-02 11:30:00"));
        assert_eq!(
            read_from("t", Some(&previous), now, lookback),
            Some(at("2026-12-02 10:50:00"))
        );
        // A row dated ahead of the clock does not lift the start past the clock.
        let ahead = cursor("2026-12-02 13:00:00", Some("2026-12-02 11:30:00"));
        assert_eq!(
            read_from("t", Some(&ahead), now, lookback),
            Some(at("2026-12-02 11:20:00"))
        );
        // The clock jumped back since the last read: the whole table again.
        let later = cursor("2026-12-02 11:00:00", Some("2026-12-02 12:30:00"));
        assert_eq!(read_from("t", Some(&later), now, lookback), None);
        // A cursor from before the clock was recorded.
        let old = cursor("2026-12-02 11:00:00", None);
        assert_eq!(
            read_from("t", Some(&old), now, lookback),
            Some(at("2026-12-02 10:50:00"))
        );
    }

    fn spec(name: &str, source_type: &str) -> ColumnSpec {
        ColumnSpec {
            name: name.into(),
            source_type: source_type.into(),
            arrow_type: "Utf8".into(),
            nullable: true,
        }
    }

    #[test]
    fn a_dropped_or_retyped_column_is_drift_and_an_added_one_is_not() {
        let before = [spec("id", "integer"), spec("name", "character varying")];
        let added = [
            spec("id", "integer"),
            spec("name", "character varying"),
            spec("note", "text"),
        ];
        check_drift("design", &before, &added).unwrap();
        let changed = [spec("id", "bigint")];
        let err = check_drift("design", &before, &changed).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SchemaDrift);
        let message = err.to_string();
        assert!(
            message.contains("column id changed type from integer to bigint"),
            "{message}"
        );
        assert!(
            message.contains("column name (character varying) was dropped"),
            "{message}"
        );
        assert!(
            message.contains("--full-refresh"),
            "says how to accept it: {message}"
        );
    }

    #[test]
    fn the_window_keeps_the_high_water_mark_and_only_the_versions_the_next_read_sees_again() {
        let us = |text: &str| at(text).and_utc().timestamp_micros();
        let lookback = chrono::Duration::minutes(10).num_microseconds().unwrap();
        let mut window = Window::new(lookback, None, us("2026-12-02 12:00:00"));
        window.observe((1, us("2026-12-02 11:00:00")));
        window.observe((2, us("2026-12-02 11:55:00")));
        window.observe((3, us("2026-12-02 11:55:00")));
        window.observe((2, us("2026-12-02 11:55:00")));
        assert_eq!(window.high_water(), Some((at("2026-12-02 11:55:00"), 3)));
        // Versions at or above (mark - lookback) are remembered once; older ones are not.
        assert_eq!(
            window.recent(),
            vec![(2, at("2026-12-02 11:55:00")), (3, at("2026-12-02 11:55:00"))]
        );
    }

    #[test]
    fn versions_the_previous_read_saw_are_not_written_again() {
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "id",
            arrow::datatypes::DataType::Int64,
            false,
        )]));
        let ids = Int64Array::from(vec![1, 2, 3]);
        let batch = RecordBatch::try_new(schema, vec![std::sync::Arc::new(ids)]).unwrap();
        let keys = [(1, 10), (2, 20), (3, 30)];
        let seen: HashSet<RowKey> = [(2, 20), (3, 31)].into();
        let kept = keep_unseen(batch.clone(), &keys, &seen).unwrap();
        let column = kept.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(column.values(), &[1, 3], "only (2, 20) was seen");
        assert_eq!(keep_unseen(batch, &keys, &HashSet::new()).unwrap().num_rows(), 3);
    }
}

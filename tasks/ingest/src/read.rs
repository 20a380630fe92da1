//! The read: one `REPEATABLE READ, READ ONLY` snapshot of the source ([`snapshot`]), the table's
//! columns from its catalog, checked against the last batch's schema ([`check_drift`]: an added
//! column is accepted, a dropped or retyped one refused), and the versions in the read's window
//! streamed by `COPY (SELECT …) TO STDOUT (FORMAT binary)`, decoded on a task of their own
//! ([`tote_pgcopy::decode`]) and written to the batch's data object ([`DataObject`]) as they arrive.
//!
//! What the read writes is what the window leaves ([`crate::window`]): not the versions the last
//! batch holds, and for a chunk only those at or below the plan's mark. What it keeps of the
//! keys it sees is what reconciling them needs ([`ReadKeys`]). An unconstrained `numeric` column
//! is read at the scale a sample shows, or at the scales a read before found; the read notes
//! every value's scale and tells when it must be read again ([`Read::rescale`]).

use std::collections::{BTreeMap, HashSet};

use arrow::array::RecordBatch;
use chrono::NaiveDateTime;
use tote_core::batch::{ColumnSpec, DataFormat, Manifest, ObjectEntry};
use tote_core::event::ingest::Chunk;
use tote_core::progress::{self, Unit};
use tote_core::tables::{primary_key, quote_ident};
use tote_core::{Error, ErrorKind, Result};
use tote_io::sink::{BackgroundSink, ObjectSink};
use tote_io::store::Store;

use crate::range::KeyRange;
use crate::reconcile::{ReadKeys, TABLE_KEYS_IN_MEMORY};
use crate::window::{self, Window};
use tote_pgcopy::decode::{self, CopyDecoder, RowKey};
use tote_pgcopy::layout::{SourceColumn, TableLayout};

/// Rows per Arrow record batch while streaming.
pub const BATCH_ROWS: usize = 16 * 1024;

/// How a failed query on the source becomes the stage's error (the source's role and URL
/// classify it: unavailable and retryable, or not).
pub(crate) type SourceError<'a> = dyn Fn(tokio_postgres::Error) -> Error + Sync + 'a;

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

/// The table's columns, in physical order, from the catalog (in the caller's snapshot).
pub(crate) async fn read_columns(
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

/// The table's columns in the snapshot, checked against the previous batch's (an incremental read
/// refuses a changed schema), and the source's clock read in the same snapshot.
pub(crate) async fn table_layout(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    previous: Option<&Manifest>,
    full_refresh: bool,
    err: &SourceError<'_>,
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
    if let (false, Some(prev)) = (full_refresh, previous) {
        check_drift(table, &prev.schema, &layout.column_specs())?;
    }
    Ok((layout, clock))
}

/// The cursor's columns: the primary key (by name and position) and `last_updated`.
pub(crate) struct KeyColumns {
    /// The primary key's name.
    pub(crate) name: String,
    /// The primary key's position.
    pub(crate) pk: usize,
    /// `last_updated`'s position.
    pub(crate) lu: usize,
}

impl KeyColumns {
    /// The cursor's columns of `table`; a table without them has drifted.
    pub(crate) fn of(table: &str, layout: &TableLayout) -> Result<KeyColumns> {
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

/// The `WHERE` clause of this read: a chunk's key range, else the window from `since`.
pub(crate) async fn filter(
    tx: &tokio_postgres::Transaction<'_>,
    chunk: Option<&Chunk>,
    since: Option<NaiveDateTime>,
    key: &str,
    err: &SourceError<'_>,
) -> Result<String> {
    match chunk {
        None => window_filter(tx, since, err).await,
        Some(c) => chunk_filter(tx, c, key, err).await,
    }
}

/// The `WHERE` clause of a read from `since` (empty for a whole-table read). The bound travels
/// as a setting, never in the SQL text, and is read through a scalar subquery, so Postgres parses
/// it once (an InitPlan) rather than once per row of the scan.
async fn window_filter(
    tx: &tokio_postgres::Transaction<'_>,
    since: Option<NaiveDateTime>,
    err: &SourceError<'_>,
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
    chunk: &Chunk,
    key: &str,
    err: &SourceError<'_>,
) -> Result<String> {
    let range = KeyRange::of(chunk);
    range.bind(tx).await.map_err(err)?;
    Ok(range.filter(key))
}

/// Sets the scale of each unconstrained `numeric` column: for a chunk, the scales the plan found
/// over the whole table (the same for every chunk); for a read done again, the `scales` the read
/// before found; otherwise the scales a sample of the read's window shows
/// ([`sample_numeric_scales`]).
pub(crate) async fn set_numeric_scales(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    layout: &mut TableLayout,
    chunk: Option<&Chunk>,
    scales: Option<&BTreeMap<String, i8>>,
    filter: &str,
    err: &SourceError<'_>,
) -> Result<()> {
    match (chunk, scales) {
        (Some(c), _) => layout.set_numeric_scales(&c.scales),
        (None, Some(scales)) => layout.set_numeric_scales(scales),
        (None, None) => sample_numeric_scales(tx, table, layout, filter)
            .await
            .map_err(err)?,
    }
    Ok(())
}

/// Rows of the read window whose `numeric` scales [`sample_numeric_scales`] looks at.
const SCALE_SAMPLE_ROWS: u32 = 1000;

/// Sets the scale of each `numeric` column declared without one to the largest scale its values
/// have in a sample of the read window (`max(scale(c))` over its first rows, in the same
/// snapshot), so that `235599.18` lands as `235599.18` and not `235599.1800000000`. Postgres keeps
/// a scale per value; Arrow has one per column, so the column takes the largest scale of all its
/// values in the read: the read notes every value's scale, and reads again at that scale when
/// the sample was wrong ([`Read::rescale`]), so a column's scale costs no scan of its own.
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

/// What a read keeps of each batch it streams: the rows to write, given the batch, its cursor
/// keys and the window (to observe them).
type Keep<'k> = dyn FnMut(RecordBatch, &[RowKey], &mut Window) -> Result<RecordBatch> + Send + 'k;

/// One ingest's reads from its snapshot into the batch's data object.
pub(crate) struct Read<'a, 'd, 't> {
    tx: &'a tokio_postgres::Transaction<'t>,
    table: &'a str,
    layout: &'a TableLayout,
    keys: &'a KeyColumns,
    err: &'a SourceError<'a>,
    progress: progress::Task,
    data: DataObject<'d>,
    window: Window,
    /// What the reads saw of the unconstrained `numeric` columns' scales.
    scales: Vec<decode::ObservedScale>,
}

impl<'a, 'd, 't> Read<'a, 'd, 't> {
    /// The reads of `table` (its columns as `layout` has them) in the snapshot of `tx`, into
    /// `data`, observed by `window`.
    pub(crate) fn new(
        tx: &'a tokio_postgres::Transaction<'t>,
        table: &'a str,
        layout: &'a TableLayout,
        keys: &'a KeyColumns,
        err: &'a SourceError<'a>,
        data: DataObject<'d>,
        window: Window,
    ) -> Self {
        Read {
            tx,
            table,
            layout,
            keys,
            err,
            progress: progress::task(&format!("ingest {table}"), Unit::Rows, None),
            data,
            window,
            scales: Vec::new(),
        }
    }

    /// The data object written and the window observed.
    pub(crate) fn finish(self) -> (DataObject<'d>, Window) {
        (self.data, self.window)
    }

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
    pub(crate) fn rescale(&self, exact: bool) -> Option<BTreeMap<String, i8>> {
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

    /// What the read keeps of the keys it sees, for reconciling them: an incremental read its
    /// window's, a read of the whole table or of a chunk's range every key. (A key column that
    /// may hold NULL is not the key set's: the source's aggregate and key stream answer for it.)
    fn keys_to_keep(&self, incremental: bool) -> ReadKeys {
        match incremental {
            true => ReadKeys::Window(HashSet::new()),
            false if !self.layout.columns[self.keys.pk].nullable => ReadKeys::Table(Vec::new()),
            false => ReadKeys::Unknown,
        }
    }

    /// Reads the window's versions, writing those the previous read did not see (`seen`) and,
    /// given `until` (µs, a chunk's mark), only those dated at or below it: a chunk reads every
    /// row of its range, for its keys. Returns the rows read and the keys it read, every row's,
    /// kept as the read asks ([`Read::keys_to_keep`]): an `incremental` read's (to tell a key new
    /// to the table that the window could not see), or a whole-table or chunk read's, sorted, up
    /// to [`TABLE_KEYS_IN_MEMORY`] (beyond it, [`ReadKeys::Unknown`]).
    pub(crate) async fn versions(
        &mut self,
        window_filter: &str,
        seen: &HashSet<RowKey>,
        until: Option<i64>,
        incremental: bool,
    ) -> Result<(u64, ReadKeys)> {
        let mut keys = self.keys_to_keep(incremental);
        let rows_read = self
            .copy(window_filter, &mut |batch, read, window| {
                match &mut keys {
                    ReadKeys::Window(set) => set.extend(read.iter().map(|k| k.0)),
                    ReadKeys::Table(all) if all.len() + read.len() > TABLE_KEYS_IN_MEMORY => {
                        keys = ReadKeys::Unknown;
                    }
                    ReadKeys::Table(all) => all.extend(read.iter().map(|k| k.0)),
                    ReadKeys::Unknown => {}
                }
                let (batch, read) = match until {
                    Some(until) => window::at_or_below(batch, read, until)?,
                    None => (batch, std::borrow::Cow::Borrowed(read)),
                };
                let fresh = window::keep_unseen(batch, &read, seen)?;
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
    pub(crate) async fn unread(&mut self, unread: &[i64]) -> Result<()> {
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

/// The batch's data object, created with its first row.
pub(crate) struct DataObject<'a> {
    landing: &'a Store,
    key: String,
    schema: arrow::datatypes::SchemaRef,
    format: DataFormat,
    sink: Option<BackgroundSink>,
    /// Rows written.
    rows: u64,
}

impl<'a> DataObject<'a> {
    /// The data object of batch `batch_id` of `table` in `landing`, of the table's columns as
    /// `layout` has them, in `format`; nothing is created before its first row.
    pub(crate) fn new(
        landing: &'a Store,
        table: &str,
        batch_id: &str,
        layout: &TableLayout,
        format: DataFormat,
    ) -> Self {
        DataObject {
            landing,
            key: tote_core::layout::data_key(table, batch_id, format),
            schema: layout.schema.clone(),
            format,
            sink: None,
            rows: 0,
        }
    }

    /// Whether a row was written (the object exists).
    pub(crate) fn written(&self) -> bool {
        self.sink.is_some()
    }

    /// Rows written.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes `rows`, creating the object with the first.
    async fn write(&mut self, rows: RecordBatch) -> Result<()> {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        self.rows += rows.num_rows() as u64;
        if self.sink.is_none() {
            self.sink = Some(BackgroundSink::spawn(ObjectSink::create(
                self.landing,
                &self.key,
                self.schema.clone(),
                self.format,
            )?));
        }
        self.sink.as_mut().expect("sink created").write(rows).await
    }

    /// Completes the object: its entry for the manifest, or `None` when no row was written.
    pub(crate) async fn finish(self) -> Result<Option<ObjectEntry>> {
        match self.sink {
            Some(sink) => Ok(Some(sink.finish().await?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! Deletions: the source's primary keys reconciled with the keys the landing zone last saw.
//!
//! A `last_updated` cursor cannot see a deleted row, and the source is read-only to tote (no
//! triggers, no replication slot), so each ingest compares, inside its own snapshot, the set of
//! keys the table holds now with the set the table's last batch recorded ([`KeySet`]):
//!
//! 1. one aggregate, the source's [`KeyFingerprint`] of the table's keys; when it equals the
//!    recorded one, the set is unchanged and nothing more is read (a quiet table costs one scan
//!    of its primary-key index, no key leaves the database);
//! 2. otherwise the keys are streamed in order (`COPY (SELECT key ORDER BY key)`, binary) and
//!    merged with the recorded set, which is streamed from its Parquet object in the same order:
//!    a key recorded but no longer in the source is a deletion. The merge holds one record batch
//!    of each side, never a whole key set, whatever the table's size;
//!
//!    a read of the whole table or of a chunk's key range ([`ReadKeys::Table`]) has already seen
//!    every key in the same snapshot, so neither the aggregate nor the key stream is asked of
//!    the source: the keys the read kept (at most [`TABLE_KEYS_IN_MEMORY`], sorted) are
//!    fingerprinted ([`KeyFingerprint::of`]) and merged instead;
//! 3. the source's keys become the new key set, written beside the batch's data, and the
//!    deletions a second object; both are committed with the batch, or not at all.
//!
//! A key that was deleted and later comes back is simply in the source again: its row is a new
//! version, and the key rejoins the set. A key new to the set that an incremental read window did
//! not read (its row is dated below the window: a late commit beyond the lookback, or an id
//! re-inserted with an old `last_updated`) is returned as `unread`, for ingest to read by key.

use std::sync::Arc;

use arrow::array::{AsArray, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use chrono::NaiveDateTime;
use tote_core::batch::DataFormat;
use tote_core::batch::{self, KeyFingerprint, KeySet, Manifest, ObjectEntry};
use tote_core::progress::{self, Unit};
use tote_core::tables::quote_ident;
use tote_core::{Error, Result};
use tote_io::sink::ObjectSink;
use tote_io::store::Store;

use crate::range::KeyRange;
use tote_pgcopy::decode::{CopyDecoder, Decoding};
use tote_pgcopy::layout::{SourceColumn, TableLayout};

/// The column of a key-set object.
pub const KEY: &str = "key";

/// Keys per record batch while streaming them.
const KEY_BATCH_ROWS: usize = 64 * 1024;

/// The most keys a read of the whole table or of a chunk's range keeps for reconciling (64 MiB):
/// beyond it the read drops them and the keys are streamed from the source again, so memory stays
/// bounded whatever the table's size. Whole-table reads larger than `TOTE_CHUNK_ROWS` (5 M by
/// default) are read in chunks of about that many rows, which stay under it; with the defaults
/// only an unchunked read of over 8 M rows streams its keys again.
pub const TABLE_KEYS_IN_MEMORY: usize = 8 << 20;

/// What the ingest's read of the table's versions saw of its keys, as far as reconciling them
/// needs to know.
#[derive(Debug)]
pub enum ReadKeys {
    /// A read of every row of the table, or of a chunk's key range, in this snapshot: every key
    /// it has, ascending.
    Table(Vec<i64>),
    /// An incremental read: the keys its window read. A key new to the table that is not among
    /// them is dated below the window, and is returned as `unread`.
    Window(std::collections::HashSet<i64>),
    /// A read of more keys than [`TABLE_KEYS_IN_MEMORY`], or of a key column that may hold
    /// NULL: the keys are read from the source.
    Unknown,
}

/// What reconciling one table found.
#[derive(Debug)]
pub struct Reconciliation {
    /// The key set to record in this batch's manifest.
    pub keys: KeySet,
    /// Whether it differs from the one recorded before (then it is a new object of this batch).
    pub changed: bool,
    /// The deletions object of this batch, when a recorded key is gone.
    pub deletions: Option<ObjectEntry>,
    /// How many keys are gone.
    pub deleted: u64,
    /// Keys new to the key set that the read window did not read: rows dated below the window.
    pub unread: Vec<i64>,
}

/// The table being reconciled, inside the ingest's snapshot.
pub struct Reconcile<'a> {
    /// The source table.
    pub table: &'a str,
    /// Its primary-key column.
    pub key: &'a str,
    /// The landing store.
    pub landing: &'a Store,
    /// The batch being written (its objects go in its folder).
    pub batch_id: &'a str,
    /// The table's last committed batch, whose key set is compared with the source.
    pub previous: Option<&'a Manifest>,
    /// When the deletions are found: the source's clock in this snapshot, to the millisecond.
    pub detected_at: NaiveDateTime,
    /// What the read of the versions saw of the table's keys.
    pub read: &'a ReadKeys,
    /// The key range of a chunk, bound to the transaction: only its keys are
    /// reconciled, the source's and the recorded ones (`None`: the whole table).
    pub range: Option<KeyRange>,
}

impl Reconcile<'_> {
    /// Reconciles the table's keys in the snapshot of `tx`.
    pub async fn run(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
    ) -> Result<Reconciliation> {
        // The keys of a read of the whole table or of a chunk's range are fingerprinted here;
        // otherwise (or past the int8 range of their sum) the source answers.
        let computed = match self.read {
            ReadKeys::Table(keys) => KeyFingerprint::of(keys),
            _ => None,
        };
        let fingerprint = match computed {
            Some(f) => f,
            None => self.fingerprint(tx).await.map_err(err)?,
        };
        let recorded = self.previous.and_then(|m| m.keys.as_ref().map(|k| (m, k)));
        // A range's fingerprint is not comparable with the whole table's recorded one.
        let whole = self.range.is_none();
        if let Some((_, keys)) = recorded.filter(|(_, k)| whole && k.fingerprint == fingerprint) {
            return Ok(Reconciliation {
                keys: keys.clone(),
                changed: false,
                deletions: None,
                deleted: 0,
                unread: Vec::new(),
            });
        }
        self.merge(tx, err, recorded, fingerprint).await
    }

    /// ` WHERE <the range>` for a chunk's range, else empty.
    fn range_filter(&self) -> String {
        match self.range {
            Some(range) => range.filter(self.key),
            None => String::new(),
        }
    }

    /// The source's fingerprint of the table's keys (of the range's, for a chunk).
    async fn fingerprint(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
    ) -> std::result::Result<KeyFingerprint, tokio_postgres::Error> {
        let key = quote_ident(self.key);
        let row = tx
            .query_one(
                &format!(
                    "SELECT count(*)::int8, coalesce(sum({key}::int8), 0)::int8, \
                     coalesce(sum(hashint8({key}::int8)::int8), 0)::int8 FROM public.{}{}",
                    quote_ident(self.table),
                    self.range_filter()
                ),
                &[],
            )
            .await?;
        Ok(KeyFingerprint {
            count: row.get(0),
            sum: row.get(1),
            hash_sum: row.get(2),
        })
    }

    /// Streams the source's keys in order (or takes those the read kept), merged
    /// with the recorded set: writes the new key set and the deletions.
    async fn merge(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
        recorded: Option<(&Manifest, &KeySet)>,
        fingerprint: KeyFingerprint,
    ) -> Result<Reconciliation> {
        let (table, landing) = (self.table, self.landing);
        let mut recorded_keys = match recorded {
            Some((manifest, keys)) => {
                let body = tote_io::objects::read_object(landing, manifest, &keys.object).await?;
                SortedKeys::new(tote_io::objects::parquet_object_batches(
                    landing,
                    manifest,
                    &keys.object,
                    body,
                )?)
            }
            None => SortedKeys::empty(),
        };
        let range = self.range.unwrap_or_default();
        recorded_keys.skip_below(range.from)?;
        let mut merge = Merge {
            reconcile: self,
            recorded: recorded_keys,
            has_recorded: recorded.is_some(),
            key_sink: ObjectSink::create(
                landing,
                &tote_core::layout::key_set_key(table, self.batch_id),
                key_schema(),
                DataFormat::Parquet,
            )?,
            deletions: Deletions::new(self.key, self.detected_at),
            last: None,
            unread: Vec::new(),
            progress: progress::task(&format!("reconcile {table}: keys"), Unit::Rows, None),
        };
        match self.read {
            ReadKeys::Table(keys) => {
                for part in keys.chunks(KEY_BATCH_ROWS) {
                    merge.source(Int64Array::from(part.to_vec())).await?;
                }
            }
            ReadKeys::Window(_) | ReadKeys::Unknown => self.stream_source_keys(tx, err, &mut merge).await?,
        }
        let Merge {
            mut recorded,
            key_sink,
            mut deletions,
            unread,
            ..
        } = merge;
        while let Some(gone) = recorded.take_below(range.to)? {
            deletions.push(gone, landing, table, self.batch_id).await?;
        }
        let object = key_sink.finish().await?;
        let (deletions, deleted) = deletions.finish(landing, table, self.batch_id).await?;
        Ok(Reconciliation {
            keys: KeySet { object, fingerprint },
            changed: true,
            deletions,
            deleted,
            unread,
        })
    }

    /// Streams the source's keys (of the range, for a chunk) in order into `merge`.
    async fn stream_source_keys(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
        merge: &mut Merge<'_, '_>,
    ) -> Result<()> {
        let sql = format!(
            "COPY (SELECT {key}::int8 FROM public.{t}{range} ORDER BY {key}) TO STDOUT (FORMAT binary)",
            key = quote_ident(self.key),
            t = quote_ident(self.table),
            range = self.range_filter()
        );
        let layout = TableLayout::new(
            self.table,
            vec![SourceColumn {
                name: KEY.to_string(),
                oid: 20,
                typmod: -1,
                type_name: "bigint".to_string(),
                nullable: false,
            }],
        )?;
        let decoder = CopyDecoder::new(self.table, layout, 0, 0, KEY_BATCH_ROWS);
        let stream = tx.copy_out(&sql).await.map_err(err)?;
        let mut decoding = Decoding::spawn(decoder, stream);
        while let Some(decoded) = decoding.next().await {
            merge
                .source(decoded.batch.column(0).as_primitive::<Int64Type>().clone())
                .await?;
        }
        let decoder = decoding
            .finish()
            .await
            .map_err(|stopped| stopped.into_error(err))?;
        decoder.finish()
    }
}

/// The schema of a key-set object: one non-null `int8` column, [`KEY`].
pub(crate) fn key_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(KEY, DataType::Int64, false)]))
}

/// The merge of the source's keys, ascending, with the recorded set.
struct Merge<'r, 'a> {
    reconcile: &'r Reconcile<'a>,
    recorded: SortedKeys<'r>,
    /// Whether the table recorded a key set before (a first read has nothing to tell new keys from).
    has_recorded: bool,
    key_sink: ObjectSink,
    deletions: Deletions,
    last: Option<i64>,
    unread: Vec<i64>,
    progress: progress::Task,
}

impl Merge<'_, '_> {
    /// Takes the next source keys, ascending and after every key taken before: the recorded
    /// keys below each are deletions, and the keys become part of the new key set.
    async fn source(&mut self, keys: Int64Array) -> Result<()> {
        let Reconcile {
            table,
            landing,
            batch_id,
            read,
            ..
        } = *self.reconcile;
        for k in keys.values().iter().copied() {
            if let Some(l) = self.last.filter(|l| *l >= k) {
                return Err(Error::internal(format!(
                    "the source sent the keys of {table} out of order ({k} after {l})"
                )));
            }
            self.last = Some(k);
            while let Some(gone) = self.recorded.next_below(k)? {
                self.deletions.push(gone, landing, table, batch_id).await?;
            }
            let known = self.recorded.skip_equal(k)?;
            if let (false, true, ReadKeys::Window(window)) = (known, self.has_recorded, read) {
                if !window.contains(&k) {
                    self.unread.push(k);
                }
            }
        }
        self.progress.advance(keys.len() as u64, 0);
        let b = RecordBatch::try_new(key_schema(), vec![Arc::new(keys)]).map_err(|e| {
            Error::internal(format!("cannot assemble the key set of {table}: {e}")).with_source(e)
        })?;
        self.key_sink.write(&b).await
    }
}

/// A recorded key set, read in ascending order one record batch at a time.
struct SortedKeys<'a> {
    batches: Box<dyn Iterator<Item = Result<RecordBatch>> + Send + 'a>,
    current: Option<Int64Array>,
    at: usize,
}

impl<'a> SortedKeys<'a> {
    fn new(batches: Box<dyn Iterator<Item = Result<RecordBatch>> + Send + 'a>) -> Self {
        SortedKeys {
            batches,
            current: None,
            at: 0,
        }
    }

    fn empty() -> Self {
        SortedKeys::new(Box::new(std::iter::empty()))
    }

    /// The next recorded key, without taking it.
    fn peek(&mut self) -> Result<Option<i64>> {
        loop {
            if let Some(c) = &self.current {
                if self.at < c.len() {
                    return Ok(Some(c.value(self.at)));
                }
            }
            match self.batches.next() {
                None => return Ok(None),
                Some(b) => {
                    let b = b?;
                    let column = b
                        .column_by_name(KEY)
                        .ok_or_else(|| Error::internal(format!("a key-set object has no `{KEY}` column")))?;
                    self.current = Some(column.as_primitive::<Int64Type>().clone());
                    self.at = 0;
                }
            }
        }
    }

    /// Takes the next recorded key if it is below `k`: one the source no longer has.
    fn next_below(&mut self, k: i64) -> Result<Option<i64>> {
        match self.peek()? {
            Some(r) if r < k => {
                self.at += 1;
                Ok(Some(r))
            }
            _ => Ok(None),
        }
    }

    /// Takes the next recorded key if it is below `to` (any key: `None`): after the source's
    /// last key, every one left in the range is gone.
    fn take_below(&mut self, to: Option<i64>) -> Result<Option<i64>> {
        let next = self.peek()?.filter(|k| to.is_none_or(|t| *k < t));
        if next.is_some() {
            self.at += 1;
        }
        Ok(next)
    }

    /// Passes over the recorded keys below `from`: they belong to another range.
    fn skip_below(&mut self, from: Option<i64>) -> Result<()> {
        let Some(from) = from else { return Ok(()) };
        while self.peek()?.is_some_and(|k| k < from) {
            self.at += 1;
        }
        Ok(())
    }

    /// Takes the next recorded key if it equals `k`: one the source still has. Returns whether it did.
    fn skip_equal(&mut self, k: i64) -> Result<bool> {
        if self.peek()? == Some(k) {
            self.at += 1;
            return Ok(true);
        }
        Ok(false)
    }
}

/// The deletions found so far, written in bounded record batches to the batch's deletions object,
/// which exists only once a deletion is found.
struct Deletions {
    schema: SchemaRef,
    detected_at: i64,
    keys: Vec<i64>,
    sink: Option<ObjectSink>,
    rows: u64,
}

impl Deletions {
    fn new(key: &str, detected_at: NaiveDateTime) -> Self {
        Deletions {
            schema: batch::deletions_schema(key, false),
            detected_at: detected_at.and_utc().timestamp_micros(),
            keys: Vec::new(),
            sink: None,
            rows: 0,
        }
    }

    async fn push(&mut self, key: i64, landing: &Store, table: &str, batch_id: &str) -> Result<()> {
        self.keys.push(key);
        if self.keys.len() >= KEY_BATCH_ROWS {
            self.flush(landing, table, batch_id).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, landing: &Store, table: &str, batch_id: &str) -> Result<()> {
        if self.keys.is_empty() {
            return Ok(());
        }
        let keys = std::mem::take(&mut self.keys);
        let n = keys.len();
        let b = RecordBatch::try_new(
            self.schema.clone(),
            vec![
                Arc::new(Int64Array::from(keys)),
                Arc::new(TimestampMicrosecondArray::from(vec![self.detected_at; n])),
            ],
        )
        .map_err(|e| {
            Error::internal(format!("cannot assemble the deletions of {table}: {e}")).with_source(e)
        })?;
        if self.sink.is_none() {
            self.sink = Some(ObjectSink::create(
                landing,
                &tote_core::layout::deletions_key(table, batch_id),
                self.schema.clone(),
                DataFormat::Parquet,
            )?);
        }
        self.sink.as_mut().expect("sink created").write(&b).await?;
        self.rows += n as u64;
        Ok(())
    }

    async fn finish(
        mut self,
        landing: &Store,
        table: &str,
        batch_id: &str,
    ) -> Result<(Option<ObjectEntry>, u64)> {
        self.flush(landing, table, batch_id).await?;
        match self.sink {
            Some(sink) => Ok((Some(sink.finish().await?), self.rows)),
            None => Ok((None, 0)),
        }
    }
}

/// `t` truncated to the millisecond, as the warehouse keeps timestamps.
pub fn to_millis(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    t.with_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

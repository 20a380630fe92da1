//! Batches, their manifests, and the commit log that makes them visible.
//!
//! Every stage output is a batch: data objects plus a [`Manifest`] (what table or model, how many
//! rows, the schema, the cursor range, the input batches, checksums). A batch becomes visible only
//! when an entry naming it is committed to the stage's [`CommitLog`]: an append-only, gapless
//! sequence of small objects `…/_log/<seq>.json`, each created with create-if-absent semantics.
//! The log is the commit point: a crash before it leaves invisible garbage, never half a batch;
//! two writers racing for the same sequence number cannot both win.
//!
//! Layout inside a store, for a table or model `T`:
//! ```text
//! T/_log/00000000000000000001.json      commit log entry (seq 1)
//! T/<batch id>/manifest.json            the batch's manifest
//! T/<batch id>/part-00000.parquet       its data objects
//! ```

use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::store::{Created, Store};

/// How a batch's data objects are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Parquet, zstd-compressed (the default, and always the processed zone's).
    Parquet,
    /// CSV with a header; NULL is an unquoted empty field, an empty string is `""`
    /// ([`crate::csv_format`]).
    Csv,
}

impl DataFormat {
    /// The file extension and manifest name of the format.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Parquet => "parquet",
            DataFormat::Csv => "csv",
        }
    }
}

/// The stage that wrote a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// A landing batch: one table's new versions and deletions.
    Ingest,
    /// A processed batch (one model's rows of one run), or the transform's checkpoint.
    Transform,
}

/// One column of a batch's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// The source type as Postgres formats it, e.g. `numeric(10,2)`, `timestamp(3) without time zone`.
    pub source_type: String,
    /// The Arrow type the column is stored as, e.g. `Decimal128(38, 10)`.
    pub arrow_type: String,
    /// Whether the column may hold NULL.
    pub nullable: bool,
}

/// A data object of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// Key relative to the store.
    pub key: String,
    /// Rows in the object.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the object's bytes, hex.
    pub sha256: String,
}

/// Where an ingest batch's read started and ended, in the source's own time (`last_updated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The read covered rows with `last_updated >= since` (`None`: the whole table).
    pub since: Option<NaiveDateTime>,
    /// The high-water mark `(last_updated, primary key)` after this batch: the greatest seen so far.
    pub high_water: Option<(NaiveDateTime, i64)>,
    /// Keys `(primary key, last_updated)` of every version seen within the lookback window below
    /// the mark (the high-water mark, or the source's clock when that is earlier), so that the
    /// next read can tell a re-read from a late commit.
    pub recent: Vec<(i64, NaiveDateTime)>,
    /// The source's own clock (`clock_timestamp()` as a naive timestamp in the reading session's
    /// time zone) just after the read's snapshot was taken. No row of the snapshot can be dated
    /// later unless a clock ran ahead, so the next read starts below the earlier of this and the
    /// high-water mark; and a clock that reads earlier next time has jumped back (absent in
    /// batches written before tote recorded it).
    #[serde(default)]
    pub source_clock: Option<NaiveDateTime>,
}

/// An order-independent summary of a set of primary keys, computed by the source in the
/// snapshot that read them: how many, their sum, and the sum of a hash of each
/// (`count(*)`, `sum(k)`, `sum(hashint8(k))`). Equal fingerprints mean the key set is unchanged,
/// so a quiet table is reconciled with one aggregate instead of reading every key; any
/// difference, a new key or a deleted one, makes ingest read the keys and compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFingerprint {
    /// How many keys.
    pub count: i64,
    /// Their sum.
    pub sum: i64,
    /// The sum of Postgres's `hashint8` of each.
    pub hash_sum: i64,
}

impl KeyFingerprint {
    /// The fingerprint of `keys`, equal to the source's aggregate over the same keys: a read
    /// that already holds every key of a table (a whole-table read) fingerprints them here
    /// instead of asking the source to scan its primary key again. `None` when their sum leaves
    /// the `int8` range, where the source's `sum(k)::int8` fails too.
    pub fn of(keys: &[i64]) -> Option<KeyFingerprint> {
        let (mut sum, mut hash_sum) = (0i128, 0i64);
        for &k in keys {
            sum += i128::from(k);
            hash_sum = hash_sum.checked_add(i64::from(hashint8(k)))?;
        }
        Some(KeyFingerprint {
            count: i64::try_from(keys.len()).ok()?,
            sum: i64::try_from(sum).ok()?,
            hash_sum,
        })
    }
}

/// Postgres's `hashint8(k)` (`hashfunc.c`: the two halves folded into 32 bits, then
/// `hash_bytes_uint32`, Bob Jenkins' lookup3 final mix), as the source computes it in a
/// [`KeyFingerprint`]. A test compares it with the server's for keys of every sign and size.
pub fn hashint8(k: i64) -> i32 {
    let (lo, hi) = (k as u32, (k >> 32) as u32);
    let folded = lo ^ if k >= 0 { hi } else { !hi };
    // a = b = c = 0x9e3779b9 + sizeof(uint32) + 3923095; a += k; final(a, b, c)
    let init = 0x9e37_79b9u32.wrapping_add(4).wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (init.wrapping_add(folded), init, init);
    // lookup3's `x ^= y; x -= rot(y, k)`, the step its final mix makes seven times.
    let step = |x: u32, y: u32, k: u32| (x ^ y).wrapping_sub(y.rotate_left(k));
    c = step(c, b, 14);
    a = step(a, c, 11);
    b = step(b, a, 25);
    c = step(c, b, 16);
    a = step(a, c, 4);
    b = step(b, a, 14);
    c = step(c, b, 24);
    c as i32
}

/// A table's primary keys as one ingest's snapshot saw them: the set the next ingest compares
/// the source's keys with to find the rows deleted since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    /// A Parquet object with one `Int64` column `key`, ascending. It may belong to an earlier
    /// batch of the same table: an unchanged key set is not written again.
    pub object: ObjectEntry,
    /// The source's fingerprint of the same keys, from the same snapshot.
    pub fingerprint: KeyFingerprint,
}

/// The column of a deletions object that says when the deletion was found: the source's own
/// clock (naive, milliseconds) in the ingest snapshot that no longer saw the key.
pub const DETECTED_AT: &str = "detected_at";

/// The column of a processed deletions object that says a later version in the same transform
/// run brought the key back (so the deletion is history, not the current state).
pub const RESTORED: &str = "restored";

/// The schema of a deletions object: the key (named as the table's or model's key column) and
/// [`DETECTED_AT`], and for a processed batch ([`RESTORED`]) whether a later version of the same
/// transform run brought the key back.
pub fn deletions_schema(key: &str, processed: bool) -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, TimeUnit};
    let mut fields = vec![
        Field::new(key, DataType::Int64, false),
        Field::new(
            DETECTED_AT,
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ];
    if processed {
        fields.push(Field::new(RESTORED, DataType::Boolean, false));
    }
    std::sync::Arc::new(arrow::datatypes::Schema::new(fields))
}

/// A data-quality finding: something the source holds that the warehouse cannot take as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The table or model and column concerned, e.g. `dim_staff.location`.
    pub column: String,
    /// What was found and what the model did about it.
    pub message: String,
    /// Rows affected.
    pub rows: u64,
}

/// The manifest of one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Unique id of the batch; also the folder its objects live in.
    pub batch_id: String,
    /// The stage that wrote it.
    pub stage: Stage,
    /// The source table (ingest) or model (transform).
    pub table: String,
    /// The execution that wrote it, when known.
    pub execution: Option<String>,
    /// When it was written (UTC wall clock; informational only, never used as a cursor).
    pub written_at: chrono::DateTime<Utc>,
    /// How its data objects are stored.
    pub format: DataFormat,
    /// Rows in all its data objects.
    pub rows: u64,
    /// The schema of its data objects.
    pub schema: Vec<ColumnSpec>,
    /// The ingest cursor after this batch (ingest only).
    pub cursor: Option<Cursor>,
    /// Whether this batch is a full refresh of its table.
    pub full_refresh: bool,
    /// Its data objects.
    pub objects: Vec<ObjectEntry>,
    /// The batches it was computed from (transform only): `table/seq` references.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Data-quality findings.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// The table's keys as of this batch's snapshot (ingest only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeySet>,
    /// The keys this batch records as deleted: a Parquet object (whatever the batch's `format`)
    /// with the key column (`Int64`, named as the table's or model's key) and [`DETECTED_AT`],
    /// and in a processed batch [`RESTORED`]. Disjoint from the batch's versions in ingest (a
    /// deleted key has no row in the snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletions: Option<ObjectEntry>,
}

impl Manifest {
    /// The key of this manifest in its store.
    pub fn key(&self) -> String {
        manifest_key(&self.table, &self.batch_id)
    }
}

/// The key of object `name` of batch `batch_id` of `table` (a source table or a model): every
/// object of a batch, and its manifest, lives under `<table>/<batch_id>/`, and the commit log
/// under `<table>/_log/`.
pub fn object_key(table: &str, batch_id: &str, name: &str) -> String {
    format!("{table}/{batch_id}/{name}")
}

/// The key of the manifest of batch `batch_id` of `table`.
pub fn manifest_key(table: &str, batch_id: &str) -> String {
    object_key(table, batch_id, "manifest.json")
}

/// The key of a batch's rows, in `format`.
pub fn data_key(table: &str, batch_id: &str, format: DataFormat) -> String {
    object_key(table, batch_id, &format!("part-00000.{}", format.name()))
}

/// The key of a landing batch's key set (the table's keys in its snapshot).
pub fn key_set_key(table: &str, batch_id: &str) -> String {
    object_key(table, batch_id, "keys.parquet")
}

/// The key of a batch's deletions.
pub fn deletions_key(table: &str, batch_id: &str) -> String {
    object_key(table, batch_id, "deletions.parquet")
}

/// A fresh, unique batch id: UTC time to the second (for people) and random bits (for uniqueness).
pub fn new_batch_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", Utc::now().format("%Y%m%dT%H%M%SZ"), &id[..12])
}

/// One committed entry of a commit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// The batch this entry makes visible.
    pub batch_id: String,
    /// The key of its manifest.
    pub manifest: String,
    /// Its row count, so that readers can skip empty work without opening the manifest.
    pub rows: u64,
}

/// The append-only commit log of one table or model in one store.
#[derive(Debug, Clone)]
pub struct CommitLog {
    store: Store,
    table: String,
}

const SEQ_WIDTH: usize = 20;

impl CommitLog {
    /// The log of `table` in `store`.
    pub fn new(store: Store, table: &str) -> Self {
        CommitLog {
            store,
            table: table.to_string(),
        }
    }

    /// The store the log lives in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn entry_key(&self, seq: u64) -> String {
        format!("{}/_log/{seq:0width$}.json", self.table, width = SEQ_WIDTH)
    }

    /// Reads entry `seq`, if committed.
    pub async fn entry(&self, seq: u64) -> Result<Option<LogEntry>> {
        let Some(bytes) = self.store.get(&self.entry_key(seq)).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::new(
                ErrorKind::BadBatch,
                format!(
                    "{} in {} is not a valid log entry: {e}",
                    self.entry_key(seq),
                    self.store.location()
                ),
            )
        })
    }

    /// The newest committed entry, found with O(log n) existence checks (the log has no gaps).
    pub async fn last(&self) -> Result<Option<LogEntry>> {
        if !self.store.exists(&self.entry_key(1)).await? {
            return Ok(None);
        }
        // Gallop to a missing seq, then binary-search the boundary.
        let (mut present, mut absent) = (1u64, 2u64);
        while self.store.exists(&self.entry_key(absent)).await? {
            present = absent;
            absent *= 2;
        }
        while absent - present > 1 {
            let mid = present + (absent - present) / 2;
            if self.store.exists(&self.entry_key(mid)).await? {
                present = mid;
            } else {
                absent = mid;
            }
        }
        self.entry(present).await
    }

    /// Every entry after `seq` (all when `None`), in order, by listing from that point.
    pub async fn entries_after(&self, seq: Option<u64>) -> Result<Vec<LogEntry>> {
        let prefix = format!("{}/_log/", self.table);
        let after = seq.map(|s| self.entry_key(s));
        let keys = self.store.list(&prefix, after.as_deref()).await?;
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(bytes) = self.store.get(&key).await? else {
                continue;
            };
            let entry: LogEntry = serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(
                    ErrorKind::BadBatch,
                    format!("{key} in {} is not a valid log entry: {e}", self.store.location()),
                )
            })?;
            entries.push(entry);
        }
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    /// Reads the manifest an entry points to.
    pub async fn manifest(&self, entry: &LogEntry) -> Result<Manifest> {
        read_manifest(&self.store, &entry.manifest).await
    }

    /// Commits `manifest` as entry `seq` (which must be the next one). Returns `false` if another
    /// writer committed that sequence number first: the caller lost the race and must start over.
    pub async fn commit(&self, seq: u64, manifest: &Manifest) -> Result<bool> {
        let entry = LogEntry {
            seq,
            batch_id: manifest.batch_id.clone(),
            manifest: manifest.key(),
            rows: manifest.rows,
        };
        let bytes = serde_json::to_vec_pretty(&entry).map_err(|e| Error::internal(e.to_string()))?;
        Ok(self.store.create(&self.entry_key(seq), bytes.into()).await? == Created::New)
    }
}

/// Writes a manifest (create-if-absent: batch ids are unique, so a clash is a bug).
pub async fn write_manifest(store: &Store, manifest: &Manifest) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| Error::internal(e.to_string()))?;
    match store.create(&manifest.key(), bytes.into()).await? {
        Created::New => Ok(()),
        Created::AlreadyExists => Err(Error::internal(format!(
            "manifest {} already exists",
            manifest.key()
        ))),
    }
}

/// Reads and parses a manifest; a missing or corrupt one is `Tote.BadBatch`.
pub async fn read_manifest(store: &Store, key: &str) -> Result<Manifest> {
    let bytes = store.get(key).await?.ok_or_else(|| {
        Error::new(
            ErrorKind::BadBatch,
            format!("manifest {key} is missing from {}", store.location()),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            ErrorKind::BadBatch,
            format!("manifest {key} in {} is corrupt: {e}", store.location()),
        )
    })
}

/// Reads every data object of a committed batch, checking each against its manifest's size and
/// SHA-256: a missing, truncated or corrupt object is `Tote.BadBatch`, naming it.
///
/// Holds the whole batch in memory; a stage that must stay bounded streams with [`read_object`]
/// and [`object_batches`] instead.
pub async fn read_batch(store: &Store, manifest: &Manifest) -> Result<Vec<arrow::array::RecordBatch>> {
    let mut batches = Vec::new();
    for object in &manifest.objects {
        let body = read_object(store, manifest, object).await?;
        for batch in object_batches(store, manifest, object, body)? {
            batches.push(batch?);
        }
    }
    Ok(batches)
}

fn bad_object(store: &Store, manifest: &Manifest, object: &ObjectEntry, why: String) -> Error {
    Error::new(
        ErrorKind::BadBatch,
        format!(
            "object {} of batch {} ({}) in {}: {why}; restore the object (the S3 stores keep earlier versions; \
             the manifest records its size and SHA-256): a committed batch is immutable, and no stage \
             writes it again",
            object.key,
            manifest.batch_id,
            manifest.table,
            store.location()
        ),
    )
}

/// One data object of a batch, as a local file whose size and SHA-256 have been checked against
/// the manifest: a local store's own file, or a remote object downloaded to an anonymous
/// temporary file (removed when dropped). Memory stays at one buffer whatever the object's size,
/// and no row of a corrupt object is ever decoded. With a remote store the stage needs local disk
/// (`TMPDIR`, `/tmp` in Lambda) about the size of its largest object.
pub async fn read_object(store: &Store, manifest: &Manifest, object: &ObjectEntry) -> Result<std::fs::File> {
    use futures_util::StreamExt;
    use sha2::Digest;
    use std::io::{Read, Seek, Write};
    let bad = |why: String| bad_object(store, manifest, object, why);
    let local = |e: std::io::Error| {
        Error::internal(format!(
            "cannot read object {} through a local file: {e}; with a remote store the stage needs \
             local disk (TMPDIR) about the size of its largest object",
            object.key
        ))
    };
    let (mut file, size, digest) = match store
        .open_object(&object.key)
        .await?
        .ok_or_else(|| bad("missing".to_string()))?
    {
        crate::store::Body::File(file) => tokio::task::spawn_blocking(move || {
            let mut file = file;
            let mut hasher = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Ok::<_, std::io::Error>((file, size, hasher.finalize()))
        })
        .await
        .map_err(|e| Error::internal(format!("reading object {}: {e}", object.key)).with_source(e))?
        .map_err(local)?,
        crate::store::Body::Stream(mut stream) => {
            let mut file = tempfile::tempfile().map_err(local)?;
            let mut hasher = sha2::Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).map_err(local)?;
            }
            (file, size, hasher.finalize())
        }
    };
    if size != object.bytes {
        return Err(bad(format!("{size} bytes, the manifest says {}", object.bytes)));
    }
    let sum = hex::encode(digest);
    if sum != object.sha256 {
        return Err(bad("its checksum does not match the manifest".to_string()));
    }
    file.rewind().map_err(local)?;
    Ok(file)
}

/// Rows per record batch when an object is read back: bounds a reader's memory.
const OBJECT_BATCH_ROWS: usize = 64 * 1024;

/// The record batches of one data object (from [`read_object`]), decoded lazily in bounded
/// batches of at most 64 Ki rows, so that a reader's memory does not grow with the object.
pub fn object_batches<'a>(
    store: &'a Store,
    manifest: &'a Manifest,
    object: &'a ObjectEntry,
    body: std::fs::File,
) -> Result<Box<dyn Iterator<Item = Result<arrow::array::RecordBatch>> + Send + 'a>> {
    // The body's size and SHA-256 matched the manifest (read_object), so the bytes are the ones
    // tote wrote: a decoding error is tote's own, not damage, and restoring the object would not help.
    let unreadable = move |why: String| unreadable_object(store, manifest, object, why);
    match manifest.format {
        DataFormat::Parquet => parquet_object_batches(store, manifest, object, body),
        DataFormat::Csv => {
            let schema = schema_of(manifest).map_err(unreadable)?;
            let reader = crate::csv_format::Reader::new(
                std::io::BufReader::with_capacity(1 << 20, body),
                std::sync::Arc::new(schema),
                OBJECT_BATCH_ROWS,
            );
            Ok(Box::new(reader.map(move |batch| {
                batch.map_err(|e| unreadable(format!("not readable as tote's CSV: {e}")))
            })))
        }
    }
}

/// The record batches of one Parquet object of a batch (from [`read_object`]): a data object of a
/// Parquet batch, or a side object (its [`KeySet`] or its deletions, Parquet whatever the batch's
/// own format), decoded lazily in bounded batches of at most 64 Ki rows.
pub fn parquet_object_batches<'a>(
    store: &'a Store,
    manifest: &'a Manifest,
    object: &'a ObjectEntry,
    body: std::fs::File,
) -> Result<Box<dyn Iterator<Item = Result<arrow::array::RecordBatch>> + Send + 'a>> {
    // The body's size and SHA-256 matched the manifest (read_object): a decoding error is tote's own.
    let unreadable = move |why: String| unreadable_object(store, manifest, object, why);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
        .and_then(|b| b.with_batch_size(OBJECT_BATCH_ROWS).build())
        .map_err(|e| unreadable(format!("not readable as Parquet: {e}")))?;
    Ok(Box::new(reader.map(move |batch| {
        batch.map_err(|e| unreadable(format!("not readable as Parquet: {e}")))
    })))
}

/// Every deletion a batch records, read whole (deletions are few next to versions).
pub async fn read_deletions(store: &Store, manifest: &Manifest) -> Result<Vec<arrow::array::RecordBatch>> {
    let Some(object) = &manifest.deletions else {
        return Ok(Vec::new());
    };
    let body = read_object(store, manifest, object).await?;
    parquet_object_batches(store, manifest, object, body)?.collect()
}

/// An object whose bytes match its manifest but that tote cannot decode: a fault in tote (a
/// reader that disagrees with the writer of its own format), never the object's damage.
fn unreadable_object(store: &Store, manifest: &Manifest, object: &ObjectEntry, why: String) -> Error {
    Error::internal(format!(
        "object {} of batch {} ({}) in {}: {why}. Its size and SHA-256 match the manifest, so it is \
         exactly what tote wrote and is not damaged: do not restore it. This is a fault in tote's reader \
         of its own format; report it with this message",
        object.key,
        manifest.batch_id,
        manifest.table,
        store.location()
    ))
}

/// The columns of an Arrow schema, as a manifest records them; `source_type` says where the
/// values came from (the source's type for ingest, the model for transform).
pub fn columns_of(schema: &arrow::datatypes::Schema, source_type: &str) -> Vec<ColumnSpec> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnSpec {
            name: f.name().clone(),
            source_type: source_type.to_string(),
            arrow_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        })
        .collect()
}

/// The Arrow schema a manifest records.
pub fn schema_of(manifest: &Manifest) -> std::result::Result<arrow::datatypes::Schema, String> {
    let fields = manifest
        .schema
        .iter()
        .map(|c| {
            c.arrow_type
                .parse::<arrow::datatypes::DataType>()
                .map(|t| arrow::datatypes::Field::new(&c.name, t, c.nullable))
                .map_err(|e| format!("column {} has an unknown type {}: {e}", c.name, c.arrow_type))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(arrow::datatypes::Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// An object whose size and SHA-256 match its manifest is exactly what tote wrote: if tote
    /// then cannot decode it, the error is tote's own (`Tote.Internal`) and does not tell the user to
    /// restore an object that is not damaged.
    #[tokio::test]
    async fn an_intact_object_tote_cannot_decode_is_its_own_fault_not_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().display().to_string(), "TOTE_LANDING").unwrap();
        let body = bytes::Bytes::from_static(b"\"design_id\",\"design_name\"\n1,\"unclosed\n");
        let key = "design/b1/part-00000.csv";
        store.create(key, body.clone()).await.unwrap();
        let object = ObjectEntry {
            key: key.to_string(),
            rows: 1,
            bytes: body.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(&body)),
        };
        let manifest = Manifest {
            batch_id: "b1".to_string(),
            stage: Stage::Ingest,
            table: "design".to_string(),
            execution: None,
            written_at: Utc::now(),
            format: DataFormat::Csv,
            rows: 1,
            schema: vec![
                ColumnSpec {
                    name: "design_id".to_string(),
                    source_type: "int4".to_string(),
                    arrow_type: "Int32".to_string(),
                    nullable: false,
                },
                ColumnSpec {
                    name: "design_name".to_string(),
                    source_type: "varchar".to_string(),
                    arrow_type: "Utf8".to_string(),
                    nullable: false,
                },
            ],
            cursor: None,
            full_refresh: false,
            objects: vec![object.clone()],
            inputs: vec![],
            findings: vec![],
            keys: None,
            deletions: None,
        };
        let file = read_object(&store, &manifest, &object).await.unwrap();
        let err = object_batches(&store, &manifest, &object, file)
            .unwrap()
            .find_map(|b| b.err())
            .expect("an unclosed quote is an error");
        assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
        let message = err.to_string();
        assert!(message.contains("not damaged: do not restore it"), "{message}");
        assert!(message.contains("a quoted value is not closed"), "{message}");
    }
}

//! Batches and their manifests: what every stage writes and the next one reads.
//!
//! Every stage output is a batch: data objects plus a [`Manifest`] (what table or model, how many
//! rows, the schema, the cursor range, the input batches, checksums). A batch becomes visible only
//! when a [`LogEntry`] naming it is committed to its table's commit log (`tote_io::commit_log`):
//! an append-only, gapless sequence of small objects, each created with create-if-absent
//! semantics. The log is the commit point: a crash before it leaves invisible garbage, never half
//! a batch; two writers racing for the same sequence number cannot both win. Where each object
//! lives is [`crate::layout`]'s.

use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a batch's data objects are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Parquet, zstd-compressed (the default, and always the processed zone's).
    Parquet,
    /// CSV with a header; NULL is an unquoted empty field, an empty string is `""`
    /// (`tote_io::csv_format`).
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
        crate::layout::manifest_key(&self.table, &self.batch_id)
    }
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

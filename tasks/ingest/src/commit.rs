//! The commit: the batch's manifest, then the log entry that makes it visible.
//!
//! After the read's snapshot is committed, the batch's data object is completed, its manifest
//! written (the rows, the schema, the cursor the next read continues from, the objects with their
//! checksums, the key set and the deletions) and the log entry created at the position after the
//! last batch, only if absent ([`Batch::commit`]). A crash anywhere before the entry leaves only
//! invisible objects. Of two ingests racing for one table, one creates the entry; the other's
//! attempt ends as a lost race and starts over from the log ([`Retries`]), at most
//! [`COMMIT_ATTEMPTS`] times. An attempt whose read found a `numeric` value of another scale than
//! its column was read at commits nothing and is read again at the scales found.
//!
//! A chunk (`crate::chunks`) does not commit to the log: it records its part for the commit of
//! the chunks ([`record_part`]), create-if-absent, so that of two attempts of one chunk the first
//! to record wins. Its commit boundaries are fault points of their own (`chunk.*`, [`boundary`]).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDateTime;
use tote_core::batch::{self, ColumnSpec, DataFormat, Manifest};
use tote_core::event::ingest::{Chunk, IngestRequest, IngestResponse};
use tote_core::{fault, Error, ErrorKind, Result};
use tote_io::store::{Created, Store};

use crate::read::DataObject;
use crate::reconcile::Reconciliation;
use crate::window::{self, Previous, Window};

/// How many times a lost commit race is retried before giving up.
pub(crate) const COMMIT_ATTEMPTS: u32 = 3;

/// How one attempt of an ingest ended.
pub(crate) enum Attempt {
    /// It committed its batch (or found nothing to commit).
    Committed(IngestResponse),
    /// Another writer committed the same log position first.
    LostRace,
    /// A `numeric` column declared without a scale has values of another scale than the read
    /// assumed: read again at these (column → scale).
    Rescale(BTreeMap<String, i8>),
}

/// The attempts of one table's ingest: what each one's end means for the next.
pub(crate) struct Retries<'a> {
    table: &'a str,
    started: Instant,
    /// Attempts that lost the commit race.
    lost: u32,
    /// Reads done again at their values' scales.
    rescaled: u32,
    /// The scales the next read takes, once a read found them.
    scales: Option<BTreeMap<String, i8>>,
}

impl<'a> Retries<'a> {
    /// The first attempt of `table`'s ingest, starting now.
    pub(crate) fn new(table: &'a str) -> Self {
        Retries {
            table,
            started: Instant::now(),
            lost: 0,
            rescaled: 0,
            scales: None,
        }
    }

    /// The scales the next attempt reads the unconstrained `numeric` columns at (`None`: the
    /// scales a sample shows).
    pub(crate) fn scales(&self) -> Option<&BTreeMap<String, i8>> {
        self.scales.as_ref()
    }

    /// Takes the end of an attempt: the ingest's answer (its metrics emitted), `None` to attempt
    /// again, or the error of an ingest that kept losing races or kept finding other scales.
    pub(crate) fn after(&mut self, attempt: Attempt) -> Result<Option<IngestResponse>> {
        let table = self.table;
        match attempt {
            Attempt::Rescale(found) if self.rescaled < COMMIT_ATTEMPTS => {
                tracing::info!(
                    table,
                    ?found,
                    "a numeric column's values have another scale than the sample showed; reading again at it"
                );
                self.rescaled += 1;
                self.scales = Some(found);
                Ok(None)
            }
            Attempt::Rescale(found) => Err(Error::new(
                ErrorKind::SourceUnavailable,
                format!(
                    "{table}: the scale of its numeric columns changed between {} reads ({found:?}); retry later",
                    self.rescaled
                ),
            )),
            Attempt::Committed(response) => {
                tote_core::metrics::emit(
                    "ingest",
                    &[("Stage", "ingest"), ("Table", table)],
                    &[
                        ("Rows", response.rows as f64),
                        ("Bytes", response.bytes as f64),
                        ("Batches", u8::from(response.changed).into()),
                        ("Deletions", response.deleted as f64),
                        ("Duration", self.started.elapsed().as_millis() as f64),
                    ],
                );
                Ok(Some(response))
            }
            Attempt::LostRace if self.lost + 1 < COMMIT_ATTEMPTS => {
                self.lost += 1;
                tracing::warn!(
                    table,
                    attempt = self.lost,
                    "another ingest of this table committed first; starting over"
                );
                Ok(None)
            }
            Attempt::LostRace => Err(Error::new(
                ErrorKind::SourceUnavailable,
                format!(
                    "{table}: other ingests kept committing first ({} attempts); retry later",
                    self.lost + 1
                ),
            )),
        }
    }
}

/// The end of an attempt whose read found values with more places than their columns were read
/// at (`scales`, found by [`crate::read::Read::rescale`]). A chunk reads at the scales the plan
/// found over the whole table, the same for every chunk, so such a value committed since the plan
/// stops it; any other read is done again at its values' own largest scales. Nothing of this
/// attempt is committed: its objects stay invisible.
pub(crate) fn rescale(table: &str, chunk: Option<&Chunk>, scales: BTreeMap<String, i8>) -> Result<Attempt> {
    if chunk.is_some() {
        return Err(Error::new(
            ErrorKind::SchemaDrift,
            format!(
                "{table}: numeric values committed since the plan have more decimal places than it \
                 found ({scales:?}); start the full refresh again"
            ),
        ));
    }
    Ok(Attempt::Rescale(scales))
}

/// The fault point of a commit boundary: `whole_table`'s for an ingest, `of_chunk`'s for a
/// chunk. A chunk is one range of a whole-table read; its boundaries are points of their own
/// (`chunk.*`), so that a test can crash a chunk and not a whole-table ingest.
pub(crate) fn boundary(chunk: Option<&Chunk>, [whole_table, of_chunk]: [&'static str; 2]) -> Result<()> {
    fault::point(if chunk.is_some() { of_chunk } else { whole_table })
}

/// What one attempt read, to be committed as a batch of the table.
pub(crate) struct Batch<'a> {
    /// The source table.
    pub(crate) table: &'a str,
    /// The ingest asked for (its execution, and its chunk when it is one).
    pub(crate) request: &'a IngestRequest,
    /// The landing store.
    pub(crate) landing: &'a Store,
    /// The batch's id.
    pub(crate) batch_id: String,
    /// The landing format of its data object.
    pub(crate) format: DataFormat,
    /// The table's columns as read.
    pub(crate) schema: Vec<ColumnSpec>,
    /// Whether the read was of the whole table (a full refresh or a chunk).
    pub(crate) full_refresh: bool,
    /// Where the read started (`None`: the whole table).
    pub(crate) since: Option<NaiveDateTime>,
    /// The mark the cursor is measured against: the source's clock, or a chunk's plan's mark.
    pub(crate) mark: NaiveDateTime,
    /// Rows read from the source, re-reads of the window included.
    pub(crate) rows_read: u64,
    /// The data object the read wrote.
    pub(crate) data: DataObject<'a>,
    /// The window the read observed.
    pub(crate) window: Window,
    /// The reconciled key set and deletions.
    pub(crate) reconciliation: Reconciliation,
}

impl Batch<'_> {
    /// Commits the batch after `previous`: completes the data object, writes the manifest and
    /// creates the log entry (a chunk records its part instead). A read with no new version and
    /// no deletion commits nothing.
    pub(crate) async fn commit(self, previous: &Previous) -> Result<Attempt> {
        let (table, landing, since, rows_read) = (self.table, self.landing, self.since, self.rows_read);
        let chunk = self.request.chunk.as_ref();
        let high_water = self.window.high_water();
        window::warn_if_ahead_of_the_clock(table, high_water, self.mark);
        if !self.data.written() && !self.reconciliation.changed && chunk.is_none() {
            tracing::info!(table, rows_read, "no new versions, no deletions");
            return Ok(Attempt::Committed(IngestResponse {
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
            }));
        }
        let deleted = self.reconciliation.deleted;
        let manifest = self.manifest(chunk).await?;
        tote_io::commit_log::write_manifest(landing, &manifest).await?;
        boundary(chunk, ["ingest.after_manifest", "chunk.after_manifest"])?;
        // This read's answer: its start, mark and rows read, and what the manifest holds.
        let answered = |manifest: &Manifest, seq| IngestResponse {
            since,
            high_water: high_water.map(|(lu, _)| lu),
            ..answer(manifest, seq, rows_read)
        };
        if let Some(c) = chunk {
            let part = record_part(landing, c, manifest).await?;
            tracing::info!(
                table,
                chunk = c.index,
                chunks = c.chunks,
                part = part.batch_id,
                rows = part.rows,
                "recorded chunk"
            );
            return Ok(Attempt::Committed(answered(&part, None)));
        }
        if !previous.log.commit(previous.next_seq, &manifest).await? {
            return Ok(Attempt::LostRace);
        }
        fault::point("ingest.after_commit")?;
        tracing::info!(
            table,
            batch_id = manifest.batch_id,
            seq = previous.next_seq,
            rows = manifest.rows,
            rows_read,
            deleted,
            "committed landing batch"
        );
        Ok(Attempt::Committed(IngestResponse {
            deleted,
            ..answered(&manifest, Some(previous.next_seq))
        }))
    }

    /// Completes the data object and describes the batch: its rows, schema and objects, the
    /// cursor the next read continues from, its key set and deletions.
    async fn manifest(self, chunk: Option<&Chunk>) -> Result<Manifest> {
        let rows = self.data.rows();
        let objects = self.data.finish().await?.into_iter().collect();
        boundary(chunk, ["ingest.after_data", "chunk.after_data"])?;
        Ok(Manifest {
            batch_id: self.batch_id,
            stage: batch::Stage::Ingest,
            table: self.table.to_string(),
            execution: self.request.execution.clone(),
            written_at: chrono::Utc::now(),
            format: self.format,
            rows,
            schema: self.schema,
            cursor: Some(self.window.cursor(self.since, self.mark)),
            full_refresh: self.full_refresh,
            objects,
            inputs: vec![],
            findings: vec![],
            keys: Some(self.reconciliation.keys),
            deletions: self.reconciliation.deletions,
        })
    }
}

/// The answer to a committed (or, for a chunk, recorded) `manifest` at `seq`: its batch, rows,
/// objects and deletions, its cursor's mark, and the `rows_read` that made it.
pub(crate) fn answer(manifest: &Manifest, seq: Option<u64>, rows_read: u64) -> IngestResponse {
    let cursor = manifest.cursor.as_ref();
    IngestResponse {
        table: manifest.table.clone(),
        changed: true,
        batch_id: Some(manifest.batch_id.clone()),
        seq,
        rows: manifest.rows,
        rows_read,
        since: None,
        high_water: cursor.and_then(|c| c.high_water).map(|(lu, _)| lu),
        keys: manifest.objects.iter().map(|o| o.key.clone()).collect(),
        deleted: manifest.deletions.as_ref().map_or(0, |d| d.rows),
        bytes: manifest.objects.iter().map(|o| o.bytes).sum(),
    }
}

/// Records `part` (a written, uncommitted part manifest) as chunk `chunk.index`'s. Returns the
/// part that counts: this one, or the one an earlier attempt of the chunk recorded first.
pub async fn record_part(landing: &Store, chunk: &Chunk, part: Manifest) -> Result<Manifest> {
    let key = tote_core::layout::chunk_part_key(&chunk.table, &chunk.group, chunk.index);
    match landing.create(&key, part.key().into_bytes().into()).await? {
        Created::New => Ok(part),
        Created::AlreadyExists => {
            tracing::info!(
                table = chunk.table,
                chunk = chunk.index,
                "an earlier attempt of this chunk recorded its part first; it stands"
            );
            recorded_part(landing, chunk.table.as_str(), &chunk.group, chunk.index)
                .await?
                .ok_or_else(|| Error::internal(format!("{key} vanished after it was recorded")))
        }
    }
}

/// The part chunk `index` of `group` recorded, if it has.
pub(crate) async fn recorded_part(
    landing: &Store,
    table: &str,
    group: &str,
    index: u32,
) -> Result<Option<Manifest>> {
    let Some(pointer) = landing
        .get(&tote_core::layout::chunk_part_key(table, group, index))
        .await?
    else {
        return Ok(None);
    };
    let manifest = String::from_utf8(pointer.to_vec()).map_err(|_| {
        Error::internal(format!(
            "the part pointer of chunk {index} of {table} is not text"
        ))
    })?;
    Ok(Some(
        tote_io::commit_log::read_manifest(landing, &manifest).await?,
    ))
}

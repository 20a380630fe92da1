//! A whole-table read too large for one invocation, as chunks: primary-key ranges read side by
//! side (a Distributed Map on AWS) and committed together as one batch.
//!
//! 1. The plan ([`split`]) counts a table it is about to read whole (a first read, a full
//!    refresh) in one snapshot; with more than `TOTE_CHUNK_ROWS` rows it splits the key span into
//!    ranges of about that many rows and fixes one high-water mark for all of them, `until`: the
//!    later of the source's clock and the table's greatest `last_updated` in that snapshot.
//! 2. Each chunk ([`Chunk`]) is an ordinary ingest restricted to its range, in its own snapshot:
//!    it reads every row of the range, keeps every key for the range's key set (so the source is
//!    not asked for the keys again), and writes the versions dated at or below `until`. It writes
//!    a part (data object, the range's keys, the range's deletions, a manifest) and records it
//!    under `<table>/_chunks/<group>/` ([`record_part`]).
//!    Recording is create-if-absent: of two attempts of one chunk (a retry after a lost reply),
//!    the first to record wins, the other's objects stay invisible.
//! 3. [`commit`] gathers the parts in key order and commits them as the one batch `group` (the
//!    key sets and the deletions concatenated, which keeps them sorted, since the ranges are
//!    disjoint and ascending). A chunk that has not recorded its part stops the commit; a commit
//!    that finds `group` already in the log answers as the commit that put it there.
//!
//! Why no version is lost: a version dated at or below `until` that committed before its
//! chunk's snapshot is in that chunk (the first range is open below, the last open above, so
//! keys inserted since the plan are covered). A version dated after `until` is read by the next
//! incremental ingest, which starts `lookback` below the earlier of the batch's high-water mark
//! and `until`, both at or below `until`. A version dated at or below `until` but committed after
//! its chunk's snapshot is a late commit: if it is at most `lookback` late it is dated after its
//! commit time minus `lookback`, which is after `until - lookback`, inside the next read's window;
//! if it is later than that, its key is new to the key set and the next ingest reads it by key
//! (reconcile's `unread`), as it would after any other read. Deletions are per range: a key the
//! table last recorded inside a range that the chunk's snapshot no longer has.

use chrono::NaiveDateTime;
use tote_core::batch::{self, Cursor, DataFormat, KeyFingerprint, KeySet, Manifest, ObjectEntry};
use tote_core::config::Config;
use tote_core::tables::primary_key;
use tote_core::{fault, Error, ErrorKind, Result};
use tote_io::commit_log::CommitLog;
use tote_io::sink::ObjectSink;
use tote_io::store::Store;

use tote_core::event::ingest::{IngestRequest, IngestResponse};

use crate::commit::{answer, recorded_part, COMMIT_ATTEMPTS};
use crate::plan::allowed_table;

/// A chunk, and a chunked table as its commit is asked for, as the stage contract declares them.
pub use tote_core::event::ingest::{Chunk, ChunkedTable};

/// The key range a chunk reads, bound to its transaction as settings.
pub use crate::range::KeyRange;

/// The plan's split of the tables it reads whole into chunks, and of a key span into ranges.
pub use crate::plan::{ranges, split};

/// A chunk's part recorded for the commit of its read.
pub use crate::commit::record_part;

/// Ingests one table by hand as the state machine would: read in chunks, `concurrency` at a
/// time, and committed, when the plan splits it ([`split`]); otherwise in one ingest. Returns the
/// committed batch and how many chunks it was read in (0: not chunked).
pub async fn ingest_planned(
    config: &Config,
    request: &IngestRequest,
    concurrency: usize,
) -> Result<(IngestResponse, usize)> {
    use futures_util::{StreamExt, TryStreamExt};
    let table = allowed_table(config, &request.table)?.to_string();
    let (_, chunked, chunks) = split(config, vec![table], request.full_refresh).await?;
    let Some(mut whole) = chunked.into_iter().next() else {
        return Ok((crate::ingest(config, request).await?, 0));
    };
    whole.execution.clone_from(&request.execution);
    futures_util::stream::iter(chunks.iter().map(|chunk| {
        let request = IngestRequest {
            chunk: Some(chunk.clone()),
            full_refresh: true,
            ..request.clone()
        };
        async move { crate::ingest(config, &request).await }
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect::<Vec<_>>()
    .await?;
    Ok((commit(config, &whole).await?, chunks.len()))
}

/// Commits the recorded parts of `request.group` as one batch of the table. Idempotent: when the
/// table's last batch is already `group`, answers as the commit that put it there.
pub async fn commit(config: &Config, request: &ChunkedTable) -> Result<IngestResponse> {
    let table = allowed_table(config, &request.table)?;
    let landing = Store::open(&config.landing, "TOTE_LANDING")?;
    let log = CommitLog::new(landing.clone(), table);
    for _ in 0..COMMIT_ATTEMPTS {
        let last = log.last().await?;
        if let Some(entry) = last.as_ref().filter(|e| e.batch_id == request.group) {
            tracing::info!(table, group = request.group, "the chunks are already committed");
            return Ok(answer(&log.manifest(entry).await?, Some(entry.seq), 0));
        }
        let mut parts = Vec::with_capacity(request.chunks as usize);
        for index in 0..request.chunks {
            let part = recorded_part(&landing, table, &request.group, index)
                .await?
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::BadRequest,
                        format!(
                            "chunk {index} of {} of {table} (group {}) has not recorded its part, so the chunks \
                             cannot be committed: its ingest failed or did not run; redrive the execution to \
                             run it again",
                            request.chunks, request.group
                        ),
                    )
                })?;
            parts.push(part);
        }
        let manifest = match written(&landing, table, &request.group).await? {
            // A commit that stopped after writing the manifest: the same parts, committed as written.
            Some(written) => written,
            None => {
                let manifest = combine(config, &landing, request, &parts).await?;
                match tote_io::commit_log::write_manifest(&landing, &manifest).await {
                    Ok(()) => manifest,
                    // Another attempt wrote it meanwhile: commit that one.
                    Err(e) => written(&landing, table, &request.group).await?.ok_or(e)?,
                }
            }
        };
        fault::point("commit_chunks.after_manifest")?;
        let seq = last.as_ref().map_or(1, |e| e.seq + 1);
        if log.commit(seq, &manifest).await? {
            fault::point("commit_chunks.after_commit")?;
            let rows_read: u64 = parts.iter().map(|p| p.rows).sum();
            tracing::info!(
                table,
                group = request.group,
                seq,
                rows = manifest.rows,
                chunks = parts.len(),
                "committed the chunks as one landing batch"
            );
            return Ok(answer(&manifest, Some(seq), rows_read));
        }
        tracing::warn!(
            table,
            "another ingest of this table committed first; committing the chunks after it"
        );
    }
    Err(Error::new(
        ErrorKind::SourceUnavailable,
        format!("{table}: other ingests kept committing first; retry later"),
    ))
}

/// The manifest of `group`, if a commit attempt wrote it.
async fn written(landing: &Store, table: &str, group: &str) -> Result<Option<Manifest>> {
    let key = tote_core::layout::manifest_key(table, group);
    match landing.exists(&key).await? {
        true => Ok(Some(tote_io::commit_log::read_manifest(landing, &key).await?)),
        false => Ok(None),
    }
}

/// The one manifest of the parts, in key order: their data objects, their key sets and
/// deletions concatenated into objects of the group, their cursors merged.
async fn combine(
    config: &Config,
    landing: &Store,
    request: &ChunkedTable,
    parts: &[Manifest],
) -> Result<Manifest> {
    let table = request.table.as_str();
    let first = &parts[0];
    if let Some(other) = parts.iter().find(|p| p.schema != first.schema) {
        return Err(Error::new(
            ErrorKind::SchemaDrift,
            format!(
                "{table}: the chunks of the read saw different columns (parts {} and {}): the table changed \
                 during the read; nothing was committed; run the full refresh of {table} again",
                first.batch_id, other.batch_id
            ),
        ));
    }
    // A fresh name per attempt: a commit that stopped half-way leaves objects no manifest names.
    let attempt = uuid::Uuid::new_v4().simple().to_string();
    let attempt = &attempt[..8];
    let key_objects: Vec<(&Manifest, &ObjectEntry)> = parts
        .iter()
        .filter_map(|p| p.keys.as_ref().map(|k| (p, &k.object)))
        .collect();
    let keys_object = concatenate(
        landing,
        &tote_core::layout::object_key(table, &request.group, &format!("keys-{attempt}.parquet")),
        crate::reconcile::key_schema(),
        &key_objects,
    )
    .await?
    .ok_or_else(|| Error::internal(format!("the chunks of {table} recorded no key set")))?;
    let deletion_objects: Vec<(&Manifest, &ObjectEntry)> = parts
        .iter()
        .filter_map(|p| p.deletions.as_ref().map(|d| (p, d)))
        .collect();
    let deletions = concatenate(
        landing,
        &tote_core::layout::object_key(table, &request.group, &format!("deletions-{attempt}.parquet")),
        batch::deletions_schema(&primary_key(table), false),
        &deletion_objects,
    )
    .await?;
    Ok(Manifest {
        batch_id: request.group.clone(),
        stage: batch::Stage::Ingest,
        table: table.to_string(),
        execution: request.execution.clone(),
        written_at: chrono::Utc::now(),
        format: first.format,
        rows: parts.iter().map(|p| p.rows).sum(),
        schema: first.schema.clone(),
        cursor: Some(merged_cursor(config, request, parts)),
        full_refresh: true,
        objects: parts.iter().flat_map(|p| p.objects.iter().cloned()).collect(),
        inputs: vec![],
        findings: vec![],
        keys: Some(KeySet {
            object: keys_object,
            fingerprint: fingerprint(parts),
        }),
        deletions,
    })
}

/// The fingerprint of the parts' key sets together: theirs added up, since the ranges are
/// disjoint.
fn fingerprint(parts: &[Manifest]) -> KeyFingerprint {
    let mut fingerprint = KeyFingerprint {
        count: 0,
        sum: 0,
        hash_sum: 0,
    };
    for k in parts.iter().filter_map(|p| p.keys.as_ref()) {
        fingerprint.count = fingerprint.count.wrapping_add(k.fingerprint.count);
        fingerprint.sum = fingerprint.sum.wrapping_add(k.fingerprint.sum);
        fingerprint.hash_sum = fingerprint.hash_sum.wrapping_add(k.fingerprint.hash_sum);
    }
    fingerprint
}

/// The cursor of the chunks' batch: the greatest of the parts' marks, measured against the
/// plan's mark (`until`), and the parts' versions within the lookback below the earlier of the
/// two, each once, ascending.
fn merged_cursor(config: &Config, request: &ChunkedTable, parts: &[Manifest]) -> Cursor {
    let high_water = parts
        .iter()
        .filter_map(|p| p.cursor.as_ref()?.high_water)
        .max_by_key(|(lu, pk)| (*lu, *pk));
    let floor = high_water.map(|(lu, _)| lu.min(request.until) - config.lookback_span());
    let mut recent: Vec<(i64, NaiveDateTime)> = parts
        .iter()
        .filter_map(|p| p.cursor.as_ref())
        .flat_map(|c| c.recent.iter().copied())
        .filter(|(_, lu)| floor.is_none_or(|f| *lu >= f))
        .collect();
    recent.sort_unstable();
    recent.dedup();
    Cursor {
        since: None,
        high_water,
        recent,
        source_clock: Some(request.until),
    }
}

/// Streams the Parquet `objects` (each checked against its part's manifest), in order, into one
/// new Parquet object `key`; `None` when there is none.
async fn concatenate(
    landing: &Store,
    key: &str,
    schema: arrow::datatypes::SchemaRef,
    objects: &[(&Manifest, &ObjectEntry)],
) -> Result<Option<ObjectEntry>> {
    if objects.is_empty() {
        return Ok(None);
    }
    let mut sink = ObjectSink::create(landing, key, schema, DataFormat::Parquet)?;
    for (manifest, object) in objects {
        let body = tote_io::objects::read_object(landing, manifest, object).await?;
        for b in tote_io::objects::parquet_object_batches(landing, manifest, object, body)? {
            sink.write(&b?).await?;
        }
    }
    Ok(Some(sink.finish().await?))
}

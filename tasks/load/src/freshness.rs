//! Freshness: how far the warehouse is behind the source, measured on the source's own clock.
//!
//! **Definition.** For a source table `T`, the warehouse holds `T` as of the newest landing batch
//! of `T` that the transform consumed in a run whose every processed batch the load ledger has.
//! That batch's cursor says which versions were read: everything dated below its window's floor
//! (`min(high-water mark, source clock) − TOTE_LOOKBACK`), and every version it remembers within the
//! window. A *pending change* is a row of `T` the source has now that is neither: a version dated
//! above the floor that no loaded batch read. The table's **freshness** is the age of its oldest
//! pending change: the source's clock now minus that row's `last_updated`, or 0 when there is none
//! (the warehouse is caught up). A quiet table is 0; a late commit counts from its own (old)
//! `last_updated`, so a long transaction counts from when it started; a batch landed or transformed
//! but not yet loaded keeps its changes pending. A deletion has no date and is not counted.
//!
//! The **pipeline's freshness** is the largest of any table's: the figure the alarm watches.
//! Measuring reads one aggregate per table from the source (one scan), the logs and manifests
//! of both stores, and the ledger: read-only everywhere.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::Serialize;
use tokio_postgres::Client;
use tote_core::batch::Cursor;
use tote_core::checkpoint;
use tote_core::config::Config;
use tote_core::tables::{primary_key, quote_ident};
use tote_core::Result;
use tote_io::commit_log::CommitLog;
use tote_io::store::Store;

use crate::warehouse_error;

/// One source table's freshness.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableFreshness {
    /// The source table.
    pub table: String,
    /// The source's newest `last_updated` in the table.
    pub source_high_water: Option<NaiveDateTime>,
    /// The newest landing batch (its seq in the table's landing log).
    pub landed: Option<u64>,
    /// The newest landing batch the transform consumed.
    pub transformed: Option<u64>,
    /// The newest landing batch whose changes the warehouse holds (transformed and loaded).
    pub loaded: Option<u64>,
    /// Rows the source has that the warehouse does not yet show.
    pub pending_changes: u64,
    /// The `last_updated` of the oldest of those.
    pub oldest_pending: Option<NaiveDateTime>,
    /// Its age in seconds on the source's clock; 0 when caught up.
    pub freshness_seconds: f64,
}

/// The whole pipeline's freshness.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freshness {
    /// The source's clock when measured.
    pub measured_at: NaiveDateTime,
    /// Per source table, in the allow-list's order.
    pub tables: Vec<TableFreshness>,
    /// Landing batches committed but not yet consumed by a transform.
    pub pending_landing_batches: u64,
    /// Processed batches committed but not yet in the load ledger.
    pub pending_processed_batches: u64,
    /// The largest freshness of any table, in seconds.
    pub freshness_seconds: f64,
}

/// What the warehouse holds: per model, the last processed seq in the ledger.
async fn ledger(warehouse: &Client) -> Result<BTreeMap<String, u64>> {
    let migrated: bool = warehouse
        .query_one("SELECT to_regclass('tote.load_ledger') IS NOT NULL", &[])
        .await
        .map_err(warehouse_error)?
        .get(0);
    if !migrated {
        return Ok(BTreeMap::new());
    }
    let rows = warehouse
        .query("SELECT model, max(seq) FROM tote.load_ledger GROUP BY model", &[])
        .await
        .map_err(warehouse_error)?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
        .collect())
}

/// Measures every table `config` ingests (`TOTE_TABLES`), over the models it loads.
pub async fn measure(
    source: &Client,
    warehouse: &Client,
    landing: &Store,
    processed: &Store,
    config: &Config,
) -> Result<Freshness> {
    let (tables, lookback) = (&config.tables, config.lookback_span());
    // The newest run whose every processed batch is loaded: the latest checkpoint when nothing
    // is pending, else the run before the oldest batch not yet loaded.
    let loaded_seqs = ledger(warehouse).await?;
    let last = tote_io::checkpoint::latest(processed).await?;
    let latest = last.as_ref().map(|c| c.consumed.clone()).unwrap_or_default();
    let mut loaded_run = last.as_ref().map(|c| c.run);
    let mut pending_processed = 0;
    for model in &config.models {
        let log = CommitLog::new(processed.clone(), &model.name);
        let loaded = loaded_seqs.get(&model.name).copied();
        let pending = log.entries_after(loaded).await?;
        pending_processed += pending.len() as u64;
        if let Some(first) = pending.first() {
            let run = checkpoint::run_of(&log.manifest(first).await?);
            let before = run.map_or(0, |r| r.saturating_sub(1));
            loaded_run = Some(loaded_run.map_or(before, |r| r.min(before)));
        }
    }
    // Usually every batch is loaded and the loaded run is the latest one, read above.
    let consumed = match (loaded_run.filter(|r| *r > 0), &last) {
        (Some(run), Some(checkpoint)) if run == checkpoint.run => latest.clone(),
        (Some(run), _) => tote_io::checkpoint::of_run(processed, run)
            .await?
            .map(|c| c.consumed)
            .unwrap_or_default(),
        (None, _) => BTreeMap::new(),
    };

    let measured_at: NaiveDateTime = source
        .query_one("SELECT clock_timestamp()::timestamp(6)", &[])
        .await
        .map_err(source_error)?
        .get(0);
    let mut out = Freshness {
        measured_at,
        tables: Vec::new(),
        pending_landing_batches: 0,
        pending_processed_batches: pending_processed,
        freshness_seconds: 0.0,
    };
    for table in tables {
        let log = CommitLog::new(landing.clone(), table);
        let landed = log.last().await?.map(|e| e.seq);
        let transformed = latest.get(table.as_str()).copied();
        let loaded = consumed.get(table.as_str()).copied();
        out.pending_landing_batches += landed.unwrap_or(0).saturating_sub(transformed.unwrap_or(0));
        let cursor = match loaded {
            Some(seq) => match log.entry(seq).await? {
                Some(entry) => log.manifest(&entry).await?.cursor,
                None => None,
            },
            None => None,
        };
        let (high, pending, oldest) = pending_changes(source, table, cursor.as_ref(), lookback).await?;
        let freshness_seconds = oldest
            .map(|t| ((measured_at - t).num_milliseconds() as f64 / 1000.0).max(0.0))
            .unwrap_or(0.0);
        out.freshness_seconds = out.freshness_seconds.max(freshness_seconds);
        out.tables.push(TableFreshness {
            table: table.clone(),
            source_high_water: high,
            landed,
            transformed,
            loaded,
            pending_changes: pending,
            oldest_pending: oldest,
            freshness_seconds,
        });
    }
    Ok(out)
}

/// The source's high-water mark of `table`, and its changes no loaded batch read (how many, and
/// the oldest's `last_updated`), in one scan.
async fn pending_changes(
    source: &Client,
    table: &str,
    loaded: Option<&Cursor>,
    lookback: chrono::Duration,
) -> Result<(Option<NaiveDateTime>, u64, Option<NaiveDateTime>)> {
    let t = quote_ident(table);
    let pk = quote_ident(&primary_key(table));
    // Read through the loaded cursor's window: dated at or above its floor, and not a version it
    // remembers. With no loaded batch, every row is pending.
    let floor = loaded.and_then(|c| {
        let (high, _) = c.high_water?;
        Some(c.source_clock.map_or(high, |clock| high.min(clock)) - lookback)
    });
    let (keys, stamps): (Vec<i64>, Vec<NaiveDateTime>) = loaded
        .map(|c| c.recent.iter().copied().unzip())
        .unwrap_or_default();
    let row = match floor {
        Some(floor) => source
            .query_one(
                &format!(
                    "SELECT max(x.last_updated)::timestamp(6), count(*) FILTER (WHERE x.pending), \
                     min(x.last_updated) FILTER (WHERE x.pending)::timestamp(6) \
                     FROM (SELECT t.last_updated, t.last_updated >= $1 AND r.k IS NULL AS pending \
                           FROM public.{t} t LEFT JOIN \
                           (SELECT DISTINCT k, at FROM unnest($2::int8[], $3::timestamp[]) AS u(k, at)) r \
                           ON r.k = t.{pk}::int8 AND r.at = t.last_updated) x"
                ),
                &[&floor, &keys, &stamps],
            )
            .await,
        None => source
            .query_one(
                &format!(
                    "SELECT max(last_updated)::timestamp(6), count(*), min(last_updated)::timestamp(6) FROM public.{t}"
                ),
                &[],
            )
            .await,
    }
    .map_err(source_error)?;
    Ok((row.get(0), row.get::<_, i64>(1) as u64, row.get(2)))
}

fn source_error(e: tokio_postgres::Error) -> tote_core::Error {
    tote_io::pg::classify(&e, tote_io::pg::Role::Source, "")
}

/// Emits the freshness metrics (per table, and the pipeline's).
pub fn emit(freshness: &Freshness) {
    for t in &freshness.tables {
        tote_core::metrics::emit(
            "load",
            &[("Table", &t.table)],
            &[("Freshness", t.freshness_seconds)],
        );
    }
    tote_core::metrics::emit("load", &[], &[("PipelineFreshness", freshness.freshness_seconds)]);
}

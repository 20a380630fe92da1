//! The plan of an execution: which tables it ingests, and which of them it reads in chunks.
//!
//! Every table an execution names must be on the allow-list ([`allowed_table`]: `TOTE_TABLES`,
//! of the ToteSys tables); the plan keeps the allow-list's (dependency) order. A table it is about
//! to read whole (a first read, a full refresh) with more than `TOTE_CHUNK_ROWS` rows is split
//! into key ranges under one high-water mark ([`split`]), each range read by a chunk of its own
//! and the chunks committed as one batch (`crate::chunks` tells how).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use tote_core::batch;
use tote_core::config::Config;
use tote_core::event::ingest::{Chunk, ChunkedTable, PlanRequest};
use tote_core::tables::{primary_key, quote_ident, SOURCE_TABLES};
use tote_core::{Error, Result};
use tote_io::commit_log::CommitLog;
use tote_io::pg::{self, Role};
use tote_io::store::Store;

use crate::range::KeyRange;
use crate::read::{read_columns, snapshot, SourceError};
use tote_pgcopy::layout::TableLayout;

/// The tables `request` names, each checked against the allow-list, in the allow-list's
/// (dependency) order and without duplicates; every allowed table when it names none.
pub(crate) fn tables(config: &Config, request: &PlanRequest) -> Result<Vec<String>> {
    match &request.tables {
        None => Ok(config.tables.clone()),
        Some(named) if named.is_empty() => Ok(config.tables.clone()),
        Some(named) => {
            for name in named {
                allowed_table(config, name)?;
            }
            Ok(config
                .tables
                .iter()
                .filter(|t| named.contains(t))
                .cloned()
                .collect())
        }
    }
}

/// Every fact model of the star schema, in load order: the state machine loads them all,
/// whichever tables are ingested.
pub(crate) fn facts(config: &Config) -> Vec<String> {
    config
        .models
        .iter()
        .filter(|m| m.kind.is_fact())
        .map(|m| m.name.clone())
        .collect()
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

/// The ranges of a key span `[min, max]` holding `rows` rows, about `budget` rows each: equal
/// key spans, since ToteSys keys are serial (a sparse span gives smaller chunks, never larger
/// ones than the rows it holds). The first range is open below and the last open above.
pub fn ranges(min: i64, max: i64, rows: u64, budget: u64) -> Vec<KeyRange> {
    let n = rows.div_ceil(budget.max(1)).max(1);
    let span = (max as i128 - min as i128 + 1).max(1);
    let n = (n as i128).min(span) as u64;
    let bound = |j: u64| (min as i128 + span * j as i128 / n as i128) as i64;
    (0..n)
        .map(|j| KeyRange {
            from: (j > 0).then(|| bound(j)),
            to: (j + 1 < n).then(|| bound(j + 1)),
        })
        .collect()
}

/// The plan's split of `tables` (in plan order) into those one invocation reads and those read
/// in chunks. Only a whole-table read is chunked: a full refresh, or a table with no committed
/// batch yet. Counting reads the table once, in one snapshot, and only when chunking is on.
pub async fn split(
    config: &Config,
    tables: Vec<String>,
    full_refresh: bool,
) -> Result<(Vec<String>, Vec<ChunkedTable>, Vec<Chunk>)> {
    if config.chunk_rows == 0 {
        return Ok((tables, vec![], vec![]));
    }
    let landing = Store::open(&config.landing, "TOTE_LANDING")?;
    let mut whole = Vec::new();
    for table in &tables {
        if full_refresh || CommitLog::new(landing.clone(), table).last().await?.is_none() {
            whole.push(table.clone());
        }
    }
    if whole.is_empty() {
        return Ok((tables, vec![], vec![]));
    }
    let url = tote_io::secrets::source_url(config).await?;
    let mut client = pg::connect(&url, Role::Source).await?;
    let err = |e: tokio_postgres::Error| pg::classify(&e, Role::Source, &url);
    let tx = snapshot(&mut client).await.map_err(err)?;
    let mut single = Vec::new();
    let (mut chunked, mut chunks) = (Vec::new(), Vec::new());
    for table in tables {
        let counted = match whole.contains(&table) {
            true => count(&tx, &table, &err).await?,
            false => None,
        };
        let Some(Counted {
            rows,
            min,
            max,
            until,
            scales,
        }) = counted.filter(|c| c.rows > config.chunk_rows)
        else {
            single.push(table);
            continue;
        };
        let group = batch::new_batch_id();
        let parts = ranges(min, max, rows, config.chunk_rows);
        tracing::info!(table, rows, chunks = parts.len(), %until, "reading the table in chunks");
        for (index, range) in parts.iter().enumerate() {
            chunks.push(Chunk {
                table: table.clone(),
                group: group.clone(),
                index: index as u32,
                chunks: parts.len() as u32,
                from: range.from,
                to: range.to,
                until,
                scales: scales.clone(),
            });
        }
        chunked.push(ChunkedTable {
            table,
            group,
            chunks: parts.len() as u32,
            until,
            execution: None,
        });
    }
    tx.commit().await.map_err(err)?;
    Ok((single, chunked, chunks))
}

/// What the plan counted of a table, in its snapshot.
struct Counted {
    rows: u64,
    /// The smallest and the greatest key.
    min: i64,
    max: i64,
    /// The later of the source's clock and the greatest `last_updated`.
    until: NaiveDateTime,
    /// The largest scale of each unconstrained `numeric` column.
    scales: BTreeMap<String, i8>,
}

/// Counts a table in one scan, or `None` when it is missing or empty (the ingest itself reports a
/// missing table).
async fn count(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    db: &SourceError<'_>,
) -> Result<Option<Counted>> {
    let columns = read_columns(tx, table).await.map_err(db)?;
    if columns.is_empty() {
        return Ok(None);
    }
    let layout = TableLayout::new(table, columns)?;
    let numerics: Vec<String> = layout
        .unconstrained_numerics()
        .into_iter()
        .map(|i| layout.columns[i].name.clone())
        .collect();
    let key = quote_ident(&primary_key(table));
    let scales: String = numerics
        .iter()
        .map(|c| format!(", max(scale({}))::int4", quote_ident(c)))
        .collect();
    let row = tx
        .query_one(
            &format!(
                "SELECT count(*)::int8, min({key})::int8, max({key})::int8, \
                 greatest(max(last_updated), clock_timestamp()::timestamp)::timestamp(6){scales} FROM public.{}",
                quote_ident(table)
            ),
            &[],
        )
        .await
        .map_err(db)?;
    let rows: i64 = row.get(0);
    let (Some(min), Some(max)) = (row.get::<_, Option<i64>>(1), row.get::<_, Option<i64>>(2)) else {
        return Ok(None);
    };
    let scales = numerics
        .into_iter()
        .enumerate()
        .filter_map(|(n, c)| Some((c, row.get::<_, Option<i32>>(4 + n)?.clamp(0, 38) as i8)))
        .collect();
    Ok((rows > 0).then_some(Counted {
        rows: rows as u64,
        min,
        max,
        until: row.get(3),
        scales,
    }))
}

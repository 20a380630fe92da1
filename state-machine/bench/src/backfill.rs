//! `tote bench --backfill-scale N`: a full refresh of the two largest tables read in chunks, at
//! 1, 2 and 4 chunks at a time, beside the same read in one invocation.
//!
//! ToteSys is seeded at scale N (1000 is about 48 M rows; it is generated here, never
//! committed). Each measurement is a `tote ingest --full-refresh` process into an empty landing
//! zone, measured from the OS: chunked with `--chunk-rows` and `--chunk-concurrency c`, and
//! whole with `--chunk-rows 0`. Each committed batch must hold exactly the table's rows (a quiet
//! source, one snapshot's worth: nothing lost, nothing doubled). The chunks run in one process,
//! as Lambda runs them in one invocation each: its peak RSS is that of `c` chunks at once, which
//! stays bounded whatever the table's size (each chunk streams in bounded batches).

use anyhow::bail;
use serde::Serialize;

use crate::measure::{r2, Cost};
use crate::report::machine;
use crate::session::Session;

/// The tables a backfill measures: the two largest of ToteSys.
const TABLES: [&str; 2] = ["sales_order", "payment"];

/// The chunk concurrencies measured.
const CONCURRENCIES: [usize; 3] = [1, 2, 4];

/// `<out>/backfill.json`.
#[derive(Debug, Serialize)]
pub struct BackfillReport {
    date: String,
    machine: String,
    scale: f64,
    chunk_rows: u64,
    tables: Vec<TableBackfill>,
}

/// One table's reads.
#[derive(Debug, Serialize)]
struct TableBackfill {
    table: String,
    rows: u64,
    chunks: u64,
    /// The read in one invocation (`--chunk-rows 0`).
    whole_wall_s: f64,
    whole_peak_rss_kb: u64,
    /// The read in chunks, per concurrency.
    chunked: Vec<ChunkedRead>,
}

/// The read in chunks at one concurrency.
#[derive(Debug, Serialize)]
struct ChunkedRead {
    concurrency: usize,
    wall_s: f64,
    user_s: f64,
    peak_rss_kb: u64,
    /// Rows per second.
    rows_per_s: f64,
    /// The one-invocation read's time over this one's.
    speedup_over_whole: f64,
    /// This read's time at concurrency 1 over this one's.
    speedup_over_one: f64,
}

/// Seeds ToteSys at `scale` and measures the reads.
pub fn measure_backfill(session: &Session, scale: f64, chunk_rows: u64) -> anyhow::Result<BackfillReport> {
    eprintln!("▸ seeding ToteSys at scale {scale} (the backfill)");
    session.seed(scale)?;
    let mut tables = Vec::new();
    for table in TABLES {
        let rows = session.scalar(&session.source, &format!("SELECT count(*) FROM {table}"))?;
        let read = |chunk_rows: u64, concurrency: usize| -> anyhow::Result<Cost> {
            session.remove("landing")?;
            let (cost, response) = session.measure_json(&[
                "ingest",
                "--table",
                table,
                "--full-refresh",
                "--json",
                "--chunk-rows",
                &chunk_rows.to_string(),
                "--chunk-concurrency",
                &concurrency.to_string(),
            ])?;
            let committed = response["rows"].as_u64().unwrap_or_default();
            if committed != rows {
                bail!("{table}: the read committed {committed} rows, the source has {rows}");
            }
            Ok(cost)
        };
        eprintln!("▸ {table}: {rows} rows in one invocation");
        let whole = read(0, 1)?;
        let mut chunked = Vec::new();
        for concurrency in CONCURRENCIES {
            eprintln!("▸ {table}: in chunks of {chunk_rows} rows, {concurrency} at a time");
            let cost = read(chunk_rows, concurrency)?;
            let one = chunked.first().map_or(cost.wall_s, |c: &ChunkedRead| c.wall_s);
            chunked.push(ChunkedRead {
                concurrency,
                wall_s: r2(cost.wall_s),
                user_s: r2(cost.user_s),
                peak_rss_kb: cost.max_rss_kb,
                rows_per_s: (rows as f64 / cost.wall_s).round(),
                speedup_over_whole: r2(whole.wall_s / cost.wall_s),
                speedup_over_one: r2(one / cost.wall_s),
            });
        }
        tables.push(TableBackfill {
            table: table.to_string(),
            rows,
            chunks: rows.div_ceil(chunk_rows.max(1)),
            whole_wall_s: r2(whole.wall_s),
            whole_peak_rss_kb: whole.max_rss_kb,
            chunked,
        });
    }
    Ok(BackfillReport {
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        machine: machine(),
        scale,
        chunk_rows,
        tables,
    })
}

/// The report as the markdown table docs/benchmarks.md quotes.
pub fn markdown(report: &BackfillReport) -> String {
    let mut out = format!(
        "Backfill at scale {} ({}), chunks of {} rows\n\n\
         | table | rows | chunks | at once | wall s | rows/s | peak RSS MB | vs one invocation | vs 1 at once |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        report.scale, report.machine, report.chunk_rows
    );
    for t in &report.tables {
        let mut row =
            |chunks: &str, at_once: usize, wall_s: f64, rss_kb: u64, vs_whole: f64, vs_one: &str| {
                out.push_str(&format!(
                "| {} | {} | {chunks} | {at_once} | {wall_s:.2} | {:.0} | {} | {vs_whole:.2}× | {vs_one} |\n",
                t.table,
                t.rows,
                t.rows as f64 / wall_s,
                rss_kb / 1024
            ));
            };
        row("1 (whole)", 1, t.whole_wall_s, t.whole_peak_rss_kb, 1.0, "");
        for c in &t.chunked {
            let vs_one = format!("{:.2}×", c.speedup_over_one);
            row(
                &t.chunks.to_string(),
                c.concurrency,
                c.wall_s,
                c.peak_rss_kb,
                c.speedup_over_whole,
                &vs_one,
            );
        }
    }
    out
}

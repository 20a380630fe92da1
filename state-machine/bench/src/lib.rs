//! `tote bench`: tote against the Postgres COPY ceiling on the same data, in the same run.
//!
//! A private Postgres is started and ToteSys seeded at three scales (scale/10, scale and
//! 3 × scale; why three: memory is bounded, not constant — row groups, the transform's sort pool
//! and the load's key lists fill up as the tables grow to about scale 100, so scale/10 → scale
//! shows those buffers filling and scale → 3 × scale whether anything grows after that). At each,
//! every stage runs as its own `tote` process, measured from the OS (wall time, user and system
//! CPU and peak RSS, from `wait4`), beside its ceiling:
//!
//! - ingest of `sales_order` (a full read), against `psql`'s `COPY (SELECT …) TO STDOUT (FORMAT
//!   binary)` into /dev/null, the median over `--runs`;
//! - the first transform of every table (with its own account of where the time went: reading
//!   the landing batches, the current state, each model, writing, the checkpoint), and a
//!   no-change transform; at the main scale, beside the same SQL models run by DuckDB over the
//!   same landing Parquet, writing the same star tables as zstd Parquet, as one process
//!   (`TOTE_BENCH_PYTHON`, scripts/lib/duckdb_transform.py), both producing the same rows; and
//!   both again with the same memory, the deployed transform's budget
//!   ([`DEPLOYED_TRANSFORM_MEMORY_MB`]; DuckDB's `memory_limit`);
//! - the first load of every batch, with `fact_sales_order`'s time (from the load's own report)
//!   against `psql`'s `COPY … FROM STDIN (FORMAT binary)` of the same rows into an empty copy of
//!   the table with its keys and indexes;
//! - a whole `tote run` with nothing new, and one after 1% of the sales orders changed;
//! - at the main scale, a whole first `tote run` into a fresh warehouse, with its ingest (the Map's
//!   span in the history) against every table's COPY TO at the Map's concurrency, and its load
//!   (LoadDimensions' and LoadFacts' spans) against COPY FROM of every star table's rows into an
//!   empty, migrated warehouse: the dimensions one after another, then the facts as many at a
//!   time as LoadFacts runs them.
//!
//! `--tote` measures another build's stages with this harness (the same keys), for a
//! before/after comparison.
//!
//! The results go to `<out>/bench.json` (typed, below) and `<out>/bench.md` (the table
//! docs/benchmarks.md quotes). `scripts/bench` builds the release binary and runs this.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

mod backfill;
mod cpus;
mod duckdb;
mod first_run;
mod measure;
mod report;
mod scales;
mod session;

use session::Session;

/// Arguments of `tote bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The ToteSys scale measured (also measured: a tenth of it and three times it).
    #[arg(long, default_value_t = 100.0)]
    pub scale: f64,
    /// Runs of each ingest and COPY measurement at the scale (the median is reported); the
    /// larger scale runs once.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where bench.json and bench.md are written.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// The tote binary whose stages are measured (default: this one). An earlier build, measured
    /// by this harness, gives a before/after comparison with the same keys.
    #[arg(long)]
    pub tote: Option<PathBuf>,
    /// Instead of the above: seed ToteSys at this scale (1000: about 48 M rows) and measure a
    /// full refresh of sales_order and payment read in chunks, 1, 2 and 4 at a time, beside the
    /// same read in one invocation (writes backfill.json and backfill.md).
    #[arg(long)]
    pub backfill_scale: Option<f64>,
    /// Rows per chunk of the backfill.
    #[arg(long, default_value_t = 1_500_000)]
    pub chunk_rows: u64,
}

/// The memory budget of the deployed transform (`TOTE_TRANSFORM_MEMORY_MB`): a quarter of the
/// transform function's 2048 MB, the stack's default (infra-cdk/lib/config.ts). Beside each
/// engine at its own default (tote 64 MB, spilling; DuckDB most of the machine's memory), both
/// run with this much: the same work with the same memory.
pub(crate) const DEPLOYED_TRANSFORM_MEMORY_MB: usize = 512;

/// The end of every seeded history, so runs on different days seed the same data.
pub(crate) const END: &str = "2026-11-27 08:00";

/// Runs `tote bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.scale.is_nan() || args.scale <= 0.0 {
        bail!("tote bench needs --scale above 0 and --runs of at least 1");
    }
    // Scales as a person writes them: 0.9, not 0.8999999999999999.
    let tidy = |x: f64| (x * 1e6).round() / 1e6;
    let small_scale = tidy((args.scale / 10.0).max(1.0).min(args.scale));
    let large_scale = tidy(args.scale * 3.0);
    let (runs, scale, tote) = (args.runs, args.scale, args.tote.clone());
    if let Some(backfill_scale) = args.backfill_scale {
        let chunk_rows = args.chunk_rows;
        let report = tokio::task::spawn_blocking(move || {
            backfill::measure_backfill(&Session::start(tote)?, backfill_scale, chunk_rows)
        })
        .await??;
        let text = backfill::markdown(&report);
        print!("{text}");
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
        std::fs::write(
            args.out.join("backfill.json"),
            serde_json::to_string_pretty(&report)? + "\n",
        )?;
        std::fs::write(args.out.join("backfill.md"), text)?;
        eprintln!("▸ wrote {}", args.out.join("backfill.json").display());
        return Ok(());
    }
    let (small, at, large) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let session = Session::start(tote)?;
        let small = session.scale_stats(small_scale, runs, false)?;
        let at = session.scale_stats(scale, runs, true)?;
        let large = session.scale_stats(large_scale, 1, false)?;
        Ok((small, at, large))
    })
    .await??;
    let report = report::report(&args, small_scale, large_scale, [&small, &at, &large]);
    print!("{}", report::summary(&report));
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let json = args.out.join("bench.json");
    let mut file = std::fs::File::create(&json)?;
    serde_json::to_writer_pretty(&mut file, &report)?;
    writeln!(file)?;
    std::fs::write(
        args.out.join("bench.md"),
        report::markdown(&report, at.quiet_transform.max_rss_kb),
    )?;
    eprintln!(
        "▸ wrote {} and {}",
        json.display(),
        args.out.join("bench.md").display()
    );
    Ok(())
}

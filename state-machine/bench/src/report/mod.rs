//! `bench.json`: the figures of the three scales as one typed report.

use serde::Serialize;

use crate::duckdb::Peer;
use crate::first_run::Whole;
use crate::measure::{r2, Cost};
use crate::scales::ScaleStats;
use crate::{BenchArgs, DEPLOYED_TRANSFORM_MEMORY_MB};

mod markdown;
mod summary;

pub(crate) use markdown::markdown;
pub(crate) use summary::summary;

/// `target/bench/bench.json`: the keys docs/benchmarks.md and earlier runs use.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    date: String,
    machine: String,
    scale: f64,
    runs: usize,
    ingest: IngestReport,
    transform: TransformReport,
    load: LoadReport,
    run: RunReport,
    pipeline: PipelineReport,
}

/// The whole first run at the main scale, and its stages beside their ceilings.
#[derive(Debug, Serialize)]
pub(crate) struct PipelineReport {
    first_run_wall_s: f64,
    ingest_s: f64,
    ingest_copy_to_ceiling_s: f64,
    ingest_ratio_to_copy_to: f64,
    /// tote's CPU ingesting every table, one at a time, net of start-up.
    ingest_tote_cpu_s: f64,
    /// The source's CPU for the same COPYs, one at a time.
    ingest_source_cpu_s: f64,
    /// The ceiling's psql's CPU for them.
    ingest_psql_cpu_s: f64,
    /// The whole first ingest with the source on a core of its own and tote on the others (0 on
    /// one core).
    ingest_apart_s: f64,
    /// Its ceiling, the source and psql apart the same way.
    ingest_apart_copy_to_ceiling_s: f64,
    ingest_apart_ratio_to_copy_to: f64,
    /// LoadDimensions + LoadFacts.
    load_s: f64,
    load_copy_from_ceiling_s: f64,
    load_ratio_to_copy_from: f64,
    load_dimensions_s: f64,
    load_dimensions_ceiling_s: f64,
    load_facts_s: f64,
    load_facts_ceiling_s: f64,
    /// MeasureFreshness, after the loads (not part of `load_s`).
    freshness_s: f64,
}

/// A stage's process as the OS accounted it, in the report's units: seconds to two decimals,
/// the peak RSS in KiB. Each stage's report holds one, its keys among the stage's own.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Process {
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    peak_rss_kb: u64,
}

impl Process {
    fn of(cost: &Cost) -> Process {
        Process {
            wall_s: r2(cost.wall_s),
            user_s: r2(cost.user_s),
            sys_s: r2(cost.sys_s),
            peak_rss_kb: cost.max_rss_kb,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct IngestReport {
    table: &'static str,
    rows: u64,
    source_bytes: u64,
    landing_bytes: u64,
    #[serde(flatten)]
    process: Process,
    ceiling_wall_s: f64,
    ratio_to_copy_to: f64,
    small_scale: f64,
    small_rows: u64,
    small_peak_rss_kb: u64,
    large_scale: f64,
    large_rows: u64,
    large_peak_rss_kb: u64,
    large_ratio_to_copy_to: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct TransformReport {
    fact_sales_order_rows: u64,
    #[serde(flatten)]
    process: Process,
    small_peak_rss_kb: u64,
    large_peak_rss_kb: u64,
    no_change_wall_s: f64,
    /// The first transform's own account of its time (its `steps`, in milliseconds).
    steps: serde_json::Value,
    /// The memory budget of the figures above: the local default.
    memory_mb: usize,
    /// DuckDB running the same models over the same landing Parquet, each at its default memory.
    #[serde(flatten)]
    duckdb: Versus,
    /// Both with the same memory, the deployed transform's budget (null when not measured).
    same_memory: Option<SameMemory>,
    /// DuckDB's seconds per step, from the script.
    duckdb_steps: serde_json::Value,
}

/// The first transform and DuckDB with the same memory: the deployed transform's budget.
#[derive(Debug, Serialize)]
pub(crate) struct SameMemory {
    memory_mb: usize,
    #[serde(flatten)]
    process: Process,
    /// tote's own account of its time (its `steps`, in milliseconds).
    steps: serde_json::Value,
    /// DuckDB with the same memory (the goal: tote / DuckDB at most 1.25).
    #[serde(flatten)]
    duckdb: Versus,
}

/// DuckDB running the transform's models beside tote's transform (each null when not measured).
#[derive(Debug, Serialize)]
pub(crate) struct Versus {
    duckdb_wall_s: Option<f64>,
    duckdb_peak_rss_kb: Option<u64>,
    /// tote's time over DuckDB's.
    ratio_to_duckdb: Option<f64>,
}

impl Versus {
    fn of(tote: &Cost, duckdb: Option<&Peer>) -> Versus {
        Versus {
            duckdb_wall_s: duckdb.map(|d| r2(d.cost.wall_s)),
            duckdb_peak_rss_kb: duckdb.map(|d| d.cost.max_rss_kb),
            ratio_to_duckdb: duckdb.map(|d| ratio(tote.wall_s, d.cost.wall_s)),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct LoadReport {
    #[serde(flatten)]
    process: Process,
    small_peak_rss_kb: u64,
    large_peak_rss_kb: u64,
    large_ratio_to_copy_from: f64,
    fact_sales_order_rows: u64,
    fact_sales_order_s: f64,
    copy_from_ceiling_s: f64,
    ratio_to_copy_from: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunReport {
    no_change_wall_s: f64,
    one_percent_changed_wall_s: f64,
}

/// "2 cores, 23 GiB, x86_64".
pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024 / 1024);
    format!("{cores} cores, {gib} GiB, {}", std::env::consts::ARCH)
}

/// `ceiling` over `tote`, as the report rounds it (0 when `tote` was not timed).
fn ratio(ceiling: f64, tote: f64) -> f64 {
    if tote > 0.0 {
        r2(ceiling / tote)
    } else {
        0.0
    }
}

/// The report of the three scales: `small` (`small_scale`), `at` (`args.scale`, the main one)
/// and `large` (`large_scale`).
pub(crate) fn report(
    args: &BenchArgs,
    small_scale: f64,
    large_scale: f64,
    scales @ [_, at, _]: [&ScaleStats; 3],
) -> Report {
    Report {
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        machine: machine(),
        scale: args.scale,
        runs: args.runs,
        ingest: IngestReport::of(scales, small_scale, large_scale),
        transform: TransformReport::of(scales),
        load: LoadReport::of(scales),
        run: RunReport {
            no_change_wall_s: r2(at.run_quiet_s),
            one_percent_changed_wall_s: r2(at.run_one_percent_s),
        },
        pipeline: PipelineReport::of(&at.whole.unwrap_or_default()),
    }
}

impl IngestReport {
    /// `sales_order`'s ingest at the main scale, with its peak RSS and ratio at the others.
    fn of([small, at, large]: [&ScaleStats; 3], small_scale: f64, large_scale: f64) -> IngestReport {
        IngestReport {
            table: "sales_order",
            rows: at.rows,
            source_bytes: at.bytes,
            landing_bytes: at.landing_bytes,
            process: Process::of(&at.ingest),
            ceiling_wall_s: r2(at.ceiling_s),
            ratio_to_copy_to: ratio(at.ceiling_s, at.ingest.wall_s),
            small_scale,
            small_rows: small.rows,
            small_peak_rss_kb: small.ingest.max_rss_kb,
            large_scale,
            large_rows: large.rows,
            large_peak_rss_kb: large.ingest.max_rss_kb,
            large_ratio_to_copy_to: ratio(large.ceiling_s, large.ingest.wall_s),
        }
    }
}

impl TransformReport {
    /// The first transform at the main scale beside DuckDB, with its peak RSS at the others.
    fn of([small, at, large]: [&ScaleStats; 3]) -> TransformReport {
        TransformReport {
            fact_sales_order_rows: at.rows,
            process: Process::of(&at.transform),
            small_peak_rss_kb: small.transform.max_rss_kb,
            large_peak_rss_kb: large.transform.max_rss_kb,
            no_change_wall_s: r2(at.quiet_transform.wall_s),
            steps: at.transform_steps.clone(),
            memory_mb: tote_core::config::Config::from_lookup(|_| None).map_or(0, |c| c.transform_memory_mb),
            duckdb: Versus::of(&at.transform, at.duckdb.as_ref()),
            same_memory: at.same_memory.as_ref().map(|(cost, steps, duckdb)| SameMemory {
                memory_mb: DEPLOYED_TRANSFORM_MEMORY_MB,
                process: Process::of(cost),
                steps: steps.clone(),
                duckdb: Versus::of(cost, duckdb.as_ref()),
            }),
            duckdb_steps: at
                .duckdb
                .as_ref()
                .map_or(serde_json::Value::Null, |d| d.seconds.clone()),
        }
    }
}

impl LoadReport {
    /// The first load at the main scale, `fact_sales_order`'s beside its COPY FROM ceiling, with
    /// its peak RSS at the others.
    fn of([small, at, large]: [&ScaleStats; 3]) -> LoadReport {
        LoadReport {
            process: Process::of(&at.load),
            small_peak_rss_kb: small.load.max_rss_kb,
            large_peak_rss_kb: large.load.max_rss_kb,
            large_ratio_to_copy_from: ratio(large.copy_from_s, large.fact_sales_order_s),
            fact_sales_order_rows: at.fact_sales_order_rows,
            fact_sales_order_s: at.fact_sales_order_s,
            copy_from_ceiling_s: r2(at.copy_from_s),
            ratio_to_copy_from: ratio(at.copy_from_s, at.fact_sales_order_s),
        }
    }
}

impl PipelineReport {
    /// The whole first run's figures (all 0 when it was not measured).
    fn of(w: &Whole) -> PipelineReport {
        let (load_s, load_ceiling_s) = (
            w.load_dimensions_s + w.load_facts_s,
            w.load_dimensions_ceiling_s + w.load_facts_ceiling_s,
        );
        PipelineReport {
            first_run_wall_s: r2(w.run_s),
            ingest_s: r2(w.ingest_s),
            ingest_copy_to_ceiling_s: r2(w.ingest_ceiling_s),
            ingest_ratio_to_copy_to: ratio(w.ingest_ceiling_s, w.ingest_s),
            ingest_tote_cpu_s: r2(w.ingest_tote_cpu_s),
            ingest_source_cpu_s: r2(w.ingest_source_cpu_s),
            ingest_psql_cpu_s: r2(w.ingest_psql_cpu_s),
            ingest_apart_s: r2(w.ingest_apart_s),
            ingest_apart_copy_to_ceiling_s: r2(w.ingest_apart_ceiling_s),
            ingest_apart_ratio_to_copy_to: ratio(w.ingest_apart_ceiling_s, w.ingest_apart_s),
            load_s: r2(load_s),
            load_copy_from_ceiling_s: r2(load_ceiling_s),
            load_ratio_to_copy_from: ratio(load_ceiling_s, load_s),
            load_dimensions_s: r2(w.load_dimensions_s),
            load_dimensions_ceiling_s: r2(w.load_dimensions_ceiling_s),
            load_facts_s: r2(w.load_facts_s),
            load_facts_ceiling_s: r2(w.load_facts_ceiling_s),
            freshness_s: r2(w.freshness_s),
        }
    }
}

/// Rows per second, or `-` when nothing was timed.
pub(crate) fn per_s(rows: u64, seconds: f64) -> String {
    match seconds > 0.0 {
        true => format!("{:.0}", rows as f64 / seconds),
        false => "-".into(),
    }
}

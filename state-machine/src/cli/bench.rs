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
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use tote_core::private_pg::PrivateCluster;

mod backfill;

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
const DEPLOYED_TRANSFORM_MEMORY_MB: usize = 512;

/// The peer of the transform: tote's models run by DuckDB (`TOTE_BENCH_PYTHON`, a Python with
/// the duckdb package, which `scripts/bench` installs into target/bench-venv).
const DUCKDB_TRANSFORM: &str = include_str!("../../../scripts/lib/duckdb_transform.py");

/// The end of every seeded history, so runs on different days seed the same data.
const END: &str = "2026-11-27 08:00";

/// `fact_sales_order`'s columns without its record id: what the COPY FROM ceiling writes.
const FACT_SALES_ORDER_COLUMNS: &str = "sales_order_id, created_date, created_time, last_updated_date, \
     last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, \
     agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id";

/// One process's cost, as the OS accounts it.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    max_rss_kb: u64,
}

/// Runs `command` to completion with stdout sent to `stdout`, and measures it. A command that
/// fails is an error naming it, with its stderr.
fn measure(command: &mut Command, stdout: Stdio) -> anyhow::Result<Cost> {
    let started = Instant::now();
    let child = command
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.expect("stderr is piped");
    // Drained on a thread so a chatty child never blocks on a full pipe.
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; status and usage are valid pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall_s = started.elapsed().as_secs_f64();
    let errors = drain.join().unwrap_or_default();
    if waited != pid {
        bail!(
            "waiting for {:?} failed: {}",
            command.get_program(),
            std::io::Error::last_os_error()
        );
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        // The arguments name the databases: their passwords never reach the message.
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .map(|a| match a.starts_with("postgres://") {
                true => tote_core::pg::redact(&a),
                false => a,
            })
            .collect();
        bail!(
            "{} {} failed: {}",
            command.get_program().to_string_lossy(),
            args.join(" "),
            errors.trim()
        );
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Cost {
        wall_s,
        user_s: seconds(usage.ru_utime),
        sys_s: seconds(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss as u64,
    })
}

/// The median of `values` (the lower middle one of an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

/// Rounds to two decimals, as the figures are reported.
fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The measurements at one scale.
#[derive(Debug, Default)]
struct ScaleStats {
    /// Sales orders seeded.
    rows: u64,
    /// `pg_total_relation_size('sales_order')`.
    bytes: u64,
    /// Median wall time of the COPY TO ceiling.
    ceiling_s: f64,
    /// The ingest: median wall, CPU of the fastest run, the largest peak RSS.
    ingest: Cost,
    /// Bytes of the landing zone's `sales_order` objects.
    landing_bytes: u64,
    transform: Cost,
    /// Where the first transform's time went, from its own report (`tote transform --json`).
    transform_steps: serde_json::Value,
    /// The same models run by DuckDB over the same landing Parquet (the main scale, when
    /// `TOTE_BENCH_PYTHON` is set).
    duckdb: Option<Peer>,
    /// Both again with [`DEPLOYED_TRANSFORM_MEMORY_MB`]: tote, with its own account of its
    /// time, and DuckDB (the main scale).
    same_memory: Option<(Cost, serde_json::Value, Option<Peer>)>,
    quiet_transform: Cost,
    load: Cost,
    fact_sales_order_rows: u64,
    fact_sales_order_s: f64,
    /// Median wall time of the COPY FROM ceiling.
    copy_from_s: f64,
    run_quiet_s: f64,
    run_one_percent_s: f64,
    /// The whole first run and its ceilings (measured at the main scale only).
    whole: Option<Whole>,
}

/// DuckDB running the transform's models, as one process.
#[derive(Debug, Clone)]
struct Peer {
    cost: Cost,
    /// Seconds per step, from the script (`read_landing`, then each model).
    seconds: serde_json::Value,
}

/// A whole first `tote run`, with its ingest and load beside their ceilings.
#[derive(Debug, Default, Clone, Copy)]
struct Whole {
    /// The run, start to finish.
    run_s: f64,
    /// The ingest Map's span in the run's history.
    ingest_s: f64,
    /// Every table's `COPY … TO STDOUT (FORMAT binary)` to /dev/null, as many at a time as the
    /// Map's MaxConcurrency.
    ingest_ceiling_s: f64,
    /// tote's CPU (user + system) ingesting every table, one at a time, net of start-up.
    ingest_tote_cpu_s: f64,
    /// The source's time copying every table out, one at a time (its CPU for the COPYs).
    ingest_source_cpu_s: f64,
    /// The ceiling's psql's CPU for the same COPYs.
    ingest_psql_cpu_s: f64,
    /// The ingest Map's span in a second first run with the source on a core of its own and
    /// tote on the others (as deployed, where the source is another machine); 0 on one core.
    ingest_apart_s: f64,
    /// The ceiling's COPYs with the source and psql kept apart the same way.
    ingest_apart_ceiling_s: f64,
    /// LoadDimensions' span in the run's history.
    load_dimensions_s: f64,
    /// LoadFacts' span (the Map of the fact loads).
    load_facts_s: f64,
    /// MeasureFreshness' span (absent, 0, in a definition without it).
    freshness_s: f64,
    /// Every dimension's rows `COPY … FROM STDIN (FORMAT binary)` into an empty, migrated
    /// warehouse (the same keys and indexes; the foreign keys' triggers skipped), one after
    /// another.
    load_dimensions_ceiling_s: f64,
    /// Then every fact's, as many at a time as LoadFacts runs.
    load_facts_ceiling_s: f64,
}

/// A private Postgres with the source (`totesys`) and a warehouse, and a work directory.
struct Session {
    tote: PathBuf,
    source: String,
    admin: String,
    warehouse: String,
    work: tempfile::TempDir,
    cluster: PrivateCluster,
}

impl Session {
    fn start(tote: Option<PathBuf>) -> anyhow::Result<Session> {
        if Command::new("psql").arg("--version").output().is_err() {
            bail!("tote bench measures the COPY ceilings with psql, which is not installed: install postgresql-client");
        }
        let cluster = PrivateCluster::start_temporary()?;
        measure(
            &mut Self::psql(&cluster.url("postgres"), &["CREATE DATABASE totesys"]),
            Stdio::null(),
        )?;
        Ok(Session {
            tote: match tote {
                Some(path) => path,
                None => std::env::current_exe().context("cannot find the tote binary")?,
            },
            source: cluster.url("totesys"),
            admin: cluster.url("postgres"),
            warehouse: cluster.url("warehouse"),
            work: tempfile::Builder::new().prefix("tote-bench-").tempdir()?,
            cluster,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// `tote` with the session's stores and databases.
    fn tote(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.tote);
        command
            .args(args)
            .env("TOTE_SOURCE_URL", &self.source)
            .env("TOTE_WAREHOUSE_URL", &self.warehouse)
            .env("TOTE_LANDING", self.path("landing"))
            .env("TOTE_PROCESSED", self.path("processed"))
            .env("TOTE_HOME", self.path("home"))
            .env_remove("TOTE_MODELS");
        command
    }

    /// `psql` on `url` running `sql` (each a separate `-c`), quietly.
    fn psql(url: &str, sql: &[&str]) -> Command {
        let mut command = Command::new("psql");
        command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", url]);
        for statement in sql {
            command.args(["-c", statement]);
        }
        command
    }

    /// The single value `sql` returns.
    fn scalar(&self, url: &str, sql: &str) -> anyhow::Result<u64> {
        let out = Self::psql(url, &[sql]).output()?;
        if !out.status.success() {
            bail!("psql: {sql}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    }

    fn run(&self, command: &mut Command) -> anyhow::Result<Cost> {
        measure(command, Stdio::null())
    }

    /// Runs `tote <args>` (a command that prints its report as JSON), measured; its report.
    fn measure_json(&self, args: &[&str]) -> anyhow::Result<(Cost, serde_json::Value)> {
        self.measure_json_with(args, &[])
    }

    /// [`Session::measure_json`] with these environment variables set for the command.
    fn measure_json_with(
        &self,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<(Cost, serde_json::Value)> {
        let out = self.path("report.json");
        let mut command = self.tote(args);
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let cost = measure(&mut command, Stdio::from(std::fs::File::create(&out)?))?;
        let report = serde_json::from_slice(&std::fs::read(&out)?)
            .with_context(|| format!("tote {} printed no JSON report", args.join(" ")))?;
        Ok((cost, report))
    }

    fn remove(&self, name: &str) -> anyhow::Result<()> {
        match std::fs::remove_dir_all(self.path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Every measurement at `scale`, each repeated `runs` times where the median is reported.
    fn scale_stats(&self, scale: f64, runs: usize, whole: bool) -> anyhow::Result<ScaleStats> {
        eprintln!("▸ seeding ToteSys at scale {scale}");
        let scale_text = scale.to_string();
        self.run(Command::new(&self.tote).args([
            "sim",
            "seed",
            "--url",
            &self.source,
            "--scale",
            &scale_text,
            "--end",
            END,
            "--replace",
        ]))?;
        let mut stats = ScaleStats {
            rows: self.scalar(&self.source, "SELECT count(*) FROM sales_order")?,
            bytes: self.scalar(&self.source, "SELECT pg_total_relation_size('sales_order')")?,
            ..ScaleStats::default()
        };

        eprintln!("▸ ingest sales_order and its COPY TO ceiling, {runs} × ");
        let mut ceilings = Vec::new();
        let mut ingests = Vec::new();
        for _ in 0..runs {
            let copy_to = "COPY (SELECT * FROM sales_order) TO STDOUT (FORMAT binary)";
            ceilings.push(self.run(&mut Self::psql(&self.source, &[copy_to]))?.wall_s);
            self.remove("landing")?;
            ingests.push(self.run(&mut self.tote(&["ingest", "--table", "sales_order"]))?);
        }
        stats.ceiling_s = median(&ceilings);
        let fastest = ingests
            .iter()
            .min_by(|a, b| a.wall_s.total_cmp(&b.wall_s))
            .copied()
            .unwrap_or_default();
        stats.ingest = Cost {
            wall_s: median(&ingests.iter().map(|c| c.wall_s).collect::<Vec<_>>()),
            max_rss_kb: ingests.iter().map(|c| c.max_rss_kb).max().unwrap_or(0),
            ..fastest
        };
        stats.landing_bytes = directory_bytes(&self.path("landing").join("sales_order"))?;

        eprintln!("▸ the other tables, a first transform and a no-change transform");
        for table in tote_core::tables::SOURCE_TABLES
            .iter()
            .filter(|t| **t != "sales_order")
        {
            self.run(&mut self.tote(&["ingest", "--table", table]))?;
        }
        self.remove("processed")?;
        let (cost, transformed) = self.measure_json(&["transform", "--json"])?;
        stats.transform = cost;
        stats.transform_steps = transformed["steps"].clone();
        if whole {
            stats.duckdb = self.duckdb_transform(&transformed["rows"], None)?;
            eprintln!("▸ the first transform and DuckDB again, with {DEPLOYED_TRANSFORM_MEMORY_MB} MB each");
            self.remove("processed")?;
            let budget = [(
                "TOTE_TRANSFORM_MEMORY_MB",
                DEPLOYED_TRANSFORM_MEMORY_MB.to_string(),
            )];
            let (cost, again) = self.measure_json_with(&["transform", "--json"], &budget)?;
            let duckdb = self.duckdb_transform(&again["rows"], Some(DEPLOYED_TRANSFORM_MEMORY_MB))?;
            stats.same_memory = Some((cost, again["steps"].clone(), duckdb));
        }
        stats.quiet_transform = self.run(&mut self.tote(&["transform"]))?;

        eprintln!("▸ the first load, and the COPY FROM ceiling of fact_sales_order, {runs} ×");
        self.run(&mut Self::psql(
            &self.admin,
            &[
                "DROP DATABASE IF EXISTS warehouse WITH (FORCE)",
                "CREATE DATABASE warehouse",
            ],
        ))?;
        let (cost, loaded) = self.measure_json(&["load", "--json"])?;
        stats.load = cost;
        let fso = &loaded["rows"]["fact_sales_order"];
        stats.fact_sales_order_rows = fso["staged"]
            .as_u64()
            .context("the load's report has no fact_sales_order rows")?;
        stats.fact_sales_order_s = fso["millis"].as_f64().unwrap_or(0.0) / 1000.0;
        let dump = self.path("fact_sales_order.bin");
        measure(
            &mut Self::psql(
                &self.warehouse,
                &[&format!("COPY (SELECT {FACT_SALES_ORDER_COLUMNS} FROM fact_sales_order) TO STDOUT (FORMAT binary)")],
            ),
            Stdio::from(std::fs::File::create(&dump)?),
        )?;
        let mut copies = Vec::new();
        for _ in 0..runs {
            self.run(&mut Self::psql(
                &self.warehouse,
                &[
                    "DROP TABLE IF EXISTS bench_ceiling",
                    "CREATE TABLE bench_ceiling (LIKE fact_sales_order INCLUDING ALL)",
                ],
            ))?;
            let copy_from =
                format!("COPY bench_ceiling ({FACT_SALES_ORDER_COLUMNS}) FROM STDIN (FORMAT binary)");
            let mut command = Self::psql(&self.warehouse, &[&copy_from]);
            command.stdin(std::fs::File::open(&dump)?);
            copies.push(self.run(&mut command)?.wall_s);
        }
        stats.copy_from_s = median(&copies);
        self.run(&mut Self::psql(&self.warehouse, &["DROP TABLE bench_ceiling"]))?;

        if whole {
            stats.whole = Some(self.whole_first_run()?);
        }

        eprintln!("▸ whole runs: nothing new, then 1% of the sales orders changed");
        stats.run_quiet_s = self.run(&mut self.tote(&["run"]))?.wall_s;
        self.run(&mut Self::psql(
            &self.source,
            &["UPDATE sales_order SET units_sold = units_sold + 1, \
               last_updated = (SELECT max(last_updated) FROM sales_order) + interval '1 minute' \
               WHERE sales_order_id % 100 = 0"],
        ))?;
        stats.run_one_percent_s = self.run(&mut self.tote(&["run"]))?.wall_s;
        Ok(stats)
    }
}

impl Session {
    /// The transform's models run by DuckDB over the landing zone tote just transformed, as one
    /// process, writing zstd Parquet; `None` without `TOTE_BENCH_PYTHON`. Both engines must
    /// produce the same rows per model (`tote_rows`, the transform's report), or the comparison
    /// would not be of the same work.
    fn duckdb_transform(
        &self,
        tote_rows: &serde_json::Value,
        memory_limit_mb: Option<usize>,
    ) -> anyhow::Result<Option<Peer>> {
        let Some(python) = std::env::var_os("TOTE_BENCH_PYTHON") else {
            eprintln!("▸ TOTE_BENCH_PYTHON is not set: the transform is not compared with DuckDB (scripts/bench sets it)");
            return Ok(None);
        };
        eprintln!("▸ the same models run by DuckDB");
        let script = self.path("duckdb_transform.py");
        std::fs::write(&script, DUCKDB_TRANSFORM)?;
        let tables: serde_json::Map<String, serde_json::Value> = tote_core::tables::SOURCE_TABLES
            .iter()
            .map(|t| (t.to_string(), tote_core::tables::primary_key(t).into()))
            .collect();
        let models: serde_json::Map<String, serde_json::Value> = tote_core::models::built_in()
            .iter()
            .map(|m| (m.name.clone(), m.sql.clone().into()))
            .collect();
        let spec = self.path("duckdb.json");
        self.remove("duckdb-out")?;
        std::fs::write(
            &spec,
            serde_json::to_vec(&serde_json::json!({
                "landing": self.path("landing"),
                "out": self.path("duckdb-out"),
                "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
                "memory_limit_mb": memory_limit_mb,
                "temp_directory": self.path("duckdb-spill"),
                "tables": tables,
                "models": models,
            }))?,
        )?;
        let answer = self.path("duckdb-answer.json");
        let cost = measure(
            Command::new(python).arg(&script).arg(&spec),
            Stdio::from(std::fs::File::create(&answer)?),
        )?;
        let answer: serde_json::Value = serde_json::from_slice(&std::fs::read(&answer)?)
            .context("the DuckDB transform printed no JSON")?;
        for model in tote_core::models::built_in() {
            let (ours, theirs) = (
                tote_rows[&model.name].as_u64().unwrap_or(0),
                answer["rows"][&model.name].as_u64().unwrap_or(0),
            );
            if ours != theirs {
                bail!("{}: tote's transform produced {ours} rows, DuckDB {theirs}: the two did not do the same work", model.name);
            }
        }
        Ok(Some(Peer {
            cost,
            seconds: answer["seconds"].clone(),
        }))
    }

    /// A whole first `tote run` into a fresh warehouse and stores, then its ingest and load
    /// ceilings on the same data.
    fn whole_first_run(&self) -> anyhow::Result<Whole> {
        eprintln!("▸ a whole first run, and the ceilings of its ingest and its load");
        self.remove_run("whole")?;
        self.remove("whole-dump")?;
        std::fs::create_dir_all(self.path("whole-dump"))?;
        let warehouse = tote_core::pg::with_database(&self.admin, "whole")?;
        let ceiling = tote_core::pg::with_database(&self.admin, "whole_ceiling")?;
        self.run(&mut Self::psql(
            &self.admin,
            &[
                "DROP DATABASE IF EXISTS whole WITH (FORCE)",
                "CREATE DATABASE whole",
                "DROP DATABASE IF EXISTS whole_ceiling WITH (FORCE)",
                "CREATE DATABASE whole_ceiling",
            ],
        ))?;
        let run = self.run(&mut self.first_run("whole", &warehouse))?;
        let record = self.execution("whole", "whole")?;
        let page = tote::report::Page::of(&record, &[]);
        let span = |state: &str| state_span(&page, state);

        // The ingest's ceiling: each table's COPY TO, as many at a time as the Map runs.
        let concurrency = |map: &str, items: usize| map_concurrency(&record, map, items);
        let ingest_ceiling_s = at_once(
            concurrency("IngestTables", tote_core::tables::SOURCE_TABLES.len()),
            &tote_core::tables::SOURCE_TABLES,
            |table| {
                let sql = format!(
                    "COPY (SELECT * FROM {}) TO STDOUT (FORMAT binary)",
                    tote_core::tables::quote_ident(table)
                );
                self.run(&mut Self::psql(&self.source, &[&sql])).map(drop)
            },
        )?;

        let (ingest_apart_s, ingest_apart_ceiling_s) = self.ingest_apart(&record)?;

        // Where the whole ingest's CPU goes, table by table, one at a time: tote's (user +
        // system, less what a quiet ingest of the same table costs: the process starting,
        // connecting and fingerprinting, which `tote run` pays once, not per table), the
        // source's (the COPY's wall time: one backend, one core) and the ceiling's client's
        // (psql's user + system). Ingests run at once share the machine's cores with the source,
        // and so does the ceiling's psql: where cores are shared, as here, what tote spends
        // beyond what psql spends is what separates the two.
        let (mut tote_cpu_s, mut source_cpu_s, mut psql_cpu_s) = (0.0, 0.0, 0.0);
        self.remove("cpu-landing")?;
        for table in tote_core::tables::SOURCE_TABLES {
            let ingest = || {
                let mut command = self.tote(&["ingest", "--table", table]);
                command.env("TOTE_LANDING", self.path("cpu-landing"));
                self.run(&mut command).map(|c| c.user_s + c.sys_s)
            };
            let (first, quiet) = (ingest()?, ingest()?);
            tote_cpu_s += (first - quiet).max(0.0);
            let sql = format!(
                "COPY (SELECT * FROM {}) TO STDOUT (FORMAT binary)",
                tote_core::tables::quote_ident(table)
            );
            let copy = self.run(&mut Self::psql(&self.source, &[&sql]))?;
            source_cpu_s += copy.wall_s;
            psql_cpu_s += copy.user_s + copy.sys_s;
        }
        self.remove("cpu-landing")?;

        // The load's ceiling: the warehouse's rows, dumped, then copied into an empty copy of it.
        let mut migrate = self.tote(&["warehouse", "migrate"]);
        migrate.env("TOTE_WAREHOUSE_URL", &ceiling);
        self.run(&mut migrate)?;
        let (mut dimensions, mut facts) = (Vec::new(), Vec::new());
        for model in tote_core::models::built_in() {
            let table = tote_core::tables::quote_ident(&model.name);
            let columns: Vec<String> = model
                .columns
                .iter()
                .map(|c| tote_core::tables::quote_ident(c))
                .collect();
            let columns = columns.join(", ");
            let dump = self.path("whole-dump").join(format!("{}.bin", model.name));
            measure(
                &mut Self::psql(
                    &warehouse,
                    &[&format!(
                        "COPY (SELECT {columns} FROM {table}) TO STDOUT (FORMAT binary)"
                    )],
                ),
                Stdio::from(std::fs::File::create(&dump)?),
            )?;
            let copy = (
                format!("COPY {table} ({columns}) FROM STDIN (FORMAT binary)"),
                dump,
            );
            match model.kind.is_fact() {
                true => facts.push(copy),
                false => dimensions.push(copy),
            }
        }
        // Without the foreign keys' per-row triggers (as tote's own bulk path, which checks the
        // keys set-based instead): the ceiling is the same keys and indexes, as for one table.
        let copy_from = |(sql, dump): &(String, PathBuf)| -> anyhow::Result<()> {
            let mut command = Self::psql(
                &ceiling,
                &["SET session_replication_role = replica", sql.as_str()],
            );
            command.stdin(std::fs::File::open(dump)?);
            self.run(&mut command).map(drop)
        };
        let load_dimensions_ceiling_s = at_once(1, &dimensions, copy_from)?;
        // A definition with one fact task (before LoadFacts was a Map) loads them one by one.
        let fact_concurrency = match record.definition["States"]["LoadFacts"]["Type"].as_str() {
            Some("Map") => concurrency("LoadFacts", facts.len()),
            _ => 1,
        };
        let load_facts_ceiling_s = at_once(fact_concurrency, &facts, copy_from)?;
        Ok(Whole {
            run_s: run.wall_s,
            ingest_s: span("IngestTables"),
            ingest_ceiling_s,
            ingest_tote_cpu_s: tote_cpu_s,
            ingest_source_cpu_s: source_cpu_s,
            ingest_psql_cpu_s: psql_cpu_s,
            ingest_apart_s,
            ingest_apart_ceiling_s,
            load_dimensions_s: span("LoadDimensions"),
            load_facts_s: span("LoadFacts"),
            freshness_s: span("MeasureFreshness"),
            load_dimensions_ceiling_s,
            load_facts_ceiling_s,
        })
    }
}

impl Session {
    /// `tote run --name <name>` into `warehouse`, with fresh stores and home under `<name>-…`.
    fn first_run(&self, name: &str, warehouse: &str) -> Command {
        let mut command = self.tote(&["run", "--name", name]);
        command
            .env("TOTE_WAREHOUSE_URL", warehouse)
            .env("TOTE_LANDING", self.path(&format!("{name}-landing")))
            .env("TOTE_PROCESSED", self.path(&format!("{name}-processed")))
            .env("TOTE_HOME", self.path(&format!("{name}-home")));
        command
    }

    /// Execution `name` as recorded under the home of [`Session::first_run`]`(run, …)`.
    fn execution(&self, run: &str, name: &str) -> anyhow::Result<tote_asl::ExecutionRecord> {
        let executions = self.path(&format!("{run}-home")).join("executions");
        Ok(tote_asl::ExecutionStore::new(executions).load(name)?)
    }

    /// The whole first ingest and its ceiling again, with the source's server on the first of the
    /// cores this process may use and tote (or psql) on the others: the source's work and the client's no longer share a
    /// core, as in AWS, where the source is a database server of its own and the ingest a Lambda.
    /// On one shared machine the first figure is bounded by the two processes' CPU together (the
    /// source's COPY plus tote's decoding, encoding, compression and hashing, against the
    /// source's COPY plus psql's writing to /dev/null); apart, by whichever of the two is slower.
    /// The ingest is a second first `tote run` into fresh stores and a fresh warehouse; its Map's
    /// span is read from its history. `(0, 0)` on a machine with one core.
    fn ingest_apart(&self, first: &tote_asl::ExecutionRecord) -> anyhow::Result<(f64, f64)> {
        let cpus = allowed_cpus()?;
        let [source, clients @ ..] = cpus.as_slice() else {
            unreachable!("a process runs on at least one core")
        };
        if clients.is_empty() {
            eprintln!("▸ one core: the ingest with the source on a core of its own is not measured");
            return Ok((0.0, 0.0));
        }
        eprintln!("▸ the whole first ingest again, the source on one core and tote on the others");
        self.remove_run("apart")?;
        let warehouse = tote_core::pg::with_database(&self.admin, "whole_apart")?;
        self.run(&mut Self::psql(
            &self.admin,
            &[
                "DROP DATABASE IF EXISTS whole_apart WITH (FORCE)",
                "CREATE DATABASE whole_apart",
            ],
        ))?;
        let clients = cpu_set(clients);
        let measured = self.with_source_on(cpu_set(&[*source]), cpu_set(&cpus), || {
            self.run(on_cpus(&mut self.first_run("apart", &warehouse), clients))?;
            let record = self.execution("apart", "apart")?;
            let ingest_s = state_span(&tote::report::Page::of(&record, &[]), "IngestTables");
            let concurrency = map_concurrency(first, "IngestTables", tote_core::tables::SOURCE_TABLES.len());
            let ceiling_s = at_once(concurrency, &tote_core::tables::SOURCE_TABLES, |table| {
                let sql = format!(
                    "COPY (SELECT * FROM {}) TO STDOUT (FORMAT binary)",
                    tote_core::tables::quote_ident(table)
                );
                self.run(on_cpus(&mut Self::psql(&self.source, &[&sql]), clients))
                    .map(drop)
            })?;
            Ok((ingest_s, ceiling_s))
        });
        self.remove_run("apart")?;
        self.run(&mut Self::psql(
            &self.admin,
            &["DROP DATABASE IF EXISTS whole_apart WITH (FORCE)"],
        ))?;
        measured
    }

    /// Removes the stores and home of [`Session::first_run`]`(name, …)`.
    fn remove_run(&self, name: &str) -> anyhow::Result<()> {
        for part in ["landing", "processed", "home"] {
            self.remove(&format!("{name}-{part}"))?;
        }
        Ok(())
    }

    /// Runs `work` with the source's server, and every process it has started (backends it
    /// starts later inherit it), on the cores `cpus` only; then gives it back the cores `after`.
    fn with_source_on<T>(
        &self,
        cpus: libc::cpu_set_t,
        after: libc::cpu_set_t,
        work: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let pid_file = self.cluster.root().join("data").join("postmaster.pid");
        let server: libc::pid_t = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("cannot read {}", pid_file.display()))?
            .lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .with_context(|| format!("{} names no process", pid_file.display()))?;
        let processes = |server: libc::pid_t| -> Vec<libc::pid_t> {
            let children =
                std::fs::read_to_string(format!("/proc/{server}/task/{server}/children")).unwrap_or_default();
            std::iter::once(server)
                .chain(children.split_whitespace().filter_map(|p| p.parse().ok()))
                .collect()
        };
        for pid in processes(server) {
            set_affinity(pid, &cpus).with_context(|| format!("cannot move the source's process {pid}"))?;
        }
        let result = work();
        for pid in processes(server) {
            // A backend that ended meanwhile has nothing to restore.
            let _ = set_affinity(pid, &after);
        }
        result
    }
}

/// How many iterations Map `map` of the execution's definition runs at once, for `items` items.
fn map_concurrency(execution: &tote_asl::ExecutionRecord, map: &str, items: usize) -> usize {
    execution.definition["States"][map]["MaxConcurrency"]
        .as_u64()
        .filter(|n| *n > 0)
        .map_or(items, |n| n as usize)
}

/// A state's span in seconds in an execution's page (0 when it did not run).
fn state_span(page: &tote::report::Page, state: &str) -> f64 {
    page.states
        .iter()
        .find(|s| s.name == state)
        .and_then(|s| s.duration_ms())
        .unwrap_or(0) as f64
        / 1000.0
}

/// The cores this process may run on (the server it starts inherits them), ascending.
fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size given, for the kernel to fill in.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: every index is below CPU_SETSIZE, the set's capacity.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// The set of the cores `cpus` (each below CPU_SETSIZE, as [`allowed_cpus`] answers them).
fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: `cpu` is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

/// Restricts process `pid` (0: this one) to the cores of `set`.
fn set_affinity(pid: libc::pid_t, set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    match unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), set) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// `command`, to run on the cores of `set` only.
fn on_cpus(command: &mut Command, set: libc::cpu_set_t) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure makes one system call and allocates nothing, as `pre_exec` requires.
    unsafe { command.pre_exec(move || set_affinity(0, &set)) }
}

/// Runs `job` on every item, `concurrency` at a time (each worker a scoped thread taking the
/// next item), and answers the wall time of the whole; the first error fails it.
fn at_once<T: Sync>(
    concurrency: usize,
    items: &[T],
    job: impl Fn(&T) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<f64> {
    let queue = std::sync::Mutex::new(items.iter());
    let started = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let next = queue.lock().expect("not poisoned").next();
                        match next {
                            Some(item) => job(item)?,
                            None => return Ok(()),
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("a worker does not panic")?;
        }
        Ok(())
    })?;
    Ok(started.elapsed().as_secs_f64())
}

/// The bytes of the files under `dir`.
fn directory_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            directory_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// `target/bench/bench.json`: the keys docs/benchmarks.md and earlier runs use.
#[derive(Debug, Serialize)]
struct Report {
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
struct PipelineReport {
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

#[derive(Debug, Serialize)]
struct IngestReport {
    table: &'static str,
    rows: u64,
    source_bytes: u64,
    landing_bytes: u64,
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    peak_rss_kb: u64,
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
struct TransformReport {
    fact_sales_order_rows: u64,
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    peak_rss_kb: u64,
    small_peak_rss_kb: u64,
    large_peak_rss_kb: u64,
    no_change_wall_s: f64,
    /// The first transform's own account of its time (its `steps`, in milliseconds).
    steps: serde_json::Value,
    /// The memory budget of the figures above: the local default.
    memory_mb: usize,
    /// DuckDB running the same models over the same landing Parquet, at its default memory
    /// (null when not measured).
    duckdb_wall_s: Option<f64>,
    duckdb_peak_rss_kb: Option<u64>,
    /// tote's time over DuckDB's, each at its own default memory.
    ratio_to_duckdb: Option<f64>,
    /// Both with the same memory, the deployed transform's budget (null when not measured).
    same_memory: Option<SameMemory>,
    /// DuckDB's seconds per step, from the script.
    duckdb_steps: serde_json::Value,
}

/// The first transform and DuckDB with the same memory: the deployed transform's budget.
#[derive(Debug, Serialize)]
struct SameMemory {
    memory_mb: usize,
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    peak_rss_kb: u64,
    /// tote's own account of its time (its `steps`, in milliseconds).
    steps: serde_json::Value,
    duckdb_wall_s: Option<f64>,
    duckdb_peak_rss_kb: Option<u64>,
    /// tote's time over DuckDB's (the goal is at most 1.25).
    ratio_to_duckdb: Option<f64>,
}

#[derive(Debug, Serialize)]
struct LoadReport {
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    peak_rss_kb: u64,
    small_peak_rss_kb: u64,
    large_peak_rss_kb: u64,
    large_ratio_to_copy_from: f64,
    fact_sales_order_rows: u64,
    fact_sales_order_s: f64,
    copy_from_ceiling_s: f64,
    ratio_to_copy_from: f64,
}

#[derive(Debug, Serialize)]
struct RunReport {
    no_change_wall_s: f64,
    one_percent_changed_wall_s: f64,
}

/// "2 cores, 23 GiB, x86_64".
fn machine() -> String {
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

fn report(
    args: &BenchArgs,
    small_scale: f64,
    large_scale: f64,
    [small, at, large]: [&ScaleStats; 3],
) -> Report {
    let ratio = |ceiling: f64, tote: f64| if tote > 0.0 { r2(ceiling / tote) } else { 0.0 };
    Report {
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        machine: machine(),
        scale: args.scale,
        runs: args.runs,
        ingest: IngestReport {
            table: "sales_order",
            rows: at.rows,
            source_bytes: at.bytes,
            landing_bytes: at.landing_bytes,
            wall_s: r2(at.ingest.wall_s),
            user_s: r2(at.ingest.user_s),
            sys_s: r2(at.ingest.sys_s),
            peak_rss_kb: at.ingest.max_rss_kb,
            ceiling_wall_s: r2(at.ceiling_s),
            ratio_to_copy_to: ratio(at.ceiling_s, at.ingest.wall_s),
            small_scale,
            small_rows: small.rows,
            small_peak_rss_kb: small.ingest.max_rss_kb,
            large_scale,
            large_rows: large.rows,
            large_peak_rss_kb: large.ingest.max_rss_kb,
            large_ratio_to_copy_to: ratio(large.ceiling_s, large.ingest.wall_s),
        },
        transform: TransformReport {
            fact_sales_order_rows: at.rows,
            wall_s: r2(at.transform.wall_s),
            user_s: r2(at.transform.user_s),
            sys_s: r2(at.transform.sys_s),
            peak_rss_kb: at.transform.max_rss_kb,
            small_peak_rss_kb: small.transform.max_rss_kb,
            large_peak_rss_kb: large.transform.max_rss_kb,
            no_change_wall_s: r2(at.quiet_transform.wall_s),
            steps: at.transform_steps.clone(),
            memory_mb: tote_core::config::Config::from_lookup(|_| None).map_or(0, |c| c.transform_memory_mb),
            duckdb_wall_s: at.duckdb.as_ref().map(|d| r2(d.cost.wall_s)),
            duckdb_peak_rss_kb: at.duckdb.as_ref().map(|d| d.cost.max_rss_kb),
            ratio_to_duckdb: at
                .duckdb
                .as_ref()
                .map(|d| ratio(at.transform.wall_s, d.cost.wall_s)),
            same_memory: at.same_memory.as_ref().map(|(cost, steps, duckdb)| SameMemory {
                memory_mb: DEPLOYED_TRANSFORM_MEMORY_MB,
                wall_s: r2(cost.wall_s),
                user_s: r2(cost.user_s),
                sys_s: r2(cost.sys_s),
                peak_rss_kb: cost.max_rss_kb,
                steps: steps.clone(),
                duckdb_wall_s: duckdb.as_ref().map(|d| r2(d.cost.wall_s)),
                duckdb_peak_rss_kb: duckdb.as_ref().map(|d| d.cost.max_rss_kb),
                ratio_to_duckdb: duckdb.as_ref().map(|d| ratio(cost.wall_s, d.cost.wall_s)),
            }),
            duckdb_steps: at
                .duckdb
                .as_ref()
                .map_or(serde_json::Value::Null, |d| d.seconds.clone()),
        },
        load: LoadReport {
            wall_s: r2(at.load.wall_s),
            user_s: r2(at.load.user_s),
            sys_s: r2(at.load.sys_s),
            peak_rss_kb: at.load.max_rss_kb,
            small_peak_rss_kb: small.load.max_rss_kb,
            large_peak_rss_kb: large.load.max_rss_kb,
            large_ratio_to_copy_from: ratio(large.copy_from_s, large.fact_sales_order_s),
            fact_sales_order_rows: at.fact_sales_order_rows,
            fact_sales_order_s: at.fact_sales_order_s,
            copy_from_ceiling_s: r2(at.copy_from_s),
            ratio_to_copy_from: ratio(at.copy_from_s, at.fact_sales_order_s),
        },
        run: RunReport {
            no_change_wall_s: r2(at.run_quiet_s),
            one_percent_changed_wall_s: r2(at.run_one_percent_s),
        },
        pipeline: {
            let w = at.whole.unwrap_or_default();
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
        },
    }
}

/// Rows per second, or `-` when nothing was timed.
fn per_s(rows: u64, seconds: f64) -> String {
    match seconds > 0.0 {
        true => format!("{:.0}", rows as f64 / seconds),
        false => "-".into(),
    }
}

/// The Markdown table docs/benchmarks.md quotes.
fn markdown(r: &Report, quiet_rss_kb: u64) -> String {
    let (i, t, l) = (&r.ingest, &r.transform, &r.load);
    let mb = |kb: u64| kb / 1024;
    format!(
        "## Benchmarks ({date}, {machine})\n\n\
         | stage | rows | tote rows/s | COPY ceiling rows/s | tote / ceiling | peak RSS |\n\
         |---|---|---|---|---|---|\n\
         | ingest sales_order (scale {scale}) | {rows} | {ingest_rate} | {ceiling_rate} | {ratio} | {rss} MB (scale {small}: {s_rss} MB, scale {large}: {g_rss} MB) |\n\
         | transform, all 11 models, first run (scale {scale}) | {rows} sales orders | {t_rate} | — | — | {t_rss} MB (scale {small}: {s_t_rss} MB, scale {large}: {g_t_rss} MB) |\n\
         | transform, no change | — | {q_wall} s | — | — | {q_rss} MB |\n\
         | load fact_sales_order (scale {scale}) | {fso_rows} | {l_rate} | {l_ceiling_rate} | {load_ratio} | {l_rss} MB, every batch (scale {small}: {s_l_rss} MB, scale {large}: {g_l_rss} MB) |\n\
         | `tote run`, nothing new | — | {run_quiet} s | — | — | — |\n\
         | `tote run`, 1% of sales orders changed | — | {run_one} s | — | — | — |\n\
         | ingest / load at scale {large} ({g_rows} sales orders) | — | — | — | {g_ratio} / {g_load_ratio} | — |\n\
         | whole first ingest, 11 tables (scale {scale}) | — | {p_ingest} s | {p_ingest_ceiling} s | {p_ingest_ratio} | — |\n\
         | … CPU, one table at a time: tote / the source's COPYs + psql | — | {p_tote_cpu} s | {p_source_cpu} s + {p_psql_cpu} s | — | — |\n\
         | … the source on a core of its own, tote and psql on the others | — | {p_apart} s | {p_apart_ceiling} s | {p_apart_ratio} | — |\n\
         | whole first load, every batch (scale {scale}) | — | {p_load} s | {p_load_ceiling} s | {p_load_ratio} | — |\n\
         | … of which the dimensions / the facts | — | {p_dims} s / {p_facts} s | {p_dims_ceiling} s / {p_facts_ceiling} s | — | — |\n\
         | whole first `tote run` (scale {scale}) | — | {p_run} s | — | — | — |\n\
         \n\
         | first transform, all models (scale {scale}) | tote | DuckDB | tote / DuckDB | peak RSS tote / DuckDB |\n\
         |---|---|---|---|---|\n\
         | the same SQL over the same landing Parquet, zstd Parquet out; each at its default memory (tote {local} MB) | {t_wall} s | {d_wall} | {d_ratio} | {t_rss} MB / {d_rss} |\n\
         | the same, with {budget} MB of memory each | {m_wall} | {m_d_wall} | {m_ratio} | {m_rss} / {m_d_rss} |\n",
        date = r.date,
        machine = r.machine,
        scale = r.scale,
        rows = i.rows,
        ingest_rate = per_s(i.rows, i.wall_s),
        ceiling_rate = per_s(i.rows, i.ceiling_wall_s),
        ratio = i.ratio_to_copy_to,
        rss = mb(i.peak_rss_kb),
        small = i.small_scale,
        s_rss = mb(i.small_peak_rss_kb),
        large = i.large_scale,
        g_rss = mb(i.large_peak_rss_kb),
        t_rate = per_s(i.rows, t.wall_s),
        t_rss = mb(t.peak_rss_kb),
        s_t_rss = mb(t.small_peak_rss_kb),
        g_t_rss = mb(t.large_peak_rss_kb),
        q_wall = t.no_change_wall_s,
        q_rss = mb(quiet_rss_kb),
        fso_rows = l.fact_sales_order_rows,
        l_rate = per_s(l.fact_sales_order_rows, l.fact_sales_order_s),
        l_ceiling_rate = per_s(l.fact_sales_order_rows, l.copy_from_ceiling_s),
        load_ratio = l.ratio_to_copy_from,
        l_rss = mb(l.peak_rss_kb),
        s_l_rss = mb(l.small_peak_rss_kb),
        g_l_rss = mb(l.large_peak_rss_kb),
        run_quiet = r.run.no_change_wall_s,
        run_one = r.run.one_percent_changed_wall_s,
        g_rows = i.large_rows,
        g_ratio = i.large_ratio_to_copy_to,
        g_load_ratio = l.large_ratio_to_copy_from,
        p_ingest = r.pipeline.ingest_s,
        p_ingest_ceiling = r.pipeline.ingest_copy_to_ceiling_s,
        p_ingest_ratio = r.pipeline.ingest_ratio_to_copy_to,
        p_tote_cpu = r.pipeline.ingest_tote_cpu_s,
        p_source_cpu = r.pipeline.ingest_source_cpu_s,
        p_psql_cpu = r.pipeline.ingest_psql_cpu_s,
        p_apart = r.pipeline.ingest_apart_s,
        p_apart_ceiling = r.pipeline.ingest_apart_copy_to_ceiling_s,
        p_apart_ratio = r.pipeline.ingest_apart_ratio_to_copy_to,
        p_load = r.pipeline.load_s,
        p_load_ceiling = r.pipeline.load_copy_from_ceiling_s,
        p_load_ratio = r.pipeline.load_ratio_to_copy_from,
        p_run = r.pipeline.first_run_wall_s,
        p_dims = r.pipeline.load_dimensions_s,
        p_facts = r.pipeline.load_facts_s,
        p_dims_ceiling = r.pipeline.load_dimensions_ceiling_s,
        p_facts_ceiling = r.pipeline.load_facts_ceiling_s,
        t_wall = t.wall_s,
        d_wall = t.duckdb_wall_s.map_or("not measured".into(), |s| format!("{s} s")),
        d_ratio = t.ratio_to_duckdb.map_or("—".into(), |r| r.to_string()),
        local = t.memory_mb,
        budget = DEPLOYED_TRANSFORM_MEMORY_MB,
        m_wall = t.same_memory.as_ref().map_or("not measured".into(), |m| format!("{} s", m.wall_s)),
        m_rss = t.same_memory.as_ref().map_or("—".into(), |m| format!("{} MB", mb(m.peak_rss_kb))),
        m_d_wall = t
            .same_memory
            .as_ref()
            .and_then(|m| m.duckdb_wall_s)
            .map_or("not measured".into(), |s| format!("{s} s")),
        m_d_rss = t
            .same_memory
            .as_ref()
            .and_then(|m| m.duckdb_peak_rss_kb)
            .map_or("—".into(), |kb| format!("{} MB", mb(kb))),
        m_ratio = t
            .same_memory
            .as_ref()
            .and_then(|m| m.ratio_to_duckdb)
            .map_or("—".into(), |r| r.to_string()),
        d_rss = t
            .duckdb_peak_rss_kb
            .map_or("—".into(), |kb| format!("{} MB", mb(kb))),
    )
}

/// The summary printed on the terminal.
fn summary(r: &Report) -> String {
    let (i, t, l) = (&r.ingest, &r.transform, &r.load);
    let mut out = format!(
        "\n{:<34} {:>12} {:>12} {:>8} {:>8} {:>8} {:>10} {:>7}\n",
        format!("stage (scale {})", r.scale),
        "rows/s",
        "ceiling/s",
        "MB/s",
        "wall s",
        "cpu s",
        "RSS MB",
        "ratio"
    );
    out += &format!(
        "{:<34} {:>12} {:>12} {:>8.1} {:>8} {:>8.2} {:>10} {:>7}\n",
        format!("ingest sales_order ({} rows)", i.rows),
        per_s(i.rows, i.wall_s),
        per_s(i.rows, i.ceiling_wall_s),
        i.source_bytes as f64 / 1e6 / i.wall_s.max(f64::MIN_POSITIVE),
        i.wall_s,
        i.user_s + i.sys_s,
        i.peak_rss_kb / 1024,
        i.ratio_to_copy_to
    );
    out += &format!(
        "{:<34} {:>12} {:>12} {:>8} {:>8} {:>8.2} {:>10} {:>7}\n",
        format!("transform all models (fact_sales_order {})", i.rows),
        per_s(i.rows, t.wall_s),
        "-",
        "-",
        t.wall_s,
        t.user_s + t.sys_s,
        t.peak_rss_kb / 1024,
        "-"
    );
    if let (Some(wall), Some(ratio)) = (t.duckdb_wall_s, t.ratio_to_duckdb) {
        out += &format!(
            "{:<34} {} s; tote / DuckDB {}\n",
            "DuckDB, the same models", wall, ratio
        );
    }
    if let Some(m) = &t.same_memory {
        out += &format!(
            "{:<34} tote {} s, DuckDB {}; tote / DuckDB {}\n",
            format!("the same with {} MB each", m.memory_mb),
            m.wall_s,
            m.duckdb_wall_s
                .map_or("not measured".into(), |s| format!("{s} s")),
            m.ratio_to_duckdb.map_or("—".into(), |r| r.to_string())
        );
    }
    out += &format!("{:<34} {} s\n", "transform, no change", t.no_change_wall_s);
    out += &format!(
        "{:<34} {:>12} {:>12} {:>8} {:>8} {:>8} {:>10} {:>7}\n",
        format!("load fact_sales_order ({} rows)", l.fact_sales_order_rows),
        per_s(l.fact_sales_order_rows, l.fact_sales_order_s),
        per_s(l.fact_sales_order_rows, l.copy_from_ceiling_s),
        "-",
        l.fact_sales_order_s,
        "-",
        "-",
        l.ratio_to_copy_from
    );
    out += &format!(
        "{:<34} {:>8} s wall, {:.2} s cpu, {} MB\n",
        "load, every batch",
        l.wall_s,
        l.user_s + l.sys_s,
        l.peak_rss_kb / 1024
    );
    out += &format!("{:<34} {} s\n", "tote run, nothing new", r.run.no_change_wall_s);
    out += &format!(
        "{:<34} {} s\n",
        "tote run, 1% of orders changed", r.run.one_percent_changed_wall_s
    );
    for (what, small, at, large) in [
        (
            "ingest peak RSS",
            i.small_peak_rss_kb,
            i.peak_rss_kb,
            i.large_peak_rss_kb,
        ),
        (
            "transform peak RSS",
            t.small_peak_rss_kb,
            t.peak_rss_kb,
            t.large_peak_rss_kb,
        ),
        (
            "load peak RSS",
            l.small_peak_rss_kb,
            l.peak_rss_kb,
            l.large_peak_rss_kb,
        ),
    ] {
        out += &format!(
            "{:<34} {} MB at scale {}, {} MB at scale {}, {} MB at scale {}\n",
            what,
            small / 1024,
            i.small_scale,
            at / 1024,
            r.scale,
            large / 1024,
            i.large_scale
        );
    }
    let p = &r.pipeline;
    out += &format!(
        "{:<34} {} s (ceiling {} s, ratio {}); load {} s (ceiling {} s, ratio {}); run {} s\n",
        "whole first ingest, 11 tables",
        p.ingest_s,
        p.ingest_copy_to_ceiling_s,
        p.ingest_ratio_to_copy_to,
        p.load_s,
        p.load_copy_from_ceiling_s,
        p.load_ratio_to_copy_from,
        p.first_run_wall_s
    );
    out += &format!(
        "{:<34} tote {} s; the ceiling: the source's COPYs {} s, psql {} s\n",
        "whole ingest's CPU, one at a time", p.ingest_tote_cpu_s, p.ingest_source_cpu_s, p.ingest_psql_cpu_s
    );
    out += &format!(
        "{:<34} {} s (ceiling {} s, ratio {})\n",
        "… the source on a core of its own",
        p.ingest_apart_s,
        p.ingest_apart_copy_to_ceiling_s,
        p.ingest_apart_ratio_to_copy_to
    );
    out += &format!(
        "{:<34} ingest {}, load {} ({} sales orders)\n",
        format!("ratios at scale {}", i.large_scale),
        i.large_ratio_to_copy_to,
        l.large_ratio_to_copy_from,
        i.large_rows
    );
    out
}

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
    let report = report(&args, small_scale, large_scale, [&small, &at, &large]);
    print!("{}", summary(&report));
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let json = args.out.join("bench.json");
    let mut file = std::fs::File::create(&json)?;
    serde_json::to_writer_pretty(&mut file, &report)?;
    writeln!(file)?;
    std::fs::write(
        args.out.join("bench.md"),
        markdown(&report, at.quiet_transform.max_rss_kb),
    )?;
    eprintln!(
        "▸ wrote {} and {}",
        json.display(),
        args.out.join("bench.md").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_process_reports_its_own_cpu_and_memory_and_a_failure_names_it() {
        // Allocates and touches 64 MiB, then exits: its peak RSS is at least that.
        let cost = measure(
            Command::new("python3").args(["-c", "b = bytearray(64 << 20); print(len(b))"]),
            Stdio::null(),
        )
        .unwrap();
        assert!(cost.max_rss_kb >= 64 << 10, "{cost:?}");
        assert!(cost.wall_s > 0.0 && cost.user_s + cost.sys_s > 0.0, "{cost:?}");
        let err = measure(
            Command::new("sh").args(["-c", "echo broken >&2; exit 3"]),
            Stdio::null(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("broken"), "{err}");
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 1.0);
    }
}

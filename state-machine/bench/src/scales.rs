//! The measurements at one scale: ingest, transform and load beside their ceilings, and whole runs.

use std::process::Stdio;

use anyhow::Context;

use crate::duckdb::Peer;
use crate::first_run::Whole;
use crate::measure::{directory_bytes, measure, median, Cost};
use crate::session::Session;
use crate::DEPLOYED_TRANSFORM_MEMORY_MB;

/// `fact_sales_order`'s columns without its record id: what the COPY FROM ceiling writes.
pub(crate) const FACT_SALES_ORDER_COLUMNS: &str =
    "sales_order_id, created_date, created_time, last_updated_date, \
     last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, \
     agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id";

/// The measurements at one scale.
#[derive(Debug, Default)]
pub(crate) struct ScaleStats {
    /// Sales orders seeded.
    pub(crate) rows: u64,
    /// `pg_total_relation_size('sales_order')`.
    pub(crate) bytes: u64,
    /// Median wall time of the COPY TO ceiling.
    pub(crate) ceiling_s: f64,
    /// The ingest: median wall, CPU of the fastest run, the largest peak RSS.
    pub(crate) ingest: Cost,
    /// Bytes of the landing zone's `sales_order` objects.
    pub(crate) landing_bytes: u64,
    pub(crate) transform: Cost,
    /// Where the first transform's time went, from its own report (`tote transform --json`).
    pub(crate) transform_steps: serde_json::Value,
    /// The same models run by DuckDB over the same landing Parquet (the main scale, when
    /// `TOTE_BENCH_PYTHON` is set).
    pub(crate) duckdb: Option<Peer>,
    /// Both again with [`DEPLOYED_TRANSFORM_MEMORY_MB`]: tote, with its own account of its
    /// time, and DuckDB (the main scale).
    pub(crate) same_memory: Option<(Cost, serde_json::Value, Option<Peer>)>,
    pub(crate) quiet_transform: Cost,
    pub(crate) load: Cost,
    pub(crate) fact_sales_order_rows: u64,
    pub(crate) fact_sales_order_s: f64,
    /// Median wall time of the COPY FROM ceiling.
    pub(crate) copy_from_s: f64,
    pub(crate) run_quiet_s: f64,
    pub(crate) run_one_percent_s: f64,
    /// The whole first run and its ceilings (measured at the main scale only).
    pub(crate) whole: Option<Whole>,
}

impl Session {
    /// Every measurement at `scale`, each repeated `runs` times where the median is reported;
    /// with `whole`, the comparisons made at the main scale only (DuckDB, the whole first run).
    pub(crate) fn scale_stats(&self, scale: f64, runs: usize, whole: bool) -> anyhow::Result<ScaleStats> {
        eprintln!("▸ seeding ToteSys at scale {scale}");
        self.seed(scale)?;
        let mut stats = ScaleStats {
            rows: self.scalar(&self.source, "SELECT count(*) FROM sales_order")?,
            bytes: self.scalar(&self.source, "SELECT pg_total_relation_size('sales_order')")?,
            ..ScaleStats::default()
        };
        self.measure_ingest(runs, &mut stats)?;
        self.measure_transform(whole, &mut stats)?;
        self.measure_load(runs, &mut stats)?;
        if whole {
            stats.whole = Some(self.whole_first_run()?);
        }
        self.measure_runs(&mut stats)?;
        Ok(stats)
    }

    /// `sales_order`'s ingest and its COPY TO ceiling, `runs` times: the median wall time of
    /// each, the CPU of the fastest ingest and the largest peak RSS; and the landing bytes.
    fn measure_ingest(&self, runs: usize, stats: &mut ScaleStats) -> anyhow::Result<()> {
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
        Ok(())
    }

    /// The other tables ingested, then a first transform (with `whole`: beside DuckDB, and both
    /// again with the deployed budget) and a no-change transform.
    fn measure_transform(&self, whole: bool, stats: &mut ScaleStats) -> anyhow::Result<()> {
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
            stats.same_memory = Some(self.transform_with_deployed_memory()?);
        }
        stats.quiet_transform = self.run(&mut self.tote(&["transform"]))?;
        Ok(())
    }

    /// The first transform and DuckDB again, each with [`DEPLOYED_TRANSFORM_MEMORY_MB`]: tote's
    /// cost and its own account of its time, and DuckDB's.
    fn transform_with_deployed_memory(&self) -> anyhow::Result<(Cost, serde_json::Value, Option<Peer>)> {
        eprintln!("▸ the first transform and DuckDB again, with {DEPLOYED_TRANSFORM_MEMORY_MB} MB each");
        self.remove("processed")?;
        let budget = [(
            "TOTE_TRANSFORM_MEMORY_MB",
            DEPLOYED_TRANSFORM_MEMORY_MB.to_string(),
        )];
        let (cost, again) = self.measure_json_with(&["transform", "--json"], &budget)?;
        let duckdb = self.duckdb_transform(&again["rows"], Some(DEPLOYED_TRANSFORM_MEMORY_MB))?;
        Ok((cost, again["steps"].clone(), duckdb))
    }

    /// The first load into a fresh warehouse, with `fact_sales_order`'s time from its report,
    /// and that table's COPY FROM ceiling.
    fn measure_load(&self, runs: usize, stats: &mut ScaleStats) -> anyhow::Result<()> {
        eprintln!("▸ the first load, and the COPY FROM ceiling of fact_sales_order, {runs} ×");
        self.recreate_databases(&["warehouse"])?;
        let (cost, loaded) = self.measure_json(&["load", "--json"])?;
        stats.load = cost;
        let fso = &loaded["rows"]["fact_sales_order"];
        stats.fact_sales_order_rows = fso["staged"]
            .as_u64()
            .context("the load's report has no fact_sales_order rows")?;
        stats.fact_sales_order_s = fso["millis"].as_f64().unwrap_or(0.0) / 1000.0;
        stats.copy_from_s = self.fact_sales_order_copy_from(runs)?;
        Ok(())
    }

    /// The median wall time, over `runs`, of `psql`'s COPY FROM of the warehouse's
    /// `fact_sales_order` rows into an empty copy of the table with its keys and indexes.
    fn fact_sales_order_copy_from(&self, runs: usize) -> anyhow::Result<f64> {
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
        self.run(&mut Self::psql(&self.warehouse, &["DROP TABLE bench_ceiling"]))?;
        Ok(median(&copies))
    }

    /// Two whole `tote run`s: one with nothing new, then one after 1% of the sales orders changed.
    fn measure_runs(&self, stats: &mut ScaleStats) -> anyhow::Result<()> {
        eprintln!("▸ whole runs: nothing new, then 1% of the sales orders changed");
        stats.run_quiet_s = self.run(&mut self.tote(&["run"]))?.wall_s;
        self.run(&mut Self::psql(
            &self.source,
            &["UPDATE sales_order SET units_sold = units_sold + 1, \
               last_updated = (SELECT max(last_updated) FROM sales_order) + interval '1 minute' \
               WHERE sales_order_id % 100 = 0"],
        ))?;
        stats.run_one_percent_s = self.run(&mut self.tote(&["run"]))?.wall_s;
        Ok(())
    }
}

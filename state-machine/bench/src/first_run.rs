//! A whole first `tote run` at the main scale, with its ingest and load beside their ceilings.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;

use crate::cpus::{allowed_cpus, cpu_set, on_cpus, set_affinity};
use crate::measure::{at_once, measure};
use crate::session::Session;

/// A whole first `tote run`, with its ingest and load beside their ceilings.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Whole {
    /// The run, start to finish.
    pub(crate) run_s: f64,
    /// The ingest Map's span in the run's history.
    pub(crate) ingest_s: f64,
    /// Every table's `COPY … TO STDOUT (FORMAT binary)` to /dev/null, as many at a time as the
    /// Map's MaxConcurrency.
    pub(crate) ingest_ceiling_s: f64,
    /// tote's CPU (user + system) ingesting every table, one at a time, net of start-up.
    pub(crate) ingest_tote_cpu_s: f64,
    /// The source's time copying every table out, one at a time (its CPU for the COPYs).
    pub(crate) ingest_source_cpu_s: f64,
    /// The ceiling's psql's CPU for the same COPYs.
    pub(crate) ingest_psql_cpu_s: f64,
    /// The ingest Map's span in a second first run with the source on a core of its own and
    /// tote on the others (as deployed, where the source is another machine); 0 on one core.
    pub(crate) ingest_apart_s: f64,
    /// The ceiling's COPYs with the source and psql kept apart the same way.
    pub(crate) ingest_apart_ceiling_s: f64,
    /// LoadDimensions' span in the run's history.
    pub(crate) load_dimensions_s: f64,
    /// LoadFacts' span (the Map of the fact loads).
    pub(crate) load_facts_s: f64,
    /// MeasureFreshness' span (absent, 0, in a definition without it).
    pub(crate) freshness_s: f64,
    /// Every dimension's rows `COPY … FROM STDIN (FORMAT binary)` into an empty, migrated
    /// warehouse (the same keys and indexes; the foreign keys' triggers skipped), one after
    /// another.
    pub(crate) load_dimensions_ceiling_s: f64,
    /// Then every fact's, as many at a time as LoadFacts runs.
    pub(crate) load_facts_ceiling_s: f64,
}

impl Session {
    /// A whole first `tote run` into a fresh warehouse and stores, then its ingest and load
    /// ceilings on the same data.
    pub(crate) fn whole_first_run(&self) -> anyhow::Result<Whole> {
        eprintln!("▸ a whole first run, and the ceilings of its ingest and its load");
        self.remove_run("whole")?;
        self.remove("whole-dump")?;
        std::fs::create_dir_all(self.path("whole-dump"))?;
        let warehouse = tote_io::pg::with_database(&self.admin, "whole")?;
        let ceiling = tote_io::pg::with_database(&self.admin, "whole_ceiling")?;
        self.recreate_databases(&["whole", "whole_ceiling"])?;
        let run = self.run(&mut self.first_run("whole", &warehouse))?;
        let record = self.execution("whole", "whole")?;
        let span = |state: &str| state_span(&record, state);
        let ingest_ceiling_s = self.ingest_ceiling(&record, None)?;
        let (ingest_apart_s, ingest_apart_ceiling_s) = self.ingest_apart(&record)?;
        let (tote_cpu_s, source_cpu_s, psql_cpu_s) = self.ingest_cpu()?;
        let (load_dimensions_ceiling_s, load_facts_ceiling_s) =
            self.load_ceilings(&record, &warehouse, &ceiling)?;
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

    /// The ingest's ceiling: each table's COPY TO, as many at a time as the ingest Map of
    /// execution `first` runs, each `psql` on the cores `cpus` when given; its wall time.
    fn ingest_ceiling(
        &self,
        first: &tote_asl::ExecutionRecord,
        cpus: Option<libc::cpu_set_t>,
    ) -> anyhow::Result<f64> {
        let tables = &tote_core::tables::SOURCE_TABLES;
        let concurrency = map_concurrency(first, "IngestTables", tables.len());
        at_once(concurrency, tables, |table| {
            let mut command = Self::psql(&self.source, &[&copy_to(table)]);
            if let Some(set) = cpus {
                on_cpus(&mut command, set);
            }
            self.run(&mut command).map(drop)
        })
    }

    /// Where the whole ingest's CPU goes, table by table, one at a time: tote's, the source's
    /// and the ceiling's client's, in that order, in seconds.
    fn ingest_cpu(&self) -> anyhow::Result<(f64, f64, f64)> {
        // tote's is user + system, less what a quiet ingest of the same table costs: the process
        // starting, connecting and fingerprinting, which `tote run` pays once, not per table; the
        // source's is the COPY's wall time (one backend, one core) and the ceiling's client's is
        // psql's user + system. Ingests run at once share the machine's cores with the source,
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
            let copy = self.run(&mut Self::psql(&self.source, &[&copy_to(table)]))?;
            source_cpu_s += copy.wall_s;
            psql_cpu_s += copy.user_s + copy.sys_s;
        }
        self.remove("cpu-landing")?;
        Ok((tote_cpu_s, source_cpu_s, psql_cpu_s))
    }

    /// The load's ceiling: the rows of `warehouse` (loaded by execution `first`), dumped, then
    /// copied into `ceiling`, an empty, migrated warehouse: the dimensions one after another,
    /// then the facts as many at a time as LoadFacts runs them. The two wall times.
    fn load_ceilings(
        &self,
        first: &tote_asl::ExecutionRecord,
        warehouse: &str,
        ceiling: &str,
    ) -> anyhow::Result<(f64, f64)> {
        let mut migrate = self.tote(&["warehouse", "migrate"]);
        migrate.env("TOTE_WAREHOUSE_URL", ceiling);
        self.run(&mut migrate)?;
        let (dimensions, facts) = self.dump_star_tables(warehouse)?;
        // Without the foreign keys' per-row triggers (as tote's own bulk path, which checks the
        // keys set-based instead): the ceiling is the same keys and indexes, as for one table.
        let copy_from = |(sql, dump): &Copy| -> anyhow::Result<()> {
            let mut command = Self::psql(ceiling, &["SET session_replication_role = replica", sql.as_str()]);
            command.stdin(std::fs::File::open(dump)?);
            self.run(&mut command).map(drop)
        };
        let load_dimensions_ceiling_s = at_once(1, &dimensions, copy_from)?;
        // A definition with one fact task (before LoadFacts was a Map) loads them one by one.
        let fact_concurrency = match first.definition["States"]["LoadFacts"]["Type"].as_str() {
            Some("Map") => map_concurrency(first, "LoadFacts", facts.len()),
            _ => 1,
        };
        let load_facts_ceiling_s = at_once(fact_concurrency, &facts, copy_from)?;
        Ok((load_dimensions_ceiling_s, load_facts_ceiling_s))
    }

    /// Every star table of `warehouse` dumped in COPY's binary format under `whole-dump`: per
    /// table, the COPY FROM that loads its dump, and the dump; the dimensions', then the facts'.
    fn dump_star_tables(&self, warehouse: &str) -> anyhow::Result<(Vec<Copy>, Vec<Copy>)> {
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
                    warehouse,
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
        Ok((dimensions, facts))
    }
}

impl Session {
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
        let warehouse = tote_io::pg::with_database(&self.admin, "whole_apart")?;
        self.recreate_databases(&["whole_apart"])?;
        let clients = cpu_set(clients);
        let measured = self.with_source_on(cpu_set(&[*source]), cpu_set(&cpus), || {
            self.run(on_cpus(&mut self.first_run("apart", &warehouse), clients))?;
            let record = self.execution("apart", "apart")?;
            let ingest_s = state_span(&record, "IngestTables");
            let ceiling_s = self.ingest_ceiling(first, Some(clients))?;
            Ok((ingest_s, ceiling_s))
        });
        self.remove_run("apart")?;
        self.run(&mut Self::psql(
            &self.admin,
            &["DROP DATABASE IF EXISTS whole_apart WITH (FORCE)"],
        ))?;
        measured
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

/// A star table's COPY FROM, and the dump of its rows it reads.
type Copy = (String, PathBuf);

/// The COPY TO of every row of source table `table` in binary format, as the ceilings run it.
fn copy_to(table: &str) -> String {
    format!(
        "COPY (SELECT * FROM {}) TO STDOUT (FORMAT binary)",
        tote_core::tables::quote_ident(table)
    )
}

/// How many iterations Map `map` of the execution's definition runs at once, for `items` items.
pub(crate) fn map_concurrency(execution: &tote_asl::ExecutionRecord, map: &str, items: usize) -> usize {
    execution.definition["States"][map]["MaxConcurrency"]
        .as_u64()
        .filter(|n| *n > 0)
        .map_or(items, |n| n as usize)
}

/// A top-level state's span in seconds in an execution's history (0 when it did not run): from
/// the first event naming it to the last, the span the execution page (`tote report`) shows.
pub(crate) fn state_span(execution: &tote_asl::ExecutionRecord, state: &str) -> f64 {
    let mine: Vec<_> = execution
        .events
        .iter()
        .filter(|e| e.scope.is_empty() && e.details.name.as_deref() == Some(state))
        .collect();
    let span_ms = match (mine.first(), mine.last()) {
        (Some(a), Some(b)) => (b.timestamp - a.timestamp).num_milliseconds(),
        _ => 0,
    };
    span_ms as f64 / 1000.0
}

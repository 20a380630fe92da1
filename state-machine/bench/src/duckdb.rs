//! The transform's peer: the same models run by DuckDB over the same landing Parquet.

use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use crate::measure::{measure, Cost};
use crate::session::Session;

/// The peer of the transform: tote's models run by DuckDB (`TOTE_BENCH_PYTHON`, a Python with
/// the duckdb package, which `scripts/bench` installs into target/bench-venv).
pub(crate) const DUCKDB_TRANSFORM: &str = include_str!("../../../scripts/lib/duckdb_transform.py");

/// DuckDB running the transform's models, as one process.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) cost: Cost,
    /// Seconds per step, from the script (`read_landing`, then each model).
    pub(crate) seconds: serde_json::Value,
}

impl Session {
    /// Per source table, its key and the data objects of every batch committed to its landing
    /// log, as paths: DuckDB reads what the log made visible, as tote's transform does, and the
    /// keys come from the manifests ([`tote_core::layout`] names them), not from a glob.
    fn committed_landing(&self) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        let root = self.path("landing");
        let landing = tote_io::store::Store::open(&root.display().to_string(), "TOTE_LANDING")?;
        let mut tables = serde_json::Map::new();
        for table in tote_core::tables::SOURCE_TABLES {
            let manifests = tokio::runtime::Handle::current()
                .block_on(tote_io::commit_log::committed_manifests(&landing, table))?;
            let files: Vec<String> = manifests
                .iter()
                .flat_map(|m| &m.objects)
                .map(|o| root.join(&o.key).display().to_string())
                .collect();
            if files.is_empty() {
                bail!(
                    "{table} has no committed landing batch in {}: ingest it first",
                    root.display()
                );
            }
            tables.insert(
                table.to_string(),
                serde_json::json!({"key": tote_core::tables::primary_key(table), "files": files}),
            );
        }
        Ok(tables)
    }

    /// The transform's models run by DuckDB over the landing zone tote just transformed, as one
    /// process, writing zstd Parquet; `None` without `TOTE_BENCH_PYTHON`. Both engines must
    /// produce the same rows per model (`tote_rows`, the transform's report), or the comparison
    /// would not be of the same work.
    pub(crate) fn duckdb_transform(
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
        let tables = self.committed_landing()?;
        let models: serde_json::Map<String, serde_json::Value> = tote_core::models::built_in()
            .iter()
            .map(|m| (m.name.clone(), m.sql.clone().into()))
            .collect();
        let spec = self.path("duckdb.json");
        self.remove("duckdb-out")?;
        std::fs::write(
            &spec,
            serde_json::to_vec(&serde_json::json!({
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
}

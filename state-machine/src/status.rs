//! `tote status`: where the pipeline stands, read-only, for a person, cron or a health check.
//!
//! Per source table: the source's high-water mark, the newest landing batch, the newest one the
//! transform consumed and the newest one the warehouse holds, the changes still pending and the
//! table's freshness ([`tote_load::freshness`]); the batches waiting at each stage; and the last
//! executions recorded under `TOTE_HOME`. The verdict compares the pipeline's freshness, and the
//! age of the last successful execution, with the freshness SLA (`--sla`, default 30 minutes).

use serde::Serialize;
use tote_asl::{ExecutionStatus, ExecutionStore, ExecutionSummary};
use tote_core::config::Config;
use tote_io::pg::{self, Role};
use tote_io::store::Store;
use tote_load::freshness::Freshness;

/// How many recent executions the status lists.
const RECENT: usize = 5;

/// Where the pipeline stands.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Freshness per table, pending batches, the pipeline's freshness.
    pub freshness: Freshness,
    /// The SLA the verdict uses, in seconds.
    pub sla_seconds: u64,
    /// The most recent executions under `TOTE_HOME`, newest first.
    pub executions: Vec<ExecutionSummary>,
    /// Seconds since the last successful execution ended (wall clock), if there is one.
    pub last_success_age_seconds: Option<i64>,
    /// Whether every figure is within the SLA.
    pub within_sla: bool,
    /// What is wrong, for a person, when not within the SLA.
    pub problems: Vec<String>,
}

/// Reads the pipeline's status under `config`, judged against `sla`.
pub async fn status(config: &Config, sla: std::time::Duration) -> anyhow::Result<Status> {
    let landing = Store::open(&config.landing, "TOTE_LANDING")?;
    let processed = Store::open(&config.processed, "TOTE_PROCESSED")?;
    let source = pg::connect(&tote_io::secrets::source_url(config).await?, Role::Source).await?;
    let warehouse = pg::connect(&tote_io::secrets::warehouse_url(config).await?, Role::Warehouse).await?;
    let freshness = tote_load::freshness::measure(&source, &warehouse, &landing, &processed, config).await?;
    let executions = ExecutionStore::new(config.home.join("executions")).list()?;
    let now = chrono::Utc::now();
    let last_success_age_seconds = executions
        .iter()
        .filter(|e| e.status == ExecutionStatus::Succeeded)
        .filter_map(|e| e.stop_date)
        .max()
        .map(|t| (now - t).num_seconds());
    Ok(judge(freshness, executions, last_success_age_seconds, sla))
}

/// The verdict: within the SLA when the pipeline's freshness is, and an execution succeeded
/// within it (when executions are recorded here at all).
pub fn judge(
    freshness: Freshness,
    mut executions: Vec<ExecutionSummary>,
    last_success_age_seconds: Option<i64>,
    sla: std::time::Duration,
) -> Status {
    let sla_seconds = sla.as_secs();
    let mut problems = Vec::new();
    for t in &freshness.tables {
        if t.freshness_seconds > sla_seconds as f64 {
            problems.push(format!(
                "{}: {} change(s) not in the warehouse, the oldest {} old (SLA {})",
                t.table,
                t.pending_changes,
                human(t.freshness_seconds as u64),
                human(sla_seconds)
            ));
        }
    }
    if !executions.is_empty() {
        match last_success_age_seconds {
            Some(age) if age > sla_seconds as i64 => problems.push(format!(
                "no execution has succeeded for {} (SLA {})",
                human(age as u64),
                human(sla_seconds)
            )),
            None => problems.push("no recorded execution has succeeded".to_string()),
            _ => {}
        }
    }
    executions.truncate(RECENT);
    Status {
        freshness,
        sla_seconds,
        executions,
        last_success_age_seconds,
        within_sla: problems.is_empty(),
        problems,
    }
}

/// `3725` → `1 h 2 min`.
pub fn human(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// The status as a table for a terminal.
pub fn render(status: &Status) -> String {
    let f = &status.freshness;
    let seq = |s: Option<u64>| s.map_or_else(|| "-".to_string(), |s| s.to_string());
    let mut out = format!(
        "  {:<16}{:>25}{:>8}{:>13}{:>8}{:>9}{:>14}\n",
        "table", "source high-water", "landed", "transformed", "loaded", "pending", "freshness"
    );
    for t in &f.tables {
        out.push_str(&format!(
            "  {:<16}{:>25}{:>8}{:>13}{:>8}{:>9}{:>14}\n",
            t.table,
            t.source_high_water.map_or_else(
                || "-".to_string(),
                |h| h.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
            ),
            seq(t.landed),
            seq(t.transformed),
            seq(t.loaded),
            t.pending_changes,
            human(t.freshness_seconds as u64)
        ));
    }
    out.push_str(&format!(
        "\n  pipeline freshness {} (SLA {}), measured at {} on the source's clock\n",
        human(f.freshness_seconds as u64),
        human(status.sla_seconds),
        f.measured_at.format("%Y-%m-%d %H:%M:%S")
    ));
    out.push_str(&format!(
        "  batches waiting: {} landing (to transform), {} processed (to load)\n",
        f.pending_landing_batches, f.pending_processed_batches
    ));
    if status.executions.is_empty() {
        out.push_str("  executions: none recorded under TOTE_HOME\n");
    } else {
        out.push_str("  last executions:\n");
        for e in &status.executions {
            out.push_str(&format!(
                "    {:<44} {:<10} {}\n",
                e.name,
                e.status.to_string(),
                e.start_date.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
    }
    if status.within_sla {
        out.push_str("  verdict: within the SLA\n");
    } else {
        out.push_str("  verdict: SLA BREACHED\n");
        for p in &status.problems {
            out.push_str(&format!("    - {p}\n"));
        }
    }
    out
}

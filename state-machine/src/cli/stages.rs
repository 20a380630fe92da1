//! `tote ingest`, `tote transform`, `tote load`, `tote warehouse migrate`: run one stage by hand,
//! with the same configuration the pipeline uses.

use std::collections::HashMap;

use clap::Args;
use tote_core::config::Config;

/// The `TOTE_*` settings as flags; each falls back to its environment variable.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The ToteSys database URL.
    #[arg(long, env = "TOTE_SOURCE_URL", hide_env_values = true)]
    pub source_url: Option<String>,
    /// The warehouse database URL.
    #[arg(long, env = "TOTE_WAREHOUSE_URL", hide_env_values = true)]
    pub warehouse_url: Option<String>,
    /// The landing zone: a directory, file:///path or s3://bucket/prefix.
    #[arg(long, env = "TOTE_LANDING")]
    pub landing: Option<String>,
    /// The processed zone: a directory, file:///path or s3://bucket/prefix.
    #[arg(long, env = "TOTE_PROCESSED")]
    pub processed: Option<String>,
    /// Local state directory.
    #[arg(long, env = "TOTE_HOME")]
    pub home: Option<String>,
    /// Comma-separated allow-list of tables.
    #[arg(long = "allow-tables", env = "TOTE_TABLES")]
    pub tables: Option<String>,
    /// Landing format: parquet or csv.
    #[arg(long, env = "TOTE_LANDING_FORMAT")]
    pub landing_format: Option<String>,
    /// How far below the high-water mark each ingest re-reads, e.g. 10m.
    #[arg(long, env = "TOTE_LOOKBACK")]
    pub lookback: Option<String>,
    /// A directory of model files replacing or adding to the built-in models.
    #[arg(long, env = "TOTE_MODELS")]
    pub models: Option<String>,
}

impl ConfigArgs {
    /// The validated configuration.
    pub fn config(&self) -> tote_core::Result<Config> {
        let mut vars = HashMap::new();
        for (name, value) in [
            ("TOTE_SOURCE_URL", &self.source_url),
            ("TOTE_WAREHOUSE_URL", &self.warehouse_url),
            ("TOTE_LANDING", &self.landing),
            ("TOTE_PROCESSED", &self.processed),
            ("TOTE_HOME", &self.home),
            ("TOTE_TABLES", &self.tables),
            ("TOTE_LANDING_FORMAT", &self.landing_format),
            ("TOTE_LOOKBACK", &self.lookback),
            ("TOTE_MODELS", &self.models),
        ] {
            if let Some(v) = value {
                vars.insert(name, v.clone());
            }
        }
        Config::from_lookup(|name| vars.get(name).cloned().or_else(|| std::env::var(name).ok()))
    }
}

/// Arguments of `tote ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The table to ingest.
    #[arg(long)]
    pub table: String,
    /// Re-read the whole table and accept its current schema.
    #[arg(long)]
    pub full_refresh: bool,
    /// A whole-table read with more rows than this is read in key-range chunks, as the state
    /// machine reads it (default `TOTE_CHUNK_ROWS`, 5000000; 0 never).
    #[arg(long, env = "TOTE_CHUNK_ROWS")]
    pub chunk_rows: Option<u64>,
    /// How many chunks are read at once (the state machine's `chunkConcurrency`).
    #[arg(long, default_value_t = 4)]
    pub chunk_concurrency: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Runs `tote ingest`.
pub async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let mut config = args.config.config()?;
    if let Some(rows) = args.chunk_rows {
        config.chunk_rows = rows;
    }
    let request = tote_ingest::IngestRequest {
        table: args.table.clone(),
        execution: None,
        full_refresh: args.full_refresh,
        chunk: None,
    };
    let started = std::time::Instant::now();
    let (response, chunks) =
        tote_ingest::chunks::ingest_planned(&config, &request, args.chunk_concurrency).await?;
    if chunks > 0 {
        eprintln!(
            "{}: read in {chunks} chunks, {} at a time",
            response.table, args.chunk_concurrency
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&response)?);
    } else if response.changed {
        println!(
            "{}: batch {} (seq {}) with {} new row versions ({} read) in {:.2} s → {}",
            response.table,
            response.batch_id.as_deref().unwrap_or("-"),
            response.seq.unwrap_or(0),
            response.rows,
            response.rows_read,
            started.elapsed().as_secs_f64(),
            response.keys.join(", ")
        );
    } else {
        println!(
            "{}: no changes ({} rows re-read in the lookback window)",
            response.table, response.rows_read
        );
    }
    Ok(())
}

/// Arguments of `tote transform`.
#[derive(Debug, Args)]
pub struct TransformArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Runs `tote transform`.
pub async fn transform(args: TransformArgs) -> anyhow::Result<()> {
    let config = args.config.config()?;
    let started = std::time::Instant::now();
    let response = tote_transform::transform(&config, &tote_transform::TransformRequest::default()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&response)?);
    } else if response.changed {
        let consumed: u64 = response.consumed.values().sum();
        println!(
            "run {}: {consumed} new source versions → {} processed batches in {:.2} s",
            response.run.unwrap_or(0),
            response.batches.len(),
            started.elapsed().as_secs_f64()
        );
        for (model, rows) in &response.rows {
            println!("  {model:<20}{rows:>10}");
        }
    } else {
        println!(
            "no new landing batches ({:.3} s)",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Arguments of `tote load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Which models to load: dimensions, facts or all.
    #[arg(long, default_value = "all", value_parser = parse_phase)]
    pub phase: tote_load::Phase,
    /// Load only this model of the phase (as each of the state machine's fact iterations does);
    /// freshness is then not measured.
    #[arg(long)]
    pub model: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

fn parse_phase(s: &str) -> Result<tote_load::Phase, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("`{s}` is not a load phase; use dimensions, facts or all"))
}

/// Runs `tote load`.
pub async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let config = args.config.config()?;
    let started = std::time::Instant::now();
    let request = tote_load::LoadRequest {
        execution: None,
        phase: args.phase,
        model: args.model,
    };
    let response = tote_load::load(&config, &request).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(());
    }
    if !response.migrated.is_empty() {
        println!(
            "warehouse migrated to version {}",
            response.migrated.last().unwrap_or(&0)
        );
    }
    println!(
        "{} batches loaded ({} already in the ledger) in {:.2} s",
        response.batches.len(),
        response.already_loaded,
        started.elapsed().as_secs_f64()
    );
    if !response.rows.is_empty() {
        println!(
            "  {:<20}{:>10}{:>10}{:>10}",
            "model", "inserted", "updated", "unchanged"
        );
        for (model, rows) in &response.rows {
            println!(
                "  {model:<20}{:>10}{:>10}{:>10}",
                rows.inserted, rows.updated, rows.skipped
            );
        }
    }
    Ok(())
}

/// `tote warehouse …`: the warehouse schema.
#[derive(Debug, clap::Subcommand)]
pub enum WarehouseCommand {
    /// Create or upgrade the warehouse schema (the load does this on first contact too).
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Runs `tote warehouse …`.
pub async fn warehouse(command: WarehouseCommand) -> anyhow::Result<()> {
    match command {
        WarehouseCommand::Migrate { config } => {
            let (_client, applied) = tote_load::connect_and_migrate(&config.config()?).await?;
            if applied.is_empty() {
                println!("the warehouse schema is up to date");
            } else {
                println!("applied warehouse migrations {applied:?}");
            }
            Ok(())
        }
    }
}

/// Arguments of `tote status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
    /// The freshness promise: a change older than this and not in the warehouse, or no execution
    /// succeeded for this long, breaches it (exit status 3).
    #[arg(long, env = "TOTE_FRESHNESS_SLA", default_value = "30m", value_parser = humantime::parse_duration)]
    pub sla: std::time::Duration,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// The exit status of `tote status` when the SLA is breached (1 is any error, 2 bad usage).
pub const SLA_BREACHED: i32 = 3;

/// Runs `tote status`: exit status 0 within the SLA, [`SLA_BREACHED`] when not.
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let config = args.config.config()?;
    let status = tote::status::status(&config, args.sla).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", tote::status::render(&status));
    }
    if !status.within_sla {
        std::process::exit(SLA_BREACHED);
    }
    Ok(())
}

/// Arguments of `tote verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Runs `tote verify`: non-zero exit when a table does not reconcile.
pub async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let config = args.config.config()?;
    let source = tote_io::pg::connect(
        &tote_io::secrets::source_url(&config).await?,
        tote_io::pg::Role::Source,
    )
    .await?;
    let warehouse = tote_io::pg::connect(
        &tote_io::secrets::warehouse_url(&config).await?,
        tote_io::pg::Role::Warehouse,
    )
    .await?;
    let reports = tote::verify::verify(&source, &warehouse, &config.models).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print!("{}", tote::verify::render(&reports));
    }
    let bad: Vec<&str> = reports
        .iter()
        .filter(|r| !r.ok())
        .map(|r| r.table.as_str())
        .collect();
    if !bad.is_empty() {
        anyhow::bail!(
            "the warehouse does not match the source in {}; run `tote run` to catch up, and if it persists, \
             a full refresh of the source tables behind them",
            bad.join(", ")
        );
    }
    Ok(())
}

//! `tote demo`: the zero-configuration tour.
//!
//! Starts (or reuses) a private Postgres under `$TOTE_HOME/postgres`, seeds a scale-1 ToteSys
//! into its `totesys` database, then runs the deployed state machine locally three times into a
//! fresh `warehouse` database: a full run, an incremental run after a simulated day of changes,
//! and a run with nothing new. Executions are recorded in `$TOTE_HOME/executions`.

use std::path::{Path, PathBuf};

use clap::Args;
use tote_private_pg::PrivateCluster;

/// Arguments of `tote demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where tote keeps local state (the private Postgres lives in `<home>/postgres`).
    #[arg(long, env = "TOTE_HOME", default_value = ".tote")]
    pub home: PathBuf,
    /// Volume multiplier of the seeded ToteSys.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let cluster = start_cluster(&args.home).await?;
    super::postgres::ensure_database(&cluster, "totesys").await?;
    let source_url = cluster.url("totesys");
    seed_source(&source_url, args.scale).await?;
    show_source(&source_url).await?;

    // The pipeline: the deployed state machine, run locally. A full run, a simulated day of
    // changes and an incremental run, then a run with nothing new.
    let landing = args.home.join("landing");
    let processed = args.home.join("processed");
    for dir in [&landing, &processed] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    super::postgres::recreate_database(&cluster, "warehouse").await?;
    let warehouse_url = cluster.url("warehouse");
    let lookup: std::collections::HashMap<&str, String> = [
        ("TOTE_SOURCE_URL", source_url.clone()),
        ("TOTE_WAREHOUSE_URL", warehouse_url.clone()),
        ("TOTE_LANDING", landing.display().to_string()),
        ("TOTE_PROCESSED", processed.display().to_string()),
        ("TOTE_HOME", args.home.display().to_string()),
    ]
    .into();
    let config = tote_core::config::Config::from_lookup(|n| lookup.get(n).cloned())?;
    let models = config.models.clone();
    let runs = run_pipeline(config, &source_url).await?;
    show_runs(&runs);

    let warehouse = tote_io::pg::connect(&warehouse_url, tote_io::pg::Role::Warehouse).await?;
    show_warehouse(&warehouse, &models).await?;
    verify(&source_url, &warehouse, &models).await?;
    println!();
    println!("  landing zone:   {}", landing.display());
    println!("  processed zone: {}", processed.display());
    show_commands(&args.home, &cluster);
    Ok(())
}

/// Starts (or reuses) the private Postgres under `<home>/postgres`, or under the temporary
/// directory where its server could not reach that.
async fn start_cluster(home: &Path) -> anyhow::Result<PrivateCluster> {
    let mut dir = home.join("postgres");
    if !PrivateCluster::can_live_in(&dir) {
        // As root, the server runs as `postgres`, which may not reach a checkout under /root.
        dir = std::env::temp_dir().join("tote-demo-postgres");
    }
    eprintln!("▸ starting a private Postgres in {}", dir.display());
    Ok(tokio::task::spawn_blocking(move || PrivateCluster::start_persistent(&dir)).await??)
}

/// Seeds two years of ToteSys at `scale` into the database at `source_url`, replacing any.
async fn seed_source(source_url: &str, scale: f64) -> anyhow::Result<()> {
    eprintln!("▸ seeding ToteSys (scale {scale}, two years of history)");
    let options = tote_sim::SeedOptions {
        scale,
        days: 730,
        seed: 1,
        // A day before the default end, so that the simulated day the demo plays ends no
        // later than now.
        end: super::sim::default_end() - chrono::Duration::days(1),
        replace: true,
    };
    let report = tote_sim::seed(source_url, &options).await?;
    eprintln!(
        "  {} rows in {:.1} s ({:.0} rows/s)",
        report.total_rows(),
        report.elapsed.as_secs_f64(),
        report.rows_per_second()
    );
    Ok(())
}

/// Prints the source's table counts, and fails unless every data rule of the spec holds.
async fn show_source(source_url: &str) -> anyhow::Result<()> {
    let client = tote_io::pg::connect(source_url, tote_io::pg::Role::Source).await?;
    let broken = tote_sim::rules::check(&client).await?;
    println!();
    println!("ToteSys (source) table counts");
    println!("─────────────────────────────");
    for (table, n) in tote_sim::table_counts(&client).await? {
        println!("  {table:<16}{n:>10}");
    }
    println!();
    if broken.is_empty() {
        println!(
            "All {} data rules of the spec hold.",
            tote_sim::rules::RULES.len()
        );
    } else {
        anyhow::bail!("data rules broken: {broken:?}");
    }
    Ok(())
}

/// One run of the pipeline in the demo.
struct DemoRun {
    /// `full`, `incremental` or `quiet`.
    round: &'static str,
    /// The execution's name.
    name: String,
    /// How long it took.
    elapsed: std::time::Duration,
    /// The execution's output.
    output: serde_json::Value,
}

/// The pipeline with `config`, run three times: a full run, an incremental run after a
/// simulated day of changes in the source at `source_url`, and a run with nothing new. Fails
/// on the first execution that does not succeed.
async fn run_pipeline(config: tote_core::config::Config, source_url: &str) -> anyhow::Result<Vec<DemoRun>> {
    let pipeline = tote::pipeline::Pipeline::new(config).with_listener(super::run::progress_listener());
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut runs = Vec::new();
    for round in ["full", "incremental", "quiet"] {
        if round == "incremental" {
            eprintln!("▸ a simulated day of changes in ToteSys: new orders, updates, a few deletes");
            let day = tote_sim::RunOptions {
                ticks: 96,
                update_rate: 0.2,
                delete_rate: 0.05,
                ..Default::default()
            };
            tote_sim::run(source_url, &day, |_| {}).await?;
        }
        let name = format!("demo-{stamp}-{round}");
        tote_core::progress::println(&format!("▸ {round} run of the pipeline: execution {name}"));
        let started = std::time::Instant::now();
        let record = pipeline.start(&name, serde_json::json!({})).await?;
        if record.status != tote_asl::ExecutionStatus::Succeeded {
            anyhow::bail!(
                "execution {name} {}: {} {}; see `{} executions show {name}`",
                record.status,
                record.error.unwrap_or_default(),
                record.cause.unwrap_or_default(),
                tote_command()
            );
        }
        runs.push(DemoRun {
            round,
            name,
            elapsed: started.elapsed(),
            output: record.output.unwrap_or_default(),
        });
    }
    Ok(runs)
}

/// Prints the runs' table: rows ingested, star rows, rows loaded and seconds of each.
fn show_runs(runs: &[DemoRun]) {
    println!();
    println!("Pipeline runs (the deployed state machine, run locally)");
    println!("───────────────────────────────────────────────────────");
    println!(
        "  {:<12}{:>10}{:>12}{:>12}{:>9}  execution",
        "run", "ingested", "star rows", "loaded", "seconds"
    );
    for DemoRun {
        round,
        name,
        elapsed,
        output,
    } in runs
    {
        let sum = |v: &serde_json::Value| -> u64 {
            v.as_object()
                .into_iter()
                .flatten()
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum()
        };
        let ingested: u64 = tote::pipeline::ingested_tables(output)
            .map(|i| i["rows"].as_u64().unwrap_or(0))
            .sum();
        let loaded: u64 = tote::pipeline::loaded_rows(output)
            .map(|(_, r)| r["inserted"].as_u64().unwrap_or(0) + r["updated"].as_u64().unwrap_or(0))
            .sum();
        println!(
            "  {round:<12}{ingested:>10}{:>12}{loaded:>12}{:>9.2}  {name}",
            sum(&output["transform"]["rows"]),
            elapsed.as_secs_f64()
        );
    }
}

/// Prints the rows of each of `models`' tables in the warehouse.
async fn show_warehouse(
    warehouse: &tokio_postgres::Client,
    models: &[tote_core::models::Model],
) -> anyhow::Result<()> {
    println!();
    println!("Warehouse table counts");
    println!("──────────────────────");
    for model in models {
        let table = model.name.as_str();
        let n: i64 = warehouse
            .query_one(
                &format!("SELECT count(*) FROM {}", tote_core::tables::quote_ident(table)),
                &[],
            )
            .await?
            .get(0);
        println!("  {table:<22}{n:>10}");
    }
    Ok(())
}

/// `tote verify` of the warehouse against the source at `source_url`, printed; fails on a
/// mismatch.
async fn verify(
    source_url: &str,
    warehouse: &tokio_postgres::Client,
    models: &[tote_core::models::Model],
) -> anyhow::Result<()> {
    println!();
    println!("Verify: the warehouse against the source (tote verify)");
    println!("──────────────────────────────────────────────────────");
    let source = tote_io::pg::connect(source_url, tote_io::pg::Role::Source).await?;
    let reports = tote::verify::verify(&source, warehouse, models).await?;
    print!("{}", tote::verify::render(&reports));
    if reports.iter().any(|r| !r.ok()) {
        anyhow::bail!("the warehouse does not match the source");
    }
    Ok(())
}

/// Prints the commands that list the executions under `home`, connect to the `cluster` and
/// stop it.
fn show_commands(home: &Path, cluster: &PrivateCluster) {
    let tote = tote_command();
    let home = shell_word(&home.display().to_string());
    let cluster_dir = shell_word(&cluster.root().display().to_string());
    println!("  executions:     {tote} executions list --home {home}");

    println!();
    println!("Connect:  psql \"$({tote} postgres start --dir {cluster_dir} --database warehouse)\"   (or --database totesys)");
    println!("Stop:     {tote} postgres stop --dir {cluster_dir}");
}

/// How to call this very `tote` from a shell, so that the printed commands work when pasted:
/// `tote` when the shell's PATH finds this binary, its full path otherwise.
fn tote_command() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
        return "tote".to_string();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("tote").canonicalize().is_ok_and(|p| p == exe))
    });
    if on_path {
        "tote".to_string()
    } else {
        shell_word(&exe.display().to_string())
    }
}

/// `word` quoted for a POSIX shell when it holds anything but safe characters.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

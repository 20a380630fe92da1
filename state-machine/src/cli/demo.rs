//! `tote demo`: the zero-configuration tour.
//!
//! Starts (or reuses) a private Postgres under `$TOTE_HOME/postgres`, seeds a scale-1 ToteSys
//! into its `totesys` database, and prints what is there. It grows with the pipeline: ingest,
//! transform, load and verify join as their stages land.

use std::path::PathBuf;

use clap::Args;
use tote_core::private_pg::PrivateCluster;

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
    let mut dir = args.home.join("postgres");
    if !PrivateCluster::can_live_in(&dir) {
        // As root, the server runs as `postgres`, which may not reach a checkout under /root.
        dir = std::env::temp_dir().join("tote-demo-postgres");
    }
    eprintln!("▸ starting a private Postgres in {}", dir.display());
    let cluster = tokio::task::spawn_blocking(move || PrivateCluster::start_persistent(&dir)).await??;
    super::postgres::ensure_database(&cluster, "totesys").await?;
    let source_url = cluster.url("totesys");

    eprintln!("▸ seeding ToteSys (scale {}, two years of history)", args.scale);
    let options = tote_sim::SeedOptions {
        scale: args.scale,
        days: 730,
        seed: 1,
        end: super::sim::default_end(),
        replace: true,
    };
    let report = tote_sim::seed(&source_url, &options).await?;
    eprintln!(
        "  {} rows in {:.1} s ({:.0} rows/s)",
        report.total_rows(),
        report.elapsed.as_secs_f64(),
        report.rows_per_second()
    );

    let client = tote_core::pg::connect(&source_url, tote_core::pg::Role::Source).await?;
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

    // The stages that have landed so far: a full ingest, a simulated day of changes, an
    // incremental ingest, and the transform of both into the star schemas.
    let landing = args.home.join("landing");
    let processed = args.home.join("processed");
    for dir in [&landing, &processed] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    let lookup: std::collections::HashMap<&str, String> = [
        ("TOTE_SOURCE_URL", source_url.clone()),
        ("TOTE_LANDING", landing.display().to_string()),
        ("TOTE_PROCESSED", processed.display().to_string()),
    ]
    .into();
    let config = tote_core::config::Config::from_lookup(|n| lookup.get(n).cloned())?;
    let mut ingested = Vec::new();
    for round in ["full", "incremental"] {
        if round == "incremental" {
            eprintln!("▸ a simulated day of changes in ToteSys");
            let day = tote_sim::RunOptions {
                ticks: 96,
                update_rate: 0.2,
                delete_rate: 0.0,
                ..Default::default()
            };
            tote_sim::run(&source_url, &day, |_| {}).await?;
        }
        eprintln!(
            "▸ {round} ingest of {} tables into {}",
            config.tables.len(),
            landing.display()
        );
        let started = std::time::Instant::now();
        let mut rows = 0;
        for table in &config.tables {
            let request = tote_ingest::IngestRequest {
                table: table.clone(),
                execution: Some("demo".into()),
                full_refresh: false,
            };
            rows += tote_ingest::ingest(&config, &request).await?.rows;
        }
        let ingest_time = started.elapsed();
        eprintln!("▸ transform into the star schemas in {}", processed.display());
        let started = std::time::Instant::now();
        let t = tote_transform::transform(
            &config,
            &tote_transform::TransformRequest {
                execution: Some("demo".into()),
            },
        )
        .await?;
        ingested.push((round, rows, ingest_time, t, started.elapsed()));
    }
    println!();
    println!("Pipeline so far (ingest → transform; the load stage lands next)");
    println!("───────────────────────────────────────────────────────────────");
    for (round, rows, ingest_time, t, transform_time) in &ingested {
        let produced: u64 = t.rows.values().sum();
        println!(
            "  {round:<12} ingest {rows:>8} row versions in {:>6.2} s   transform → {produced:>8} star-schema rows in {:>6.2} s",
            ingest_time.as_secs_f64(),
            transform_time.as_secs_f64()
        );
    }
    if let Some((_, _, _, t, _)) = ingested.last() {
        let models: Vec<String> = t.rows.iter().map(|(m, n)| format!("{m} {n}")).collect();
        println!("  last run by model: {}", models.join(", "));
    }
    println!("  landing zone:   {}", landing.display());
    println!("  processed zone: {}", processed.display());

    println!();
    println!(
        "Connect:  psql \"$(tote postgres start --dir {} --database totesys)\"",
        cluster.root().display()
    );
    println!("Stop:     tote postgres stop --dir {}", cluster.root().display());
    Ok(())
}

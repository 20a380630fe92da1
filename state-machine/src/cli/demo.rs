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
    println!();
    println!(
        "Connect:  psql \"$(tote postgres start --dir {} --database totesys)\"",
        cluster.root().display()
    );
    println!("Stop:     tote postgres stop --dir {}", cluster.root().display());
    Ok(())
}

//! `tote sim seed|run|check`: the ToteSys simulator.

use std::time::Duration;

use chrono::{NaiveDateTime, NaiveTime};
use clap::{Args, Subcommand};
use tote_sim::{RunOptions, SeedOptions};

/// Subcommands of `tote sim`.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Create the ToteSys schema and fill it with a deterministic history.
    Seed(SeedArgs),
    /// Play the database forward in simulated time, 15 minutes a tick.
    Run(RunArgs),
    /// Check every data rule of the spec; non-zero exit if any is broken.
    Check {
        /// The ToteSys database.
        #[arg(long, env = "TOTE_SOURCE_URL", hide_env_values = true)]
        url: String,
    },
}

/// Arguments of `tote sim seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The database to create ToteSys in.
    #[arg(long, env = "TOTE_SOURCE_URL", hide_env_values = true)]
    pub url: String,
    /// Daily volume multiplier: 1 ≈ the real database, 100 ≈ a hundred times that.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Days of history.
    #[arg(long, default_value_t = 730)]
    pub days: u32,
    /// RNG seed; the same arguments give byte-identical data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// End of the history, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DD` (08:00); default the latest 08:00 that is not after now.
    #[arg(long, value_parser = parse_end)]
    pub end: Option<NaiveDateTime>,
    /// Drop existing ToteSys tables first.
    #[arg(long)]
    pub replace: bool,
}

/// Arguments of `tote sim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The ToteSys database.
    #[arg(long, env = "TOTE_SOURCE_URL", hide_env_values = true)]
    pub url: String,
    /// Ticks to play (one tick = 15 simulated minutes).
    #[arg(long, default_value_t = 4)]
    pub ticks: u32,
    /// Real time between ticks, e.g. `10s`; 0 plays as fast as possible.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// RNG seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Volume multiplier for new orders and designs.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Expected changes of each kind per tick: order updates, staff renames and moves,
    /// department renames, counterparty moves, address changes.
    #[arg(long, default_value_t = 0.0)]
    pub update_rate: f64,
    /// Expected orders deleted (with transaction and payment) per tick.
    #[arg(long, default_value_t = 0.0)]
    pub delete_rate: f64,
    /// Hold one new order's transaction open for several ticks, so it commits late.
    #[arg(long)]
    pub late_commit: bool,
}

fn parse_end(s: &str) -> Result<NaiveDateTime, String> {
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t);
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_time(NaiveTime::from_hms_opt(8, 0, 0).unwrap()))
        .map_err(|_| format!("`{s}` is not a date or time; use YYYY-MM-DD or 'YYYY-MM-DD HH:MM'"))
}

/// The default end of a seeded history: the latest 08:00 (local time) that is not after now,
/// so that no seeded row is dated after the source's clock (tote reads such rows again on every
/// ingest until the clock catches up, and warns).
pub fn default_end() -> NaiveDateTime {
    let now = chrono::Local::now().naive_local();
    let eight = now.date().and_time(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    if eight <= now {
        eight
    } else {
        eight - chrono::Duration::days(1)
    }
}

impl SeedArgs {
    /// The library options these arguments stand for.
    pub fn options(&self) -> SeedOptions {
        SeedOptions {
            scale: self.scale,
            days: self.days,
            seed: self.seed,
            end: self.end.unwrap_or_else(default_end),
            replace: self.replace,
        }
    }
}

/// Runs a `tote sim` subcommand.
pub async fn run(cmd: SimCommand) -> anyhow::Result<()> {
    match cmd {
        SimCommand::Seed(args) => {
            let options = args.options();
            eprintln!(
                "seeding ToteSys: scale {}, {} days up to {}, seed {}",
                options.scale, options.days, options.end, options.seed
            );
            let report = tote_sim::seed(&args.url, &options).await?;
            for (table, rows) in &report.rows {
                println!("{table:>16} {rows:>10}");
            }
            println!(
                "{:>16} {:>10} rows in {:.1} s ({:.0} rows/s)",
                "total",
                report.total_rows(),
                report.elapsed.as_secs_f64(),
                report.rows_per_second()
            );
        }
        SimCommand::Run(args) => {
            let options = RunOptions {
                ticks: args.ticks,
                interval: args.interval,
                seed: args.seed,
                scale: args.scale,
                update_rate: args.update_rate,
                delete_rate: args.delete_rate,
                late_commit: args.late_commit,
            };
            tote_sim::run(&args.url, &options, |tick| println!("{tick}")).await?;
        }
        SimCommand::Check { url } => {
            let client = tote_io::pg::connect(&url, tote_io::pg::Role::Source).await?;
            let broken = tote_sim::rules::check(&client).await?;
            for rule in tote_sim::rules::RULES {
                let mark = if broken.iter().any(|(name, _)| *name == rule.name) {
                    "BROKEN"
                } else {
                    "ok"
                };
                println!("{mark:>6}  {}", rule.name);
            }
            if !broken.is_empty() {
                let list: Vec<String> = broken.iter().map(|(n, c)| format!("{n}: {c} rows")).collect();
                anyhow::bail!("{} rule(s) broken:\n  {}", broken.len(), list.join("\n  "));
            }
        }
    }
    Ok(())
}

//! Command-line parsing and dispatch for `tote`.

mod aws;
mod demo;
mod postgres;
mod report;
mod run;
mod sim;
mod stages;

use clap::{Parser, Subcommand};

/// tote keeps a Postgres star-schema warehouse within minutes of the ToteSys OLTP database.
#[derive(Debug, Parser)]
#[command(name = "tote", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (repeat for more). `TOTE_LOG` (e.g. `tote=debug`) overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Zero-configuration demo: a private Postgres, a seeded ToteSys, and a summary.
    Demo(demo::DemoArgs),
    /// The ToteSys simulator: create, fill and play a source database forward.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Run the pipeline once: the deployed state machine, locally (plan → ingest → transform → load).
    Run(run::RunArgs),
    /// Recorded executions of `tote run`: list, show, redrive.
    #[command(subcommand)]
    Executions(run::ExecutionsCommand),
    /// One self-contained HTML page of an execution (graph, timeline, rows, freshness, history).
    Report(report::ReportArgs),
    /// Reconcile the warehouse with the source, table by table (non-zero exit on a mismatch).
    Verify(stages::VerifyArgs),
    /// Where the pipeline stands: per table freshness, pending batches, recent executions
    /// (exit status 3 when the freshness SLA is breached).
    Status(stages::StatusArgs),
    /// Ingest one table into the landing zone (stage 1, by hand).
    Ingest(stages::IngestArgs),
    /// Transform every new landing batch into the star schemas (stage 2, by hand).
    Transform(stages::TransformArgs),
    /// Load every new processed batch into the warehouse (stage 3, by hand).
    Load(stages::LoadArgs),
    /// The warehouse schema.
    #[command(subcommand)]
    Warehouse(stages::WarehouseCommand),
    /// The deployed state machine (after `cdk deploy`): start, describe, list, redrive.
    #[command(subcommand)]
    Aws(aws::AwsCommand),
    /// Benchmark tote against the Postgres COPY ceiling on the same data (writes bench.json and bench.md).
    Bench(tote_bench::BenchArgs),
    /// A private Postgres server for trying tote (and for its tests).
    #[command(subcommand)]
    Postgres(postgres::PostgresCommand),
}

/// Sends logs to stderr; `TOTE_LOG` takes an `EnvFilter` directive.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,tote=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOTE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the parsed command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Bench(args) => tote_bench::run(args).await,
        Command::Sim(cmd) => sim::run(cmd).await,
        Command::Postgres(cmd) => postgres::run(cmd).await,
        Command::Aws(cmd) => aws::run(cmd).await,
        Command::Run(args) => run::run(args).await,
        Command::Executions(cmd) => run::executions(cmd).await,
        Command::Report(args) => report::run(args).await,
        Command::Verify(args) => stages::verify(args).await,
        Command::Status(args) => stages::status(args).await,
        Command::Ingest(args) => stages::ingest(args).await,
        Command::Transform(args) => stages::transform(args).await,
        Command::Load(args) => stages::load(args).await,
        Command::Warehouse(cmd) => stages::warehouse(cmd).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}

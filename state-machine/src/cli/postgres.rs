//! `tote postgres start|stop|url`: a private Postgres server in a directory of its own.

use std::path::PathBuf;

use clap::Subcommand;
use tote_private_pg::PrivateCluster;

/// Subcommands of `tote postgres`.
#[derive(Debug, Subcommand)]
pub enum PostgresCommand {
    /// Start (creating on first use) a private server and print its URL.
    Start {
        /// Where the server keeps its files.
        #[arg(long, default_value = ".tote/postgres")]
        dir: PathBuf,
        /// Database name to put in the printed URL (created if missing).
        #[arg(long, default_value = "postgres")]
        database: String,
    },
    /// Stop the private server.
    Stop {
        /// Where the server keeps its files.
        #[arg(long, default_value = ".tote/postgres")]
        dir: PathBuf,
    },
}

/// Runs a `tote postgres` subcommand.
pub async fn run(cmd: PostgresCommand) -> anyhow::Result<()> {
    match cmd {
        PostgresCommand::Start { dir, database } => {
            let cluster =
                tokio::task::spawn_blocking(move || PrivateCluster::start_persistent(&dir)).await??;
            ensure_database(&cluster, &database).await?;
            println!("{}", cluster.url(&database));
        }
        PostgresCommand::Stop { dir } => {
            let stopped =
                tokio::task::spawn_blocking(move || PrivateCluster::stop_persistent(&dir)).await??;
            eprintln!("{}", if stopped { "stopped" } else { "was not running" });
        }
    }
    Ok(())
}

/// Creates `database` on the cluster if it does not exist.
pub async fn ensure_database(cluster: &PrivateCluster, database: &str) -> anyhow::Result<()> {
    create_database(cluster, database, false).await
}

/// Drops database `database` on the cluster if it exists, and creates it empty.
pub async fn recreate_database(cluster: &PrivateCluster, database: &str) -> anyhow::Result<()> {
    create_database(cluster, database, true).await
}

async fn create_database(cluster: &PrivateCluster, database: &str, replace: bool) -> anyhow::Result<()> {
    let client = tote_io::pg::connect(&cluster.url("postgres"), tote_io::pg::Role::Source).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await?
        .is_some();
    if exists && replace {
        client
            .batch_execute(&format!(
                "DROP DATABASE {} WITH (FORCE)",
                tote_core::tables::quote_ident(database)
            ))
            .await?;
    }
    if !exists || replace {
        client
            .batch_execute(&format!(
                "CREATE DATABASE {}",
                tote_core::tables::quote_ident(database)
            ))
            .await?;
    }
    Ok(())
}

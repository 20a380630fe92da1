//! `tote aws start|describe|list|redrive`: the deployed state machine, through the Step Functions
//! API. The same verbs and the same execution input as `tote run` and `tote executions`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use tote::aws::{Deployed, Execution};
use tote::pipeline;

/// Which deployed state machine.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The state machine's ARN (default: TOTE_STATE_MACHINE_ARN, else the StateMachineArn output
    /// in the `cdk deploy --outputs-file` file).
    #[arg(long, env = "TOTE_STATE_MACHINE_ARN")]
    pub state_machine_arn: Option<String>,
    /// The outputs file of `cdk deploy --outputs-file` (default: cdk-outputs.json or
    /// infra-cdk/cdk-outputs.json, whichever exists).
    #[arg(long)]
    pub cdk_outputs: Option<PathBuf>,
}

impl TargetArgs {
    async fn deployed(&self) -> anyhow::Result<Deployed> {
        let arn = tote::aws::resolve_state_machine(
            self.state_machine_arn.as_deref(),
            None,
            self.cdk_outputs.as_deref(),
        )?;
        Ok(Deployed::connect(arn).await)
    }
}

/// `tote aws …`.
#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Start an execution of the deployed state machine (what the schedule does).
    Start {
        /// Only these tables (comma-separated; default: every allowed table).
        #[arg(long = "tables", value_delimiter = ',')]
        only: Option<Vec<String>>,
        /// Re-read the named tables in full and accept their current schema.
        #[arg(long)]
        full_refresh: bool,
        /// The execution's name (default: run-<time>-<random>).
        #[arg(long)]
        name: Option<String>,
        /// Wait for the execution to finish; non-zero exit unless it succeeds.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// One execution: status, times, input, output or error, and the state that failed.
    Describe {
        /// The execution's name or ARN.
        execution: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// The report page of a deployed execution (as `tote report` draws a local one), from its
    /// description and its history.
    Report {
        /// The execution's name or ARN.
        execution: String,
        /// Where to write the page (default: `<execution>.html` here).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// The newest executions.
    List {
        /// Only executions with this status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED,
        /// PENDING_REDRIVE).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// As JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Redrive a failed execution: only its failed states and Map iterations run again.
    Redrive {
        /// The execution's name or ARN.
        execution: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// Runs `tote aws …`.
pub async fn run(command: AwsCommand) -> anyhow::Result<()> {
    match command {
        AwsCommand::Start {
            only,
            full_refresh,
            name,
            wait,
            target,
        } => {
            let deployed = target.deployed().await?;
            let name = name.unwrap_or_else(pipeline::new_execution_name);
            let input = pipeline::execution_input(only.as_deref(), full_refresh);
            let arn = deployed.start(&name, &input).await?;
            println!("started {name}");
            println!("  {arn}");
            if wait {
                return wait_for(&deployed, &name).await;
            }
            println!("follow it with `tote aws describe {name}`");
            Ok(())
        }
        AwsCommand::Describe {
            execution,
            json,
            target,
        } => {
            let execution = target.deployed().await?.describe(&execution).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&execution)?);
            } else {
                print_execution(&execution);
            }
            Ok(())
        }
        AwsCommand::Report {
            execution,
            out,
            target,
        } => {
            let deployed = target.deployed().await?;
            let described = deployed.describe(&execution).await?;
            let (definition, events) = deployed.history(&execution).await?;
            let record = tote::report::aws::record(&described, definition, &events);
            let out = out.unwrap_or_else(|| format!("{}.html", described.name).into());
            let page = tote::report::Page::of(&record, &[]);
            std::fs::write(&out, tote::report::html::render(&page))?;
            println!("wrote {}", out.display());
            Ok(())
        }
        AwsCommand::List {
            status,
            limit,
            json,
            target,
        } => {
            let list = target.deployed().await?.list(status.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                println!("no executions");
                return Ok(());
            }
            println!(
                "{:<40}{:<17}{:<22}{:>9}",
                "name", "status", "started (UTC)", "redrives"
            );
            for e in list {
                println!(
                    "{:<40}{:<17}{:<22}{:>9}",
                    e.name,
                    e.status,
                    e.started
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    e.redrives
                );
            }
            Ok(())
        }
        AwsCommand::Redrive { execution, target } => {
            let deployed = target.deployed().await?;
            let at = deployed.redrive(&execution).await?;
            println!("redrove {execution} at {}", at.format("%Y-%m-%d %H:%M:%S UTC"));
            println!("follow it with `tote aws describe {execution}`");
            Ok(())
        }
    }
}

/// Polls until the execution stops (after 0.2 s, then twice as long each time, up to 5 s between
/// polls); fails unless it succeeded.
async fn wait_for(deployed: &Deployed, name: &str) -> anyhow::Result<()> {
    let mut pause = Duration::from_millis(200);
    loop {
        let execution = deployed.describe(name).await?;
        if execution.status != "RUNNING" && execution.status != "PENDING_REDRIVE" {
            print_execution(&execution);
            if execution.status == "SUCCEEDED" {
                return Ok(());
            }
            anyhow::bail!(
                "execution {name} {}; after fixing the cause, `tote aws redrive {name}`",
                execution.status
            );
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

fn print_execution(e: &Execution) {
    println!("execution  {}", e.name);
    println!("arn        {}", e.arn);
    println!("status     {}", e.status);
    if let Some(t) = e.started {
        println!("started    {}", t.format("%Y-%m-%d %H:%M:%S%.3f UTC"));
    }
    if let Some(t) = e.stopped {
        println!("stopped    {}", t.format("%Y-%m-%d %H:%M:%S%.3f UTC"));
    }
    println!("redrives   {}", e.redrives);
    if let Some(input) = &e.input {
        println!("input      {input}");
    }
    if let Some(state) = &e.failed_state {
        println!("failed at  {state}");
    }
    if let Some(error) = &e.error {
        println!("error      {error}");
    }
    if let Some(cause) = &e.cause {
        println!("cause      {cause}");
    }
    if let Some(output) = &e.output {
        println!("output     {output}");
    }
    if e.failed() {
        println!(
            "redrive it with `tote aws redrive {}` once the cause is fixed",
            e.name
        );
    }
}

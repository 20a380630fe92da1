//! `tote run` and `tote executions list|show|redrive`: the deployed definition, run locally, with
//! a history and redrive like the Step Functions console's.

use std::sync::Mutex;
use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::Value;
use tote::pipeline::{self, Pipeline};
use tote_asl::{EventType, ExecutionRecord, ExecutionStatus, HistoryEvent};
use tote_core::progress::{self, Unit};

use super::stages::ConfigArgs;

/// Arguments of `tote run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only these tables (comma-separated; default: every allowed table).
    #[arg(long = "tables", value_delimiter = ',')]
    pub only: Option<Vec<String>>,
    /// Re-read the named tables in full and accept their current schema.
    #[arg(long)]
    pub full_refresh: bool,
    /// The execution's name (default: run-<time>-<random>).
    #[arg(long)]
    pub name: Option<String>,
    /// Print the finished execution as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `tote executions …`.
#[derive(Debug, Subcommand)]
pub enum ExecutionsCommand {
    /// The recorded executions, newest first.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// One execution: status, input, output or error, failed states; `--events` for the history.
    Show {
        /// The execution's name.
        name: String,
        /// Print the history events too.
        #[arg(long)]
        events: bool,
        /// As JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Re-run only what failed in a failed execution, with the same input.
    Redrive {
        /// The execution's name.
        name: String,
        /// Print the finished execution as JSON instead of a summary.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Reports an execution's progress as its history grows: each top-level state as it is entered,
/// each failed attempt, and the Map's iterations as a task (tables done of all).
pub(crate) fn progress_listener() -> impl Fn(&HistoryEvent) + Send + Sync + 'static {
    let map: Mutex<Option<progress::Task>> = Mutex::new(None);
    move |event: &HistoryEvent| {
        let name = event.details.name.as_deref().unwrap_or("");
        let top = event.scope.is_empty();
        match event.event_type {
            EventType::TaskStateEntered | EventType::MapStateEntered if top => {
                progress::println(&format!("▸ {name}"));
            }
            EventType::MapStateStarted if top => {
                let total = event.details.length.map(|n| n as u64);
                *map.lock().expect("not poisoned") = Some(progress::task("tables", Unit::Steps, total));
            }
            EventType::MapIterationSucceeded | EventType::MapIterationFailed if top => {
                if let Some(task) = &*map.lock().expect("not poisoned") {
                    task.advance(1, 0);
                }
            }
            EventType::MapStateSucceeded | EventType::MapStateFailed if top => {
                map.lock().expect("not poisoned").take();
            }
            EventType::TaskFailed => {
                let error = event.details.error.as_deref().unwrap_or("?");
                progress::println(&format!(
                    "  ! {error} (the state's Retry decides what happens next)"
                ));
            }
            EventType::ExecutionRedriven => progress::println("▸ redriving"),
            _ => {}
        }
    }
}

/// Runs `tote run`.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = args.config.config()?;
    let name = args.name.clone().unwrap_or_else(pipeline::new_execution_name);
    let input = pipeline::execution_input(args.only.as_deref(), args.full_refresh);
    let started = Instant::now();
    let record = Pipeline::new(config)
        .with_listener(progress_listener())
        .start(&name, input)
        .await?;
    report(&record, started, args.json)
}

/// Runs `tote executions …`.
pub async fn executions(command: ExecutionsCommand) -> anyhow::Result<()> {
    match command {
        ExecutionsCommand::List { json, config } => {
            let pipeline = Pipeline::new(config.config()?);
            let mut list = pipeline.store().list()?;
            list.sort_by_key(|e| std::cmp::Reverse(e.start_date));
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                println!("no executions yet in {}", pipeline.store().root().display());
                return Ok(());
            }
            println!(
                "{:<34}{:<11}{:<22}{:>9}{:>9}  error",
                "name", "status", "started (UTC)", "seconds", "redrives"
            );
            for e in list {
                let seconds = e
                    .stop_date
                    .map(|s| format!("{:.1}", (s - e.start_date).num_milliseconds() as f64 / 1000.0))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<34}{:<11}{:<22}{:>9}{:>9}  {}",
                    e.name,
                    e.status.to_string(),
                    e.start_date.format("%Y-%m-%d %H:%M:%S"),
                    seconds,
                    e.redrive_count,
                    e.error.unwrap_or_default()
                );
            }
            Ok(())
        }
        ExecutionsCommand::Show {
            name,
            events,
            json,
            config,
        } => {
            let record = Pipeline::new(config.config()?).store().load(&name)?;
            if json {
                let mut value = serde_json::to_value(&record)?;
                value["input"] = record.input.clone();
                if events {
                    value["events"] = serde_json::to_value(&record.events)?;
                }
                println!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(());
            }
            println!("execution  {}", record.name);
            println!("status     {}", record.status);
            println!(
                "started    {}",
                record.start_date.format("%Y-%m-%d %H:%M:%S%.3f UTC")
            );
            if let Some(stop) = record.stop_date {
                println!("stopped    {}", stop.format("%Y-%m-%d %H:%M:%S%.3f UTC"));
            }
            println!("redrives   {}", record.redrive_count);
            println!("input      {}", record.input);
            print_outcome(&record);
            if events {
                println!();
                for e in &record.events {
                    let scope: Vec<String> = e
                        .scope
                        .iter()
                        .map(|s| format!("{}[{}]", s.state, s.index))
                        .collect();
                    println!(
                        "{:>4} {} {:?} {} {}",
                        e.id,
                        e.timestamp.format("%H:%M:%S%.3f"),
                        e.event_type,
                        scope.join(" > "),
                        e.details
                            .name
                            .as_deref()
                            .or(e.details.error.as_deref())
                            .unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        ExecutionsCommand::Redrive { name, json, config } => {
            let started = Instant::now();
            let record = Pipeline::new(config.config()?)
                .with_listener(progress_listener())
                .redrive(&name)
                .await?;
            report(&record, started, json)
        }
    }
}

/// Prints a finished execution and turns a failure into a non-zero exit.
fn report(record: &ExecutionRecord, started: Instant, json: bool) -> anyhow::Result<()> {
    if json {
        let mut value = serde_json::to_value(record)?;
        value["input"] = record.input.clone();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!();
        println!(
            "execution {} {} in {:.2} s",
            record.name,
            record.status,
            started.elapsed().as_secs_f64()
        );
        print_outcome(record);
    }
    if record.status != ExecutionStatus::Succeeded {
        anyhow::bail!(
            "execution {} {}: {}; {}",
            record.name,
            record.status,
            record.error.as_deref().unwrap_or("no error recorded"),
            pipeline::what_to_do(record)
        );
    }
    Ok(())
}

/// The rows per table and stage of a succeeded execution, or the failure of a failed one.
fn print_outcome(record: &ExecutionRecord) {
    if let Some(resume) = &record.resume {
        println!("failed at  {}", resume.failed_states().join(", "));
    }
    if let Some(error) = &record.error {
        println!("error      {error}");
    }
    if let Some(cause) = &record.cause {
        let message = serde_json::from_str::<Value>(cause)
            .ok()
            .and_then(|v| v["errorMessage"].as_str().map(str::to_string))
            .unwrap_or_else(|| cause.clone());
        println!("cause      {message}");
    }
    let Some(output) = &record.output else { return };
    if output.get("ingest").is_none() {
        println!("nothing to do: {output}");
        return;
    }
    println!();
    println!("  ingest (new row versions per table)");
    for item in pipeline::ingested_tables(output) {
        println!(
            "    {:<22}{:>10}",
            item["table"].as_str().unwrap_or("?"),
            item["rows"].as_u64().unwrap_or(0)
        );
    }
    println!("  transform (rows per model)");
    for (model, rows) in output["transform"]["rows"].as_object().into_iter().flatten() {
        println!("    {model:<22}{:>10}", rows.as_u64().unwrap_or(0));
    }
    println!("  load (rows per table: inserted / updated / unchanged / deleted at the source)");
    for (model, rows) in pipeline::loaded_rows(output) {
        println!(
            "    {model:<22}{:>10}{:>10}{:>10}{:>10}",
            rows["inserted"].as_u64().unwrap_or(0),
            rows["updated"].as_u64().unwrap_or(0),
            rows["skipped"].as_u64().unwrap_or(0),
            rows["deleted"].as_u64().unwrap_or(0)
        );
    }
}

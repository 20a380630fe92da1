//! `tote report`: the HTML picture of an execution, or (`--index`) of the recent ones.

use std::path::PathBuf;

use clap::Args;
use tote::pipeline::Pipeline;
use tote::report::{html, Page};

use super::stages::ConfigArgs;

/// Arguments of `tote report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The execution (default: the latest).
    pub execution: Option<String>,
    /// Where to write the page (default: `$TOTE_HOME/reports/<execution>.html`, or
    /// `$TOTE_HOME/reports/index.html` with `--index`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Open the page in the desktop's browser once written.
    #[arg(long)]
    pub open: bool,
    /// Write a page listing the recent executions, and each one's report beside it.
    #[arg(long, conflicts_with = "execution")]
    pub index: bool,
    /// How many recent executions the index lists and the freshness chart covers.
    #[arg(long, default_value_t = 20)]
    pub recent: usize,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Runs `tote report`.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let config = args.config.config()?;
    let reports_dir = config.home.join("reports");
    let store = Pipeline::new(config).store().clone();
    let mut summaries = store.list()?;
    summaries.sort_by_key(|s| std::cmp::Reverse(s.start_date));
    if summaries.is_empty() {
        anyhow::bail!("no executions recorded under this TOTE_HOME yet: run `tote run` first");
    }
    let recent = summaries
        .iter()
        .take(args.recent.max(1))
        .map(|s| store.load(&s.name))
        .collect::<Result<Vec<_>, _>>()?;
    let written = if args.index {
        let out = args.out.unwrap_or_else(|| reports_dir.join("index.html"));
        let dir = out.parent().map(PathBuf::from).unwrap_or_default();
        std::fs::create_dir_all(&dir)?;
        let pages: Vec<Page> = recent.iter().map(|r| Page::of(r, &recent)).collect();
        for page in &pages {
            std::fs::write(dir.join(format!("{}.html", page.execution)), html::render(page))?;
        }
        std::fs::write(&out, html::index(&pages))?;
        out
    } else {
        let name = args.execution.unwrap_or_else(|| summaries[0].name.clone());
        let record = store.load(&name)?;
        let out = args
            .out
            .unwrap_or_else(|| reports_dir.join(format!("{name}.html")));
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&out, html::render(&Page::of(&record, &recent)))?;
        out
    };
    println!("wrote {}", written.display());
    if args.open {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        if std::process::Command::new(opener).arg(&written).spawn().is_err() {
            println!("(could not start {opener}: open the file in a browser)");
        }
    }
    Ok(())
}

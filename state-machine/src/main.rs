//! `tote`: run the ToteSys → warehouse pipeline on a laptop, simulate ToteSys, and look after
//! executions. Every subcommand is a thin layer over a library function; see `tote --help`.

mod cli;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let verbose = args.verbose > 0;
    cli::init_logging(args.verbose);
    // A command asked for JSON prints no bars (its flag is `--json` on every such command).
    progress::install(std::env::args_os().any(|a| a == "--json"));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e, verbose);
            ExitCode::FAILURE
        }
    }
}

/// Prints a failed command's error: what the command adds, down to tote's own error (its stable
/// name, message and advice), on one line; with `--verbose`, every cause below that on a line of
/// its own (the arrow, DataFusion, object-store or Postgres error that tote's error explains).
fn print_error(e: &anyhow::Error, verbose: bool) {
    let mut shown = Vec::new();
    let mut causes = Vec::new();
    let mut below_tote = false;
    for link in e.chain() {
        if below_tote {
            causes.push(link.to_string());
        } else {
            shown.push(link.to_string());
            below_tote = link.is::<tote_core::Error>();
        }
    }
    eprintln!("error: {}", shown.join(": "));
    if verbose {
        for cause in causes {
            eprintln!("  caused by: {cause}");
        }
    }
}

//! `tote`: run the ToteSys → warehouse pipeline on a laptop, simulate ToteSys, and look after
//! executions. Every subcommand is a thin layer over a library function; see `tote --help`.

mod cli;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `gadgetd`: qbranch's daemon. Glue only: arguments, logging, exit status. The loop
//! is in `daemon`, the config in `settings`, the endpoint in `metrics` and `http`.

mod check;
mod cli;
mod daemon;
mod http;
mod logs;
mod metrics;
mod model_list;
mod output;
mod pause;
mod settings;
mod traces;
mod tuning;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::settings::InputError;

/// Bad input (a config file, a flag), as clap's own usage errors.
const EXIT_INPUT: u8 = 2;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => daemon::run(args),
        Command::Check(args) => check::run(&args.config).map_err(anyhow::Error::from),
        Command::Models(args) => model_list::run(args.models.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gadgetd: error: {e:#}");
            if e.downcast_ref::<InputError>().is_some() {
                ExitCode::from(EXIT_INPUT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

//! Command-line arguments. Values are kept as given (strings for durations and
//! addresses) and checked in `settings`, so a flag and its `[daemon]` key are validated
//! by the same code and named the same way in errors.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use qb_gadgets::Mode;

#[derive(Debug, Parser)]
#[command(
    name = "gadgetd",
    version,
    about = "qbranch's daemon: gadgets on live host signals, dry run by default",
    after_help = "Examples:\n  gadgetd run                                  # built-in safe default: dry run, whole host\n  gadgetd run --config /etc/qbranch/gadgetd.toml\n  gadgetd check /etc/qbranch/gadgetd.toml\n  gadgetd models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record this host every interval and run the gadgets on it
    Run(RunArgs),
    /// Parse and validate a config file and summarise what it would do
    Check(CheckArgs),
    /// List the models (embedded or --models DIR), their checks and held-out metrics
    Models(ModelsArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The config file (TOML); without it the built-in safe default runs. SIGHUP reloads it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Overrides the config's mode (observe, dry-run, enforce), also across reloads.
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<Mode>,
    /// A models directory written by `qbranch train` instead of the embedded models.
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Time between ticks (default 1s).
    #[arg(long)]
    pub interval: Option<String>,
    /// Stop after this long (default: until SIGTERM or SIGINT).
    #[arg(long)]
    pub duration: Option<String>,
    /// Prometheus endpoint, loopback only (default 127.0.0.1:9464; port 0 picks one).
    #[arg(long, conflicts_with = "no_metrics")]
    pub metrics: Option<String>,
    /// Serve no metrics.
    #[arg(long)]
    pub no_metrics: bool,
    /// Append every incident (action or refusal) to this file as a JSON line.
    #[arg(long)]
    pub incidents: Option<PathBuf>,
    /// No JSON lines on stdout (the readable lines still go to stderr).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The config file to validate.
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// A models directory (its manifest.toml) instead of the embedded models.
    #[arg(long)]
    pub models: Option<PathBuf>,
}

fn parse_mode(text: &str) -> Result<Mode, String> {
    text.parse()
}

//! `qbranch`: the command-line front of the workbench. Glue only: every capability
//! lives in a library crate.

mod anchors;
mod curator;
mod demo;
mod inspect;
mod live;
mod perf;
mod record;
mod redact;
mod replay;
mod report;
mod simulate;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "qbranch",
    version,
    about = "Record real host signals, replay them, and act on them safely",
    long_about = "qbranch records host signals (system, processes, cgroups, PSI) to Parquet, \
                  and later replays them through the gadgets that predict OOM kills, find stuck \
                  processes and redact PII.\n\nA recording is a directory: one folder per table, \
                  hive-partitioned by host and date, plus manifest.toml. polars, pandas, DuckDB \
                  and Spark read it as-is.",
    after_help = "Examples:\n  qbranch record --out rec --duration 30s\n  qbranch inspect rec --verify\n  qbranch replay scenarios/cases --junit replay.xml\n  qbranch schema"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record this host's signals to a Parquet dataset directory
    Record(record::RecordArgs),
    /// Generate a seeded synthetic dataset with ground-truth labels
    Simulate(simulate::SimulateArgs),
    /// Fit a gadget's model on a standard set and evaluate it on the held-out seeds
    Train(train::TrainArgs),
    /// Our models next to scikit-learn, statsmodels and PyTorch on the same rows
    Anchors(anchors::AnchorsArgs),
    /// Run scenario cases (TOML) through the gadgets in virtual time and check them
    Replay(replay::ReplayArgs),
    /// Write the benchmark report (HTML and Markdown with SVG charts) into a run folder
    Report(report::ReportArgs),
    /// The whole loop here: simulate, train, replay the suite, measure, compare, report
    Demo(demo::DemoArgs),
    /// Summarise a recording; with --verify, read every segment back
    Inspect(inspect::InspectArgs),
    /// Redact PII in log files or stdin (the Curator's fast path); alerts never hold the value
    Redact(redact::RedactArgs),
    /// The Curator's slow path: learn fast-path rules from what it finds, list them
    Curator(curator::CuratorArgs),
    /// Quick performance probes (engine, recorder, eBPF, gadgetd memory, Curator) as JSON
    Perf(perf::PerfArgs),
    /// Print the canonical signal schema (every table and column, with unit and source)
    Schema,
    /// Worker mode of `simulate live`: the body of a misbehaving process
    #[command(hide = true)]
    Workload(live::WorkloadArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QB_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Record(args) => record::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Replay(args) => match replay::run_cases(args) {
            Ok(true) => Ok(()),
            // Failed trials were reported line by line: no error line on top.
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Train(args) => train::run(args),
        Command::Anchors(args) => anchors::run(args),
        Command::Report(args) => match report::run(args) {
            Ok(true) => Ok(()),
            // Regressions against the baseline with --fail-on-regression.
            Ok(false) => return ExitCode::from(3),
            Err(e) => Err(e),
        },
        Command::Demo(args) => demo::run(args),
        Command::Redact(args) => redact::run(args),
        Command::Curator(args) => curator::run(args),
        Command::Perf(args) => perf::run(args),
        Command::Workload(args) => live::workload(args),
        Command::Schema => {
            print!("{}", qb_signals::canonical_text());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qbranch: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

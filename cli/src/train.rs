//! `qbranch train`: fit a gadget's model on a standard set, evaluate it on the held-out
//! seeds, write the artifact, its metrics and the manifest entry.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use qb_trainer::datasets;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Which gadget's model
    #[arg(value_enum)]
    gadget: Gadget,
    /// Standard set root (`qbranch simulate standard --out DIR`)
    #[arg(long, default_value = "datasets/standard")]
    data: PathBuf,
    /// Where artifacts, metrics and manifest.toml go
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Seed of the fit
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also evaluate on this labelled live recording (`qbranch simulate live ... --record`);
    /// repeatable
    #[arg(long = "live", value_name = "DIR")]
    live: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Gadget {
    /// Random forest: working / idle / stuck processes
    Pathologist,
    /// ARIMA and LSTM OOM forecasting (not yet trainable)
    Oracle,
    /// Isolation forest over connections (not yet trainable)
    Equalizer,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let started = Instant::now();
    let (family, feature_set) = match args.gadget {
        Gadget::Pathologist => ("stuck", "pathologist"),
        other => bail!(
            "training the {other:?} model is not implemented yet: its features and model are in \
             qb-models, the trainer comes next (issue 5)"
        ),
    };
    let entries = datasets::find(&args.data, family)?;
    let live: Vec<datasets::Entry> = args
        .live
        .iter()
        .map(|d| datasets::Entry::live(family, d))
        .collect();
    let trained = qb_trainer::pathologist::train(&entries, &live, args.seed)?;
    qb_trainer::write(&args.models, &trained, &args.data, &entries, feature_set)?;
    println!(
        "trained {} on {} rows from {} datasets in {:.1} s; evaluated on {} held-out rows",
        trained.name,
        trained.training_rows,
        entries.len(),
        started.elapsed().as_secs_f64(),
        trained.held_out_rows
    );
    for line in &trained.summary {
        println!("  {line}");
    }
    println!(
        "  wrote {}/artifacts/{}.qbm ({} bytes), metrics/{}.json, manifest.toml",
        args.models.display(),
        trained.name,
        trained.artifact.to_bytes().len(),
        trained.name
    );
    Ok(())
}

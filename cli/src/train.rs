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
    /// More roots in the standard layout whose datasets join the standard set's
    /// (the curator: `<DIR>/<training|held-out>/pii/novel_formats/seed-N`); repeatable
    #[arg(long = "also", value_name = "DIR")]
    also: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Gadget {
    /// ARIMA and LSTM OOM forecasting, from the memory family
    Oracle,
    /// Random forest: working / idle / stuck processes, from the stuck family
    Pathologist,
    /// Isolation forest over connections, from the toxic family
    Equalizer,
    /// PII context classifier (the Curator's slow path), from the pii family
    Curator,
    /// TF-IDF novelty vocabulary for the Archivist's flush ranking, from every logs table
    Archivist,
    /// Nothing: the Timekeeper learns its routines online
    Timekeeper,
    /// Every model that can be trained
    All,
}

const TRAINABLE: [Gadget; 5] = [
    Gadget::Oracle,
    Gadget::Pathologist,
    Gadget::Equalizer,
    Gadget::Curator,
    Gadget::Archivist,
];

pub fn run(args: TrainArgs) -> Result<()> {
    match args.gadget {
        Gadget::All => {
            for g in TRAINABLE {
                train(g, &args)?;
            }
            println!("timekeeper: nothing to train (it learns each host's routines online)");
            Ok(())
        }
        Gadget::Curator => curator(&args),
        Gadget::Archivist => archivist(&args),
        Gadget::Timekeeper => {
            bail!("the Timekeeper has no model to train: it learns each host's routines online")
        }
        g => train(g, &args),
    }
}

/// The Curator's context classifier, from the pii family of the standard set and of
/// every `--also` root.
fn curator(args: &TrainArgs) -> Result<()> {
    let started = Instant::now();
    let mut entries = datasets::find(&args.data, "pii")?;
    for root in &args.also {
        entries.extend(datasets::find(root, "pii")?);
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let params = qb_trainer::curator::CuratorParams {
        seed: args.seed,
        ..Default::default()
    };
    let t = qb_trainer::curator::train(&entries, &params, &mut |m| bar.set_message(m))?;
    bar.finish_and_clear();
    write_and_report(args, &t, &entries, "pii", started, "curator")
}

/// The Archivist's vocabulary, from the logs of the standard set (the pii family) and
/// of every `--also` root.
fn archivist(args: &TrainArgs) -> Result<()> {
    let started = Instant::now();
    let mut entries = datasets::find(&args.data, "pii")?;
    for root in &args.also {
        for family in ["pii", "incident"] {
            entries.extend(datasets::find(root, family)?);
        }
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let t = qb_trainer::archivist::train(&entries, &mut |m| bar.set_message(m))?;
    bar.finish_and_clear();
    write_and_report(args, &t, &entries, "log", started, "archivist")
}

fn train(gadget: Gadget, args: &TrainArgs) -> Result<()> {
    match gadget {
        Gadget::Curator => return curator(args),
        Gadget::Archivist => return archivist(args),
        _ => {}
    }
    let started = Instant::now();
    let family = match gadget {
        Gadget::Oracle => "memory",
        Gadget::Pathologist => "stuck",
        _ => "toxic",
    };
    let entries = datasets::find(&args.data, family)?;
    let mut live = Vec::new();
    for dir in &args.live {
        match datasets::family_of(dir)? {
            Some(f) if f == family => live.push(datasets::Entry::live(family, dir)),
            // `train all` hands each recording to the gadget of its family.
            _ if args.gadget == Gadget::All => {}
            other => eprintln!(
                "note: {} is a {} recording, not {family}: not used for the {gadget:?}",
                dir.display(),
                other.unwrap_or("unlabelled")
            ),
        }
    }
    let bar = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_prefix(format!("{gadget:?}").to_lowercase());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut progress = |msg: String| bar.set_message(msg);
    let trained = match gadget {
        Gadget::Oracle => qb_trainer::oracle::train(
            &entries,
            &live,
            qb_trainer::lstm::LstmParams {
                seed: args.seed,
                ..Default::default()
            },
            &mut progress,
        )?,
        Gadget::Pathologist => vec![qb_trainer::pathologist::train(&entries, &live, args.seed)?],
        _ => vec![qb_trainer::equalizer::train(&entries, &live, args.seed)?],
    };
    bar.finish_and_clear();
    let feature_set = format!("{gadget:?}").to_lowercase();
    for t in &trained {
        write_and_report(args, t, &entries, family, started, &feature_set)?;
    }
    Ok(())
}

/// Writes a trained model (artifact, metrics, manifest entry) and says what was done.
fn write_and_report(
    args: &TrainArgs,
    t: &qb_trainer::Trained,
    entries: &[datasets::Entry],
    family: &str,
    started: Instant,
    feature_set: &str,
) -> Result<()> {
    qb_trainer::write(&args.models, t, &args.data, entries, feature_set)?;
    println!(
        "trained {} on {} rows from {} {family} datasets in {:.1} s; evaluated on {} held-out rows",
        t.name,
        t.training_rows,
        entries.len(),
        started.elapsed().as_secs_f64(),
        t.held_out_rows
    );
    for line in &t.summary {
        println!("  {line}");
    }
    println!(
        "  wrote {}/artifacts/{}.qbm ({} bytes), metrics/{}.json, manifest.toml",
        args.models.display(),
        t.name,
        t.artifact.to_bytes().len(),
        t.name
    );
    Ok(())
}

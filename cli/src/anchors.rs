//! `qbranch anchors`: our models next to scikit-learn, statsmodels and PyTorch on the
//! same rows of a standard set (issue 9). Glue only: the work is
//! `qb_trainer::anchors`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct AnchorsArgs {
    /// Standard set root (`qbranch simulate standard --out DIR`)
    #[arg(long, default_value = "datasets/standard")]
    data: PathBuf,
    /// Where the CSVs, the predictions and anchors.json go
    #[arg(long)]
    out: PathBuf,
    /// Python with numpy, scikit-learn, statsmodels (and torch) [default:
    /// $QB_ANCHORS_VENV/bin/python, QB_ANCHORS_VENV defaulting to
    /// ~/.cache/qbranch/venv-anchors, as scripts/setup creates it]
    #[arg(long)]
    python: Option<PathBuf>,
    /// The anchors' script
    #[arg(long, default_value = "models/compare/anchors.py")]
    script: PathBuf,
    /// The ODDS benchmarks of the isolation forest paper (skipped when absent)
    #[arg(long, default_value = "../shared/data/odds")]
    odds: PathBuf,
    /// Subsample every table, 2 LSTM epochs on both sides, small ODDS sets only
    #[arg(long)]
    quick: bool,
    /// Seed of every fit, on both sides
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn default_python() -> PathBuf {
    let venv = std::env::var_os("QB_ANCHORS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".cache/qbranch/venv-anchors")
        });
    venv.join("bin/python")
}

pub fn run(args: AnchorsArgs) -> Result<()> {
    let started = Instant::now();
    // Candle's matrix products spread over RAYON_NUM_THREADS threads (default: every
    // core); the comparison is per core, as the Python side's one thread.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: no other thread exists yet (the progress bar starts below), so
        // nothing reads the environment concurrently.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    }
    let opts = qb_trainer::anchors::Options {
        data: args.data,
        out: args.out,
        python: args.python.unwrap_or_else(default_python),
        script: args.script,
        odds: args.odds,
        quick: args.quick,
        seed: args.seed,
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let report = qb_trainer::anchors::run(&opts, &mut |m| bar.set_message(m))?;
    bar.finish_and_clear();
    for c in report["comparisons"].as_array().into_iter().flatten() {
        let (o, a) = (&c["ours"], &c["anchor"]);
        println!(
            "{} ({}): ours {} fit {} s, {} µs/row | {}",
            c["model"].as_str().unwrap_or("?"),
            c["data"].as_str().unwrap_or("?"),
            o["metrics"],
            o["fit_s"],
            o["predict_us_per_row"],
            if a.is_null() {
                "anchor skipped".to_string()
            } else {
                format!(
                    "{}: {} fit {} s, {} µs/row",
                    a["impl"].as_str().unwrap_or("?"),
                    a["metrics"],
                    a["fit_s"],
                    a["predict_us_per_row"]
                )
            }
        );
    }
    for s in report["skipped"].as_array().into_iter().flatten() {
        println!(
            "skipped: {} against {}: {}",
            s["model"], s["anchor"], s["reason"]
        );
    }
    let paper = &report["paper_table"];
    println!(
        "paper table: {} ({} rows){}",
        paper["status"].as_str().unwrap_or("?"),
        paper["rows"].as_array().map_or(0, Vec::len),
        paper["reason"]
            .as_str()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    println!(
        "wrote {}/anchors.json in {:.1} s",
        opts.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

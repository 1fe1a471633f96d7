//! Times our isolation forest on a CSV of vectors and prints one JSON object, for the
//! comparison with scikit-learn (`models/compare/iforest_vs_sklearn.py`):
//!
//! ```text
//! cargo run --release -p qb-models --example iforest_time -- --csv vectors.csv \
//!     [--repeats 7] [--seed 1] [--auc-seeds 10]
//! ```
//!
//! The CSV has a header; its last two columns are the label (1 anomalous, 0 normal) and
//! the split (`training` or `held-out`), every other column is a feature (the format
//! `qb-trainer`'s `equalizer_vectors` example writes). The forest (100 trees, subsample
//! 256) is fitted on every training row, labels unused, as the Equalizer is trained,
//! and scores the held-out rows one `score` call per row; a file without held-out rows
//! is scored on its training rows (fit and score on the same data, as in the paper).
//!
//! Reported: the median over `--repeats` of the fit time and of the scoring time per
//! row (with `--seed`), both as wall-clock time and as the thread's CPU time (on Linux;
//! on a shared machine the wall clock also counts the time spent waiting for a core),
//! the held-out ROC AUC with that seed (scores `s`, higher is more anomalous), and the
//! mean, min and max AUC over seeds `0..--auc-seeds`.

use std::path::PathBuf;
use std::time::Instant;

use qb_models::iforest::{IForestParams, IsolationForest};
use qb_models::metrics::roc_auc;
use serde_json::json;

struct Args {
    csv: PathBuf,
    repeats: usize,
    seed: u64,
    auc_seeds: u64,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        csv: PathBuf::new(),
        repeats: 7,
        seed: 1,
        auc_seeds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--csv" => a.csv = PathBuf::from(value()?),
            "--repeats" => {
                a.repeats = value()?.parse().map_err(|e| format!("--repeats: {e}"))?;
            }
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--auc-seeds" => {
                a.auc_seeds = value()?.parse().map_err(|e| format!("--auc-seeds: {e}"))?;
            }
            _ => {
                return Err(format!(
                    "unknown argument {flag} (--csv FILE, --repeats N, --seed S, --auc-seeds N)"
                ));
            }
        }
    }
    if a.csv.as_os_str().is_empty() {
        return Err("--csv FILE is required".into());
    }
    if a.repeats == 0 {
        return Err("--repeats must be at least 1".into());
    }
    Ok(a)
}

/// Row-major features and labels of one split.
#[derive(Default)]
struct Split {
    x: Vec<f64>,
    y: Vec<bool>,
}

struct Data {
    dims: usize,
    training: Split,
    held_out: Split,
}

fn read(path: &PathBuf) -> Result<Data, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty file")?;
    let cols = header.split(',').count();
    if cols < 3 {
        return Err(format!(
            "header has {cols} columns; needs features, label, split"
        ));
    }
    let dims = cols - 2;
    let mut d = Data {
        dims,
        training: Split::default(),
        held_out: Split::default(),
    };
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let at = || format!("line {}", i + 2);
        if fields.len() != cols {
            return Err(format!(
                "{}: {} columns, header has {cols}",
                at(),
                fields.len()
            ));
        }
        let split = match fields[cols - 1] {
            "training" => &mut d.training,
            "held-out" => &mut d.held_out,
            other => return Err(format!("{}: split {other:?}", at())),
        };
        for f in &fields[..dims] {
            split
                .x
                .push(f.parse().map_err(|e| format!("{}: {f:?}: {e}", at()))?);
        }
        split.y.push(match fields[cols - 2] {
            "1" => true,
            "0" => false,
            other => return Err(format!("{}: label {other:?}", at())),
        });
    }
    if d.training.y.is_empty() {
        return Err("no training rows".into());
    }
    Ok(d)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// CPU time of the calling thread, in seconds (NaN where unavailable).
#[cfg(target_os = "linux")]
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes one timespec through this valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_s() -> f64 {
    f64::NAN
}

/// Runs `f`, returning its result, wall-clock and CPU seconds.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (c, t) = (thread_cpu_s(), Instant::now());
    let out = f();
    let wall = t.elapsed().as_secs_f64();
    (out, wall, thread_cpu_s() - c)
}

fn params(seed: u64) -> IForestParams {
    IForestParams {
        trees: 100,
        subsample: 256,
        seed,
    }
}

fn run(a: &Args) -> Result<serde_json::Value, String> {
    let d = read(&a.csv)?;
    let same = d.held_out.y.is_empty();
    let eval = if same { &d.training } else { &d.held_out };
    let fit = |seed| IsolationForest::fit(&d.training.x, d.dims, params(seed));
    let score = |f: &IsolationForest| -> Vec<f64> {
        eval.x.chunks_exact(d.dims).map(|r| f.score(r)).collect()
    };

    // One untimed fit and scoring pass first, so page faults and caches are warm.
    let forest = fit(a.seed).map_err(|e| e.to_string())?;
    let scores = score(&forest);
    let auc = roc_auc(&scores, &eval.y);

    let (mut fit_ms, mut score_us) = (Vec::new(), Vec::new());
    let (mut fit_cpu_ms, mut score_cpu_us) = (Vec::new(), Vec::new());
    let rows = eval.y.len() as f64;
    for _ in 0..a.repeats {
        let (f, wall, cpu) = timed(|| fit(a.seed));
        let f = f.map_err(|e| e.to_string())?;
        fit_ms.push(wall * 1e3);
        fit_cpu_ms.push(cpu * 1e3);
        let (s, wall, cpu) = timed(|| score(&f));
        score_us.push(wall * 1e6 / rows);
        score_cpu_us.push(cpu * 1e6 / rows);
        // Keep the scores alive so the loop cannot be optimised away.
        if s.len() != eval.y.len() {
            return Err("scored a different number of rows".into());
        }
    }

    let mut aucs = Vec::new();
    for seed in 0..a.auc_seeds {
        let f = fit(seed).map_err(|e| e.to_string())?;
        aucs.push(roc_auc(&score(&f), &eval.y).ok_or("AUC undefined (one class only?)")?);
    }
    let n = aucs.len().max(1) as f64;
    Ok(json!({
        "implementation": "qb_models::iforest",
        "training_rows": d.training.y.len(),
        "eval_rows": eval.y.len(),
        "eval_split": if same { "training" } else { "held-out" },
        "eval_anomalies": eval.y.iter().filter(|&&y| y).count(),
        "dims": d.dims,
        "trees": forest.trees(),
        "subsample": forest.subsample(),
        "nodes": forest.node_count(),
        "seed": a.seed,
        "repeats": a.repeats,
        "fit_ms": median(fit_ms.clone()),
        "fit_ms_all": fit_ms,
        "score_us_per_row": median(score_us.clone()),
        "score_us_per_row_all": score_us,
        "fit_cpu_ms": median(fit_cpu_ms.clone()),
        "fit_cpu_ms_all": fit_cpu_ms,
        "score_cpu_us_per_row": median(score_cpu_us.clone()),
        "score_cpu_us_per_row_all": score_cpu_us,
        "auc": auc,
        "auc_seeds": {
            "n": aucs.len(),
            "mean": aucs.iter().sum::<f64>() / n,
            "min": aucs.iter().copied().fold(f64::INFINITY, f64::min),
            "max": aucs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        },
    }))
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("iforest_time: {e}");
            std::process::exit(2);
        }
    };
    match run(&a) {
        Ok(j) => println!("{j}"),
        Err(e) => {
            eprintln!("iforest_time: {}: {e}", a.csv.display());
            std::process::exit(1);
        }
    }
}

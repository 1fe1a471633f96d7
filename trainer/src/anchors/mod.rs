//! The anchors (issue 9): our models next to the reference implementations everyone
//! knows (scikit-learn's IsolationForest and RandomForestClassifier, statsmodels'
//! ARIMA, PyTorch's LSTM) on the same rows, in one run, with the same
//! hyperparameters where both have them, on one thread each.
//!
//! [`run`] exports each model's training and held-out rows from a standard set (the
//! trainer's own extraction) as CSV, runs `models/compare/anchors.py` on them (which
//! writes its predictions and timings), fits and evaluates ours on the same files, and
//! scores both sides' predictions with the same metric code into `anchors.json`.

mod export;
mod metrics;
mod ours;
mod paper;
pub mod python;
pub mod table;
pub mod timing;

use std::path::{Path, PathBuf};

use qb_models::iforest::IForestParams;
use serde_json::{Map, Value, json};

pub use export::{ARIMA_HORIZON, Caps, thin};

use crate::TrainError;
use crate::lstm::LstmParams;
use ours::Run;
use python::Outcome;
use table::Table;

/// What `qbranch anchors` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The standard set.
    pub data: PathBuf,
    /// Where the CSVs, the predictions and `anchors.json` go.
    pub out: PathBuf,
    pub python: PathBuf,
    pub script: PathBuf,
    /// The ODDS benchmarks of the isolation forest paper (`.npz`), if present.
    pub odds: PathBuf,
    pub quick: bool,
    pub seed: u64,
}

/// Epochs of the LSTM on both sides in `--quick` mode (the trainer's otherwise).
pub const QUICK_EPOCHS: usize = 2;

/// The model of one comparison, and how its predictions are scored.
struct Spec {
    key: &'static str,
    model: &'static str,
    gadget: &'static str,
    anchor: &'static str,
    ours_impl: &'static str,
    score: fn(&[f64], &[f64]) -> Value,
}

fn pathologist_metrics(p: &[f64], t: &[f64]) -> Value {
    metrics::classes(
        p,
        t,
        qb_models::features::pathologist::CLASSES.len(),
        ours::POSITIVE_CLASS,
    )
}

const SPECS: [Spec; 4] = [
    Spec {
        key: "equalizer",
        model: "isolation forest",
        gadget: "equalizer",
        anchor: "scikit-learn",
        ours_impl: "qb_models::iforest",
        score: metrics::scores,
    },
    Spec {
        key: "pathologist",
        model: "random forest",
        gadget: "pathologist",
        anchor: "scikit-learn",
        ours_impl: "qb_models::forest",
        score: pathologist_metrics,
    },
    Spec {
        key: "arima",
        model: "ARIMA",
        gadget: "oracle",
        anchor: "statsmodels",
        ours_impl: "qb_models::arima",
        score: metrics::errors,
    },
    Spec {
        key: "lstm",
        model: "LSTM",
        gadget: "oracle",
        anchor: "PyTorch",
        ours_impl: "qb_trainer::lstm (candle) + qb_models::lstm",
        score: metrics::probabilities,
    },
];

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// One side of a comparison in the report's shape (times: the thread's CPU time; wall
/// clock beside).
fn side(
    implementation: &str,
    metrics: Value,
    fit: (f64, f64),
    per_row: (f64, f64),
    failures: usize,
) -> Value {
    json!({
        "impl": implementation,
        "metrics": metrics,
        "fit_s": round(fit.0, 6),
        "predict_us_per_row": round(per_row.0 * 1e6, 3),
        "fit_wall_s": round(fit.1, 6),
        "predict_wall_us_per_row": round(per_row.1 * 1e6, 3),
        "failures": failures,
    })
}

fn ours_side(spec: &Spec, run: &Run) -> Value {
    let per_row = run.predict_per_row();
    side(
        spec.ours_impl,
        (spec.score)(&run.predictions, &run.truth),
        (run.fit.cpu_s, run.fit.wall_s),
        (per_row.cpu_s, per_row.wall_s),
        run.failures,
    )
}

/// The anchor's side from the script's report: its predictions scored against our
/// truth (the same rows), or why there is none.
fn anchor_side(dir: &Path, spec: &Spec, ours: &Run, report: &Value) -> Result<Value, String> {
    let r = &report["anchors"][spec.key];
    if !r.is_object() {
        return Err("the script reported nothing for it".into());
    }
    let file = r["predictions"]
        .as_str()
        .ok_or("no predictions file named")?;
    let pred = table::read_numbers(&dir.join(file)).map_err(|e| e.to_string())?;
    if pred.len() != ours.truth.len() {
        return Err(format!(
            "{} predictions for {} held-out rows: the two sides read different rows",
            pred.len(),
            ours.truth.len()
        ));
    }
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let n = pred.len().max(1) as f64;
    Ok(side(
        r["impl"].as_str().unwrap_or(spec.anchor),
        (spec.score)(&pred, &ours.truth),
        (f("fit_s"), f("fit_wall_s")),
        (f("predict_s") / n, f("predict_wall_s") / n),
        r["failures"].as_u64().unwrap_or(0) as usize,
    ))
}

fn skipped(model: &str, anchor: &str, reason: &str) -> Value {
    json!({"model": model, "anchor": anchor, "reason": reason})
}

/// Why the script skipped `key`, if it did.
fn script_skip(report: &Value, key: &str) -> Option<String> {
    report["skipped"].as_array()?.iter().find_map(|s| {
        (s["key"] == key).then(|| s["reason"].as_str().unwrap_or("skipped").to_string())
    })
}

fn ratio(anchor: &Value, ours: &Value, field: &str) -> Value {
    match (anchor[field].as_f64(), ours[field].as_f64()) {
        (Some(a), Some(o)) if o > 0.0 && a.is_finite() => json!(round(a / o, 3)),
        _ => Value::Null,
    }
}

fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    json!({"cpus": cpus, "host": host})
}

fn data_line(what: &str, n: usize, available: usize) -> String {
    if n < available {
        format!("{what} (n={n}, an even stride through all {available})")
    } else {
        format!("{what} (n={n})")
    }
}

/// Exports, runs both sides and writes `<out>/anchors.json`, which it also returns.
pub fn run(opts: &Options, progress: &mut dyn FnMut(String)) -> Result<Value, TrainError> {
    let io = |p: &Path, e| TrainError::Io(p.display().to_string(), e);
    let pred_dir = opts.out.join("pred");
    std::fs::create_dir_all(&pred_dir).map_err(|e| io(&pred_dir, e))?;
    let caps = Caps::new(opts.quick);
    let ex = export::export(&opts.data, &caps, progress)?;
    let tables: [(&str, &Table); 4] = [
        ("equalizer", &ex.equalizer),
        ("pathologist", &ex.pathologist),
        ("arima", &ex.arima),
        ("lstm", &ex.lstm),
    ];
    for (key, t) in tables {
        progress(format!("writing {key}.csv ({} rows)", t.len()));
        t.write(&opts.out.join(format!("{key}.csv")))?;
    }

    let iforest = IForestParams {
        trees: 100,
        subsample: 256,
        seed: opts.seed,
    };
    let training_rows = ex.pathologist.held_out.iter().filter(|h| !**h).count();
    let forest = crate::pathologist::forest_params(training_rows, opts.seed);
    let lstm = LstmParams {
        seed: opts.seed,
        epochs: if opts.quick {
            QUICK_EPOCHS
        } else {
            LstmParams::default().epochs
        },
        ..LstmParams::default()
    };
    let (p, d, q) = ex.arima_model.order();
    let odds_sets = paper::sets(opts.quick);
    let params = json!({
        "quick": opts.quick,
        "seed": opts.seed,
        "files": {"equalizer": "equalizer.csv", "pathologist": "pathologist.csv", "arima": "arima.csv", "lstm": "lstm.csv"},
        "iforest": {"trees": iforest.trees, "subsample": iforest.subsample, "features": qb_models::features::EQUALIZER.len()},
        "forest": {"trees": forest.trees, "max_depth": forest.max_depth, "min_split": forest.min_split,
                   "features_per_split": forest.features_per_split, "sample_size": forest.sample_size,
                   "features": qb_models::features::PATHOLOGIST.len(),
                   "classes": qb_models::features::pathologist::CLASSES.len()},
        "arima": {"order": [p, d, q], "constant": ex.arima_model.constant().is_some(),
                  "window": crate::oracle::ARIMA_WINDOW, "horizon": ARIMA_HORIZON},
        "lstm": {"hidden": lstm.hidden, "epochs": lstm.epochs, "batch": lstm.batch,
                 "learning_rate": lstm.learning_rate, "weight_decay": 1e-4, "eta_weight": 0.1,
                 "sequence": crate::oracle::SEQUENCE, "features": qb_models::features::ORACLE_LEN},
        "odds": {"dir": opts.odds, "sets": odds_sets.iter().map(|b| json!({"dataset": b.name, "file": b.file})).collect::<Vec<_>>()},
    });
    let ppath = opts.out.join("params.json");
    let text = serde_json::to_string_pretty(&params).unwrap_or_default();
    std::fs::write(&ppath, text + "\n").map_err(|e| io(&ppath, e))?;

    progress(format!("running {} (the anchors)", opts.script.display()));
    let outcome = python::run(&opts.python, &opts.script, &opts.out);
    let report = match &outcome {
        Outcome::Ran(v) => v.clone(),
        Outcome::Failed(_) => Value::Null,
    };

    progress("ours: isolation forest".into());
    let runs = [
        ours::iforest(&ex.equalizer, iforest)?,
        {
            progress("ours: random forest".into());
            ours::random_forest(&ex.pathologist, forest)?
        },
        {
            progress("ours: ARIMA".into());
            ours::arima(&ex.arima, &ex.arima_model, ARIMA_HORIZON)?
        },
        {
            progress(format!("ours: LSTM, {} epochs", lstm.epochs));
            ours::lstm(&ex.lstm, lstm)?
        },
    ];
    let avail = &ex.available;
    let held = |k: &str| avail[k][1].as_u64().unwrap_or(0) as usize;
    let datas = [
        data_line(
            "held-out toxic vectors",
            runs[0].truth.len(),
            held("equalizer"),
        ),
        data_line(
            "held-out stuck-family process vectors",
            runs[1].truth.len(),
            held("pathologist"),
        ),
        data_line(
            &format!(
                "held-out memory working-set windows of {} points, forecast {ARIMA_HORIZON} ahead, order ({p},{d},{q})",
                crate::oracle::ARIMA_WINDOW
            ),
            runs[2].truth.len(),
            avail["arima_windows"].as_u64().unwrap_or(0) as usize,
        ),
        data_line(
            &format!(
                "held-out memory sequences, P(OOM within 180 s), {} epochs",
                lstm.epochs
            ),
            runs[3].truth.len(),
            held("lstm"),
        ),
    ];

    let (mut comparisons, mut skips) = (Vec::new(), Vec::new());
    for ((spec, run), data) in SPECS.iter().zip(&runs).zip(datas) {
        let ours = ours_side(spec, run);
        let anchor = match &outcome {
            Outcome::Failed(why) => Err(why.clone()),
            Outcome::Ran(_) => match script_skip(&report, spec.key) {
                Some(why) => Err(why),
                None => anchor_side(&opts.out, spec, run, &report),
            },
        };
        let mut c = Map::new();
        c.insert("model".into(), json!(spec.model));
        c.insert("gadget".into(), json!(spec.gadget));
        c.insert("data".into(), json!(data));
        match anchor {
            Ok(a) => {
                c.insert(
                    "ratios".into(),
                    json!({
                        "fit_s": ratio(&a, &ours, "fit_s"),
                        "predict_us_per_row": ratio(&a, &ours, "predict_us_per_row"),
                    }),
                );
                c.insert("anchor".into(), a);
            }
            Err(why) => {
                skips.push(skipped(spec.model, spec.anchor, &why));
                c.insert("anchor".into(), Value::Null);
            }
        }
        c.insert("ours".into(), ours);
        comparisons.push(Value::Object(c));
    }

    progress("the paper's table".into());
    let paper_table = paper::table(
        &opts.out, &odds_sets, &outcome, &report, iforest, opts.quick,
    )?;
    let mut software = python::software(&outcome);
    if let Some(m) = software.as_object_mut() {
        m.insert("qbranch".into(), json!(env!("CARGO_PKG_VERSION")));
    }
    let out = json!({
        "created": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "quick": opts.quick,
        "machine": machine(),
        "software": software,
        "threads": 1,
        "times": "fit_s and predict_us_per_row: CPU time of the thread; *_wall_*: wall clock",
        "comparisons": comparisons,
        "skipped": skips,
        "paper_table": paper_table,
    });
    let path = opts.out.join("anchors.json");
    let text = serde_json::to_string_pretty(&out).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|e| io(&path, e))?;
    Ok(out)
}

//! The isolation forest paper's table (Liu, Ting and Zhou, ICDM 2008, table 3) on the
//! ODDS copies of its data sets: the paper's AUC, ours and scikit-learn's, measured
//! now on the same rows (the script turns the `.npz` files into CSV).

use std::path::Path;

use qb_models::iforest::IForestParams;
use qb_models::metrics::roc_auc;
use serde_json::{Value, json};

use super::python::Outcome;
use super::round;
use super::table::{Table, read_numbers};
use crate::TrainError;

/// One benchmark: the file in the ODDS folder, the paper's name and its AUC.
#[derive(Debug, Clone, Copy)]
pub struct Bench {
    pub file: &'static str,
    pub name: &'static str,
    pub paper_auc: f64,
    /// Small enough for `--quick`.
    pub small: bool,
}

const fn b(file: &'static str, name: &'static str, paper_auc: f64, small: bool) -> Bench {
    Bench {
        file,
        name,
        paper_auc,
        small,
    }
}

/// The paper's sets that ODDS ships as `.npz` (Arrhythmia, a CSV there, is left out).
pub const TABLE: [Bench; 10] = [
    b("16_http.npz", "Http", 1.00, false),
    b("10_cover.npz", "ForestCover", 0.88, false),
    b("34_smtp.npz", "Smtp", 0.88, false),
    b("32_shuttle.npz", "Shuttle", 1.00, false),
    b("23_mammography.npz", "Mammography", 0.86, true),
    b("2_annthyroid.npz", "Annthyroid", 0.82, true),
    b("30_satellite.npz", "Satellite", 0.71, true),
    b("29_Pima.npz", "Pima", 0.67, true),
    b("4_breastw.npz", "Breastw", 0.99, true),
    b("18_Ionosphere.npz", "Ionosphere", 0.85, true),
];

pub fn sets(quick: bool) -> Vec<Bench> {
    TABLE
        .iter()
        .filter(|b| b.small || !quick)
        .copied()
        .collect()
}

fn skipped(reason: String) -> Value {
    json!({"status": "skipped", "reason": reason, "rows": []})
}

/// The table's rows from the script's report and our forest on the same CSVs.
pub fn table(
    dir: &Path,
    sets: &[Bench],
    outcome: &Outcome,
    report: &Value,
    params: IForestParams,
    quick: bool,
) -> Result<Value, TrainError> {
    let odds = match outcome {
        Outcome::Failed(why) => return Ok(skipped(why.clone())),
        Outcome::Ran(_) => &report["odds"],
    };
    if odds["status"] != "measured" {
        let why = odds["reason"]
            .as_str()
            .unwrap_or("the script measured no ODDS set");
        return Ok(skipped(why.to_string()));
    }
    let mut rows = Vec::new();
    for bench in sets {
        let Some(r) = odds["sets"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["dataset"] == bench.name))
        else {
            continue;
        };
        let Some(csv) = r["csv"].as_str() else {
            continue;
        };
        let t = Table::read(&dir.join(csv))?;
        let ours = super::ours::odds(&t, params)?;
        let labels: Vec<bool> = ours.truth.iter().map(|&y| y > 0.5).collect();
        let sk = &r["sklearn"];
        let sklearn_auc = match sk["predictions"].as_str() {
            Some(p) => {
                let pred = read_numbers(&dir.join(p))?;
                roc_auc(&pred, &labels)
            }
            None => None,
        };
        rows.push(json!({
            "dataset": bench.name,
            "rows": t.len(),
            "dims": t.width() - 1,
            "paper_auc": bench.paper_auc,
            "ours_auc": roc_auc(&ours.predictions, &labels),
            "sklearn_auc": sklearn_auc,
            "ours_fit_s": round(ours.fit.cpu_s, 6),
            "sklearn_fit_s": sk["fit_s"].as_f64().map(|s| round(s, 6)),
            "ours_predict_us_per_row": round(ours.predict_per_row().cpu_s * 1e6, 3),
            "sklearn_predict_us_per_row": sk["predict_s"]
                .as_f64()
                .map(|s| round(s * 1e6 / t.len().max(1) as f64, 3)),
            "sklearn_skipped": r["sklearn_skipped"].clone(),
        }));
    }
    let names: Vec<&str> = sets.iter().map(|b| b.name).collect();
    Ok(json!({
        "status": if rows.is_empty() { "skipped" } else { "measured" },
        "reason": if rows.is_empty() { json!("no ODDS set could be read") } else { Value::Null },
        "data": format!(
            "{}: {}; fitted and scored on every row, 100 trees, subsample 256, seed {}",
            if quick { "quick, the small ODDS sets only" } else { "every ODDS .npz set of the paper" },
            names.join(", "),
            params.seed
        ),
        "rows": rows,
    }))
}

//! What a report is made from, as JSON: the trainer's metrics files (kept as they are,
//! read by path), and the typed outputs of `qbranch replay --json`, `qbranch perf` and
//! `qbranch anchors`. A run folder's `results.json` holds all of them together, so a
//! later run can be compared against it (the committed baseline is one such file).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ReportError, Result};

/// Everything one report shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub meta: Meta,
    /// `models/metrics/<name>.json`, by name, as the trainer wrote them.
    #[serde(default)]
    pub models: BTreeMap<String, Value>,
    #[serde(default)]
    pub scenarios: Option<Scenarios>,
    #[serde(default)]
    pub perf: Option<Perf>,
    #[serde(default)]
    pub anchors: Option<Anchors>,
    /// Parts that could not be gathered, and why: the report says so where they would be.
    #[serde(default)]
    pub missing: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    /// RFC 3339 UTC.
    pub created: String,
    pub host: String,
    #[serde(default)]
    pub cpus: usize,
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub git_rev: Option<String>,
    /// The command that made the run (`qbranch demo`, `qbranch report`).
    #[serde(default)]
    pub command: String,
    /// Where each input came from.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

/// `qbranch replay --json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scenarios {
    pub trials: Vec<Trial>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    pub name: String,
    pub case: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub seed: Option<u64>,
    /// pass | fail | skip | known
    pub status: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub elapsed_ms: f64,
    #[serde(default)]
    pub checks: Vec<Check>,
    /// A case that proves the runner can fail; not a gadget's result.
    #[serde(default)]
    pub must_fail: bool,
}

/// What one trial says about one gadget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub gadget: String,
    /// `fires`: the case expects the gadget to act; `quiet`: it must not.
    pub polarity: Polarity,
    pub ok: bool,
    #[serde(default)]
    pub lead_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    Fires,
    Quiet,
}

/// `qbranch perf`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Perf {
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub quick: bool,
    #[serde(default)]
    pub machine: Value,
    pub measurements: Vec<Measurement>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub name: String,
    pub unit: String,
    pub median: f64,
    #[serde(default)]
    pub p10: Option<f64>,
    #[serde(default)]
    pub p90: Option<f64>,
    #[serde(default)]
    pub p99: Option<f64>,
    #[serde(default)]
    pub samples: u64,
    pub lower_is_better: bool,
    #[serde(default)]
    pub what: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// `qbranch anchors`: our models and the reference libraries on the same files.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Anchors {
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub quick: bool,
    #[serde(default)]
    pub machine: Value,
    #[serde(default)]
    pub software: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub comparisons: Vec<Comparison>,
    #[serde(default)]
    pub skipped: Vec<AnchorSkipped>,
    #[serde(default)]
    pub paper_table: Option<PaperTable>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub model: String,
    #[serde(default)]
    pub gadget: String,
    #[serde(default)]
    pub data: String,
    pub ours: Side,
    /// None when the reference library could not run (see `Anchors::skipped`).
    #[serde(default)]
    pub anchor: Option<Side>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Side {
    #[serde(rename = "impl")]
    pub implementation: String,
    /// A metric that was undefined (an AUC over one class) is null.
    #[serde(default)]
    pub metrics: BTreeMap<String, Option<f64>>,
    #[serde(default)]
    pub fit_s: Option<f64>,
    #[serde(default)]
    pub predict_us_per_row: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnchorSkipped {
    pub model: String,
    #[serde(default)]
    pub anchor: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaperTable {
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub rows: Vec<PaperRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaperRow {
    pub dataset: String,
    #[serde(default)]
    pub rows: u64,
    pub paper_auc: f64,
    pub ours_auc: f64,
    #[serde(default)]
    pub sklearn_auc: Option<f64>,
    #[serde(default)]
    pub ours_fit_s: Option<f64>,
    #[serde(default)]
    pub sklearn_fit_s: Option<f64>,
}

/// Reads and parses one JSON input, naming the file in every error.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::Json {
        path: path.into(),
        message: e.to_string(),
    })
}

/// The trainer's metrics files in `dir` (`<name>.json`), by name. A file that does not
/// parse is an error naming it; a missing folder gives no models.
pub fn read_model_metrics(dir: &Path) -> Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(ReportError::Io {
                path: dir.into(),
                source,
            });
        }
    };
    for entry in entries {
        let path = entry
            .map_err(|source| ReportError::Io {
                path: dir.into(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "json")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            out.insert(stem.to_string(), read_json(&path)?);
        }
    }
    Ok(out)
}

/// A number at a JSON pointer (`/evaluation/held_out/0/recall`), if it is one.
pub fn num(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn results_round_trip_and_tolerate_missing_parts() {
        let r: Results =
            serde_json::from_str(r#"{"meta": {"created": "x", "host": "h"}}"#).unwrap();
        assert!(r.scenarios.is_none() && r.models.is_empty());
        let text = serde_json::to_string(&r).unwrap();
        let back: Results = serde_json::from_str(&text).unwrap();
        assert_eq!(back.meta.host, "h");
    }

    #[test]
    fn a_trial_reads_as_replay_writes_it() {
        let t: Trial = serde_json::from_str(
            r#"{"name": "oracle/linear_leak/seed-10001", "case": "oracle/linear_leak", "source": "simulate",
                "seed": 10001, "status": "pass", "message": "", "elapsed_ms": 12.5,
                "checks": [{"gadget": "oracle", "polarity": "fires", "ok": true, "lead_s": 120.0}]}"#,
        )
        .unwrap();
        assert_eq!(t.checks[0].polarity, Polarity::Fires);
        assert_eq!(t.checks[0].lead_s, Some(120.0));
    }

    #[test]
    fn bad_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("oracle_lstm.json"), "{ not json").unwrap();
        let err = read_model_metrics(dir.path()).unwrap_err().to_string();
        assert!(err.contains("oracle_lstm.json"), "{err}");
        let missing = read_model_metrics(&dir.path().join("nope")).unwrap();
        assert!(missing.is_empty());
        let err = read_json::<Perf>(&dir.path().join("perf.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("perf.json"), "{err}");
    }
}

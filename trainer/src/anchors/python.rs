//! Running the Python side (`models/compare/anchors.py`) on the exported tables, and
//! reading back what it wrote. It never fails the run: a missing interpreter, a
//! missing library or a crashed script becomes a skipped anchor with the reason.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

/// What the script reported, or why there is nothing.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ran(Value),
    Failed(String),
}

/// The environment that keeps every numeric library on one thread.
pub const ONE_THREAD: [(&str, &str); 5] = [
    ("OMP_NUM_THREADS", "1"),
    ("OPENBLAS_NUM_THREADS", "1"),
    ("MKL_NUM_THREADS", "1"),
    ("VECLIB_MAXIMUM_THREADS", "1"),
    ("NUMEXPR_NUM_THREADS", "1"),
];

fn tail(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    let lines: Vec<&str> = s.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// Runs `python script run --dir dir`; its report is `dir/python.json`.
pub fn run(python: &Path, script: &Path, dir: &Path) -> Outcome {
    if !script.is_file() {
        return Outcome::Failed(format!("no script at {}", script.display()));
    }
    let report = dir.join("python.json");
    // A stale report from an earlier run must not pass for this one's.
    let _ = std::fs::remove_file(&report);
    let out = Command::new(python)
        .arg(script)
        .arg("run")
        .arg("--dir")
        .arg(dir)
        .envs(ONE_THREAD)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return Outcome::Failed(format!(
                "cannot run {}: {e} (scripts/setup makes the anchors' venv; or pass --python)",
                python.display()
            ));
        }
    };
    if !out.status.success() {
        return Outcome::Failed(format!(
            "{} {} exited with {}: {}",
            python.display(),
            script.display(),
            out.status,
            tail(&out.stderr)
        ));
    }
    match std::fs::read_to_string(&report)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => Outcome::Ran(v),
        Err(e) => Outcome::Failed(format!("{}: {e}", report.display())),
    }
}

/// The software versions the script found; every library null when it did not run.
pub fn software(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Ran(v) if v["software"].is_object() => v["software"].clone(),
        _ => {
            json!({"python": null, "numpy": null, "scikit-learn": null, "statsmodels": null, "torch": null})
        }
    }
}

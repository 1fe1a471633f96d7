//! `qb_trainer::anchors` end to end on a small standard set written here: the exported
//! CSVs read back, the shape of anchors.json the report reads, and every way the
//! Python side can be missing turning into skipped entries instead of a failure.
//! The run with the real anchors needs the venv `scripts/setup` makes: without it that
//! part says so and is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use qb_simulator::{MemoryKind, StuckKind, ToxicKind};
use qb_trainer::anchors::table::Table;
use qb_trainer::anchors::{Options, run};
use serde_json::Value;

const MIN: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_secs(1);

fn small_set(root: &Path) {
    for (split, seeds) in [("training", [1, 2]), ("held-out", [10_001, 10_002])] {
        for seed in seeds {
            let dir = |family: &str, kind: &dyn std::fmt::Display| {
                root.join(format!("{split}/{family}/{kind}/seed-{seed}"))
            };
            for kind in ToxicKind::ALL {
                qb_simulator::write_toxic(&dir("toxic", &kind), kind, seed, 4 * MIN, TICK).unwrap();
            }
            for kind in [StuckKind::Deadlock, StuckKind::IdleServer] {
                qb_simulator::write_stuck(&dir("stuck", &kind), kind, seed, 4 * MIN, TICK).unwrap();
            }
            for kind in [MemoryKind::LinearLeak, MemoryKind::StableSawtooth] {
                qb_simulator::write_memory(&dir("memory", &kind), kind, seed, 20 * MIN, TICK)
                    .unwrap();
            }
        }
    }
    // A third training leak: the Oracle's ARIMA order needs a few.
    let dir = root.join("training/memory/linear_leak/seed-3");
    qb_simulator::write_memory(&dir, MemoryKind::LinearLeak, 3, 20 * MIN, TICK).unwrap();
}

fn options(data: &Path, out: PathBuf, python: PathBuf) -> Options {
    Options {
        data: data.into(),
        out,
        python,
        script: Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/compare/anchors.py"),
        odds: PathBuf::from("/nonexistent/odds"),
        quick: true,
        seed: 1,
    }
}

/// The fields the report (`qbranch report`, qb-reports) reads.
fn assert_shape(j: &Value) {
    assert!(j["created"].as_str().unwrap().contains('T'));
    assert_eq!(j["quick"], true);
    assert!(j["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert!(j["machine"]["host"].is_string());
    for lib in ["python", "scikit-learn", "statsmodels", "torch"] {
        assert!(j["software"].get(lib).is_some(), "software.{lib}");
    }
    let comparisons = j["comparisons"].as_array().unwrap();
    let models: Vec<&str> = comparisons
        .iter()
        .map(|c| c["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        models,
        ["isolation forest", "random forest", "ARIMA", "LSTM"]
    );
    for c in comparisons {
        assert!(c["gadget"].is_string() && c["data"].as_str().unwrap().contains("n="));
        let ours = &c["ours"];
        assert!(ours["impl"].as_str().unwrap().starts_with("qb_"));
        assert!(ours["fit_s"].as_f64().unwrap() >= 0.0);
        assert!(ours["predict_us_per_row"].as_f64().unwrap() >= 0.0);
        let keys: Vec<&String> = ours["metrics"].as_object().unwrap().keys().collect();
        assert!(!keys.is_empty());
        if !c["anchor"].is_null() {
            let theirs: Vec<&String> = c["anchor"]["metrics"].as_object().unwrap().keys().collect();
            assert_eq!(keys, theirs, "the same metrics on both sides");
            assert!(c["anchor"]["fit_s"].as_f64().unwrap() >= 0.0);
        }
    }
    for s in j["skipped"].as_array().unwrap() {
        assert!(s["model"].is_string() && s["anchor"].is_string() && s["reason"].is_string());
    }
    let paper = &j["paper_table"];
    assert!(["measured", "skipped"].contains(&paper["status"].as_str().unwrap()));
    assert!(paper["rows"].is_array());
}

/// A `python` that hides `module` from the script (as if it were not installed).
fn python_without(dir: &Path, python: &Path, module: &str) -> PathBuf {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    // A finder that refuses the module, as if it were absent (sys.modules[m] = None
    // would break libraries that probe sys.modules for it).
    let hide = format!(
        "import sys\n\
         class _Hide:\n    \
         def find_spec(self, name, path=None, target=None):\n        \
         if name == '{module}' or name.startswith('{module}.'):\n            \
         raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)\n\
         sys.meta_path.insert(0, _Hide())\n"
    );
    std::fs::write(site.join("sitecustomize.py"), hide).unwrap();
    let wrapper = dir.join("python");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nPYTHONPATH={} exec {} \"$@\"\n",
            site.display(),
            python.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("QB_ANCHORS_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/qbranch/venv-anchors"))
        })?;
    let py = venv.join("bin/python");
    py.is_file().then_some(py)
}

#[test]
fn exports_runs_and_reports_with_or_without_the_anchors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    small_set(&data);

    // No interpreter at all: ours measured, every anchor skipped with the reason.
    let out = tmp.path().join("none");
    let j = run(
        &options(&data, out.clone(), "/nonexistent/bin/python".into()),
        &mut |_| {},
    )
    .unwrap();
    assert_shape(&j);
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("anchors.json")).unwrap()).unwrap();
    // (Floats may differ in the last digit: serde_json parses to the nearest, not exactly.)
    assert_eq!(
        (&on_disk["skipped"], &on_disk["created"]),
        (&j["skipped"], &j["created"])
    );
    assert_shape(&on_disk);
    let skipped = j["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 4);
    assert!(skipped.iter().all(|s| {
        s["reason"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/bin/python")
    }));
    assert_eq!(j["paper_table"]["status"], "skipped");

    // The CSVs hold what ours was evaluated on: the held-out rows' count is the data's n.
    let eq = Table::read(&out.join("equalizer.csv")).unwrap();
    assert_eq!(eq.names.last().map(String::as_str), Some("label"));
    let held = eq.held_out.iter().filter(|h| **h).count();
    assert!(
        j["comparisons"][0]["data"]
            .as_str()
            .unwrap()
            .contains(&format!("n={held}"))
    );
    let lstm = Table::read(&out.join("lstm.csv")).unwrap();
    assert_eq!(lstm.width(), 30 * 18 + 2);
    let params: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("params.json")).unwrap()).unwrap();
    assert_eq!(params["lstm"]["epochs"], 2);

    // An interpreter without numpy: the script runs and skips every anchor, saying why.
    let Some(system) = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .map(PathBuf::from)
        .into_iter()
        .find(|p| p.is_file())
    else {
        eprintln!("skipped the missing-library part: no python3 on this machine");
        return;
    };
    let py = python_without(tmp.path(), &system, "numpy");
    let out = tmp.path().join("no-numpy");
    let j = run(&options(&data, out, py), &mut |_| {}).unwrap();
    assert_shape(&j);
    let skipped = j["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .all(|s| s["reason"].as_str().unwrap().contains("numpy")),
        "{skipped:?}"
    );

    // The real anchors, torch hidden: three measured, the LSTM skipped.
    let Some(venv) = venv_python() else {
        eprintln!("skipped the anchors' run: no venv (scripts/setup makes one; QB_ANCHORS_VENV)");
        return;
    };
    let py = python_without(&tmp.path().join("no-torch"), &venv, "torch");
    let out = tmp.path().join("venv");
    let j = run(&options(&data, out, py), &mut |_| {}).unwrap();
    assert_shape(&j);
    let skipped = j["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(
        (skipped[0]["model"].as_str(), skipped[0]["anchor"].as_str()),
        (Some("LSTM"), Some("PyTorch"))
    );
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("torch is not installed")
    );
    for c in &j["comparisons"].as_array().unwrap()[..3] {
        assert!(!c["anchor"].is_null(), "{c}");
    }
}

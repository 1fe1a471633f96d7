//! `qbranch report` end to end on real inputs: the committed model metrics and a few
//! replayed cases; a quality drop against a baseline (exit 3 with
//! `--fail-on-regression`); bad inputs named; and `qbranch demo` refusing to run outside
//! the repository. The browser check itself is qb-reports' test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_qbranch");

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn qbranch(args: &[&str], cwd: &Path) -> (Output, String) {
    let out = Command::new(EXE)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// Two cases replayed (one the Pathologist must stay quiet in, one the Tuner must act
/// in) as `--json`, in `dir`.
fn replayed(dir: &Path) -> PathBuf {
    let json = dir.join("replay.json");
    let (out, text) = qbranch(
        &[
            "replay",
            repo("scenarios/cases/pathologist/idle_server.toml")
                .to_str()
                .unwrap(),
            repo("scenarios/cases/tuner/log_batch.toml")
                .to_str()
                .unwrap(),
            "--run",
            "seed-10001$|seed-1$",
            "--json",
            json.to_str().unwrap(),
        ],
        dir,
    );
    assert!(out.status.success(), "{text}");
    json
}

fn report(dir: &Path, scenarios: &Path, extra: &[&str]) -> (Output, String) {
    let metrics = repo("models/metrics");
    let out = dir.join("run");
    let mut args = vec![
        "report",
        "--metrics",
        metrics.to_str().unwrap(),
        "--scenarios",
        scenarios.to_str().unwrap(),
        "--no-perf",
        "--no-browser",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    qbranch(&args, dir)
}

#[test]
fn a_report_from_replayed_cases_and_the_committed_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = replayed(dir.path());
    let (out, text) = report(dir.path(), &scenarios, &["--no-baseline"]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("charts; markdown twin"), "{text}");
    let run = dir.path().join("run");
    let html = std::fs::read_to_string(run.join("index.html")).unwrap();
    for part in [
        "Scenario suite",
        "tuner",
        "pathologist",
        "Oracle: OOM forecasting",
        "earlyoom",
        "Equalizer: ROC curves",
    ] {
        assert!(html.contains(part), "no {part:?} in the page");
    }
    assert!(
        html.contains("perf missing: left out (--no-perf)"),
        "a left-out part is said"
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let trials = results["scenarios"]["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2, "{trials:?}");
    assert!(run.join("report.md").is_file() && run.join("charts/suite-f1.svg").is_file());
}

#[test]
fn a_quality_drop_against_the_baseline_exits_three() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = replayed(dir.path());
    let (out, text) = report(dir.path(), &scenarios, &["--no-baseline"]);
    assert!(out.status.success(), "{text}");
    // A baseline whose Equalizer was better than today's.
    let mut base: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/results.json")).unwrap(),
    )
    .unwrap();
    base["models"]["equalizer"]["model"]["auc"] = serde_json::json!(0.99);
    let baseline = dir.path().join("baseline.json");
    std::fs::write(&baseline, base.to_string()).unwrap();
    let (out, text) = report(
        dir.path(),
        &scenarios,
        &[
            "--baseline",
            baseline.to_str().unwrap(),
            "--fail-on-regression",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("1 quality regressions"), "{text}");
    let html = std::fs::read_to_string(dir.path().join("run/index.html")).unwrap();
    assert!(html.contains("equalizer/held_out_auc") && html.contains("REGRESSION"));
    // Without --fail-on-regression the report is still written and the exit is 0.
    let (out, text) = report(
        dir.path(),
        &scenarios,
        &["--baseline", baseline.to_str().unwrap()],
    );
    assert!(out.status.success(), "{text}");
}

#[test]
fn bad_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.json");
    std::fs::write(&corrupt, "{\"trials\": [ {\"name\": 3").unwrap();
    let (out, text) = report(dir.path(), &corrupt, &["--no-baseline"]);
    assert!(!out.status.success());
    assert!(
        text.contains("corrupt.json") && text.contains("not a valid results file"),
        "{text}"
    );
    let missing = dir.path().join("nope.json");
    let (out, text) = report(dir.path(), &missing, &["--no-baseline"]);
    assert!(!out.status.success());
    assert!(text.contains("nope.json"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn the_demo_runs_from_the_repository_root_only() {
    let dir = tempfile::tempdir().unwrap();
    let (out, text) = qbranch(&["demo"], dir.path());
    assert!(!out.status.success());
    assert!(
        text.contains("run the demo from the repository root"),
        "{text}"
    );
}

//! A whole report from the committed model metrics plus small suite, perf and anchor
//! results: what is written, that it is byte-stable, that the baseline comparison flags
//! a regression, and (where Chromium is installed) that a real browser renders every
//! chart. `QB_REQUIRE_CHROMIUM=1` (CI) turns a missing Chromium into a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use qb_reports::inputs::{
    Anchors, Check, Comparison, Measurement, PaperRow, PaperTable, Perf, Polarity, Scenarios, Side,
    Trial, read_model_metrics,
};
use qb_reports::{Baseline, Results, Verdict, browser, write_run};

fn trial(
    case: &str,
    seed: u64,
    gadget: &str,
    polarity: Polarity,
    ok: bool,
    lead_s: Option<f64>,
) -> Trial {
    Trial {
        name: format!("{case}/seed-{seed}"),
        case: case.into(),
        source: "simulate".into(),
        seed: Some(seed),
        status: if ok { "pass" } else { "known" }.into(),
        message: if ok {
            String::new()
        } else {
            "a known false alarm".into()
        },
        elapsed_ms: 10.0,
        checks: vec![Check {
            gadget: gadget.into(),
            polarity,
            ok,
            lead_s,
        }],
        must_fail: false,
    }
}

fn results() -> Results {
    let metrics = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/metrics");
    let mut r = Results::default();
    r.meta.created = "2026-11-26T12:00:00Z".into();
    r.meta.host = "test host".into();
    r.meta.cpus = 2;
    r.models = read_model_metrics(&metrics).unwrap();
    let mut trials = Vec::new();
    for seed in 10001..10004 {
        trials.push(trial(
            "oracle/linear_leak",
            seed,
            "oracle",
            Polarity::Fires,
            true,
            Some(100.0 + seed as f64 - 10000.0),
        ));
        trials.push(trial(
            "oracle/plateau",
            seed,
            "oracle",
            Polarity::Quiet,
            seed != 10002,
            None,
        ));
        trials.push(trial(
            "curator/pii_flood",
            seed,
            "curator",
            Polarity::Fires,
            true,
            None,
        ));
        trials.push(trial(
            "curator/clean",
            seed,
            "curator",
            Polarity::Quiet,
            true,
            None,
        ));
    }
    r.scenarios = Some(Scenarios { trials });
    r.perf = Some(Perf {
        created: "2026-11-26T12:00:00Z".into(),
        quick: true,
        machine: serde_json::json!({"host": "test host", "cpus": 2}),
        measurements: vec![Measurement {
            name: "engine tick".into(),
            unit: "us".into(),
            median: 1500.0,
            p10: Some(1200.0),
            p90: Some(2000.0),
            p99: None,
            samples: 100,
            lower_is_better: true,
            what: "500 synthetic processes".into(),
        }],
        skipped: vec![],
    });
    let side = |name: &str, auc: f64, fit: f64| Side {
        implementation: name.into(),
        metrics: [("roc_auc".to_string(), Some(auc))].into(),
        fit_s: Some(fit),
        predict_us_per_row: Some(3.0),
    };
    r.anchors = Some(Anchors {
        created: "2026-11-26T12:00:00Z".into(),
        comparisons: vec![
            Comparison {
                model: "isolation forest".into(),
                gadget: "equalizer".into(),
                data: "held-out vectors".into(),
                ours: side("qb_models::iforest", 0.93, 0.004),
                anchor: Some(side("sklearn.ensemble.IsolationForest", 0.93, 0.3)),
            },
            Comparison {
                // PyTorch not installed: our side only.
                model: "LSTM".into(),
                gadget: "oracle".into(),
                data: "held-out sequences".into(),
                ours: side("qb_models::lstm", 0.95, 0.5),
                anchor: None,
            },
        ],
        paper_table: Some(PaperTable {
            status: "measured".into(),
            reason: None,
            rows: vec![PaperRow {
                dataset: "Pima".into(),
                rows: 768,
                paper_auc: 0.67,
                ours_auc: 0.68,
                sklearn_auc: Some(0.67),
                ours_fit_s: Some(0.01),
                sklearn_fit_s: Some(0.2),
            }],
        }),
        ..Anchors::default()
    });
    r
}

#[test]
fn a_report_has_every_part_and_is_byte_stable() {
    let r = results();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let w = write_run(a.path(), &r, None).unwrap();
    write_run(b.path(), &r, None).unwrap();
    for f in ["index.html", "report.md", "results.json"] {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f} differs between two renderings of the same results"
        );
    }
    let html = std::fs::read_to_string(&w.html).unwrap();
    let md = std::fs::read_to_string(&w.markdown).unwrap();
    assert!(!html.contains("<script"), "the page needs no JavaScript");
    assert_eq!(html.matches("<svg").count(), w.charts);
    assert!(w.charts >= 12, "only {} charts", w.charts);
    for id in [
        "suite-f1",
        "suite-confusion-oracle",
        "oracle-leads-held-out",
        "pathologist-held-out-model",
        "curator-recall",
        "iforest-paper",
        "anchors-speedup",
    ] {
        assert!(
            html.contains(&format!("id=\"chart-{id}\"")),
            "no chart {id}"
        );
        assert!(
            md.contains(&format!("(charts/{id}.svg)")),
            "the markdown twin lacks {id}"
        );
        assert!(a.path().join(format!("charts/{id}.svg")).is_file());
    }
    for heading in [
        "Scenario suite",
        "Oracle: OOM forecasting",
        "Anchors",
        "Performance",
        "Curator",
    ] {
        assert!(md.contains(heading), "no {heading} in the markdown");
    }
    // The suite's numbers: oracle 3 TP, 2 TN, 1 FP (the known failure counts as one).
    assert!(html.contains("<td>oracle</td><td class=\"num\">2</td><td class=\"num\">6</td><td class=\"num\">3</td><td class=\"num\">0</td><td class=\"num\">2</td><td class=\"num\">1</td>"));
    // The Oracle's rules are on the same trajectories as the models.
    assert!(html.contains("earlyoom") && html.contains("systemd_oomd"));
    // An anchor that could not run is said, not dropped.
    assert!(
        md.contains("| LSTM | held-out sequences | roc_auc | 0.95 | n/a | skipped |"),
        "{md}"
    );
    // results.json reads back as the same results.
    let back: Results =
        serde_json::from_str(&std::fs::read_to_string(a.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(&r).unwrap()
    );
}

#[test]
fn the_baseline_comparison_flags_a_quality_drop_and_warns_on_time() {
    let base = results();
    let mut now = results();
    // One more oracle false alarm, and a slower tick.
    if let Some(s) = now.scenarios.as_mut() {
        s.trials[1].checks[0].ok = false;
    }
    if let Some(p) = now.perf.as_mut() {
        p.measurements[0].median *= 3.0;
    }
    let dir = tempfile::tempdir().unwrap();
    let w = write_run(
        dir.path(),
        &now,
        Some(Baseline {
            results: &base,
            source: "base.json",
        }),
    )
    .unwrap();
    let f = w.findings.unwrap();
    let verdict = |k: &str| f.iter().find(|f| f.key == k).map(|f| f.verdict);
    assert_eq!(
        verdict("suite/oracle/quiet_kept"),
        Some(Verdict::Regression)
    );
    assert_eq!(verdict("perf/engine tick"), Some(Verdict::Slower));
    let html = std::fs::read_to_string(&w.html).unwrap();
    assert!(html.contains("REGRESSION") && html.contains("callout bad"));
    let same = write_run(
        dir.path(),
        &base,
        Some(Baseline {
            results: &base,
            source: "base.json",
        }),
    )
    .unwrap();
    assert!(same.findings.unwrap().is_empty());
}

#[test]
fn missing_parts_are_said_not_hidden() {
    let mut r = Results::default();
    r.meta.created = "2026-11-26T12:00:00Z".into();
    r.meta.host = "h".into();
    r.missing
        .insert("anchors".into(), "no Python with scikit-learn".into());
    let dir = tempfile::tempdir().unwrap();
    let w = write_run(dir.path(), &r, None).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    assert!(html.contains("no Python with scikit-learn"));
    assert!(html.contains("no Oracle metrics"));
    assert!(html.contains("not run: no scenario results given"));
}

#[test]
fn headless_chromium_renders_every_chart() {
    let Some(bin) = browser::find_chromium() else {
        let why =
            "skipped: no chromium on PATH (scripts/setup installs it; QB_CHROMIUM names another)";
        assert!(
            std::env::var_os("QB_REQUIRE_CHROMIUM").is_none(),
            "QB_REQUIRE_CHROMIUM is set but {why}"
        );
        eprintln!("{why}");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let w = write_run(dir.path(), &results(), None).unwrap();
    let shot = dir.path().join("screenshot.png");
    let seen = browser::render(&bin, &w.html, &shot).unwrap();
    assert_eq!(
        seen.charts_in_dom, w.charts,
        "the browser's DOM lacks charts"
    );
    assert!(
        seen.titles
            .iter()
            .any(|t| t.contains("ROC") || t.contains("lead time")),
        "{:?}",
        seen.titles
    );
    assert!(
        seen.screenshot_bytes > 20_000,
        "a {} byte screenshot is a blank page",
        seen.screenshot_bytes
    );
}

//! The Pathologist's random forest (three classes) and the Equalizer's isolation forest
//! (a score), each next to its rule baseline, held out and live, plus the isolation
//! forest against the ICDM 2008 paper's table.

use serde_json::Value;

use crate::compare::Metric;
use crate::doc::{Doc, Tone};
use crate::inputs::{Results, num};
use crate::svg::{self, Axis, Line};
use crate::table::f3;

fn confusion(v: &Value) -> Option<Vec<Vec<u64>>> {
    v.get("confusion")?
        .as_array()?
        .iter()
        .map(|row| {
            row.as_array()
                .map(|r| r.iter().filter_map(Value::as_u64).collect())
        })
        .collect()
}

fn per_class<'a>(v: &'a Value, class: &str) -> Option<&'a Value> {
    v.get("per_class")?
        .as_array()?
        .iter()
        .find(|c| c.get("class").and_then(Value::as_str) == Some(class))
}

fn f1(p: Option<f64>, r: Option<f64>) -> Option<f64> {
    match (p, r) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    }
}

/// Precision, recall and F1 of one class of a classification block.
fn prf(v: &Value, class: &str) -> (Option<f64>, Option<f64>, Option<f64>) {
    let c = per_class(v, class);
    let p = c.and_then(|c| c.get("precision")).and_then(Value::as_f64);
    let r = c.and_then(|c| c.get("recall")).and_then(Value::as_f64);
    (p, r, f1(p, r))
}

fn classes(v: &Value) -> Vec<String> {
    v.get("classes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn pathologist(doc: &mut Doc, r: &Results) {
    doc.heading(2, "Pathologist: stuck processes");
    let Some(v) = r.models.get("pathologist") else {
        doc.callout(
            Tone::Warning,
            "no Pathologist metrics (models/metrics/pathologist.json)",
        );
        return;
    };
    if let Some(rule) = v.get("rule").and_then(Value::as_str) {
        doc.para(format!("Rule baseline: {rule}."));
    }
    let labels = classes(v);
    let splits = [("held-out", "", "held out"), ("live", "/live", "live")];
    let mut rows = vec![
        ["split", "detector", "class", "precision", "recall", "F1"]
            .map(String::from)
            .to_vec(),
    ];
    // A live split without recordings (a training run without `--live`) says nothing.
    let splits: Vec<_> = splits
        .into_iter()
        .filter(|(_, prefix, _)| {
            prefix.is_empty() || num(v, &format!("{prefix}/rows")).unwrap_or(0.0) > 0.0
        })
        .collect();
    for &(split, prefix, _) in &splits {
        for (det, key) in [("random forest", "model"), ("rule", "rule_baseline")] {
            let Some(block) = v.pointer(&format!("{prefix}/{key}")) else {
                continue;
            };
            for class in &labels {
                let (p, rc, f) = prf(block, class);
                rows.push(vec![
                    split.into(),
                    det.into(),
                    class.clone(),
                    f3(p),
                    f3(rc),
                    f3(f),
                ]);
            }
        }
    }
    doc.table(rows);
    for &(split, prefix, words) in &splits {
        for (det, key) in [("random forest", "model"), ("rule", "rule_baseline")] {
            if let Some(cm) = v.pointer(&format!("{prefix}/{key}")).and_then(confusion) {
                doc.chart(
                    &format!("pathologist-{split}-{}", key.replace('_', "-")),
                    svg::heatmap(&format!("Pathologist {det}, {words}"), &labels, &cm),
                    format!(
                        "Windows of the {words} set: rows the truth, columns the {det}'s class."
                    ),
                );
            }
        }
    }
}

fn roc_points(v: &Value) -> Option<Vec<(f64, f64)>> {
    let pts: Vec<(f64, f64)> = v
        .get("roc")?
        .as_array()?
        .iter()
        .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
        .collect();
    (!pts.is_empty()).then_some(pts)
}

pub fn equalizer(doc: &mut Doc, r: &Results) {
    doc.heading(2, "Equalizer: toxic connections");
    let Some(v) = r.models.get("equalizer") else {
        doc.callout(
            Tone::Warning,
            "no Equalizer metrics (models/metrics/equalizer.json)",
        );
        return;
    };
    if let Some(rule) = v.get("rule").and_then(Value::as_str) {
        doc.para(format!("Rule baseline: {rule}."));
    }
    let blocks = [
        ("isolation forest (as shipped)", "/model"),
        (
            "isolation forest fitted on normal rows only",
            "/normal_only_fit",
        ),
        ("rule", "/rule_baseline"),
        ("isolation forest, live", "/live/model"),
        ("rule, live", "/live/rule_baseline"),
    ];
    let mut rows = vec![
        [
            "detector",
            "ROC AUC",
            "operating point",
            "threshold",
            "precision",
            "recall",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut curves = Vec::new();
    for (name, ptr) in blocks {
        let Some(b) = v.pointer(ptr) else { continue };
        if let Some(points) = roc_points(b) {
            curves.push(Line {
                name: format!("{name} (AUC {})", f3(num(b, "/auc"))),
                points,
            });
        }
        let ops = b.get("operating_points").and_then(Value::as_object);
        if ops.is_none_or(|o| o.is_empty()) {
            rows.push(vec![
                name.into(),
                f3(num(b, "/auc")),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
            ]);
        }
        for (op, o) in ops.into_iter().flatten() {
            rows.push(vec![
                name.into(),
                f3(num(b, "/auc")),
                op.clone(),
                f3(num(o, "/threshold")),
                f3(num(o, "/precision")),
                f3(num(o, "/recall")),
            ]);
        }
    }
    doc.table(rows);
    if curves.is_empty() {
        doc.callout(
            Tone::Note,
            "the metrics file has no ROC points (retrain the Equalizer to add them)",
        );
    } else {
        doc.chart(
            "equalizer-roc",
            svg::lines(
                "Equalizer: ROC curves, held-out and live connections",
                &Axis::linear("false positive rate", 0.0, 1.0),
                &Axis::linear("true positive rate", 0.0, 1.0),
                &curves,
                true,
            ),
            "Each connection-tick of the held-out (or live) runs scored; dashed: chance.",
        );
    }
    paper_table(doc, r);
}

fn paper_table(doc: &mut Doc, r: &Results) {
    doc.heading(3, "Isolation forest against the paper (ICDM 2008, table 3)");
    let Some(t) = r.anchors.as_ref().and_then(|a| a.paper_table.as_ref()) else {
        doc.callout(
            Tone::Note,
            "not run: the paper table comes with `qbranch anchors`",
        );
        return;
    };
    if t.status != "measured" {
        doc.callout(
            Tone::Note,
            format!(
                "skipped: {}",
                t.reason.as_deref().unwrap_or("no reason given")
            ),
        );
        return;
    }
    let mut rows = vec![
        [
            "data set",
            "rows",
            "paper AUC",
            "ours",
            "scikit-learn",
            "ours - paper",
            "fit s ours",
            "fit s scikit-learn",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for p in &t.rows {
        rows.push(vec![
            p.dataset.clone(),
            p.rows.to_string(),
            f3(Some(p.paper_auc)),
            f3(Some(p.ours_auc)),
            f3(p.sklearn_auc),
            format!("{:+.3}", p.ours_auc - p.paper_auc),
            f3(p.ours_fit_s),
            f3(p.sklearn_fit_s),
        ]);
    }
    doc.table(rows);
    let names: Vec<String> = t.rows.iter().map(|p| p.dataset.clone()).collect();
    doc.chart(
        "iforest-paper",
        svg::bars(
            "Isolation forest ROC AUC on the ODDS benchmarks",
            &Axis::linear("ROC AUC", 0.5, 1.0),
            &names,
            &[
                (
                    "paper".into(),
                    t.rows.iter().map(|p| Some(p.paper_auc)).collect(),
                ),
                (
                    "ours".into(),
                    t.rows.iter().map(|p| Some(p.ours_auc)).collect(),
                ),
                (
                    "scikit-learn".into(),
                    t.rows.iter().map(|p| p.sklearn_auc).collect(),
                ),
            ],
        ),
        "100 trees, subsample 256 on every side.",
    );
}

pub fn metrics_of(r: &Results, out: &mut Vec<Metric>) {
    if let Some(v) = r.models.get("pathologist") {
        for (split, prefix) in [("held_out", ""), ("live", "/live")] {
            if let Some(b) = v.pointer(&format!("{prefix}/model")) {
                let (_, _, f) = prf(b, "stuck");
                if let Some(f) = f {
                    out.push(Metric::quality(
                        &format!("pathologist/{split}/stuck_f1"),
                        f,
                        true,
                        0.02,
                    ));
                }
            }
        }
    }
    if let Some(v) = r.models.get("equalizer") {
        for (key, ptr) in [
            ("held_out_auc", "/model/auc"),
            ("live_auc", "/live/model/auc"),
        ] {
            if let Some(x) = num(v, ptr) {
                out.push(Metric::quality(&format!("equalizer/{key}"), x, true, 0.02));
            }
        }
    }
    if let Some(t) = r.anchors.as_ref().and_then(|a| a.paper_table.as_ref()) {
        for p in &t.rows {
            out.push(Metric::quality(
                &format!("iforest_paper/{}/auc", p.dataset),
                p.ours_auc,
                true,
                0.02,
            ));
        }
    }
}

/// Each model's headline number next to its rule baseline's, for the summary.
pub fn against_rules(r: &Results) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    if let Some(v) = r.models.get("pathologist") {
        for (split, prefix) in [("held-out", ""), ("live", "/live")] {
            let m = v
                .pointer(&format!("{prefix}/model"))
                .and_then(|b| prf(b, "stuck").2);
            let b = v
                .pointer(&format!("{prefix}/rule_baseline"))
                .and_then(|b| prf(b, "stuck").2);
            if m.is_some() {
                rows.push(vec![
                    "Pathologist (random forest)".into(),
                    format!("F1 of class stuck, {split}"),
                    f3(m),
                    "syscall-entropy rule".into(),
                    f3(b),
                ]);
            }
        }
    }
    if let Some(v) = r.models.get("equalizer") {
        for (split, prefix) in [("held-out", ""), ("live", "/live")] {
            if let Some(m) = num(v, &format!("{prefix}/model/auc")) {
                rows.push(vec![
                    "Equalizer (isolation forest)".into(),
                    format!("ROC AUC, {split}"),
                    f3(Some(m)),
                    "z-score rule".into(),
                    f3(num(v, &format!("{prefix}/rule_baseline/auc"))),
                ]);
            }
        }
    }
    rows
}

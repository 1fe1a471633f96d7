//! The log gadgets: the Curator's recall per kind of PII (on held-out formats it was
//! trained on and on formats it never saw) and its throughput; the Archivist's ranking
//! of the root cause in its flushes.

use serde_json::Value;

use crate::compare::Metric;
use crate::doc::{Doc, Tone};
use crate::inputs::{Results, num};
use crate::svg::{self, Axis};
use crate::table::{f3, num as fnum};

/// One entity's span counts and scores.
struct Entity {
    name: String,
    labels: f64,
    predictions: f64,
    precision: Option<f64>,
    recall: Option<f64>,
}

fn entities(v: &Value, key: &str) -> Vec<Entity> {
    v.get(key)
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(name, e)| Entity {
                    name: name.clone(),
                    labels: num(e, "/labels").unwrap_or(0.0),
                    predictions: num(e, "/predictions").unwrap_or(0.0),
                    precision: num(e, "/precision"),
                    recall: num(e, "/recall"),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn curator(doc: &mut Doc, r: &Results) {
    doc.heading(2, "Curator: PII redaction");
    let Some(v) = r.models.get("curator") else {
        doc.callout(
            Tone::Warning,
            "no Curator metrics (models/metrics/curator.json)",
        );
        return;
    };
    let held = entities(v, "held_out_spans");
    let novel = entities(v, "held_out_novel_formats_spans");
    doc.para(format!(
        "Span-level precision and recall per entity on {} held-out log lines (the fast path plus the learned \
         context classifier, as the daemon runs them), and on held-out line formats the training never saw.",
        fnum(num(v, "/held_out_lines"))
    ));
    let mut rows = vec![
        [
            "entity",
            "spans",
            "found",
            "precision",
            "recall",
            "recall, novel formats",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let novel_recall = |name: &str| novel.iter().find(|n| n.name == name).and_then(|n| n.recall);
    for e in &held {
        rows.push(vec![
            e.name.clone(),
            fnum(Some(e.labels)),
            fnum(Some(e.predictions)),
            f3(e.precision),
            f3(e.recall),
            f3(novel_recall(&e.name)),
        ]);
    }
    doc.table(rows);
    let names: Vec<String> = held.iter().map(|e| e.name.clone()).collect();
    doc.chart(
        "curator-recall",
        svg::bars(
            "Curator: recall per entity",
            &Axis::linear("recall", 0.0, 1.0),
            &names,
            &[
                ("held-out".into(), held.iter().map(|e| e.recall).collect()),
                (
                    "novel formats".into(),
                    held.iter().map(|e| novel_recall(&e.name)).collect(),
                ),
            ],
        ),
        "n/a: no labelled span of that entity in the novel formats.",
    );
    let throughput: Vec<_> = r
        .perf
        .iter()
        .flat_map(|p| p.measurements.iter())
        .filter(|m| m.name.starts_with("curator"))
        .collect();
    for m in throughput {
        doc.para(format!(
            "Throughput ({}): {} {} median. {}",
            m.name,
            fnum(Some(m.median)),
            m.unit,
            m.what
        ));
    }
}

pub fn archivist(doc: &mut Doc, r: &Results) {
    doc.heading(2, "Archivist: flushes around incidents");
    let Some(v) = r.models.get("archivist") else {
        doc.callout(
            Tone::Warning,
            "no Archivist metrics (models/metrics/archivist.json)",
        );
        return;
    };
    doc.table(vec![
        [
            "held-out flushes",
            "root cause kept (TF-IDF ranking, top 10 %)",
            "root cause kept without ranking",
            "median percentile of the root cause",
            "worst percentile",
        ]
        .map(String::from)
        .to_vec(),
        vec![
            fnum(num(v, "/held_out/flushes_with_root_cause")),
            fnum(num(v, "/held_out/root_cause_kept_at_0_9")),
            fnum(num(v, "/held_out/baseline_without_ranking_kept")),
            f3(num(v, "/held_out/root_cause_percentile_median")),
            f3(num(v, "/held_out/root_cause_percentile_worst")),
        ],
    ]);
}

pub fn metrics_of(r: &Results, out: &mut Vec<Metric>) {
    if let Some(v) = r.models.get("curator") {
        for e in entities(v, "held_out_spans") {
            let (name, p, rc) = (e.name, e.precision, e.recall);
            if let Some(rc) = rc {
                out.push(Metric::quality(
                    &format!("curator/{name}/recall"),
                    rc,
                    true,
                    0.02,
                ));
            }
            if let Some(p) = p {
                out.push(Metric::quality(
                    &format!("curator/{name}/precision"),
                    p,
                    true,
                    0.02,
                ));
            }
        }
    }
    if let Some(v) = r.models.get("archivist")
        && let (Some(kept), Some(all)) = (
            num(v, "/held_out/root_cause_kept_at_0_9"),
            num(v, "/held_out/flushes_with_root_cause"),
        )
        && all > 0.0
    {
        out.push(Metric::quality(
            "archivist/root_cause_kept",
            kept / all,
            true,
            0.0,
        ));
    }
}

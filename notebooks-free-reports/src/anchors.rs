//! Our models next to the reference libraries (scikit-learn, statsmodels, PyTorch) on
//! the same files, measured in one run: each metric side by side, and how many times
//! faster or slower we fit and predict.

use crate::compare::Metric;
use crate::doc::{Doc, Tone};
use crate::inputs::{Anchors, Results};
use crate::svg::{self, Axis};
use crate::table::num;

/// `anchor / ours`: above 1, ours is faster.
fn speedup(ours: Option<f64>, anchor: Option<f64>) -> Option<f64> {
    match (ours, anchor) {
        (Some(o), Some(a)) if o > 0.0 && a > 0.0 => Some(a / o),
        _ => None,
    }
}

fn times(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |x| format!("{}x", num(Some(x))))
}

pub fn section(doc: &mut Doc, r: &Results) {
    doc.heading(2, "Anchors: the reference libraries on the same data");
    let Some(a) = r.anchors.as_ref() else {
        let why = r
            .missing
            .get("anchors")
            .map_or("no anchors file given", String::as_str);
        doc.callout(Tone::Note, format!("not run: {why}"));
        doc.code("qbranch anchors --data datasets/standard --out anchors --quick\nqbranch report --anchors anchors/anchors.json");
        return;
    };
    let software: Vec<String> = a
        .software
        .iter()
        .map(|(k, v)| format!("{k} {}", v.as_deref().unwrap_or("(missing)")))
        .collect();
    doc.para(format!(
        "Measured {}{}; {}. Times are the thread's CPU time, single-threaded on both sides. \
         Speed-up = the anchor's time / ours (above 1: ours is faster).",
        a.created,
        if a.quick { " (quick: subsampled)" } else { "" },
        software.join(", ")
    ));
    table(doc, a);
    chart(doc, a);
    for s in &a.skipped {
        doc.callout(
            Tone::Warning,
            format!("{} ({}) skipped: {}", s.model, s.anchor, s.reason),
        );
    }
}

fn table(doc: &mut Doc, a: &Anchors) {
    let mut rows = vec![
        [
            "model",
            "data",
            "metric",
            "ours",
            "anchor",
            "anchor implementation",
            "fit speed-up",
            "predict speed-up",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for c in &a.comparisons {
        let keys: Vec<&String> = c.ours.metrics.keys().collect();
        for (i, k) in keys.iter().enumerate() {
            let first = i == 0;
            rows.push(vec![
                if first {
                    c.model.clone()
                } else {
                    String::new()
                },
                if first { c.data.clone() } else { String::new() },
                (*k).clone(),
                num(c.ours.metrics.get(*k).copied().flatten()),
                num(c
                    .anchor
                    .as_ref()
                    .and_then(|a| a.metrics.get(*k).copied().flatten())),
                if first {
                    c.anchor
                        .as_ref()
                        .map_or("skipped".into(), |a| a.implementation.clone())
                } else {
                    String::new()
                },
                if first {
                    times(speedup(
                        c.ours.fit_s,
                        c.anchor.as_ref().and_then(|a| a.fit_s),
                    ))
                } else {
                    String::new()
                },
                if first {
                    times(speedup(
                        c.ours.predict_us_per_row,
                        c.anchor.as_ref().and_then(|a| a.predict_us_per_row),
                    ))
                } else {
                    String::new()
                },
            ]);
        }
    }
    doc.table(rows);
}

fn chart(doc: &mut Doc, a: &Anchors) {
    let names: Vec<String> = a.comparisons.iter().map(|c| c.model.clone()).collect();
    let fit: Vec<Option<f64>> = a
        .comparisons
        .iter()
        .map(|c| speedup(c.ours.fit_s, c.anchor.as_ref().and_then(|a| a.fit_s)))
        .collect();
    let predict: Vec<Option<f64>> = a
        .comparisons
        .iter()
        .map(|c| {
            speedup(
                c.ours.predict_us_per_row,
                c.anchor.as_ref().and_then(|a| a.predict_us_per_row),
            )
        })
        .collect();
    let all: Vec<f64> = fit
        .iter()
        .chain(predict.iter())
        .flatten()
        .copied()
        .collect();
    if all.is_empty() {
        return;
    }
    let lo = all.iter().fold(f64::INFINITY, |a, b| a.min(*b)).min(0.5);
    let hi = all.iter().fold(0.0f64, |a, b| a.max(*b)).max(2.0);
    doc.chart(
        "anchors-speedup",
        svg::bars(
            "Speed-up against the reference library (log scale)",
            &Axis::log("anchor time / our time", lo, hi),
            &names,
            &[("fit".into(), fit), ("predict per row".into(), predict)],
        ),
        "Above 1: ours is faster. Same rows, same hyperparameters, one thread each.",
    );
}

/// Our side's metrics (by value) and the speed-ups (as timings).
pub fn metrics_of(r: &Results, out: &mut Vec<Metric>) {
    let Some(a) = r.anchors.as_ref() else { return };
    for c in &a.comparisons {
        for (k, v) in c.ours.metrics.iter().filter_map(|(k, v)| Some((k, (*v)?))) {
            let lower = matches!(k.as_str(), "mae" | "rmse" | "mse" | "loss");
            out.push(Metric::quality(
                &format!("anchors/{}/{k}", c.model),
                v,
                !lower,
                0.02 * v.abs().max(1.0),
            ));
        }
        if let Some(s) = speedup(c.ours.fit_s, c.anchor.as_ref().and_then(|a| a.fit_s)) {
            out.push(Metric::timing(
                &format!("anchors/{}/fit_speedup", c.model),
                s,
                true,
            ));
        }
    }
}

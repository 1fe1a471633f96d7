//! The Oracle's held-out and live evaluation: every detector (the LSTM and ARIMA at two
//! confidences, the spec's rule, systemd-oomd's and earlyoom's rules) on the same leak
//! trajectories and the same negative cgroups, as the trainer measured them.

use serde_json::Value;

use crate::compare::Metric;
use crate::doc::{Doc, Tone};
use crate::inputs::{Results, num};
use crate::svg::{self, Axis, Strip};
use crate::table::{f3, num as fnum};

/// The metrics file that carries the evaluation (both Oracle models' files do).
fn metrics(r: &Results) -> Option<&Value> {
    r.models
        .get("oracle_lstm")
        .or_else(|| r.models.get("oracle_arima"))
}

fn detectors<'a>(v: &'a Value, split: &str) -> Vec<&'a Value> {
    let pointer = match split {
        "live" => "/evaluation/live/detectors",
        _ => "/evaluation/held_out",
    };
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn name(d: &Value) -> String {
    d.get("detector")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

fn leads(d: &Value) -> Vec<f64> {
    d.get("leads_s")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn table(doc: &mut Doc, dets: &[&Value]) {
    let mut rows = vec![
        [
            "detector",
            "caught",
            "recall, lead >= 60 s",
            "recall, lead >= 120 s",
            "median lead s",
            "p10 lead s",
            "p90 lead s",
            "negative cgroups alarmed",
            "window precision",
            "window recall",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for d in dets {
        rows.push(vec![
            name(d),
            format!(
                "{}/{}",
                num(d, "/caught").unwrap_or(0.0),
                num(d, "/leaks").unwrap_or(0.0)
            ),
            f3(num(d, "/recall_lead_60s")),
            f3(num(d, "/recall_lead_120s")),
            fnum(num(d, "/lead_s/median")),
            fnum(num(d, "/lead_s/p10")),
            fnum(num(d, "/lead_s/p90")),
            format!(
                "{} of {}",
                num(d, "/negative_cgroups_alarmed").unwrap_or(0.0),
                num(d, "/negative_cgroups").unwrap_or(0.0)
            ),
            f3(num(d, "/window/precision")),
            f3(num(d, "/window/recall")),
        ]);
    }
    doc.table(rows);
}

fn chart(doc: &mut Doc, id: &str, title: &str, dets: &[&Value]) {
    let strips: Vec<Strip> = dets
        .iter()
        .map(|d| Strip {
            name: name(d),
            values: leads(d),
        })
        .collect();
    let max = strips
        .iter()
        .flat_map(|s| s.values.iter())
        .fold(60.0f64, |a, b| a.max(*b));
    doc.chart(
        id,
        svg::strips(title, &Axis::linear("seconds of warning before the OOM kill", 0.0, max * 1.05), &strips),
        "One dot per caught leak (a detector that never fired has none); bar: median, box: 10th to 90th percentile. \
         Same trajectories for every detector.",
    );
}

pub fn section(doc: &mut Doc, r: &Results) {
    doc.heading(2, "Oracle: OOM forecasting");
    let Some(v) = metrics(r) else {
        doc.callout(
            Tone::Warning,
            "no Oracle metrics (models/metrics/oracle_lstm.json)",
        );
        return;
    };
    if let Some(rules) = v.pointer("/evaluation/rules").and_then(Value::as_object) {
        let list: Vec<String> = rules
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or("")))
            .collect();
        doc.para(format!(
            "Rule baselines, on the same frames: {}.",
            list.join("; ")
        ));
    }
    let held = detectors(v, "held_out");
    doc.heading(3, "Held-out simulated leaks");
    table(doc, &held);
    chart(
        doc,
        "oracle-leads-held-out",
        "Oracle lead time, held-out leaks: models against the rules",
        &held,
    );
    let live = detectors(v, "live");
    if live.iter().any(|d| num(d, "/leaks").unwrap_or(0.0) > 0.0) {
        doc.heading(3, "Live leaks (real processes, recorded)");
        table(doc, &live);
        chart(
            doc,
            "oracle-leads-live",
            "Oracle lead time, live leaks",
            &live,
        );
    }
    if let Some(verdict) = v.get("verdict").and_then(Value::as_str) {
        doc.callout(Tone::Note, format!("Trainer's verdict: {verdict}"));
    }
}

/// Held-out recall with a minute of warning and false alarms, for every detector.
pub fn metrics_of(r: &Results, out: &mut Vec<Metric>) {
    let Some(v) = metrics(r) else { return };
    for d in detectors(v, "held_out") {
        let n = name(d);
        if let Some(x) = num(d, "/recall_lead_60s") {
            out.push(Metric::quality(
                &format!("oracle/{n}/recall_lead_60s"),
                x,
                true,
                0.05,
            ));
        }
        if let Some(x) = num(d, "/false_alarm_rate") {
            out.push(Metric::quality(
                &format!("oracle/{n}/false_alarm_rate"),
                x,
                false,
                0.02,
            ));
        }
    }
}

/// The models' recall with a minute of warning next to the rules', for the summary.
pub fn against_rules(r: &Results) -> Vec<Vec<String>> {
    let Some(v) = metrics(r) else {
        return Vec::new();
    };
    let held = detectors(v, "held_out");
    let get = |n: &str| held.iter().find(|d| name(d) == n);
    let cell = |n: &str| {
        get(n).map_or("n/a".into(), |d| {
            format!(
                "{} ({} false alarms)",
                f3(num(d, "/recall_lead_60s")),
                f3(num(d, "/false_alarm_rate"))
            )
        })
    };
    let rules = ["earlyoom", "systemd_oomd", "spec_rule"]
        .iter()
        .map(|n| format!("{n} {}", cell(n)))
        .collect::<Vec<_>>()
        .join("; ");
    ["lstm_p85", "arima_p85"]
        .iter()
        .filter(|n| get(n).is_some())
        .map(|n| {
            vec![
                format!("Oracle ({n})"),
                "held-out recall with >= 60 s lead (false alarm rate)".into(),
                cell(n),
                "rules".into(),
                rules.clone(),
            ]
        })
        .collect()
}

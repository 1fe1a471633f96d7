//! Speed and footprint, as `qbranch perf` measured them on this machine: the engine's
//! tick, the recorder's, the eBPF probe's cost per syscall, gadgetd's memory, the
//! Curator's throughput. Compared with the baseline as warnings only.

use crate::compare::Metric;
use crate::doc::{Doc, Tone};
use crate::inputs::Results;
use crate::svg::{self, Axis};
use crate::table::num;

pub fn section(doc: &mut Doc, r: &Results, baseline: Option<&Results>) {
    doc.heading(2, "Performance");
    let Some(p) = r.perf.as_ref() else {
        let why = r
            .missing
            .get("perf")
            .map_or("no perf file given", String::as_str);
        doc.callout(Tone::Note, format!("not run: {why}"));
        return;
    };
    let machine = |v: &serde_json::Value, k: &str| {
        v.get(k).map_or("?".to_string(), |x| {
            x.to_string().trim_matches('"').to_string()
        })
    };
    doc.para(format!(
        "Measured {} on {} ({} CPUs, kernel {}, load average {} at the start){}. Medians of repeated samples after \
         a warm-up; criterion benches (`cargo bench`) give the careful numbers, these are for tracking.",
        p.created,
        machine(&p.machine, "host"),
        machine(&p.machine, "cpus"),
        machine(&p.machine, "kernel"),
        machine(&p.machine, "load_avg_1m"),
        if p.quick { ", quick mode" } else { "" }
    ));
    let base = |name: &str| {
        baseline
            .and_then(|b| b.perf.as_ref())
            .and_then(|bp| bp.measurements.iter().find(|m| m.name == name))
            .map(|m| m.median)
    };
    let mut rows = vec![
        [
            "measurement",
            "median",
            "p10",
            "p90",
            "p99",
            "unit",
            "samples",
            "baseline median",
            "what",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for m in &p.measurements {
        rows.push(vec![
            m.name.clone(),
            num(Some(m.median)),
            num(m.p10),
            num(m.p90),
            num(m.p99),
            m.unit.clone(),
            m.samples.to_string(),
            num(base(&m.name)),
            m.what.clone(),
        ]);
    }
    doc.table(rows);
    for s in &p.skipped {
        doc.callout(Tone::Warning, format!("{} skipped: {}", s.name, s.reason));
    }
    // One chart per measurement with a baseline: this run against it, same unit.
    let compared: Vec<_> = p
        .measurements
        .iter()
        .filter_map(|m| base(&m.name).map(|b| (m, b)))
        .collect();
    if !compared.is_empty() {
        let names: Vec<String> = compared
            .iter()
            .map(|(m, _)| format!("{} ({})", m.name, m.unit))
            .collect();
        doc.chart(
            "perf-against-baseline",
            svg::bars(
                "This run against the baseline (this run's median / the baseline's)",
                &Axis::linear(
                    "ratio",
                    0.0,
                    compared
                        .iter()
                        .map(|(m, b)| m.median / b)
                        .fold(2.0, f64::max),
                ),
                &names,
                &[(
                    "ratio".into(),
                    compared.iter().map(|(m, b)| Some(m.median / b)).collect(),
                )],
            ),
            "1 = the same as the baseline. For throughputs higher is better, for times lower.",
        );
    }
}

pub fn metrics_of(r: &Results, out: &mut Vec<Metric>) {
    for m in r.perf.iter().flat_map(|p| p.measurements.iter()) {
        out.push(Metric::timing(
            &format!("perf/{}", m.name),
            m.median,
            !m.lower_is_better,
        ));
    }
}

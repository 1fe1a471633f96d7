//! What the gadgets decide on each trial of some case files: every run of decisions per
//! (gadget, kind, subject) with its first and last time, count and confidence range,
//! and every incident. For writing a case's windows from what really happens:
//! `cargo run --release -p qb-scenarios --example decisions -- CASE.toml...`.
//! Only decisions a case's `[[expect]]` or `[[quiet]]` could match are kept, so a draft
//! with a bare `[[quiet]] gadget = "..."` per gadget shows everything.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use qb_scenarios::expect::{subject, when};
use qb_scenarios::runner::observe;
use qb_scenarios::{load_all, trials};

fn main() {
    let paths: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    for case in load_all(&paths).unwrap() {
        for trial in trials(&case) {
            println!("== {}", trial.name());
            let Some(obs) = observe(&trial).unwrap() else {
                println!("   (live: not run here)");
                continue;
            };
            if let Some(l) = &obs.label {
                println!("   label {} on {}", l.kind, l.target);
            }
            // (gadget, kind, subject) -> (first, last, count, min p, max p, first's detail)
            type Run = (i64, i64, u64, f64, f64, String);
            let mut runs: BTreeMap<(String, String, String), Run> = BTreeMap::new();
            let all = obs.decisions.iter().map(|d| (d, "")).chain(
                obs.suppressed
                    .iter()
                    .map(|s| (&s.decision, " (suppressed)")),
            );
            for (d, tag) in all {
                let key = (d.gadget.to_string(), format!("{}{tag}", d.kind), subject(d));
                let e = runs
                    .entry(key)
                    .or_insert_with(|| (d.ts_ns, d.ts_ns, 0, f64::MAX, f64::MIN, detail(d)));
                e.0 = e.0.min(d.ts_ns);
                e.1 = e.1.max(d.ts_ns);
                e.2 += 1;
                e.3 = e.3.min(d.confidence);
                e.4 = e.4.max(d.confidence);
            }
            for ((gadget, kind, subj), (first, last, n, lo, hi, first_detail)) in &runs {
                println!(
                    "   {gadget} {kind} on {subj}: {n}x from {} to {}, p {lo:.3}-{hi:.3}; first: {first_detail}",
                    when(&obs, *first),
                    when(&obs, *last)
                );
            }
            for i in &obs.incidents {
                println!(
                    "   incident {} {} -> {} ({}) on {} at {}{}; {}",
                    i.decision.gadget,
                    i.decision.kind,
                    i.action,
                    i.outcome.name(),
                    subject(&i.decision),
                    when(&obs, i.ts_ns),
                    if i.stacks.is_some() { ", stacks" } else { "" },
                    detail(&i.decision)
                );
            }
            if let Some(l) = &obs.label
                && let Some(ev) = l.event_ns
            {
                println!("   labelled event at {}", when(&obs, ev));
            }
            println!(
                "   {} frames, {:.0} s",
                obs.frames,
                (obs.end_ns - obs.start_ns) as f64 / 1e9
            );
        }
    }
}

/// A decision's source, ETA and evidence, on one line.
fn detail(d: &qb_gadgets::Decision) -> String {
    let mut text = format!("{} p={:.3}", d.source, d.confidence);
    if let Some(eta) = d.eta_s {
        text.push_str(&format!(" eta={eta:.0}s"));
    }
    for (k, v) in &d.evidence {
        text.push_str(&format!(" {k}={v:.3}"));
    }
    text
}

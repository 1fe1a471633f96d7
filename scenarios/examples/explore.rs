//! What the gadgets honestly do on every memory and stuck kind over the held-out seeds:
//! leads of the first confident forecast, incidents, stuck timings and false alarms.
//! The numbers behind the expectations in `scenarios/cases` (rerun after retraining):
//! `cargo run -p qb-scenarios --example explore [SEEDS...]`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use qb_gadgets::{Config, Engine, ManualPause, RecordingActuator, TickReport};
use qb_models::registry::Registry;
use qb_simulator::{Clock, Generator, MemoryGenerator, MemoryKind, StuckGenerator, StuckKind};

fn run(source: &mut dyn Generator) -> Vec<TickReport> {
    let registry = Registry::embedded().unwrap();
    let mut engine: Engine<RecordingActuator, ManualPause> = qb_gadgets::engine(
        &Config::default(),
        &registry,
        RecordingActuator::default(),
        ManualPause::default(),
    );
    let mut out = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        let mut r = engine.step(&frame);
        // Keep it small: what matters here.
        r.onsets.clear();
        r.decisions
            .retain(|d| d.confidence >= 0.5 || d.kind != "oom_forecast");
        out.push(r);
    }
    out
}

fn clock(minutes: u64) -> Clock {
    Clock::new(Duration::from_secs(60 * minutes), Duration::from_secs(1)).unwrap()
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn main() {
    let seeds: Vec<u64> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let seeds = if seeds.is_empty() {
        (10_001..=10_004).collect()
    } else {
        seeds
    };
    for kind in MemoryKind::ALL {
        for &seed in &seeds {
            let mut g = MemoryGenerator::new(kind, seed, clock(30)).unwrap();
            let t0 = std::time::Instant::now();
            let reports = run(&mut g);
            let start = reports[0].ts_ns;
            let label = g.labels()[0].clone();
            let attrs: serde_json::Value = serde_json::from_str(&label.attributes).unwrap();
            let oom = attrs["oom_ns"].as_i64();
            print!(
                "memory/{kind} seed {seed} ({:.1}s): target {} onset +{:.0}s",
                t0.elapsed().as_secs_f64(),
                label.target,
                secs(label.start_ns - start)
            );
            if let Some(oom) = oom {
                print!(" oom +{:.0}s", secs(oom - start));
            }
            println!();
            let mut max: std::collections::BTreeMap<(String, &str), (f64, i64)> =
                Default::default();
            let mut first_conf: std::collections::BTreeMap<String, i64> = Default::default();
            for r in &reports {
                for d in &r.decisions {
                    let key = (
                        d.cgroup
                            .clone()
                            .or(d.process.as_ref().map(|p| format!("pid:{}", p.pid)))
                            .unwrap_or_default(),
                        d.kind,
                    );
                    let e = max.entry(key).or_insert((0.0, d.ts_ns));
                    if d.confidence > e.0 {
                        *e = (d.confidence, d.ts_ns);
                    }
                    if d.kind == "oom_forecast" && d.confidence >= 0.85 {
                        first_conf
                            .entry(d.cgroup.clone().unwrap_or_default())
                            .or_insert(d.ts_ns);
                    }
                }
            }
            for ((t, k), (c, ts)) in &max {
                println!("   max {k} {t}: p={c:.3} at +{:.0}s", secs(ts - start));
            }
            for (cg, ts) in &first_conf {
                let lead = oom.map(|o| format!(" lead {:.0}s", secs(o - ts)));
                println!(
                    "   first p>=0.85 {cg} at +{:.0}s{}",
                    secs(ts - start),
                    lead.unwrap_or_default()
                );
            }
            for i in reports.iter().flat_map(|r| &r.incidents) {
                let lead = oom.map(|o| format!(" lead {:.0}s", secs(o - i.ts_ns)));
                println!(
                    "   incident +{:.0}s{}: {}",
                    secs(i.ts_ns - start),
                    lead.unwrap_or_default(),
                    qb_gadgets::incident::incident_line(i)
                );
            }
        }
    }
    for kind in StuckKind::ALL {
        for &seed in &seeds {
            let mut g = StuckGenerator::new(kind, seed, clock(10)).unwrap();
            let t0 = std::time::Instant::now();
            let reports = run(&mut g);
            let start = reports[0].ts_ns;
            let label = g.labels()[0].clone();
            println!(
                "stuck/{kind} seed {seed} ({:.1}s): label {} target {} onset +{:.0}s",
                t0.elapsed().as_secs_f64(),
                label.kind,
                label.target,
                secs(label.start_ns - start)
            );
            let mut max: std::collections::BTreeMap<(String, &str), (f64, i64, i64)> =
                Default::default();
            for r in &reports {
                for d in &r.decisions {
                    let key = (
                        d.cgroup
                            .clone()
                            .or(d.process.as_ref().map(|p| format!("pid:{}", p.pid)))
                            .unwrap_or_default(),
                        d.kind,
                    );
                    let e = max.entry(key).or_insert((0.0, d.ts_ns, d.ts_ns));
                    if d.confidence > e.0 {
                        e.0 = d.confidence;
                    }
                }
            }
            for ((t, k), (c, first, _)) in &max {
                println!(
                    "   {k} {t}: max p={c:.3}, first decision at onset{:+.0}s",
                    secs(first - label.start_ns)
                );
            }
            for i in reports.iter().flat_map(|r| &r.incidents) {
                println!(
                    "   incident onset{:+.0}s stacks={}: {}",
                    secs(i.ts_ns - label.start_ns),
                    i.stacks.is_some(),
                    qb_gadgets::incident::incident_line(i)
                );
            }
        }
    }
}

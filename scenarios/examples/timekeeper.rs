//! What the Timekeeper honestly does on every routine kind over the held-out seeds: per
//! spike, when it started (from the job's start), its best similarity, when a routine
//! was recognised, how long the spike was held back and why that ended, and the alerts.
//! The numbers behind `scenarios/cases/timekeeper`:
//! `cargo run -p qb-scenarios --example timekeeper [cosine|dtw] [SEEDS...]`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use qb_gadgets::{Config, Engine, ManualPause, RecordingActuator};
use qb_models::registry::Registry;
use qb_signals::SignalSource;
use qb_simulator::{Clock, Generator, RoutineGenerator, RoutineKind};

const MIN: i64 = 60_000_000_000;

#[derive(Debug, Default)]
struct Spike {
    first: i64,
    last: i64,
    best: f64,
    routine: Option<(i64, f64, f64)>,
    held: u32,
    ended: Vec<&'static str>,
    alerts: Vec<i64>,
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let method = match args.first().map(String::as_str) {
        Some(m @ ("cosine" | "dtw")) => {
            let m = m.to_string();
            args.remove(0);
            m
        }
        _ => "cosine".to_string(),
    };
    let seeds: Vec<u64> = args.iter().map(|s| s.parse().unwrap()).collect();
    let seeds = if seeds.is_empty() {
        (10_001..=10_004).collect()
    } else {
        seeds
    };
    let config = Config::from_toml(&format!(
        "[timekeeper]\nenabled = true\nmethod = \"{method}\""
    ))
    .unwrap();
    let registry = Registry::embedded().unwrap();
    for kind in RoutineKind::ALL {
        for &seed in &seeds {
            let clock =
                Clock::new(Duration::from_secs(16 * 86_400), Duration::from_secs(60)).unwrap();
            let mut g = RoutineGenerator::new(kind, seed, clock).unwrap();
            let starts = g.job_starts();
            let mut engine: Engine<RecordingActuator, ManualPause> = qb_gadgets::engine(
                &config,
                &registry,
                RecordingActuator::default(),
                ManualPause::default(),
            );
            let t0 = std::time::Instant::now();
            let mut spikes: Vec<Spike> = Vec::new();
            let mut open = false;
            while let Some(frame) = g.next_frame().unwrap() {
                let r = engine.step(&frame);
                let spike = r
                    .decisions
                    .iter()
                    .chain(r.suppressed.iter().map(|s| &s.decision))
                    .find(|d| d.kind == "metric_spike");
                let Some(d) = spike else {
                    open = false;
                    continue;
                };
                if !open {
                    spikes.push(Spike {
                        first: r.ts_ns,
                        ..Spike::default()
                    });
                    open = true;
                }
                let Some(s) = spikes.last_mut() else {
                    continue;
                };
                s.last = r.ts_ns;
                s.best = s
                    .best
                    .max(d.evidence.get("best_similarity").copied().unwrap_or(0.0));
                for (k, _) in d
                    .evidence
                    .iter()
                    .filter(|(k, _)| k.starts_with("unsuppressed"))
                {
                    if !s.ended.contains(k) {
                        s.ended.push(k);
                    }
                }
                if let Some(rt) = r.decisions.iter().find(|d| d.kind == "routine") {
                    let e = s
                        .routine
                        .get_or_insert((r.ts_ns, rt.confidence, rt.confidence));
                    e.1 = e.1.min(rt.confidence);
                    e.2 = e.2.max(rt.confidence);
                }
                s.held += u32::from(!r.suppressed.is_empty());
                s.alerts.extend(r.incidents.iter().map(|i| i.ts_ns));
            }
            let labels = g.labels();
            println!(
                "routine/{kind} seed {seed} ({:.1}s, {method}): label {} at job+{:.0}min",
                t0.elapsed().as_secs_f64(),
                labels[0].kind,
                (labels[0].start_ns - starts[starts.len() - 1]) as f64 / MIN as f64
            );
            for s in &spikes {
                let job = starts
                    .iter()
                    .rposition(|j| *j <= s.first + 5 * MIN)
                    .map_or("none".to_string(), |i| format!("job {i}"));
                let origin = starts
                    .iter()
                    .rev()
                    .find(|j| **j <= s.first + 5 * MIN)
                    .copied()
                    .unwrap_or(s.first);
                let rel = |ts: i64| format!("{:+.0}min", (ts - origin) as f64 / MIN as f64);
                let routine = s.routine.map_or("no routine".to_string(), |(at, lo, hi)| {
                    format!("routine from {} (similarity {lo:.3}-{hi:.3})", rel(at))
                });
                println!(
                    "   {job}: spike {}..{}, best similarity {:.3}, {routine}, held {} ticks{}{}",
                    rel(s.first),
                    rel(s.last),
                    s.best,
                    s.held,
                    if s.ended.is_empty() {
                        String::new()
                    } else {
                        format!(", ended: {}", s.ended.join(" "))
                    },
                    if s.alerts.is_empty() {
                        ", no alert".to_string()
                    } else {
                        format!(
                            ", alerts at {}",
                            s.alerts
                                .iter()
                                .map(|a| rel(*a))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    }
                );
            }
        }
    }
}

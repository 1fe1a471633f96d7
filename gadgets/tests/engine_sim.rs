//! The engine on simulated episodes, end to end with the embedded models.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use qb_gadgets::{Config, Engine, ManualPause, Outcome, RecordingActuator, TickReport};
use qb_models::registry::Registry;
use qb_simulator::{Clock, Generator, MemoryGenerator, MemoryKind, StuckGenerator, StuckKind};

fn run(config: &Config, source: &mut dyn Generator) -> Vec<TickReport> {
    let registry = Registry::embedded().unwrap();
    let mut engine: Engine<RecordingActuator, ManualPause> = qb_gadgets::engine(
        config,
        &registry,
        RecordingActuator::default(),
        ManualPause::default(),
    );
    let mut reports = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        reports.push(engine.step(&frame));
    }
    reports
}

fn clock(minutes: u64) -> Clock {
    Clock::new(Duration::from_secs(60 * minutes), Duration::from_secs(1)).unwrap()
}

#[test]
fn a_linear_leak_is_forecast_and_its_leaker_restarted_then_killed_in_dry_run() {
    let mut g = MemoryGenerator::new(MemoryKind::LinearLeak, 10_001, clock(30)).unwrap();
    let reports = run(&Config::default(), &mut g);
    let label = g.labels().iter().find(|l| l.kind == "memory_leak").unwrap();
    let attrs: serde_json::Value = serde_json::from_str(&label.attributes).unwrap();
    let oom_ns = attrs["oom_ns"].as_i64().unwrap();
    let first = reports
        .iter()
        .flat_map(|r| &r.decisions)
        .find(|d| {
            d.kind == "oom_forecast"
                && d.confidence >= 0.85
                && d.cgroup.as_deref() == Some(label.target.as_str())
        })
        .expect("a confident forecast");
    let lead_s = (oom_ns - first.ts_ns) as f64 / 1e9;
    println!("lead {lead_s:.0} s, eta {:?}", first.eta_s);
    assert!(lead_s >= 60.0, "lead {lead_s}");
    let incidents: Vec<_> = reports.iter().flat_map(|r| &r.incidents).collect();
    for i in &incidents {
        println!("{}", qb_gadgets::incident::incident_line(i));
    }
    let acted: Vec<&str> = incidents
        .iter()
        .filter(|i| i.outcome == Outcome::DryRun)
        .map(|i| i.action.as_str())
        .collect();
    assert!(acted.contains(&"restart"), "{acted:?}");
}

#[test]
fn a_deadlock_is_marked_stuck_and_restarted_with_stacks_in_dry_run() {
    let mut g = StuckGenerator::new(StuckKind::Deadlock, 10_001, clock(10)).unwrap();
    let reports = run(&Config::default(), &mut g);
    let label = g.labels().iter().find(|l| l.kind == "stuck").unwrap();
    let pid: u32 = label.target.strip_prefix("pid:").unwrap().parse().unwrap();
    let incidents: Vec<_> = reports.iter().flat_map(|r| &r.incidents).collect();
    for i in &incidents {
        println!("{}", qb_gadgets::incident::incident_line(i));
    }
    let restart = incidents
        .iter()
        .find(|i| i.action == "restart")
        .expect("a restart");
    assert_eq!(restart.decision.process.as_ref().unwrap().pid, pid);
    assert!(restart.stacks.is_some());
    let after_s = (restart.ts_ns - label.start_ns) as f64 / 1e9;
    println!("restart {after_s:.0} s after the onset");
    assert!((60.0..=150.0).contains(&after_s), "{after_s}");
}

/// Rollback bookkeeping: a confident forecast that came true is `oom_confirmed`; one on
/// a lookalike that never OOMs (a known LSTM false alarm, plateau_growth seed 10001)
/// becomes a `false_positive` once its deadline passes with the process still running.
#[test]
fn forecasts_are_followed_up_as_confirmed_or_false_positive() {
    let kinds = |kind, seed| {
        let mut g = MemoryGenerator::new(kind, seed, clock(30)).unwrap();
        let reports = run(&Config::default(), &mut g);
        let target = g.labels()[0].target.clone();
        let follow_ups: Vec<&'static str> = reports
            .iter()
            .flat_map(|r| &r.decisions)
            .filter(|d| d.cgroup.as_deref() == Some(target.as_str()))
            .filter(|d| qb_gadgets::oracle::FOLLOW_UP_KINDS.contains(&d.kind))
            .map(|d| d.kind)
            .collect();
        follow_ups
    };
    let leak = kinds(MemoryKind::LinearLeak, 10_001);
    assert_eq!(leak.first(), Some(&"oom_confirmed"), "{leak:?}");
    assert!(!leak.contains(&"false_positive"), "{leak:?}");
    let lookalike = kinds(MemoryKind::PlateauGrowth, 10_001);
    assert!(lookalike.contains(&"false_positive"), "{lookalike:?}");
    assert!(!lookalike.contains(&"oom_confirmed"), "{lookalike:?}");
}

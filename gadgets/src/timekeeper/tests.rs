//! The Timekeeper on synthetic minutes: a spike repeated every 10 hours (the gadget
//! does not care about the weekday, only the shape), learnt, recognised, capped,
//! bypassed by errors, and never a panic on bad frames.

#![allow(clippy::unwrap_used)]

use qb_signals::rng::Rng;
use qb_signals::{Frame, LogRow, SystemRow};

use super::*;
use crate::{Config, ManualPause, RecordingActuator};

const START: i64 = 1_767_225_600 * 1_000_000_000;
const EVERY: i64 = 600;

/// A host at 60 s ticks; `spike(m)` adds (busy, iowait, load, psi) m minutes into a spike.
struct Host {
    rng: Rng,
    minute: i64,
    cpu: [u64; 3],
    spike_len: i64,
    /// Spikes start at these minutes.
    onsets: Vec<i64>,
    /// (from, to) minutes with 20 error lines a minute.
    errors: Vec<(i64, i64)>,
}

impl Host {
    fn new(spike_len: i64, spikes: usize) -> Host {
        Host {
            rng: Rng::new(7),
            minute: 0,
            cpu: [100_000, 1_000, 1_000_000],
            spike_len,
            onsets: (1..=spikes as i64).map(|k| k * EVERY).collect(),
            errors: Vec::new(),
        }
    }

    fn extra(&self, m: i64) -> [f64; 4] {
        let Some(k) = self
            .onsets
            .iter()
            .map(|o| m - o)
            .find(|k| (0..self.spike_len).contains(k))
        else {
            return [0.0; 4];
        };
        let ramp = ((k + 1) as f64 / 3.0).min(1.0);
        let upload = k as f64 >= 0.6 * self.spike_len as f64 && self.spike_len <= 60;
        let e = if upload {
            [0.08, 0.28, 0.4, 50.0]
        } else {
            [0.35, 0.08, 0.6, 20.0]
        };
        e.map(|v| v * ramp)
    }

    fn next(&mut self) -> Frame {
        self.minute += 1;
        let m = self.minute;
        let ts = START + m * MIN_NS;
        let x = self.extra(m);
        let busy = 0.12 + 0.01 * self.rng.normal() + x[0];
        let iowait = 0.01 + 0.003 * self.rng.normal().abs() + x[1];
        let jiffies = 48_000.0;
        self.cpu[0] += (busy * jiffies) as u64;
        self.cpu[1] += (iowait * jiffies) as u64;
        self.cpu[2] += ((1.0 - busy - iowait) * jiffies) as u64;
        let mut f = Frame::new(ts, "h");
        f.system = Some(SystemRow {
            ts_ns: ts,
            cpu_user: self.cpu[0],
            cpu_iowait: self.cpu[1],
            cpu_idle: self.cpu[2],
            cpu_count: 8,
            load1: 8.0 * (0.1 + 0.02 * self.rng.normal() + x[2]),
            psi_io_some_avg10: Some(0.5 + 0.3 * self.rng.normal().abs() + x[3]),
            ..SystemRow::default()
        });
        let errors = self.errors.iter().any(|(a, b)| (*a..*b).contains(&m));
        for i in 0..30 {
            let level = if errors && i < 20 { "error" } else { "info" };
            f.logs.push(LogRow {
                ts_ns: ts,
                source: "/var/log/api.log".into(),
                offset: 0,
                pid: None,
                level: Some(level.into()),
                line: String::new(),
                truncated: false,
            });
        }
        f
    }
}

/// Per minute: the decisions of that tick.
fn run(
    config: TimekeeperConfig,
    host: &mut Host,
    minutes: i64,
) -> (Timekeeper, Vec<Vec<Decision>>) {
    let mut t = Timekeeper::new(config);
    let mut ticks = Vec::new();
    for _ in 0..minutes {
        let f = host.next();
        let mut out = Vec::new();
        t.observe(&f, &mut out);
        ticks.push(out);
    }
    (t, ticks)
}

fn enabled() -> TimekeeperConfig {
    TimekeeperConfig {
        enabled: true,
        ..TimekeeperConfig::default()
    }
}

/// Minutes (from the spike's onset) with a decision of `kind`, for spike `n` (1-based).
fn minutes_of(ticks: &[Vec<Decision>], n: i64, kind: &str) -> Vec<i64> {
    (0..EVERY)
        .filter(|k| {
            let i = (n * EVERY + k - 1) as usize;
            ticks
                .get(i)
                .is_some_and(|t| t.iter().any(|d| d.kind == kind))
        })
        .collect()
}

fn evidence(ticks: &[Vec<Decision>], kind: &str, key: &str) -> Vec<f64> {
    ticks
        .iter()
        .flatten()
        .filter(|d| d.kind == kind)
        .filter_map(|d| d.evidence.get(key).copied())
        .collect()
}

#[test]
fn the_first_spike_is_learnt_and_the_second_is_a_routine() {
    let mut host = Host::new(40, 3);
    let (t, ticks) = run(enabled(), &mut host, 4 * EVERY);
    let first = minutes_of(&ticks, 1, METRIC_SPIKE);
    assert!(first.len() >= 38 && first[0] <= 1, "{first:?}");
    assert!(
        minutes_of(&ticks, 1, ROUTINE).is_empty(),
        "nothing learnt yet"
    );
    for n in [2, 3] {
        let routine = minutes_of(&ticks, n, ROUTINE);
        let spike = minutes_of(&ticks, n, METRIC_SPIKE);
        assert!(routine.first().is_some_and(|m| *m <= 4), "{n}: {routine:?}");
        // The routine stands as long as the spike, from its start.
        assert_eq!(
            routine.len(),
            spike.iter().filter(|m| **m >= routine[0]).count(),
            "{n}"
        );
    }
    let sims = evidence(&ticks, ROUTINE, "similarity");
    assert!(sims.iter().all(|s| *s > 0.85 && *s <= 1.0), "{sims:?}");
    assert!(
        ticks
            .iter()
            .flatten()
            .filter(|d| d.kind == ROUTINE)
            .all(|d| d.evidence["pattern"] == 1.0)
    );
    assert_eq!(t.patterns(), [(1, 3, 0)]);
}

#[test]
fn a_similarity_equal_to_the_threshold_is_not_above_it() {
    let mut host = Host::new(40, 2);
    let (_, ticks) = run(enabled(), &mut host, 3 * EVERY);
    // The best similarity of the second spike once it may suppress (3 minutes in).
    let best = ticks
        .iter()
        .flatten()
        .filter(|d| d.kind == METRIC_SPIKE && d.evidence["spike_minutes"] >= 3.0)
        .filter_map(|d| d.evidence.get("best_similarity").copied())
        .fold(f64::MIN, f64::max);
    assert!(best > 0.9, "{best}");
    for (threshold, routine) in [(best, false), (best - 1e-9, true)] {
        let config = TimekeeperConfig {
            similarity: threshold,
            ..enabled()
        };
        let (_, ticks) = run(config, &mut Host::new(40, 2), 3 * EVERY);
        let any = ticks.iter().flatten().any(|d| d.kind == ROUTINE);
        assert_eq!(any, routine, "threshold {threshold}");
    }
}

#[test]
fn a_suppression_ends_at_two_hours_whatever_the_similarity() {
    let mut host = Host::new(150, 2);
    let (_, ticks) = run(enabled(), &mut host, 3 * EVERY);
    let routine = minutes_of(&ticks, 2, ROUTINE);
    let (from, to) = (routine[0], routine[routine.len() - 1]);
    assert!(from <= 4, "{routine:?}");
    assert_eq!(to - from + 1, 120, "exactly two hours of 60 s ticks");
    let spike = minutes_of(&ticks, 2, METRIC_SPIKE);
    assert!(
        spike.iter().any(|m| *m > to + 10),
        "the spike goes on, unsuppressed"
    );
    let after = &ticks[(2 * EVERY + to) as usize];
    let d = after.iter().find(|d| d.kind == METRIC_SPIKE).unwrap();
    assert_eq!(d.evidence.get("unsuppressed_cap"), Some(&1.0));
}

#[test]
fn an_error_spike_ends_the_suppression_at_once_and_marks_the_pattern() {
    let mut host = Host::new(40, 3);
    host.errors.push((2 * EVERY + 12, 2 * EVERY + 30));
    let (t, ticks) = run(enabled(), &mut host, 4 * EVERY);
    let routine = minutes_of(&ticks, 2, ROUTINE);
    // 20 errors in the minute ending at +12 (the tick at +12 counts them).
    assert_eq!(routine.last(), Some(&11), "{routine:?}");
    let d = ticks[(2 * EVERY + 12) as usize - 1]
        .iter()
        .find(|d| d.kind == METRIC_SPIKE)
        .unwrap();
    assert_eq!(d.evidence.get("unsuppressed_errors"), Some(&1.0));
    // Error-followed once: the third spike, the same shape, is not suppressed.
    assert!(minutes_of(&ticks, 3, ROUTINE).is_empty());
    assert_eq!(t.patterns(), [(1, 2, 1)]);
}

#[test]
fn dtw_recognises_the_routine_too() {
    let config = TimekeeperConfig {
        method: shape::Method::Dtw,
        ..enabled()
    };
    let (_, ticks) = run(config, &mut Host::new(40, 2), 3 * EVERY);
    assert!(!minutes_of(&ticks, 2, ROUTINE).is_empty());
}

#[test]
fn bad_frames_never_panic_and_decide_nothing() {
    let mut t = Timekeeper::new(enabled());
    let mut out = Vec::new();
    let weird = [
        Frame::new(0, "h"),
        Frame::new(i64::MIN, "h"),
        Frame::new(i64::MAX, "h"),
        Frame::new(START, "h"),
    ];
    for f in &weird {
        t.observe(f, &mut out);
    }
    for m in 0..300 {
        let mut f = Frame::new(START + m * 7 * MIN_NS / 3, "h");
        f.system = Some(SystemRow {
            cpu_user: if m % 2 == 0 { u64::MAX } else { 0 },
            load1: if m % 3 == 0 { f64::NAN } else { f64::INFINITY },
            psi_io_some_avg10: Some(f64::NEG_INFINITY),
            cpu_count: 0,
            ..SystemRow::default()
        });
        t.observe(&f, &mut out);
        // Time going backwards.
        t.observe(&Frame::new(START - m * MIN_NS, "h"), &mut out);
    }
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn the_engine_holds_the_spike_back_from_the_rules_and_tags_it() {
    let config = Config::from_toml(
        "[oracle]\nenabled = false\n[pathologist]\nenabled = false\n[timekeeper]\nenabled = true",
    )
    .unwrap();
    let registry = qb_models::registry::Registry::embedded().unwrap();
    let mut engine = crate::engine(
        &config,
        &registry,
        RecordingActuator::default(),
        ManualPause::default(),
    );
    let mut host = Host::new(40, 2);
    let (mut alerts, mut held, mut onsets) = (Vec::new(), 0, 0);
    for _ in 0..3 * EVERY {
        let r = engine.step(&host.next());
        for i in &r.incidents {
            assert_eq!(i.rule, "timekeeper-alert");
            alerts.push((r.ts_ns - START) / MIN_NS);
        }
        for s in &r.suppressed {
            assert_eq!(
                (s.decision.kind, s.tag.as_str()),
                (METRIC_SPIKE, "routine:1")
            );
            assert!(s.similarity > 0.85);
            held += 1;
            onsets += usize::from(s.onset);
        }
        assert!(r.decisions.iter().all(|d| d.kind != METRIC_SPIKE) || r.suppressed.is_empty());
    }
    // The first spike alerts after its 5 min hold-down; the second never does.
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!((EVERY + 4..EVERY + 8).contains(&alerts[0]), "{alerts:?}");
    assert!(held >= 35 && onsets == 1, "{held} {onsets}");
}

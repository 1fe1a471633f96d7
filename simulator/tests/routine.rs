//! Routine generators: byte-stable for a seed, the weekly job visible in the rows at the
//! same weekday and time, the shift, the incident's error climb (and the backup's
//! lack of one), labels read off the rows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use qb_signals::{Dataset, LabelRow, SignalSource};
use qb_simulator::routine::SHIFT_NS;
use qb_simulator::{Clock, Generator, RoutineGenerator, RoutineKind, write_routine};

const MINUTE: Duration = Duration::from_secs(60);
const MIN: i64 = 60_000_000_000;
const WEEK: i64 = 7 * 1440 * MIN;

fn days(d: u64) -> Duration {
    Duration::from_secs(d * 86_400)
}

/// Per minute: (ts, busy share, iowait share, errors, lines), and the labels.
struct Run {
    minutes: Vec<(i64, f64, f64, usize, usize)>,
    labels: Vec<LabelRow>,
    starts: Vec<i64>,
}

fn run(kind: RoutineKind, seed: u64, span: Duration) -> Run {
    let mut g = RoutineGenerator::new(kind, seed, Clock::new(span, MINUTE).unwrap()).unwrap();
    let starts = g.job_starts();
    let mut minutes = Vec::new();
    let mut prev: Option<[u64; 4]> = None;
    while let Some(f) = g.next_frame().unwrap() {
        let s = f.system.unwrap();
        let now = [s.cpu_user, s.cpu_system, s.cpu_iowait, s.cpu_idle];
        if let Some(p) = prev {
            let d: Vec<f64> = now.iter().zip(p).map(|(a, b)| (a - b) as f64).collect();
            let total: f64 = d.iter().sum();
            let errors = f
                .logs
                .iter()
                .filter(|l| l.level.as_deref() == Some("error"))
                .count();
            minutes.push((
                f.ts_ns,
                (d[0] + d[1]) / total,
                d[2] / total,
                errors,
                f.logs.len(),
            ));
        }
        prev = Some(now);
    }
    Run {
        minutes,
        labels: g.labels().to_vec(),
        starts,
    }
}

fn mean_busy(r: &Run, from: i64, to: i64) -> (f64, f64) {
    let xs: Vec<_> = r
        .minutes
        .iter()
        .filter(|m| (from..to).contains(&m.0))
        .collect();
    let n = xs.len().max(1) as f64;
    (
        xs.iter().map(|m| m.1).sum::<f64>() / n,
        xs.iter().map(|m| m.2).sum::<f64>() / n,
    )
}

fn errors(r: &Run, from: i64, to: i64) -> (usize, usize) {
    r.minutes
        .iter()
        .filter(|m| (from..to).contains(&m.0))
        .fold((0, 0), |(e, n), m| (e + m.3, n + m.4))
}

#[test]
fn the_same_seed_gives_byte_identical_datasets() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = ["a", "b", "c"].map(|n| tmp.path().join(n)).into();
    let span = days(9);
    write_routine(&dirs[0], RoutineKind::Backup, 5, span, MINUTE).unwrap();
    write_routine(&dirs[1], RoutineKind::Backup, 5, span, MINUTE).unwrap();
    write_routine(&dirs[2], RoutineKind::Backup, 6, span, MINUTE).unwrap();
    let read = |d: &std::path::Path| {
        let mut out = Vec::new();
        for e in walk(d) {
            out.push((e.clone(), std::fs::read(d.join(&e)).unwrap()));
        }
        out
    };
    let a = read(&dirs[0]);
    assert!(
        a.len() >= 4,
        "{:?}",
        a.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(a, read(&dirs[1]));
    assert_ne!(a, read(&dirs[2]));
    let labels = Dataset::open(&dirs[0])
        .unwrap()
        .read_table::<LabelRow>()
        .unwrap();
    assert_eq!(
        labels.iter().map(|l| l.kind.as_str()).collect::<Vec<_>>(),
        ["routine", "routine_history"]
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_backup_recurs_weekly_and_shows_in_cpu_then_iowait_without_errors() {
    for seed in [10_001, 10_002, 10_003] {
        let r = run(RoutineKind::Backup, seed, days(16));
        assert_eq!(r.starts.len(), 3, "seed {seed}");
        for w in r.starts.windows(2) {
            // Each job within 2 min of its weekly slot.
            assert!((w[1] - w[0] - WEEK).abs() <= 4 * MIN, "seed {seed}");
        }
        let (quiet_busy, quiet_io) = mean_busy(&r, r.starts[0] - 120 * MIN, r.starts[0] - 10 * MIN);
        for &s in &r.starts {
            let (busy, io) = mean_busy(&r, s + 5 * MIN, s + 20 * MIN);
            assert!(
                busy > quiet_busy + 0.25,
                "seed {seed}: {busy} vs {quiet_busy}"
            );
            let (_, upload_io) = mean_busy(&r, s + 27 * MIN, s + 33 * MIN);
            assert!(
                upload_io > quiet_io + 0.2 && upload_io > io + 0.1,
                "seed {seed}"
            );
            // No error climb during or after: ~0.5 % of lines, as on any hour.
            let (e, n) = errors(&r, s, s + 120 * MIN);
            assert!(
                n > 600 && (e as f64) < 0.03 * n as f64,
                "seed {seed}: {e}/{n}"
            );
        }
        let l = &r.labels[0];
        assert_eq!(l.kind, "routine");
        let last = r.starts[2];
        assert!(l.start_ns > last && l.start_ns <= last + MIN, "seed {seed}");
        assert!(l.end_ns.unwrap() > last + 30 * MIN);
        assert_eq!(r.labels[1].kind, "routine_history");
        assert!(
            r.labels[1].start_ns < r.labels[2].start_ns,
            "history in time order"
        );
    }
}

#[test]
fn the_shifted_backup_starts_thirty_minutes_late_in_its_last_week_only() {
    let a = run(RoutineKind::Backup, 10_002, days(16));
    let b = run(RoutineKind::BackupShifted, 10_002, days(16));
    assert_eq!(a.starts[..2], b.starts[..2]);
    assert_eq!(b.starts[2] - a.starts[2], SHIFT_NS);
    let (busy_early, _) = mean_busy(&b, a.starts[2] + 5 * MIN, a.starts[2] + 20 * MIN);
    let (busy_late, _) = mean_busy(&b, b.starts[2] + 5 * MIN, b.starts[2] + 20 * MIN);
    assert!(busy_late > busy_early + 0.25, "{busy_late} vs {busy_early}");
}

#[test]
fn the_incident_starts_like_the_backup_then_errors_climb() {
    for seed in [10_001, 10_003, 10_004] {
        let inc = run(RoutineKind::IncidentLikeBackup, seed, days(16));
        let bak = run(RoutineKind::Backup, seed, days(16));
        let s = inc.starts[2];
        assert_eq!(s, bak.starts[2]);
        // The first ten minutes look the same.
        let (a, _) = mean_busy(&inc, s + 3 * MIN, s + 10 * MIN);
        let (b, _) = mean_busy(&bak, s + 3 * MIN, s + 10 * MIN);
        assert!((a - b).abs() < 0.03, "seed {seed}: {a} vs {b}");
        let l = &inc.labels[0];
        assert_eq!(l.kind, "incident");
        let onset = l.start_ns - s;
        assert!(
            (12 * MIN..=19 * MIN).contains(&onset),
            "seed {seed}: {onset}"
        );
        let (e, n) = errors(&inc, l.start_ns + 10 * MIN, l.start_ns + 30 * MIN);
        assert!(e as f64 > 0.15 * n as f64, "seed {seed}: {e}/{n}");
        // Before it, the earlier weeks were ordinary backups.
        assert!(inc.labels[1..].iter().all(|l| l.kind == "routine_history"));
    }
}

#[test]
fn the_long_batch_runs_past_two_hours() {
    let r = run(RoutineKind::LongBatch, 10_001, days(16));
    let l = &r.labels[0];
    assert!(l.end_ns.unwrap() - l.start_ns > 135 * MIN);
    let s = r.starts[2];
    let (busy, _) = mean_busy(&r, s + 125 * MIN, s + 135 * MIN);
    let (quiet, _) = mean_busy(&r, s - 120 * MIN, s - 10 * MIN);
    assert!(busy > quiet + 0.15, "{busy} vs {quiet}");
}

#[test]
fn a_run_too_short_for_two_jobs_is_refused() {
    let e = RoutineGenerator::new(RoutineKind::Backup, 1, Clock::new(days(5), MINUTE).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("two weekly jobs"), "{e}");
    assert_eq!(
        "incident_like_backup".parse::<RoutineKind>().unwrap(),
        RoutineKind::IncidentLikeBackup
    );
}

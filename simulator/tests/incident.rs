//! Incident generators: byte-stable for a seed, labels read off the rows (the root-cause
//! line at its offset, the crash ending in an OOM kill or a restart), quiet days without
//! either, and the documented rates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use qb_signals::{CgroupRow, Dataset, LabelRow, LogRow, ProcessRow, SignalSource};
use qb_simulator::{Clock, Generator, IncidentGenerator, IncidentKind, write_incident};

const RUN: Duration = Duration::from_secs(600);
const SECOND: Duration = Duration::from_secs(1);
const S: i64 = 1_000_000_000;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_same_seed_gives_byte_identical_datasets() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = ["a", "b", "c"].map(|n| tmp.path().join(n)).into();
    write_incident(&dirs[0], IncidentKind::Crash, 5, RUN, SECOND).unwrap();
    write_incident(&dirs[1], IncidentKind::Crash, 5, RUN, SECOND).unwrap();
    write_incident(&dirs[2], IncidentKind::Crash, 6, RUN, SECOND).unwrap();
    let fa = files(&dirs[0]);
    assert!(
        fa.len() >= 6,
        "{:?}",
        fa.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(fa, files(&dirs[1]));
    assert_ne!(fa, files(&dirs[2]));
    // And it reads back: labels and logs as generated.
    let ds = Dataset::open(&dirs[0]).unwrap();
    let labels = ds.read_table::<LabelRow>().unwrap();
    assert_eq!(
        labels.iter().map(|l| l.kind.as_str()).collect::<Vec<_>>(),
        ["root_cause", "crash"]
    );
}

struct Run {
    logs: Vec<LogRow>,
    processes: Vec<ProcessRow>,
    cgroups: Vec<CgroupRow>,
    labels: Vec<LabelRow>,
}

fn run(kind: IncidentKind, seed: u64) -> Run {
    let mut g = IncidentGenerator::new(kind, seed, Clock::new(RUN, SECOND).unwrap()).unwrap();
    let mut r = Run {
        logs: Vec::new(),
        processes: Vec::new(),
        cgroups: Vec::new(),
        labels: Vec::new(),
    };
    while let Some(f) = g.next_frame().unwrap() {
        r.logs.extend(f.logs);
        r.processes.extend(f.processes);
        r.cgroups.extend(f.cgroups);
    }
    r.labels = g.labels().to_vec();
    r
}

fn attrs(l: &LabelRow) -> serde_json::Value {
    serde_json::from_str(&l.attributes).unwrap()
}

#[test]
fn a_crash_has_one_root_cause_line_then_errors_then_an_oom_kill_or_a_restart() {
    let mut ends = BTreeSet::new();
    for seed in 1..=8 {
        let r = run(IncidentKind::Crash, seed);
        let [cause, crash] = r.labels.as_slice() else {
            panic!("seed {seed}: {:?}", r.labels)
        };
        assert_eq!(
            (cause.kind.as_str(), crash.kind.as_str()),
            ("root_cause", "crash")
        );
        // The root-cause line is the row at the labelled source, offset and time.
        let a = attrs(cause);
        let line = r
            .logs
            .iter()
            .find(|l| l.source == cause.target && l.offset == a["offset"].as_u64().unwrap())
            .unwrap();
        assert_eq!(line.ts_ns, cause.ts_ns);
        assert_eq!(line.line, a["line"].as_str().unwrap());
        // Errors climb 20-70 s later (the crash label starts at the first of them).
        let lead = (crash.start_ns - cause.ts_ns) / S;
        assert!((19..=71).contains(&lead), "seed {seed}: lead {lead} s");
        let victim = |l: &&LogRow| l.source == cause.target;
        let errors_in = |from: i64, to: i64| {
            let rows: Vec<_> = r
                .logs
                .iter()
                .filter(victim)
                .filter(|l| (from..to).contains(&l.ts_ns))
                .collect();
            let e = rows
                .iter()
                .filter(|l| l.level.as_deref() == Some("error"))
                .count();
            e as f64 / rows.len().max(1) as f64
        };
        let before = errors_in(cause.ts_ns - 100 * S, cause.ts_ns);
        let during = errors_in(crash.start_ns, crash.end_ns.unwrap());
        assert!(
            before < 0.05 && during > 0.15,
            "seed {seed}: {before} -> {during}"
        );
        // The end as the rows show it: the cgroup's kill counter rose, or the pid changed.
        let c = attrs(crash);
        let end = crash.end_ns.unwrap();
        let kills = |ts: i64| {
            r.cgroups
                .iter()
                .find(|g| g.ts_ns == ts && g.path == c["cgroup"].as_str().unwrap())
                .map(|g| g.oom_kill_events)
        };
        let (old, new) = (
            c["old_pid"].as_u64().unwrap() as u32,
            c["new_pid"].as_u64().unwrap() as u32,
        );
        assert_ne!(old, new);
        assert!(r.processes.iter().any(|p| p.pid == old && p.ts_ns < end));
        assert!(!r.processes.iter().any(|p| p.pid == old && p.ts_ns >= end));
        let back = r.processes.iter().find(|p| p.pid == new).unwrap();
        assert!(back.start_time_ns > end - S && back.ts_ns > end);
        match c["end"].as_str().unwrap() {
            "oom_kill" => assert_eq!((kills(end - S), kills(end)), (Some(0), Some(1))),
            "fatal_exit" => {
                assert_eq!(kills(end), Some(0));
                assert!(
                    r.logs
                        .iter()
                        .filter(victim)
                        .any(|l| l.level.as_deref() == Some("fatal"))
                );
            }
            other => panic!("{other}"),
        }
        ends.insert(c["end"].as_str().unwrap().to_owned());
        // Rates as documented: 20-200 lines/s with 1-3 % warnings outside the incident.
        let per_s = r.logs.len() as f64 / 600.0;
        assert!((15.0..260.0).contains(&per_s), "seed {seed}: {per_s}");
    }
    assert_eq!(ends.len(), 2, "both endings over eight seeds: {ends:?}");
}

#[test]
fn a_quiet_day_has_noise_a_lone_error_and_a_burst_but_no_crash() {
    for seed in 1..=4 {
        let r = run(IncidentKind::QuietDay, seed);
        assert_eq!(r.labels.len(), 1);
        assert_eq!(r.labels[0].kind, "quiet");
        let n = r.logs.len() as f64;
        let share = |lvl: &str| {
            r.logs
                .iter()
                .filter(|l| l.level.as_deref() == Some(lvl))
                .count() as f64
                / n
        };
        assert!(
            (0.008..0.035).contains(&share("warn")),
            "seed {seed}: warn {}",
            share("warn")
        );
        assert!(
            (0.001..0.012).contains(&share("error")),
            "seed {seed}: error {}",
            share("error")
        );
        assert_eq!(share("fatal"), 0.0);
        assert!(r.cgroups.iter().all(|c| c.oom_kill_events == 0));
        // Every service keeps its one pid all day.
        let pids: BTreeSet<(String, u32)> = r
            .processes
            .iter()
            .map(|p| (p.comm.clone(), p.pid))
            .collect();
        let comms: BTreeSet<&String> = pids.iter().map(|p| &p.0).collect();
        assert_eq!(pids.len(), comms.len());
        assert!((3..=6).contains(&comms.len()));
        // The burst: some second of some service carries 3x its median.
        let mut per_sec: std::collections::BTreeMap<(&str, i64), usize> = Default::default();
        for l in &r.logs {
            *per_sec
                .entry((l.source.as_str(), l.ts_ns.div_euclid(S)))
                .or_default() += 1;
        }
        let burst = comms.iter().any(|c| {
            let mut v: Vec<usize> = per_sec
                .iter()
                .filter(|((s, _), _)| s.contains(c.as_str()))
                .map(|(_, n)| *n)
                .collect();
            v.sort_unstable();
            v.last().copied().unwrap_or(0) > 3 * v.get(v.len() / 2).copied().unwrap_or(0).max(1)
        });
        assert!(burst, "seed {seed}");
    }
}

#[test]
fn too_short_a_run_is_refused() {
    let err = IncidentGenerator::new(
        IncidentKind::Crash,
        1,
        Clock::new(Duration::from_secs(100), SECOND).unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("400 s"), "{err}");
    assert!("nope".parse::<IncidentKind>().is_err());
    assert_eq!(
        "quiet_day".parse::<IncidentKind>().unwrap(),
        IncidentKind::QuietDay
    );
}

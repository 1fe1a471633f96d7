//! Stuck-process generators: labels at the onset, the symptoms each kind must show, and
//! hard negatives that share one symptom but not the verdict.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use qb_signals::{ConnectionRow, Dataset, LabelRow, ProcessRow, SyscallRow};
use qb_simulator::{StuckKind, write_stuck};

const RUN: Duration = Duration::from_secs(300);
const SECOND: Duration = Duration::from_secs(1);

struct Run {
    label: LabelRow,
    target: Vec<ProcessRow>,
    syscalls: Vec<SyscallRow>,
    connections: Vec<ConnectionRow>,
}

fn run(kind: StuckKind, seed: u64) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    write_stuck(&dir, kind, seed, RUN, SECOND).unwrap();
    let ds = Dataset::open(&dir).unwrap();
    let mut labels = ds.read_table::<LabelRow>().unwrap();
    assert_eq!(labels.len(), 1, "{kind} {seed}");
    let label = labels.remove(0);
    let pid: u32 = label.target.strip_prefix("pid:").unwrap().parse().unwrap();
    Run {
        target: ds
            .read_table::<ProcessRow>()
            .unwrap()
            .into_iter()
            .filter(|p| p.pid == pid)
            .collect(),
        syscalls: ds
            .read_table::<SyscallRow>()
            .unwrap()
            .into_iter()
            .filter(|s| s.pid == pid)
            .collect(),
        connections: ds
            .read_table::<ConnectionRow>()
            .unwrap()
            .into_iter()
            .filter(|c| c.pid == Some(pid))
            .collect(),
        label,
    }
}

impl Run {
    fn onset(&self) -> usize {
        self.target
            .iter()
            .position(|p| p.ts_ns >= self.label.start_ns)
            .unwrap()
    }
    fn cpu(&self, from: usize, to: usize) -> u64 {
        let t = |i: usize| self.target[i].utime_ticks + self.target[i].stime_ticks;
        t(to) - t(from)
    }
    fn progress(&self, from: usize, to: usize) -> u64 {
        self.target[to].rchar.unwrap() - self.target[from].rchar.unwrap()
    }
    fn queued(&self, i: usize) -> u64 {
        let ts = self.target[i].ts_ns;
        self.connections
            .iter()
            .filter(|c| c.ts_ns == ts)
            .map(|c| u64::from(c.rx_queue))
            .sum()
    }
    fn calls(&self, from: usize, to: usize, nr: Option<u32>) -> u64 {
        let (a, b) = (self.target[from].ts_ns, self.target[to].ts_ns);
        self.syscalls
            .iter()
            .filter(|s| s.ts_ns > a && s.ts_ns <= b && nr.is_none_or(|n| s.syscall_nr == n))
            .map(|s| s.count)
            .sum()
    }
}

#[test]
fn positives_stop_making_progress_while_work_piles_up() {
    for kind in StuckKind::ALL.into_iter().filter(|k| k.is_stuck()) {
        for seed in 1..=3 {
            let r = run(kind, seed);
            assert_eq!(r.label.kind, "stuck");
            assert_eq!(r.label.end_ns, None, "stuck until someone acts");
            assert!(
                r.label
                    .attributes
                    .contains(&format!("\"flavour\":\"{kind}\""))
            );
            let (o, last) = (r.onset(), r.target.len() - 1);
            assert!(
                r.progress(0, o) > 0,
                "{kind} {seed}: healthy before the onset"
            );
            assert_eq!(
                r.progress(o + 2, last),
                0,
                "{kind} {seed}: no progress after the onset"
            );
            assert!(
                r.queued(last) > r.queued(o) + 10,
                "{kind} {seed}: requests pile up"
            );
            let after = &r.target[o + 5];
            match kind {
                StuckKind::Deadlock => {
                    assert_eq!(r.cpu(o + 2, last), 0);
                    assert_eq!(
                        r.calls(o + 2, last, None),
                        0,
                        "a deadlock makes no syscalls"
                    );
                    assert_eq!(after.syscall, Some(202), "blocked in futex");
                }
                StuckKind::Livelock => {
                    assert!(r.cpu(o + 2, last) > 25 * (last - o - 2) as u64, "burns CPU");
                    assert!(
                        r.calls(o + 2, last, Some(202)) > 10_000 * (last - o - 2) as u64,
                        "futex spam"
                    );
                }
                StuckKind::DStateHang => {
                    assert_eq!(after.state, "D");
                    let why = after.wchan.as_deref().unwrap_or_default();
                    assert!(
                        ["io_schedule", "__refrigerator", "rpc_wait_bit_killable"].contains(&why),
                        "{why}"
                    );
                }
                StuckKind::PoolExhaustion => {
                    assert!(
                        r.calls(o + 2, last, Some(288)) > 0,
                        "the acceptor still accepts"
                    );
                    assert!(
                        r.cpu(o + 2, last) < 2 * (last - o - 2) as u64,
                        "almost idle"
                    );
                }
                _ => unreachable!(),
            }
        }
    }
}

#[test]
fn hard_negatives_share_a_symptom_but_recover_or_have_no_pending_work() {
    for seed in 1..=3 {
        let idle = run(StuckKind::IdleServer, seed);
        let (o, last) = (idle.onset(), idle.target.len() - 1);
        assert_eq!(idle.label.kind, "stuck_negative");
        assert_eq!(
            (idle.cpu(o + 2, last), idle.progress(o + 2, last)),
            (0, 0),
            "idle looks dead..."
        );
        assert_eq!(idle.queued(last), 0, "...but nothing is waiting for it");

        let gc = run(StuckKind::GcPause, seed);
        let (o, last) = (gc.onset(), gc.target.len() - 1);
        assert!(
            gc.calls(o, o + 4, Some(202)) > 5_000,
            "a GC pause spams futex like a livelock"
        );
        assert!(gc.progress(last - 30, last) > 0, "then work resumes");
        assert!(gc.queued(last) < 5, "and the backlog drains");

        let busy = run(StuckKind::BusyWorker, seed);
        let (o, last) = (busy.onset(), busy.target.len() - 1);
        assert!(
            busy.cpu(o, last) > 80 * (last - o) as u64,
            "busy burns a core"
        );
        assert!(busy.progress(o, last) > 0, "and makes progress");

        let batch = run(StuckKind::BatchSleeper, seed);
        let last = batch.target.len() - 1;
        assert!(
            batch
                .target
                .iter()
                .filter(|p| p.syscall == Some(230))
                .count()
                > last / 2,
            "mostly asleep"
        );
        assert!(
            batch.target[last].read_bytes.unwrap() > 0,
            "but works in bursts"
        );
        assert!(batch.connections.is_empty());
    }
}

#[test]
fn runs_are_byte_stable_and_kinds_are_validated() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_stuck(&a, StuckKind::Livelock, 9, RUN, SECOND).unwrap();
    write_stuck(&b, StuckKind::Livelock, 9, RUN, SECOND).unwrap();
    let seg = |d: &std::path::Path| {
        let ds = Dataset::open(d).unwrap();
        ds.segments(qb_signals::Table::Syscalls)
            .unwrap()
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seg(&a), seg(&b));
    let err = "hung".parse::<StuckKind>().unwrap_err().to_string();
    assert!(
        err.contains("unknown stuck kind 'hung'") && err.contains("deadlock"),
        "{err}"
    );
    let err = write_stuck(
        &tmp.path().join("c"),
        StuckKind::Deadlock,
        1,
        Duration::from_secs(60),
        SECOND,
    )
    .unwrap_err();
    assert!(err.to_string().contains("at least 120 ticks"), "{err}");
}

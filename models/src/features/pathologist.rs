//! Pathologist features: one vector per process per tick, over the last 30 ticks of its
//! history: the spec's ten behavioural measures, plus what separates stuck from idle
//! in measurements (DESIGN.md section 8): where it is blocked, requests piling up unread
//! on its sockets or in its accept backlog, and whether it makes any progress at all.

use std::collections::BTreeMap;

use qb_signals::{Frame, ProcessRow};

use super::window::{Histories, slope_r2};
use super::{Extractor, FeatureSet};

pub const PATHOLOGIST: FeatureSet = FeatureSet {
    name: "pathologist",
    names: &[
        "cpu_cores",
        "io_rate",
        "syscall_entropy",
        "syscall_rate",
        "network_tx_rate",
        "fd_churn",
        "voluntary_ctx_ratio",
        "d_state_share",
        "connections_silent",
        "fd_count_stable",
        "wait_futex_share",
        "wait_io_share",
        "wait_event_share",
        "running_share",
        "unread_bytes",
        "unread_growth",
        "backlog",
        "backlog_growth",
        "progress_share",
        "threads",
    ],
    window: WINDOW,
};

pub const PATHOLOGIST_LEN: usize = 20;
const WINDOW: usize = 30;

/// x86_64 syscall numbers of the waits that tell stuck from idle.
mod nr {
    pub const READ: i32 = 0;
    pub const POLL: i32 = 7;
    pub const SELECT: i32 = 23;
    pub const ACCEPT: i32 = 43;
    pub const FSYNC: i32 = 74;
    pub const FDATASYNC: i32 = 75;
    pub const FUTEX: i32 = 202;
    pub const EPOLL_WAIT: i32 = 232;
    pub const PSELECT6: i32 = 270;
    pub const PPOLL: i32 = 271;
    pub const EPOLL_PWAIT: i32 = 281;
    pub const ACCEPT4: i32 = 288;
    pub const EPOLL_PWAIT2: i32 = 441;
}

#[derive(Debug, Clone, PartialEq)]
pub struct PathologistVector {
    pub pid: u32,
    pub ts_ns: i64,
    pub values: [f64; PATHOLOGIST_LEN],
}

/// The Pathologist's classes, in the forest's output order.
pub const CLASSES: [&str; 3] = ["working", "idle", "stuck"];
pub const STUCK: u32 = 2;

impl PathologistVector {
    /// A feature by name (0 for an unknown name).
    pub fn feature(&self, name: &str) -> f64 {
        PATHOLOGIST
            .names
            .iter()
            .position(|n| *n == name)
            .map_or(0.0, |i| self.values[i])
    }
}

/// Not stuck: idle when it neither computes nor calls the kernel.
pub fn idle_or_working(v: &PathologistVector) -> u32 {
    let quiet = v.feature("cpu_cores") < 0.005 && v.feature("syscall_rate") < 1.0_f64.ln_1p();
    u32::from(quiet)
}

/// The spec's rule baseline (Option 1): low syscall entropy and no IO over the window.
/// Measured precision on held-out data: 0.08, so it never acts on its own.
pub fn rule(v: &PathologistVector) -> u32 {
    if v.feature("syscall_entropy") < 1.0 && v.feature("io_rate") == 0.0 {
        STUCK
    } else {
        idle_or_working(v)
    }
}

#[derive(Debug, Clone, Default)]
struct Snapshot {
    ts_ns: i64,
    cpu_ticks: f64,
    io_bytes: f64,
    voluntary: f64,
    involuntary: f64,
    fd_count: f64,
    threads: f64,
    state: u8,
    syscall: Option<i32>,
    /// (syscall, calls) this tick.
    calls: Vec<(u32, u64)>,
    /// Whether it made any call this tick.
    called: bool,
    /// The calls of the window ending here, all but its first tick, by syscall (sorted,
    /// no zeros): kept running as the window slides, so no tick re-reads the 29 before.
    window_calls: Vec<(u32, u64)>,
    /// Owned sockets: bytes acked (sent), unread bytes, listen backlog, established count.
    sent: f64,
    unread: f64,
    backlog: f64,
    established: u32,
}

/// Per-pid socket and syscall totals of one frame.
#[derive(Debug, Default)]
struct Owned {
    calls: Vec<(u32, u64)>,
    sent: f64,
    unread: f64,
    backlog: f64,
    established: u32,
}

/// Streams frames in, vectors out; the trainer and the daemon run this same code.
#[derive(Debug, Clone)]
pub struct PathologistExtractor {
    histories: Histories<(u32, i64), Snapshot>,
}

impl Default for PathologistExtractor {
    fn default() -> Self {
        Self::new()
    }
}

impl PathologistExtractor {
    pub fn new() -> Self {
        PathologistExtractor {
            // A pid is a (pid, start time) pair: a reused pid starts a new history.
            histories: Histories::new(PATHOLOGIST.window, 3),
        }
    }
}

impl Extractor for PathologistExtractor {
    type Vector = PathologistVector;

    /// Adds one frame; pushes a vector for every process with a full window. Kernel
    /// threads are skipped: they are never a target.
    fn observe(&mut self, frame: &Frame, out: &mut Vec<PathologistVector>) {
        let mut owned: BTreeMap<u32, Owned> = BTreeMap::new();
        for s in &frame.syscalls {
            owned
                .entry(s.pid)
                .or_default()
                .calls
                .push((s.syscall_nr, s.count));
        }
        for c in &frame.connections {
            let Some(pid) = c.pid else { continue };
            let o = owned.entry(pid).or_default();
            if c.state == "LISTEN" {
                o.backlog += f64::from(c.rx_queue);
            } else {
                o.unread += f64::from(c.rx_queue);
                o.sent += c.bytes_acked.unwrap_or(0) as f64;
                o.established += u32::from(c.state == "ESTABLISHED");
            }
        }
        for p in frame.processes.iter().filter(|p| !p.kernel_thread) {
            let o = owned.remove(&p.pid).unwrap_or_default();
            let key = (p.pid, p.start_time_ns);
            let mut snap = snapshot(p, o);
            snap.window_calls = match self.histories.get(&key) {
                Some(prev) if !prev.is_empty() => {
                    let mut calls = prev[prev.len() - 1].window_calls.clone();
                    add_calls(&mut calls, &snap.calls);
                    // A full window drops its first tick; the old second tick becomes
                    // the first, which the histogram leaves out.
                    if prev.len() == PATHOLOGIST.window {
                        remove_calls(&mut calls, &prev[1].calls);
                    }
                    calls
                }
                _ => Vec::new(),
            };
            if let Some(window) = self.histories.push(&key, snap) {
                out.push(PathologistVector {
                    pid: p.pid,
                    ts_ns: p.ts_ns,
                    values: features(window),
                });
            }
        }
        self.histories.end_tick();
    }
}

fn add_calls(hist: &mut Vec<(u32, u64)>, calls: &[(u32, u64)]) {
    for &(nr, c) in calls.iter().filter(|c| c.1 > 0) {
        match hist.binary_search_by_key(&nr, |e| e.0) {
            Ok(i) => hist[i].1 += c,
            Err(i) => hist.insert(i, (nr, c)),
        }
    }
}

fn remove_calls(hist: &mut Vec<(u32, u64)>, calls: &[(u32, u64)]) {
    for &(nr, c) in calls.iter().filter(|c| c.1 > 0) {
        if let Ok(i) = hist.binary_search_by_key(&nr, |e| e.0) {
            hist[i].1 = hist[i].1.saturating_sub(c);
            if hist[i].1 == 0 {
                hist.remove(i);
            }
        }
    }
}

fn snapshot(p: &ProcessRow, o: Owned) -> Snapshot {
    Snapshot {
        called: o.calls.iter().any(|c| c.1 > 0),
        window_calls: Vec::new(),
        ts_ns: p.ts_ns,
        cpu_ticks: (p.utime_ticks + p.stime_ticks) as f64,
        io_bytes: (p.rchar.unwrap_or(0) + p.wchar.unwrap_or(0)) as f64,
        voluntary: p.voluntary_ctxt_switches as f64,
        involuntary: p.nonvoluntary_ctxt_switches as f64,
        fd_count: f64::from(p.fd_count.unwrap_or(0)),
        threads: f64::from(p.threads),
        state: p.state.bytes().next().unwrap_or(b'?'),
        syscall: p.syscall,
        calls: o.calls,
        sent: o.sent,
        unread: o.unread,
        backlog: o.backlog,
        established: o.established,
    }
}

fn features(w: &[Snapshot]) -> [f64; PATHOLOGIST_LEN] {
    let (first, last) = (&w[0], &w[w.len() - 1]);
    let secs = ((last.ts_ns - first.ts_ns) as f64 / 1e9).max(1e-9);
    let n = w.len() as f64;
    let share = |f: &dyn Fn(&Snapshot) -> bool| w.iter().filter(|s| f(s)).count() as f64 / n;
    let rate = |f: fn(&Snapshot) -> f64| (f(last) - f(first)).max(0.0) / secs;

    // Syscalls over the window (all but its first tick): rate and the entropy of their
    // histogram, summed in syscall order.
    let hist = &last.window_calls;
    let total: u64 = hist.iter().map(|&(_, c)| c).sum();
    let entropy = if total == 0 {
        0.0
    } else {
        hist.iter()
            .map(|&(_, c)| c as f64 / total as f64)
            .map(|p| -p * p.log2())
            .sum()
    };

    let (dvol, dinv) = (
        last.voluntary - first.voluntary,
        last.involuntary - first.involuntary,
    );
    let fd_changes: f64 = w
        .windows(2)
        .map(|p| (p[1].fd_count - p[0].fd_count).abs())
        .sum();
    let fd_stable = w
        .windows(2)
        .filter(|p| p[1].fd_count == p[0].fd_count)
        .count() as f64
        / (n - 1.0).max(1.0);
    let progressed = w
        .windows(2)
        .filter(|p| p[1].cpu_ticks > p[0].cpu_ticks || p[1].io_bytes > p[0].io_bytes || p[1].called)
        .count() as f64
        / (n - 1.0).max(1.0);
    let sent_rate = rate(|s| s.sent);
    // Windows are PATHOLOGIST.window long: the series live on the stack.
    let n = w.len().min(WINDOW);
    let mut t = [0.0; WINDOW];
    for (t, s) in t.iter_mut().zip(w) {
        *t = (s.ts_ns - first.ts_ns) as f64 / 1e9;
    }
    let growth = |f: fn(&Snapshot) -> f64| {
        let mut y = [0.0; WINDOW];
        for (y, s) in y.iter_mut().zip(w) {
            *y = f(s);
        }
        let (slope, _) = slope_r2(&t[..n], &y[..n]);
        slope.signum() * slope.abs().ln_1p()
    };
    let waits = |set: &[i32]| share(&|s| s.syscall.is_some_and(|c| set.contains(&c)));
    [
        rate(|s| s.cpu_ticks) / 100.0,
        rate(|s| s.io_bytes).ln_1p(),
        entropy,
        (total as f64 / secs).ln_1p(),
        sent_rate.ln_1p(),
        (fd_changes / secs).ln_1p(),
        if dvol + dinv > 0.0 {
            dvol / (dvol + dinv)
        } else {
            1.0
        },
        share(&|s| s.state == b'D'),
        // Connections open but nothing sent over the whole window.
        if last.established > 0 && sent_rate == 0.0 {
            1.0
        } else {
            0.0
        },
        fd_stable,
        waits(&[nr::FUTEX]),
        // Blocked on IO: in D state, in an IO call (or with no readable syscall).
        share(&|s| {
            s.state == b'D'
                && s.syscall
                    .is_none_or(|c| [nr::READ, nr::FSYNC, nr::FDATASYNC].contains(&c))
        }),
        waits(&[
            nr::POLL,
            nr::SELECT,
            nr::ACCEPT,
            nr::EPOLL_WAIT,
            nr::PSELECT6,
            nr::PPOLL,
            nr::EPOLL_PWAIT,
            nr::ACCEPT4,
            nr::EPOLL_PWAIT2,
        ]),
        share(&|s| s.state == b'R'),
        last.unread.ln_1p(),
        growth(|s| s.unread),
        last.backlog.ln_1p(),
        growth(|s| s.backlog),
        progressed,
        last.threads.ln_1p(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use qb_signals::{ConnectionRow, SyscallRow};

    /// A server at `t`: healthy (serving) or deadlocked (nothing moves, requests queue).
    fn frame(t: i64, stuck: bool) -> Frame {
        let ts = t * 1_000_000_000;
        let mut f = Frame::new(ts, String::from("h"));
        let served = if stuck { 10 } else { t as u64 };
        f.processes.push(ProcessRow {
            ts_ns: ts,
            pid: 42,
            state: "S".into(),
            syscall: Some(if stuck { nr::FUTEX } else { nr::EPOLL_WAIT }),
            utime_ticks: served * 3,
            rchar: Some(served * 800),
            wchar: Some(served * 4000),
            voluntary_ctxt_switches: served * 3,
            fd_count: Some(12),
            threads: 8,
            start_time_ns: 7,
            ..ProcessRow::default()
        });
        if !stuck {
            for (nr, count) in [(0, 5), (1, 5), (nr::EPOLL_WAIT as u32, 3), (202, 9)] {
                f.syscalls.push(SyscallRow {
                    ts_ns: ts,
                    pid: 42,
                    syscall_nr: nr,
                    count,
                });
            }
        }
        f.connections.push(ConnectionRow {
            ts_ns: ts,
            pid: Some(42),
            state: "ESTABLISHED".into(),
            rx_queue: if stuck { 300 * t as u32 } else { 0 },
            bytes_acked: Some(served * 4000),
            ..ConnectionRow::default()
        });
        f
    }

    fn last_vector(stuck: bool) -> [f64; PATHOLOGIST_LEN] {
        let mut x = PathologistExtractor::new();
        let mut out = Vec::new();
        for t in 0..40 {
            x.observe(&frame(t, stuck), &mut out);
        }
        assert_eq!(out.len(), 11);
        out.last().unwrap().values
    }

    #[test]
    fn a_deadlock_and_a_healthy_server_differ_where_the_measurements_say() {
        let (ok, stuck) = (last_vector(false), last_vector(true));
        let f = |name: &str| PATHOLOGIST.names.iter().position(|n| *n == name).unwrap();
        assert!(ok[f("cpu_cores")] > 0.0 && stuck[f("cpu_cores")] == 0.0);
        assert!(ok[f("syscall_entropy")] > 1.5 && stuck[f("syscall_entropy")] == 0.0);
        assert_eq!(
            (ok[f("progress_share")], stuck[f("progress_share")]),
            (1.0, 0.0)
        );
        assert_eq!(stuck[f("wait_futex_share")], 1.0);
        assert_eq!(ok[f("wait_event_share")], 1.0);
        assert!(stuck[f("unread_growth")] > 0.0 && ok[f("unread_growth")] == 0.0);
        assert_eq!(
            (ok[f("connections_silent")], stuck[f("connections_silent")]),
            (0.0, 1.0)
        );
        assert!(ok.iter().chain(&stuck).all(|v| v.is_finite()));
        assert_eq!(PATHOLOGIST.len(), PATHOLOGIST_LEN);
    }

    #[test]
    fn a_reused_pid_starts_a_new_history() {
        let mut x = PathologistExtractor::new();
        let mut out = Vec::new();
        for t in 0..40 {
            let mut f = frame(t, false);
            f.processes[0].start_time_ns = if t < 20 { 1 } else { 2 };
            x.observe(&f, &mut out);
        }
        assert!(out.is_empty(), "neither life has 30 ticks");
    }
}

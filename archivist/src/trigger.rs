//! What starts a flush: an error-share spike per service, a latency spike per service
//! (trace statistics), an OOM kill (cgroup or system counter), a restart (a process
//! identity coming back with another pid or start time), or another gadget's decision.
//! Detectors read time only from rows and frames.

use std::collections::{HashMap, HashSet, VecDeque};

use qb_signals::{Frame, TraceRow};
use serde::Serialize;

const S: i64 = 1_000_000_000;

/// Why a flush started.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The error share of a service's lines over the spike window exceeded `spike_factor` x its baseline.
    ErrorSpike,
    /// A service's p99 latency in a trace bucket exceeded `latency_factor` x its baseline p99.
    LatencySpike,
    /// A cgroup's `oom_kill_events` or the system's vmstat `oom_kill` rose between frames.
    Oom,
    /// A process identity (comm + cmdline hash) left and came back with another pid or start time.
    Restart,
    /// Another gadget decided something (`Archivist::on_decision`).
    Decision { gadget: String, kind: String },
}

impl Reason {
    pub fn name(&self) -> &'static str {
        match self {
            Reason::ErrorSpike => "error_spike",
            Reason::LatencySpike => "latency_spike",
            Reason::Oom => "oom",
            Reason::Restart => "restart",
            Reason::Decision { .. } => "decision",
        }
    }
}

/// A flush request: lines of `service` (every service when `None`) around `ts_ns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trigger {
    pub ts_ns: i64,
    pub reason: Reason,
    pub service: Option<String>,
}

/// The error-spike rule's parameters (see `ArchivistConfig` for the defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeRule {
    pub window_s: i64,
    pub factor: f64,
    pub min_errors: u64,
    /// Errors must also exceed the baseline's expectation by this many standard
    /// deviations (Poisson): at low volume a handful of errors is chance, not a spike.
    pub min_z: f64,
    pub floor: f64,
    pub half_life_s: f64,
    pub warmup_s: i64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    sec: i64,
    total: u64,
    errors: u64,
    /// Inside a window that was spiking: kept out of the baseline.
    anomalous: bool,
}

/// One service's error share: 1-second buckets over the window, and an exponentially
/// decayed baseline folded from buckets that left the window (never from spiking ones,
/// so a spike does not teach the baseline that it is normal).
#[derive(Debug, Clone, Default)]
pub struct ErrorRate {
    buckets: VecDeque<Bucket>,
    first_sec: Option<i64>,
    base_total: f64,
    base_errors: f64,
    last_fold_sec: Option<i64>,
}

/// `error` and `fatal` (also `critical`/`crit`/`alert`/`emerg` should a parser keep them).
pub fn is_error(level: Option<&str>) -> bool {
    matches!(
        level,
        Some("error" | "fatal" | "critical" | "crit" | "alert" | "emerg")
    )
}

impl ErrorRate {
    pub fn observe(&mut self, ts_ns: i64, error: bool) {
        let sec = ts_ns.div_euclid(S);
        self.first_sec = Some(self.first_sec.map_or(sec, |f| f.min(sec)));
        let b = match self.buckets.back() {
            Some(b) if b.sec < sec => None,
            Some(_) => {
                // A late line: its second, or the oldest bucket kept.
                let i = self.buckets.iter().rposition(|b| b.sec <= sec).unwrap_or(0);
                self.buckets.get_mut(i)
            }
            None => None,
        };
        let b = match b {
            Some(b) => b,
            None => {
                self.buckets.push_back(Bucket {
                    sec,
                    total: 0,
                    errors: 0,
                    anomalous: false,
                });
                let Some(b) = self.buckets.back_mut() else {
                    return;
                };
                b
            }
        };
        b.total += 1;
        b.errors += u64::from(error);
    }

    /// The baseline error share, floored; `None` until it covers `warmup_s` of history.
    pub fn baseline(&self, rule: &SpikeRule) -> Option<f64> {
        let (first, last) = (self.first_sec?, self.last_fold_sec?);
        (last - first + 1 >= rule.warmup_s && self.base_total > 0.0)
            .then(|| (self.base_errors / self.base_total).max(rule.floor))
    }

    /// Folds what left the window, then says whether the window is spiking now.
    pub fn evaluate(&mut self, now_ns: i64, rule: &SpikeRule) -> bool {
        let now = now_ns.div_euclid(S);
        while let Some(b) = self.buckets.front().copied() {
            if b.sec > now - rule.window_s {
                break;
            }
            self.buckets.pop_front();
            if b.anomalous {
                continue;
            }
            if let Some(last) = self.last_fold_sec {
                let decay = 0.5f64.powf((b.sec - last).max(0) as f64 / rule.half_life_s);
                self.base_total *= decay;
                self.base_errors *= decay;
            }
            self.base_total += b.total as f64;
            self.base_errors += b.errors as f64;
            self.last_fold_sec = Some(b.sec);
        }
        let (total, errors) = self
            .buckets
            .iter()
            .fold((0u64, 0u64), |(t, e), b| (t + b.total, e + b.errors));
        let Some(baseline) = self.baseline(rule) else {
            return false;
        };
        let expected = baseline * total as f64;
        let spiking = errors >= rule.min_errors
            && total > 0
            && errors as f64 / total as f64 > rule.factor * baseline
            && errors as f64 > expected + rule.min_z * expected.sqrt();
        if spiking {
            for b in &mut self.buckets {
                b.anomalous = true;
            }
        }
        spiking
    }
}

/// OOM kills between frames: the deepest cgroups whose `oom_kill_events` rose (v2 counts
/// a child's kill in its ancestors too), and a system `oom_kill` rise no cgroup explains.
#[derive(Debug, Default)]
pub struct OomWatch {
    cgroups: HashMap<String, u64>,
    system: Option<u64>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct OomSeen {
    pub cgroups: Vec<String>,
    pub system_only: bool,
}

impl OomWatch {
    pub fn observe(&mut self, frame: &Frame) -> OomSeen {
        let mut rose: Vec<&str> = Vec::new();
        if !frame.cgroups.is_empty() {
            for c in &frame.cgroups {
                if self
                    .cgroups
                    .get(&c.path)
                    .is_some_and(|&before| c.oom_kill_events > before)
                {
                    rose.push(&c.path);
                }
            }
        }
        let deepest: Vec<String> = rose
            .iter()
            .filter(|p| !rose.iter().any(|q| q != *p && is_below(q, p)))
            .map(|p| (*p).to_owned())
            .collect();
        if !frame.cgroups.is_empty() {
            self.cgroups = frame
                .cgroups
                .iter()
                .map(|c| (c.path.clone(), c.oom_kill_events))
                .collect();
        }
        let mut system_only = false;
        if let Some(sys) = &frame.system {
            system_only = self.system.is_some_and(|b| sys.oom_kill > b) && deepest.is_empty();
            self.system = Some(sys.oom_kill);
        }
        OomSeen {
            cgroups: deepest,
            system_only,
        }
    }
}

/// `child` is strictly below `parent` in the cgroup tree.
fn is_below(child: &str, parent: &str) -> bool {
    let parent = parent.trim_end_matches('/');
    child.len() > parent.len()
        && child.starts_with(parent)
        && child[parent.len()..].starts_with('/')
}

/// A process identity: what survives a restart.
type Identity = (String, u64);

/// Restarts: a singleton identity (exactly one live instance) whose instance disappears
/// and which reappears with another (pid, start time) within `window_ns`. Identities with
/// several instances (worker pools, shells) churn normally and are not watched.
#[derive(Debug, Default)]
pub struct RestartWatch {
    live: HashMap<Identity, Vec<(u32, i64)>>,
    gone: HashMap<Identity, (i64, u32)>,
}

/// A restart seen: the identity's pid before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restarted {
    pub comm: String,
    pub old_pid: u32,
    pub new_pid: u32,
}

impl RestartWatch {
    /// `min_uptime_ns`: an instance that lived shorter is a command run again (a health
    /// check, a cron job, `curl` in a loop), not a service that went down.
    pub fn observe(&mut self, frame: &Frame, window_ns: i64, min_uptime_ns: i64) -> Vec<Restarted> {
        let mut out = Vec::new();
        // A frame without the process table says nothing about processes.
        if frame.processes.is_empty() {
            return out;
        }
        let mut now: HashMap<Identity, Vec<(u32, i64)>> = HashMap::new();
        for p in frame.processes.iter().filter(|p| !p.kernel_thread) {
            now.entry((p.comm.clone(), p.cmdline_hash))
                .or_default()
                .push((p.pid, p.start_time_ns));
        }
        for (id, before) in &self.live {
            if let [old] = before.as_slice() {
                let still = now.get(id).is_some_and(|v| v.contains(old));
                let lived = frame.ts_ns.saturating_sub(old.1) >= min_uptime_ns;
                if !still && lived {
                    self.gone.insert(id.clone(), (frame.ts_ns, old.0));
                }
            }
        }
        for (id, inst) in &now {
            let before: HashSet<&(u32, i64)> = self.live.get(id).into_iter().flatten().collect();
            if let Some(new) = inst.iter().find(|i| !before.contains(i))
                && let Some(&(at, old_pid)) = self.gone.get(id)
                && frame.ts_ns.saturating_sub(at) <= window_ns
            {
                out.push(Restarted {
                    comm: id.0.clone(),
                    old_pid,
                    new_pid: new.0,
                });
                self.gone.remove(id);
            }
        }
        self.gone
            .retain(|_, (at, _)| frame.ts_ns.saturating_sub(*at) <= window_ns);
        self.live = now;
        out.sort_by(|a, b| (&a.comm, a.old_pid).cmp(&(&b.comm, b.old_pid)));
        out
    }
}

/// The latency-spike rule's parameters (see `ArchivistConfig` for the defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyRule {
    /// A bucket's p99 above `factor` x the baseline p99 is a spike...
    pub factor: f64,
    /// ...when the bucket has at least this many hits (a few slow requests at low
    /// traffic are noise: their p99 is the slowest one)...
    pub min_hits: u64,
    /// ...and the baseline, the median p99 of the last `baseline_buckets` normal buckets
    /// of the same operation...
    pub baseline_buckets: usize,
    /// ...has at least this many buckets.
    pub warmup_buckets: usize,
}

/// Distinct operations watched; past this the history restarts (bounded memory).
const MAX_OPERATIONS: usize = 4096;

/// Latency spikes from the `traces` table: per (service, resource, status) operation,
/// the median p99 of recent normal buckets is the baseline (a median shrugs off the odd
/// slow bucket where a mean would drift); a bucket above `factor` x that is a spike of
/// its service and is kept out of the baseline, so a long spike is not learned as normal.
#[derive(Debug, Default)]
pub struct LatencyWatch {
    history: HashMap<(String, String, String), VecDeque<u64>>,
}

/// A latency spike seen in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySpike {
    pub service: String,
    pub resource: String,
    pub p99_ns: u64,
    pub baseline_p99_ns: u64,
    pub hits: u64,
}

impl LatencyWatch {
    /// Takes a frame's closed buckets; returns the spikes, one per service at most
    /// (its worst operation by ratio), sorted by service.
    pub fn observe(&mut self, rows: &[TraceRow], rule: &LatencyRule) -> Vec<LatencySpike> {
        let mut worst: HashMap<&str, (f64, LatencySpike)> = HashMap::new();
        for row in rows.iter().filter(|r| r.hits >= rule.min_hits) {
            let key = (
                row.service.clone(),
                row.resource.clone(),
                row.status.clone(),
            );
            if !self.history.contains_key(&key) && self.history.len() >= MAX_OPERATIONS {
                self.history.clear();
            }
            let history = self.history.entry(key).or_default();
            let baseline = (history.len() >= rule.warmup_buckets.max(1)).then(|| median(history));
            if let Some(base) = baseline
                && row.p99_ns as f64 > rule.factor * base.max(1) as f64
            {
                let ratio = row.p99_ns as f64 / base.max(1) as f64;
                let spike = LatencySpike {
                    service: row.service.clone(),
                    resource: row.resource.clone(),
                    p99_ns: row.p99_ns,
                    baseline_p99_ns: base,
                    hits: row.hits,
                };
                let w = worst.entry(&row.service).or_insert((0.0, spike.clone()));
                if ratio > w.0 {
                    *w = (ratio, spike);
                }
                continue;
            }
            history.push_back(row.p99_ns);
            while history.len() > rule.baseline_buckets.max(1) {
                history.pop_front();
            }
        }
        let mut out: Vec<LatencySpike> = worst.into_values().map(|(_, s)| s).collect();
        out.sort_by(|a, b| a.service.cmp(&b.service));
        out
    }
}

fn median(values: &VecDeque<u64>) -> u64 {
    let mut v: Vec<u64> = values.iter().copied().collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// No second trigger of the same reason and service while its window is open.
#[derive(Debug, Default)]
pub struct Debounce {
    open_until: HashMap<(Reason, Option<String>), i64>,
}

impl Debounce {
    /// True (and the window opens until `until_ns`) unless one is open at `ts_ns`.
    pub fn fire(
        &mut self,
        reason: &Reason,
        service: Option<&str>,
        ts_ns: i64,
        until_ns: i64,
    ) -> bool {
        let key = (reason.clone(), service.map(str::to_owned));
        if self.open_until.get(&key).is_some_and(|&u| ts_ns <= u) {
            return false;
        }
        self.open_until.retain(|_, u| *u >= ts_ns);
        self.open_until.insert(key, until_ns);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qb_signals::{CgroupRow, ProcessRow, SystemRow};

    const RULE: SpikeRule = SpikeRule {
        window_s: 30,
        factor: 2.0,
        min_errors: 5,
        min_z: 4.0,
        floor: 0.01,
        half_life_s: 600.0,
        warmup_s: 30,
    };

    /// `per_s` lines a second, every `every`-th an error, for `secs` seconds from `from`;
    /// returns the seconds at which the window spiked.
    fn feed(r: &mut ErrorRate, from: i64, secs: i64, per_s: u64, every: u64) -> Vec<i64> {
        let mut spikes = Vec::new();
        let mut n = 0u64;
        for s in from..from + secs {
            for i in 0..per_s {
                n += 1;
                r.observe(
                    s * S + (i * S as u64 / per_s) as i64,
                    every > 0 && n.is_multiple_of(every),
                );
            }
            if r.evaluate(s * S + S - 1, &RULE) {
                spikes.push(s);
            }
        }
        spikes
    }

    #[test]
    fn spike_fires_steady_rate_and_lone_error_do_not() {
        // 5 % errors for 10 minutes: never a spike (its baseline is 5 %).
        let mut steady = ErrorRate::default();
        assert!(feed(&mut steady, 0, 600, 40, 20).is_empty());
        // Then 25 %: a spike within seconds.
        let spikes = feed(&mut steady, 600, 30, 40, 4);
        // The window needs > 10 %: 60 + 8k errors of 1200 after k seconds, so k = 8 (600..=607).
        assert_eq!(spikes.first(), Some(&607), "{spikes:?}");
        // One error after silence: below min_errors.
        let mut quiet = ErrorRate::default();
        assert!(feed(&mut quiet, 0, 120, 5, 0).is_empty());
        quiet.observe(200 * S, true);
        assert!(!quiet.evaluate(200 * S, &RULE));
        // Errors from the very start: no baseline yet, so no spike during warm-up.
        let mut cold = ErrorRate::default();
        assert!(feed(&mut cold, 0, 30, 40, 2).is_empty());
    }

    #[test]
    fn a_spike_is_not_learned_as_baseline() {
        let mut r = ErrorRate::default();
        feed(&mut r, 0, 300, 40, 200);
        let before = r.baseline(&RULE).unwrap_or(0.0);
        assert!(!feed(&mut r, 300, 60, 40, 2).is_empty());
        feed(&mut r, 360, 40, 40, 200);
        let after = r.baseline(&RULE).unwrap_or(1.0);
        assert!((after - before).abs() < 0.005, "{before} -> {after}");
    }

    fn cg(path: &str, kills: u64) -> CgroupRow {
        CgroupRow {
            path: path.into(),
            oom_kill_events: kills,
            ..CgroupRow::default()
        }
    }

    #[test]
    fn oom_from_the_deepest_cgroup_or_the_system() {
        let mut w = OomWatch::default();
        let mut f = Frame::new(0, "h");
        f.cgroups = vec![cg("/a", 0), cg("/a/svc", 0), cg("/b", 3)];
        f.system = Some(SystemRow {
            oom_kill: 3,
            ..SystemRow::default()
        });
        assert_eq!(w.observe(&f), OomSeen::default());
        f.cgroups = vec![cg("/a", 1), cg("/a/svc", 1), cg("/b", 2)];
        if let Some(s) = f.system.as_mut() {
            s.oom_kill = 4;
        }
        assert_eq!(
            w.observe(&f),
            OomSeen {
                cgroups: vec!["/a/svc".into()],
                system_only: false
            }
        );
        if let Some(s) = f.system.as_mut() {
            s.oom_kill = 5;
        }
        assert!(w.observe(&f).system_only);
        assert!(is_below("/a/b", "/a") && !is_below("/ab", "/a") && is_below("/x", "/"));
    }

    fn proc(pid: u32, comm: &str, start: i64) -> ProcessRow {
        ProcessRow {
            pid,
            comm: comm.into(),
            cmdline_hash: 7,
            start_time_ns: start,
            ..ProcessRow::default()
        }
    }

    #[test]
    fn a_short_lived_command_run_again_is_not_a_restart() {
        let mut w = RestartWatch::default();
        let at = |ts: i64, running: Option<(u32, i64)>| {
            let mut f = Frame::new(ts * S, "h");
            f.processes = vec![proc(1, "init", 0)];
            f.processes
                .extend(running.map(|(pid, start)| proc(pid, "curl", start * S)));
            f
        };
        let (win, uptime) = (60 * S, 60 * S);
        let mut restarts = Vec::new();
        for (ts, running) in [
            (0, Some((10, 0))),
            (5, None), // lived 5 s: a command that finished
            (6, Some((11, 6))),
            (100, None), // lived 94 s: a service that went down
            (101, Some((12, 101))),
        ] {
            restarts.extend(w.observe(&at(ts, running), win, uptime));
        }
        let pids: Vec<(u32, u32)> = restarts.iter().map(|r| (r.old_pid, r.new_pid)).collect();
        assert_eq!(pids, [(11, 12)]);
    }

    #[test]
    fn restart_is_a_singleton_coming_back() {
        let mut w = RestartWatch::default();
        let at = |ts: i64, procs: Vec<ProcessRow>| {
            let mut f = Frame::new(ts * S, "h");
            f.processes = procs;
            f
        };
        let win = 60 * S;
        assert!(
            w.observe(
                &at(
                    0,
                    vec![proc(10, "api", 1), proc(20, "w", 1), proc(21, "w", 2)]
                ),
                win,
                0
            )
            .is_empty()
        );
        // The worker pool churns: no restart. api vanishes: nothing yet.
        assert!(
            w.observe(&at(1, vec![proc(20, "w", 1), proc(22, "w", 3)]), win, 0)
                .is_empty()
        );
        let r = w.observe(&at(5, vec![proc(11, "api", 5), proc(20, "w", 1)]), win, 0);
        assert_eq!(
            r,
            vec![Restarted {
                comm: "api".into(),
                old_pid: 10,
                new_pid: 11
            }]
        );
        // Same pid, new start time (pid reuse after a crash) is a restart too.
        w.observe(&at(6, vec![proc(20, "w", 1)]), win, 0);
        assert_eq!(w.observe(&at(7, vec![proc(11, "api", 7)]), win, 0).len(), 1);
        // Back after the window: a new start, not a restart.
        w.observe(&at(8, vec![proc(20, "w", 1)]), win, 0);
        assert!(
            w.observe(&at(100, vec![proc(12, "api", 100)]), win, 0)
                .is_empty()
        );
        // A frame without processes changes nothing.
        assert!(w.observe(&at(101, vec![]), win, 0).is_empty());
    }

    const LATENCY: LatencyRule = LatencyRule {
        factor: 2.0,
        min_hits: 20,
        baseline_buckets: 30,
        warmup_buckets: 6,
    };

    fn bucket(service: &str, hits: u64, p99_ms: u64) -> TraceRow {
        TraceRow {
            service: service.into(),
            resource: "GET /api/users".into(),
            status: "ok".into(),
            hits,
            p99_ns: p99_ms * 1_000_000,
            ..TraceRow::default()
        }
    }

    #[test]
    fn latency_spike_fires_on_p99_over_twice_the_baseline() {
        let mut w = LatencyWatch::default();
        // A minute of normal buckets, jittering 40-60 ms.
        for i in 0..12u64 {
            let rows = [bucket("api", 100, 40 + (i * 7) % 21), bucket("db", 100, 5)];
            assert!(w.observe(&rows, &LATENCY).is_empty(), "bucket {i}");
        }
        // 130 ms is over twice the ~50 ms median: a spike of api only.
        let spikes = w.observe(&[bucket("api", 100, 130), bucket("db", 100, 6)], &LATENCY);
        assert_eq!(spikes.len(), 1, "{spikes:?}");
        assert_eq!(spikes[0].service, "api");
        assert_eq!(spikes[0].p99_ns, 130_000_000);
        assert!((40_000_000..=60_000_000).contains(&spikes[0].baseline_p99_ns));
        // A long spike is not learned: it still fires ten buckets later.
        for _ in 0..10 {
            assert_eq!(w.observe(&[bucket("api", 100, 130)], &LATENCY).len(), 1);
        }
    }

    #[test]
    fn steady_latency_warmup_and_low_traffic_noise_do_not_fire() {
        let mut w = LatencyWatch::default();
        // Slow from the start: no baseline during warm-up, then slow is the baseline.
        for _ in 0..40 {
            assert!(w.observe(&[bucket("api", 100, 900)], &LATENCY).is_empty());
        }
        // A 1.9x bucket is within the rule.
        assert!(w.observe(&[bucket("api", 100, 1_700)], &LATENCY).is_empty());
        // Three requests, one of them very slow: below min_hits.
        assert!(w.observe(&[bucket("api", 3, 60_000)], &LATENCY).is_empty());
        // A lone slow bucket among normal ones moves the median by nothing.
        let mut m = LatencyWatch::default();
        for i in 0..20 {
            let p99 = if i == 10 { 95 } else { 50 };
            assert!(m.observe(&[bucket("api", 100, p99)], &LATENCY).is_empty());
        }
    }

    #[test]
    fn debounce_holds_while_the_window_is_open() {
        let mut d = Debounce::default();
        assert!(d.fire(&Reason::Oom, Some("a"), 0, 30));
        assert!(!d.fire(&Reason::Oom, Some("a"), 30, 60));
        assert!(d.fire(&Reason::Oom, Some("b"), 30, 60));
        assert!(d.fire(&Reason::Restart, Some("a"), 30, 60));
        assert!(d.fire(&Reason::Oom, Some("a"), 31, 61));
    }
}

//! The façade: frames in, forwarded lines out. Every line is buffered; a line is
//! forwarded at once when it is sampled or falls in an open flush window; a trigger
//! forwards the buffered lines of its window that were not forwarded yet.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use qb_signals::{Frame, LogRow};
use serde::Serialize;

use crate::config::{ArchivistConfig, matches};
use crate::novelty::{Vocabulary, keep_top};
use crate::ring::{Ring, RingConfig, RingStats};
use crate::trigger::{
    Debounce, ErrorRate, LatencyRule, LatencyWatch, OomWatch, Reason, RestartWatch, SpikeRule,
    Trigger, is_error,
};
use crate::{ArchivistError, line::Stored};

const S: f64 = 1e9;
/// Name of the service that takes new sources once `max_services` exist.
pub const OTHER_SERVICE: &str = "(other)";
/// Bounds on the learned maps (pid -> service, source -> service, cgroup -> services):
/// past these they are cleared and relearned, so hostile input cannot grow them forever.
const MAX_LEARNED: usize = 65_536;

/// Why a line was forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Why {
    Sampled,
    /// Inside flush `event` (an index into `Archivist::events`).
    Flush {
        event: usize,
    },
}

/// A line handed on, with its service and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    pub service: String,
    pub row: LogRow,
    pub why: Why,
}

/// One flush: its trigger, the services it covered, its window and what it forwarded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlushEvent {
    pub trigger: Trigger,
    pub services: Vec<String>,
    pub window_start_ns: i64,
    pub window_end_ns: i64,
    /// Buffered lines forwarded when it fired.
    pub lines_flushed: u64,
    /// Live lines forwarded afterwards because they fell in its window.
    pub lines_live: u64,
    /// Buffered lines of the window left out by novelty ranking.
    pub lines_ranked_out: u64,
    /// Some of the window's lines had already been evicted (by cap) when it fired.
    pub incomplete: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub lines_in: u64,
    pub bytes_in: u64,
    pub lines_truncated: u64,
    pub services: u64,
    pub sampled: u64,
    pub flushed: u64,
    pub forwarded_live: u64,
    pub ranked_out: u64,
    /// Flush events by reason name.
    pub triggers: BTreeMap<&'static str, u64>,
    #[serde(skip)]
    pub ring: RingStats,
}

impl Stats {
    /// Raw over compressed bytes of every block sealed so far (0 before the first).
    pub fn compression_ratio(&self) -> f64 {
        if self.ring.sealed_compressed_bytes == 0 {
            return 0.0;
        }
        self.ring.sealed_raw_bytes as f64 / self.ring.sealed_compressed_bytes as f64
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    until: i64,
    event: usize,
}

impl Window {
    fn covers(&self, ts: i64) -> bool {
        (self.start..=self.until).contains(&ts)
    }
}

#[derive(Debug)]
struct Service {
    name: String,
    ring: usize,
    errors: ErrorRate,
    window: Option<Window>,
}

#[derive(Debug)]
pub struct Archivist {
    cfg: ArchivistConfig,
    spike: SpikeRule,
    latency_rule: LatencyRule,
    latency: LatencyWatch,
    ring: Ring,
    services: Vec<Service>,
    by_name: HashMap<String, usize>,
    by_source: HashMap<String, usize>,
    pid_service: HashMap<u32, usize>,
    cgroup_services: HashMap<String, BTreeSet<usize>>,
    oom: OomWatch,
    restarts: RestartWatch,
    debounce: Debounce,
    global_window: Option<Window>,
    events: Vec<FlushEvent>,
    queue: Vec<Forwarded>,
    stats: Stats,
    vocabulary: Option<Vocabulary>,
    now_ns: i64,
}

fn ns(secs: f64) -> i64 {
    (secs * S).round() as i64
}

impl Archivist {
    pub fn new(cfg: ArchivistConfig) -> Result<Self, ArchivistError> {
        cfg.validate()?;
        let ring = Ring::new(RingConfig {
            retention_ns: ns(cfg.retention_s),
            memory_cap: usize::try_from(cfg.memory_cap_bytes).unwrap_or(usize::MAX),
            block_bytes: usize::try_from(cfg.block_bytes).unwrap_or(usize::MAX),
            block_span_ns: ns(cfg.block_span_s),
        });
        let spike = SpikeRule {
            window_s: i64::try_from(cfg.spike_window_s).unwrap_or(i64::MAX),
            factor: cfg.spike_factor,
            min_errors: cfg.spike_min_errors,
            min_z: cfg.spike_min_z,
            floor: cfg.spike_baseline_floor,
            half_life_s: cfg.spike_half_life_s,
            warmup_s: i64::try_from(cfg.spike_warmup_s).unwrap_or(i64::MAX),
        };
        let latency_rule = LatencyRule {
            factor: cfg.latency_factor,
            min_hits: cfg.latency_min_hits,
            baseline_buckets: usize::try_from(cfg.latency_baseline_buckets).unwrap_or(usize::MAX),
            warmup_buckets: usize::try_from(cfg.latency_warmup_buckets).unwrap_or(usize::MAX),
        };
        Ok(Archivist {
            cfg,
            spike,
            latency_rule,
            latency: LatencyWatch::default(),
            ring,
            services: Vec::new(),
            by_name: HashMap::new(),
            by_source: HashMap::new(),
            pid_service: HashMap::new(),
            cgroup_services: HashMap::new(),
            oom: OomWatch::default(),
            restarts: RestartWatch::default(),
            debounce: Debounce::default(),
            global_window: None,
            events: Vec::new(),
            queue: Vec::new(),
            stats: Stats::default(),
            vocabulary: None,
            now_ns: i64::MIN,
        })
    }

    /// The vocabulary novelty ranking uses (only when `rank` is set).
    pub fn with_vocabulary(mut self, vocabulary: Vocabulary) -> Self {
        self.vocabulary = Some(vocabulary);
        self
    }

    pub fn config(&self) -> &ArchivistConfig {
        &self.cfg
    }

    /// Ingests the frame's log lines, runs the built-in triggers on it and maintains the
    /// rings. Returns the indices (into `events`) of the flushes it started.
    pub fn observe(&mut self, frame: &Frame) -> Range<usize> {
        let first = self.events.len();
        self.now_ns = self.now_ns.max(frame.ts_ns);
        for row in &frame.logs {
            self.ingest(row);
        }
        self.learn_cgroups(frame);
        let now = self.now_ns;
        for i in 0..self.services.len() {
            if self.services[i].errors.evaluate(now, &self.spike) {
                let name = self.services[i].name.clone();
                self.fire(now, Reason::ErrorSpike, Some(vec![i]), Some(name));
            }
        }
        // A service's traces name it as its lines do (service.name = the service's name).
        for spike in self.latency.observe(&frame.traces, &self.latency_rule) {
            let i = self.service_named(spike.service.clone());
            let name = self.services[i].name.clone();
            self.fire(now, Reason::LatencySpike, Some(vec![i]), Some(name));
        }
        let oom = self.oom.observe(frame);
        for cgroup in &oom.cgroups {
            let svcs = self.services_of_cgroup(cgroup);
            self.fire_for(now, Reason::Oom, svcs);
        }
        if oom.system_only {
            self.fire(now, Reason::Oom, None, None);
        }
        let (window, uptime) = (
            ns(self.cfg.restart_window_s),
            ns(self.cfg.restart_min_uptime_s),
        );
        for r in self.restarts.observe(frame, window, uptime) {
            let svc = [r.old_pid, r.new_pid]
                .iter()
                .find_map(|p| self.pid_service.get(p).copied());
            let svcs = match svc {
                Some(s) => vec![s],
                None => frame
                    .processes
                    .iter()
                    .find(|p| p.pid == r.new_pid)
                    .map(|p| self.services_of_cgroup(&p.cgroup))
                    .unwrap_or_default(),
            };
            // A restart no service's lines or cgroups point to is some other program's:
            // unlike an OOM kill, it is no reason to flush every service.
            if !svcs.is_empty() {
                self.fire_for(now, Reason::Restart, svcs);
            }
        }
        self.ring.maintain(now);
        first..self.events.len()
    }

    /// Another gadget's decision as a trigger, for `service` (a service name or one of
    /// its cgroups) or for every service. Returns the flush's index, or `None` when a
    /// flush of the same decision and service is still open (debounced).
    pub fn on_decision(
        &mut self,
        ts_ns: i64,
        gadget: &str,
        kind: &str,
        service: Option<&str>,
    ) -> Option<usize> {
        let reason = Reason::Decision {
            gadget: gadget.into(),
            kind: kind.into(),
        };
        let before = self.events.len();
        match service {
            None => self.fire(ts_ns, reason, None, None),
            Some(name) => {
                let svcs = match self.by_name.get(name) {
                    Some(&i) => vec![i],
                    None => self.services_of_cgroup(name),
                };
                if svcs.is_empty() {
                    // Unknown: recorded, nothing to flush.
                    self.fire(ts_ns, reason, Some(Vec::new()), Some(name.into()));
                } else {
                    self.fire_for(ts_ns, reason, svcs);
                }
            }
        }
        (self.events.len() > before).then_some(before)
    }

    /// Moves every forwarded line queued so far into `out`, in the order forwarded.
    pub fn drain(&mut self, out: &mut Vec<Forwarded>) {
        out.append(&mut self.queue);
    }

    /// Every flush so far, in the order they fired.
    pub fn events(&self) -> &[FlushEvent] {
        &self.events
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.ring = self.ring.stats().clone();
        s.services = self.services.len() as u64;
        s
    }

    /// Every line a service's ring holds now, in order (decompresses; for inspection).
    pub fn buffered(&self, service: &str) -> Vec<LogRow> {
        self.by_name
            .get(service)
            .map(|&i| {
                self.ring
                    .lines(self.services[i].ring)
                    .into_iter()
                    .map(|s| s.row)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `(source, offset)` is in the sample (the same answer on every run).
    pub fn is_sampled(&self, source: &str, offset: u64) -> bool {
        sampled(self.cfg.seed, source, offset, self.cfg.sample_rate)
    }

    fn ingest(&mut self, row: &LogRow) {
        self.stats.lines_in += 1;
        self.stats.bytes_in += row.line.len() as u64;
        let row = self.cap(row);
        let svc = self.service_of_source(&row.source);
        if let Some(pid) = row.pid {
            if self.pid_service.len() >= MAX_LEARNED {
                self.pid_service.clear();
            }
            self.pid_service.insert(pid, svc);
        }
        let sampled = self.is_sampled(&row.source, row.offset);
        let s = &mut self.services[svc];
        s.errors.observe(row.ts_ns, is_error(row.level.as_deref()));
        let window = [s.window, self.global_window]
            .into_iter()
            .flatten()
            .filter(|w| w.covers(row.ts_ns))
            .max_by_key(|w| w.event);
        let why = match window {
            Some(w) => Some(Why::Flush { event: w.event }),
            None => sampled.then_some(Why::Sampled),
        };
        let ring = s.ring;
        self.ring.push(ring, &row, why.is_some());
        if let Some(why) = why {
            match why {
                Why::Sampled => self.stats.sampled += 1,
                Why::Flush { event } => {
                    self.stats.forwarded_live += 1;
                    if let Some(e) = self.events.get_mut(event) {
                        e.lines_live += 1;
                    }
                }
            }
            self.queue.push(Forwarded {
                service: self.services[svc].name.clone(),
                row: row.into_owned(),
                why,
            });
        }
    }

    /// Cuts an over-long line at a character boundary and flags it.
    fn cap<'a>(&mut self, row: &'a LogRow) -> Cow<'a, LogRow> {
        let max = usize::try_from(self.cfg.max_line_bytes).unwrap_or(usize::MAX);
        // Sources and levels are bounded too: they are stored with every line.
        if row.line.len() <= max && row.source.len() <= 4096 {
            return Cow::Borrowed(row);
        }
        self.stats.lines_truncated += 1;
        let mut r = row.clone();
        r.line.truncate(floor_char_boundary(&r.line, max));
        r.source.truncate(floor_char_boundary(&r.source, 4096));
        r.truncated = true;
        Cow::Owned(r)
    }

    fn service_of_source(&mut self, source: &str) -> usize {
        if let Some(&i) = self.by_source.get(source) {
            return i;
        }
        let name = self
            .cfg
            .services
            .iter()
            .find(|r| r.sources.iter().any(|p| matches(p, source)))
            .map_or(source, |r| r.name.as_str())
            .to_owned();
        let i = self.service_named(name);
        if self.by_source.len() >= MAX_LEARNED {
            self.by_source.clear();
        }
        self.by_source.insert(source.to_owned(), i);
        i
    }

    fn service_named(&mut self, name: String) -> usize {
        if let Some(&i) = self.by_name.get(&name) {
            return i;
        }
        let name = if self.services.len() as u64 >= self.cfg.max_services.saturating_sub(1) {
            OTHER_SERVICE.to_owned()
        } else {
            name
        };
        if let Some(&i) = self.by_name.get(&name) {
            return i;
        }
        let i = self.services.len();
        self.services.push(Service {
            name: name.clone(),
            ring: self.ring.add_service(),
            errors: ErrorRate::default(),
            window: None,
        });
        self.by_name.insert(name, i);
        i
    }

    /// cgroup -> services, learned from the pids that wrote each service's lines.
    fn learn_cgroups(&mut self, frame: &Frame) {
        for p in &frame.processes {
            if let Some(&svc) = self.pid_service.get(&p.pid) {
                if self.cgroup_services.len() >= MAX_LEARNED {
                    self.cgroup_services.clear();
                }
                self.cgroup_services
                    .entry(p.cgroup.clone())
                    .or_default()
                    .insert(svc);
            }
        }
    }

    /// Services configured for the cgroup (prefix) or seen writing from it or below it.
    fn services_of_cgroup(&mut self, cgroup: &str) -> Vec<usize> {
        let mut out: BTreeSet<usize> = BTreeSet::new();
        let configured: Vec<String> = self
            .cfg
            .services
            .iter()
            .filter(|r| r.cgroups.iter().any(|p| matches(p, cgroup)))
            .map(|r| r.name.clone())
            .collect();
        for name in configured {
            out.insert(self.service_named(name));
        }
        let base = cgroup.trim_end_matches('/');
        for (path, svcs) in &self.cgroup_services {
            if path == cgroup || (path.starts_with(base) && path[base.len()..].starts_with('/')) {
                out.extend(svcs);
            }
        }
        out.into_iter().collect()
    }

    /// One trigger per service, or one for every service when none is known.
    fn fire_for(&mut self, ts: i64, reason: Reason, svcs: Vec<usize>) {
        if svcs.is_empty() {
            self.fire(ts, reason.clone(), None, None);
        }
        for i in svcs {
            let name = self.services[i].name.clone();
            self.fire(ts, reason.clone(), Some(vec![i]), Some(name));
        }
    }

    /// Debounces, then flushes `[ts - before, ts]` of `targets` (every service when
    /// `None`) and opens (or extends) their windows until `ts + after`.
    fn fire(&mut self, ts: i64, reason: Reason, targets: Option<Vec<usize>>, name: Option<String>) {
        let (start, until) = (
            ts.saturating_sub(ns(self.cfg.before_s)),
            ts.saturating_add(ns(self.cfg.after_s)),
        );
        if !self.debounce.fire(&reason, name.as_deref(), ts, until) {
            return;
        }
        let event = self.events.len();
        *self.stats.triggers.entry(reason.name()).or_default() += 1;
        let targets = targets.unwrap_or_else(|| (0..self.services.len()).collect());
        let open = |w: Option<Window>| {
            Some(match w {
                // Overlapping windows merge; live lines go to the newest flush.
                Some(old) if old.until >= start => Window {
                    start: old.start.min(start),
                    until: old.until.max(until),
                    event,
                },
                _ => Window {
                    start,
                    until,
                    event,
                },
            })
        };
        if name.is_none() {
            self.global_window = open(self.global_window);
        }
        let mut lines = Vec::new();
        let (mut flushed, mut ranked_out) = (0, 0);
        let mut incomplete = false;
        for &i in &targets {
            incomplete |= self.ring.cap_evicted_until(self.services[i].ring) >= start;
            self.services[i].window = open(self.services[i].window);
            lines.clear();
            self.ring
                .take_window(self.services[i].ring, start, ts, &mut lines);
            let keep = self.rank(&lines);
            ranked_out += (lines.len() - keep.len()) as u64;
            for k in keep {
                let Stored { row, .. } = std::mem::replace(&mut lines[k], empty());
                self.queue.push(Forwarded {
                    service: self.services[i].name.clone(),
                    row,
                    why: Why::Flush { event },
                });
                flushed += 1;
            }
        }
        self.stats.flushed += flushed;
        self.stats.ranked_out += ranked_out;
        self.events.push(FlushEvent {
            trigger: Trigger {
                ts_ns: ts,
                reason,
                service: name,
            },
            services: targets
                .iter()
                .map(|&i| self.services[i].name.clone())
                .collect(),
            window_start_ns: start,
            window_end_ns: until,
            lines_flushed: flushed,
            lines_live: 0,
            lines_ranked_out: ranked_out,
            incomplete,
        });
    }

    /// Indices of the lines to forward: all of them, or the most novel `keep_fraction`.
    fn rank(&self, lines: &[Stored]) -> Vec<usize> {
        match (&self.vocabulary, self.cfg.rank) {
            (Some(v), true) => {
                let scores: Vec<f64> = lines.iter().map(|l| v.score(&l.row.line)).collect();
                keep_top(&scores, self.cfg.keep_fraction)
            }
            _ => (0..lines.len()).collect(),
        }
    }
}

fn empty() -> Stored {
    Stored {
        seq: 0,
        row: LogRow::default(),
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// FNV-1a over (seed, source, offset), finished with a splitmix64 mix: the same lines
/// are sampled whatever the call order, and nearby offsets do not correlate.
pub fn sampled(seed: u64, source: &str, offset: u64, rate: f64) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed
        .to_le_bytes()
        .iter()
        .chain(source.as_bytes())
        .chain(&offset.to_le_bytes())
    {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    ((h >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < rate
}

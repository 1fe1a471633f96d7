//! The Timekeeper: learns the host's recurring metric shapes and whether errors
//! followed them, and recognises a benign routine while it happens.
//!
//! Each frame's system row adds a sample to the current minute (CPU busy share, iowait
//! share, load per CPU, IO pressure); each completed minute is compared with a robust
//! baseline (median and scaled MAD of the last 6 h, frozen during a spike). A channel
//! more than `spike_z` spreads off it starts a spike episode: a `metric_spike` decision
//! every tick until five calm minutes end it. A spike's shape is the window (1 h)
//! starting a sixth of it before the onset, so weekly jobs align on their onset
//! whatever the clock says (a backup 30 min late is the same shape). While a spike
//! unfolds, its shape so far is compared with the start of every stored pattern;
//! above `similarity` against a pattern that was seen before and never followed by
//! errors, it is a `routine` decision (confidence: the similarity), and the engine's
//! filter stage holds the tick's suppressible decisions back from the rules, tagged
//! `routine:<pattern>` (`crate::suppress`). A suppression ends, for the rest of the
//! spike, after `max_suppression` (2 h), when the shape stops matching, when the
//! spike outlasts the pattern, or at once on an error spike (error-level log share
//! over `error_factor` times the day's, with at least `error_min_count` errors in 5
//! minutes), which also marks the pattern error-followed. After a spike ends, its shape
//! is stored (or its match refreshed) and watched for `watch` (1 h): errors in that
//! time mark the pattern error-followed, none mark it benign.

mod config;
mod learn;
pub mod shape;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use qb_signals::{Frame, SystemRow};

pub use config::TimekeeperConfig;
use learn::{Pattern, Watch, error_counts};
use shape::{CHANNELS, Point, similarity};

use crate::decision::{Decision, Gadget};

pub const NAME: &str = "timekeeper";
pub const METRIC_SPIKE: &str = "metric_spike";
pub const ROUTINE: &str = "routine";

const MIN_NS: i64 = 60_000_000_000;
/// The spike baseline's span, and how often it is recomputed (minutes).
const BASELINE_MINUTES: usize = 360;
const BASELINE_EVERY: i64 = 10;
/// No spike is judged before this much history.
const WARMUP_MINUTES: usize = 60;
/// Minutes kept: a day, for the error share's baseline.
const HISTORY_MINUTES: usize = 1440;
const RECENT_MINUTES: usize = 5;
const CALM_MINUTES: u32 = 5;
/// A shape of fewer minutes into the spike says too little to suppress on.
const MIN_MATCH_MINUTES: i64 = 3;
/// A spike this long is the new normal: the baseline starts again.
const MAX_EPISODE_MINUTES: i64 = 360;
/// A longer hole in the frames starts the history again.
const MAX_GAP_MINUTES: i64 = 60;
/// A rule detector, not a calibrated model: below the Archivist's trigger (0.85).
const SPIKE_CONFIDENCE: f64 = 0.6;
/// The spike detector's smallest spread per channel (shares, tasks per CPU, PSI %).
const Z_FLOOR: [f64; CHANNELS] = [0.02, 0.01, 0.05, 1.0];
const Z_NAMES: [&str; CHANNELS] = ["z_cpu_busy", "z_iowait", "z_load_per_cpu", "z_io_pressure"];
const FLOOR_SHARE: f64 = 0.002;

#[derive(Debug, Clone, Copy)]
struct Minute {
    index: i64,
    point: Point,
    lines: u64,
    errors: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    index: i64,
    sums: Point,
    samples: [u32; CHANNELS],
    lines: u64,
    errors: u64,
}

/// Why a suppression ended (for the rest of its spike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Cap,
    Errors,
    Shape,
    Outlasted,
}

impl End {
    pub fn evidence(self) -> &'static str {
        match self {
            End::Cap => "unsuppressed_cap",
            End::Errors => "unsuppressed_errors",
            End::Shape => "unsuppressed_shape",
            End::Outlasted => "unsuppressed_outlasted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Hold {
    Waiting,
    Active {
        pattern: u32,
        since_ns: i64,
        similarity: f64,
    },
    Ended(End),
}

#[derive(Debug, Clone)]
struct Episode {
    onset: i64,
    last_spiking: i64,
    calm: u32,
    z: [f64; CHANNELS],
    hold: Hold,
    /// The most similar pattern, suppressing or not: what the spike is matched to.
    best: Option<(u32, f64)>,
    errors: bool,
    /// The pattern an error bypass already marked.
    marked: Option<u32>,
}

#[derive(Debug)]
pub struct Timekeeper {
    config: TimekeeperConfig,
    /// The last system row's CPU counters: (busy, iowait, total) jiffies.
    cpu: Option<(u64, u64, u64)>,
    bucket: Option<Bucket>,
    history: VecDeque<Minute>,
    /// Per channel (median, spread), and the minute it was computed at.
    baseline: Option<([(f64, f64); CHANNELS], i64)>,
    episode: Option<Episode>,
    watches: Vec<Watch>,
    patterns: Vec<Pattern>,
    next_id: u32,
}

impl Timekeeper {
    pub fn new(config: TimekeeperConfig) -> Timekeeper {
        Timekeeper {
            config,
            cpu: None,
            bucket: None,
            history: VecDeque::new(),
            baseline: None,
            episode: None,
            watches: Vec::new(),
            patterns: Vec::new(),
            next_id: 1,
        }
    }

    /// (id, benign runs, error-followed runs) of every pattern, for tests and reports.
    pub fn patterns(&self) -> Vec<(u32, u32, u32)> {
        self.patterns
            .iter()
            .map(|p| (p.id, p.benign, p.error_followed))
            .collect()
    }

    /// The channels of one system row (NaN where it says nothing).
    fn sample(&mut self, s: &SystemRow) -> Point {
        let busy = [
            s.cpu_user,
            s.cpu_nice,
            s.cpu_system,
            s.cpu_irq,
            s.cpu_softirq,
            s.cpu_steal,
        ]
        .into_iter()
        .fold(0u64, u64::saturating_add);
        let total = busy.saturating_add(s.cpu_idle).saturating_add(s.cpu_iowait);
        let (mut b, mut w) = (f64::NAN, f64::NAN);
        if let Some((pb, pw, pt)) = self.cpu
            && total > pt
            && busy >= pb
            && s.cpu_iowait >= pw
        {
            let dt = (total - pt) as f64;
            b = (busy - pb) as f64 / dt;
            w = (s.cpu_iowait - pw) as f64 / dt;
        }
        self.cpu = Some((busy, s.cpu_iowait, total));
        let load = s.load1 / f64::from(s.cpu_count.max(1));
        let psi = s.psi_io_some_avg10.unwrap_or(f64::NAN);
        [b, w, load, psi].map(|v| if v.is_finite() { v } else { f64::NAN })
    }

    /// Closes the current minute: fills a short hole with the last point, starts over
    /// after a long one, and judges every minute added.
    fn close_bucket(&mut self, now_ns: i64) {
        let Some(b) = self.bucket.take() else {
            return;
        };
        let point = std::array::from_fn(|c| {
            if b.samples[c] > 0 {
                b.sums[c] / f64::from(b.samples[c])
            } else {
                f64::NAN
            }
        });
        if let Some(last) = self.history.back().copied() {
            if b.index <= last.index {
                return;
            }
            if b.index - last.index > MAX_GAP_MINUTES {
                self.history.clear();
                self.baseline = None;
                self.episode = None;
                self.watches.clear();
            } else {
                for index in last.index + 1..b.index {
                    let filler = Minute {
                        index,
                        lines: 0,
                        errors: 0,
                        ..last
                    };
                    self.push_minute(filler, now_ns);
                }
            }
        }
        let minute = Minute {
            index: b.index,
            point,
            lines: b.lines,
            errors: b.errors,
        };
        self.push_minute(minute, now_ns);
    }

    fn push_minute(&mut self, m: Minute, now_ns: i64) {
        self.history.push_back(m);
        while self.history.len() > HISTORY_MINUTES {
            self.history.pop_front();
        }
        self.refresh_baseline(m.index);
        self.judge(m);
        self.match_shape(m.index, now_ns);
        self.settle_watches(m.index, now_ns);
    }

    fn refresh_baseline(&mut self, index: i64) {
        let due = self
            .baseline
            .is_none_or(|(_, at)| index - at >= BASELINE_EVERY);
        if self.episode.is_some() || !due || self.history.len() < WARMUP_MINUTES {
            return;
        }
        let from = self.history.len().saturating_sub(BASELINE_MINUTES);
        let mut stats = [(0.0, 0.0); CHANNELS];
        let mut values = Vec::with_capacity(BASELINE_MINUTES);
        for (c, s) in stats.iter_mut().enumerate() {
            values.clear();
            values.extend(self.history.range(from..).map(|m| m.point[c]));
            *s = shape::robust(&mut values).unwrap_or((f64::NAN, f64::NAN));
        }
        self.baseline = Some((stats, index));
    }

    /// The spike detector on one completed minute.
    fn judge(&mut self, m: Minute) {
        let Some((stats, _)) = self.baseline else {
            return;
        };
        let z: [f64; CHANNELS] = std::array::from_fn(|c| {
            let (med, spread) = stats[c];
            let z = (m.point[c] - med) / spread.max(Z_FLOOR[c]);
            if z.is_finite() { z } else { 0.0 }
        });
        let top = z.iter().copied().fold(0.0, f64::max);
        let spiking = top > self.config.spike_z;
        let calm = top < self.config.spike_z / 2.0;
        let Some(e) = &mut self.episode else {
            if spiking {
                self.episode = Some(Episode {
                    onset: m.index,
                    last_spiking: m.index,
                    calm: 0,
                    z,
                    hold: Hold::Waiting,
                    best: None,
                    errors: false,
                    marked: None,
                });
            }
            return;
        };
        e.z = z;
        if spiking {
            e.last_spiking = m.index;
            e.calm = 0;
        } else if calm {
            e.calm += 1;
        } else {
            e.calm = 0;
        }
        let too_long = m.index - e.onset >= MAX_EPISODE_MINUTES;
        if e.calm >= CALM_MINUTES || too_long {
            self.end_episode(m.index);
            if too_long {
                self.baseline = None;
            }
        }
    }

    /// The minutes `from..=to`, if the history holds them all.
    fn points(&self, from: i64, to: i64) -> Option<Vec<Point>> {
        let first = self.history.front()?.index;
        let start = usize::try_from(from - first).ok()?;
        let len = usize::try_from(to - from + 1).ok()?;
        if start + len > self.history.len() {
            return None;
        }
        Some(
            self.history
                .range(start..start + len)
                .map(|m| m.point)
                .collect(),
        )
    }

    /// The spike so far against the start of every pattern; starts or ends the hold.
    fn match_shape(&mut self, index: i64, now_ns: i64) {
        let (window, pre) = self.config.minutes();
        let Some(e) = &self.episode else {
            return;
        };
        let k = index - e.onset;
        let len = pre as i64 + k + 1;
        let mut best = e.best;
        let mut best_benign: Option<(u32, f64)> = None;
        if len <= window as i64
            && let Some(now) = self.points(e.onset - pre as i64, index)
        {
            best = None;
            for p in &self.patterns {
                let s = similarity(
                    self.config.method,
                    self.config.dtw_band,
                    &now,
                    &p.points(now.len()),
                );
                if best.is_none_or(|b| s > b.1) {
                    best = Some((p.id, s));
                }
                if p.suppresses() && best_benign.is_none_or(|b| s > b.1) {
                    best_benign = Some((p.id, s));
                }
            }
        } else if let Hold::Active {
            pattern,
            similarity,
            ..
        } = e.hold
        {
            // Past the window the shape says nothing new: the last similarity stands.
            best_benign = Some((pattern, similarity));
        }
        let threshold = self.config.similarity;
        let outlasted = |id: u32| {
            self.patterns
                .iter()
                .find(|p| p.id == id)
                .is_none_or(|p| k > p.minutes * 5 / 4 + 10)
        };
        let hold = match (e.hold, best_benign) {
            (Hold::Waiting, Some((id, s))) if k >= MIN_MATCH_MINUTES && s > threshold => {
                Hold::Active {
                    pattern: id,
                    since_ns: now_ns,
                    similarity: s,
                }
            }
            (Hold::Active { .. }, b) if b.is_none_or(|b| b.1 <= threshold) => {
                Hold::Ended(End::Shape)
            }
            (Hold::Active { pattern, .. }, _) if outlasted(pattern) => Hold::Ended(End::Outlasted),
            (Hold::Active { since_ns, .. }, Some((id, s))) => Hold::Active {
                pattern: id,
                since_ns,
                similarity: s,
            },
            (hold, _) => hold,
        };
        if let Some(e) = &mut self.episode {
            e.best = best;
            e.hold = hold;
        }
    }

    /// The per-tick limits: the cap, and the error bypass.
    fn limits(&mut self, now_ns: i64) {
        if self.episode.is_none() && self.watches.is_empty() {
            return;
        }
        let errors = self.error_spike();
        let cap = i64::try_from(self.config.max_suppression.as_nanos()).unwrap_or(i64::MAX);
        if errors {
            for w in &mut self.watches {
                w.errors = true;
            }
        }
        let Some(e) = &mut self.episode else {
            return;
        };
        e.errors |= errors;
        if let Hold::Active {
            pattern, since_ns, ..
        } = e.hold
        {
            if errors {
                e.hold = Hold::Ended(End::Errors);
                e.marked = Some(pattern);
                if let Some(p) = self.patterns.iter_mut().find(|p| p.id == pattern) {
                    p.error_followed += 1;
                }
            } else if now_ns.saturating_sub(since_ns) >= cap {
                e.hold = Hold::Ended(End::Cap);
            }
        }
    }

    fn decide(&self, now_ns: i64, out: &mut Vec<Decision>) {
        let Some(e) = &self.episode else {
            return;
        };
        let minutes = (now_ns.saturating_sub(1).div_euclid(MIN_NS) - e.onset) as f64;
        let mut d = Decision::new(NAME, METRIC_SPIKE, now_ns);
        d.confidence = SPIKE_CONFIDENCE;
        d.evidence.insert("spike_minutes", minutes);
        for (name, z) in Z_NAMES.into_iter().zip(e.z) {
            d.evidence.insert(name, z);
        }
        if let Some((id, s)) = e.best {
            d.evidence.insert("best_pattern", f64::from(id));
            d.evidence.insert("best_similarity", s);
        }
        if let Hold::Ended(end) = e.hold {
            d.evidence.insert(end.evidence(), 1.0);
        }
        out.push(d);
        if let Hold::Active {
            pattern,
            since_ns,
            similarity,
        } = e.hold
        {
            let mut r = Decision::new(NAME, ROUTINE, now_ns);
            r.confidence = similarity;
            r.evidence.insert("pattern", f64::from(pattern));
            r.evidence.insert("similarity", similarity);
            r.evidence
                .insert("suppressed_s", (now_ns - since_ns) as f64 / 1e9);
            r.evidence.insert("spike_minutes", minutes);
            if let Some(p) = self.patterns.iter().find(|p| p.id == pattern) {
                r.evidence
                    .insert("pattern_benign_runs", f64::from(p.benign));
                r.evidence.insert("pattern_minutes", p.minutes as f64);
            }
            out.push(r);
        }
    }
}

impl Gadget for Timekeeper {
    fn name(&self) -> &'static str {
        NAME
    }

    fn models(&self) -> Vec<(&'static str, String)> {
        vec![(
            "shapes",
            format!("rule: {} learnt patterns", self.patterns.len()),
        )]
    }

    fn observe(&mut self, frame: &Frame, out: &mut Vec<Decision>) {
        let now = frame.ts_ns;
        // A frame exactly on a minute boundary ends that minute.
        let index = now.saturating_sub(1).div_euclid(MIN_NS);
        if self.bucket.is_some_and(|b| index > b.index) {
            self.close_bucket(now);
        }
        let behind = self.history.back().is_some_and(|m| index <= m.index)
            || self.bucket.is_some_and(|b| index < b.index);
        if !behind {
            let point = match &frame.system {
                Some(s) => self.sample(s),
                None => [f64::NAN; CHANNELS],
            };
            let (lines, errors) = error_counts(frame);
            let b = self.bucket.get_or_insert(Bucket {
                index,
                sums: [0.0; CHANNELS],
                samples: [0; CHANNELS],
                lines: 0,
                errors: 0,
            });
            for ((sum, n), v) in b.sums.iter_mut().zip(&mut b.samples).zip(point) {
                if v.is_finite() {
                    *sum += v;
                    *n += 1;
                }
            }
            b.lines += lines;
            b.errors += errors;
            if now.rem_euclid(MIN_NS) == 0 {
                self.close_bucket(now);
            }
        }
        self.limits(now);
        self.decide(now, out);
    }
}

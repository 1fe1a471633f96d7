//! What the Timekeeper learns: patterns, the watch after each spike that decides
//! whether a pattern is benign or error-followed, and the error signal itself.

use qb_signals::Frame;

use super::shape::{CHANNELS, Point};
use super::{FLOOR_SHARE, RECENT_MINUTES, Timekeeper};

/// A learnt shape: `W` minutes of the channels (f32: ~1 KB for 1 h of 4 channels).
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    pub(super) id: u32,
    pub(super) points: Vec<[f32; CHANNELS]>,
    /// How long its first spike stood, in minutes.
    pub(super) minutes: i64,
    pub(super) last_seen_ns: i64,
    pub(super) benign: u32,
    pub(super) error_followed: u32,
}

impl Pattern {
    /// Seen at least once before with no errors after it, and never with errors.
    pub(super) fn suppresses(&self) -> bool {
        self.benign >= 1 && self.error_followed == 0
    }

    pub(super) fn points(&self, len: usize) -> Vec<Point> {
        self.points
            .iter()
            .take(len)
            .map(|p| p.map(f64::from))
            .collect()
    }
}

/// A finished spike, its shape still to be stored and its aftermath watched.
#[derive(Debug, Clone)]
pub(super) struct Watch {
    pub(super) onset: i64,
    pub(super) until: i64,
    pub(super) minutes: i64,
    pub(super) matched: Option<u32>,
    pub(super) pattern: Option<u32>,
    pub(super) errors: bool,
    pub(super) marked: Option<u32>,
}

/// Lines and error-level lines of a frame. The one place error signals come from: the
/// `traces` table's error spans add here when it exists.
pub(super) fn error_counts(frame: &Frame) -> (u64, u64) {
    let errors = frame
        .logs
        .iter()
        .filter(|l| {
            l.level
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("error") || v.eq_ignore_ascii_case("fatal"))
        })
        .count();
    (frame.logs.len() as u64, errors as u64)
}

impl Timekeeper {
    pub(super) fn end_episode(&mut self, index: i64) {
        let Some(e) = self.episode.take() else {
            return;
        };
        let threshold = self.config.similarity;
        self.watches.push(Watch {
            onset: e.onset,
            until: index + (self.config.watch.as_secs() / 60) as i64,
            minutes: e.last_spiking - e.onset + 1,
            matched: e.best.filter(|b| b.1 > threshold).map(|b| b.0),
            pattern: None,
            errors: e.errors,
            marked: e.marked,
        });
    }

    /// Stores finished spikes' shapes once their window is complete, and gives each
    /// pattern its verdict when the watch is over.
    pub(super) fn settle_watches(&mut self, index: i64, now_ns: i64) {
        let (window, pre) = self.config.minutes();
        let mut watches = std::mem::take(&mut self.watches);
        for w in &mut watches {
            let last = w.onset - pre as i64 + window as i64 - 1;
            if w.pattern.is_none() && index >= last {
                w.pattern = match w.matched {
                    Some(id) => Some(id),
                    None => self
                        .points(w.onset - pre as i64, last)
                        .map(|points| self.store(points, w.minutes, now_ns)),
                };
                if let Some(p) = self.patterns.iter_mut().find(|p| Some(p.id) == w.pattern) {
                    p.last_seen_ns = now_ns;
                }
            }
        }
        watches.retain(|w| {
            if index < w.until.max(w.onset - pre as i64 + window as i64 - 1) {
                return true;
            }
            if let Some(p) = self.patterns.iter_mut().find(|p| Some(p.id) == w.pattern) {
                if !w.errors {
                    p.benign += 1;
                } else if w.marked != w.pattern {
                    p.error_followed += 1;
                }
            }
            false
        });
        self.watches = watches;
    }

    fn store(&mut self, points: Vec<Point>, minutes: i64, now_ns: i64) -> u32 {
        if self.patterns.len() >= self.config.max_patterns
            && let Some(i) = (0..self.patterns.len()).min_by_key(|&i| self.patterns[i].last_seen_ns)
        {
            self.patterns.remove(i);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.patterns.push(Pattern {
            id,
            points: points.iter().map(|p| p.map(|v| v as f32)).collect(),
            minutes,
            last_seen_ns: now_ns,
            benign: 0,
            error_followed: 0,
        });
        id
    }

    /// The last `RECENT_MINUTES` minutes and the current one against the day before:
    /// an error spike?
    pub(super) fn error_spike(&self) -> bool {
        let n = self.history.len();
        let recent = n.saturating_sub(RECENT_MINUTES);
        let (mut lines, mut errors) = self.bucket.map_or((0, 0), |b| (b.lines, b.errors));
        for m in self.history.range(recent..) {
            lines += m.lines;
            errors += m.errors;
        }
        let (day_lines, day_errors) = self
            .history
            .range(..recent)
            .fold((0u64, 0u64), |(l, e), m| (l + m.lines, e + m.errors));
        if errors < self.config.error_min_count || lines == 0 {
            return false;
        }
        let usual = if day_lines == 0 {
            0.0
        } else {
            day_errors as f64 / day_lines as f64
        };
        errors as f64 / lines as f64 > self.config.error_factor * usual.max(FLOOR_SHARE)
    }
}

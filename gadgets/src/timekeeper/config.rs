//! `[timekeeper]`: the shape matching, the hard limits of a suppression, and which
//! decisions a recognised routine may hold back from the rules.

use std::time::Duration;

use serde::Deserialize;

use super::shape::Method;
use crate::policy::duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimekeeperConfig {
    /// Off by default: it needs weeks of history before it suppresses anything.
    pub enabled: bool,
    /// A routine is recognised when the shape's similarity to a benign pattern is
    /// strictly above this.
    pub similarity: f64,
    /// A suppression ends after this, whatever the similarity.
    #[serde(deserialize_with = "duration")]
    pub max_suppression: Duration,
    /// A pattern's length (whole minutes); a sixth of it precedes the spike's onset.
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
    /// `cosine` or `dtw` (warping within `dtw_band` of the window).
    pub method: Method,
    pub dtw_band: f64,
    /// A channel whose minute departs from its baseline (median, scaled MAD of the last
    /// 6 h) by more than this many spreads is a `metric_spike`.
    pub spike_z: f64,
    /// An error spike (which ends a suppression at once and marks the pattern
    /// error-followed): the last 5 minutes' error share above this many times the
    /// day's, with at least `error_min_count` errors.
    pub error_factor: f64,
    pub error_min_count: u64,
    /// How long after a spike errors still count against its pattern.
    #[serde(deserialize_with = "duration")]
    pub watch: Duration,
    /// Patterns kept; the least recently seen goes first.
    pub max_patterns: usize,
    /// What a routine may suppress: `gadget` or `gadget/kind`. The Archivist's flushes
    /// and the Timekeeper's own `routine` never; the Oracle's and the Pathologist's
    /// decisions only if listed here (they lead to kills: off by default).
    pub suppressible: Vec<String>,
}

impl Default for TimekeeperConfig {
    fn default() -> Self {
        TimekeeperConfig {
            enabled: false,
            similarity: 0.85,
            max_suppression: Duration::from_secs(2 * 3600),
            window: Duration::from_secs(3600),
            method: Method::Cosine,
            dtw_band: 0.1,
            spike_z: 4.0,
            error_factor: 2.0,
            error_min_count: 10,
            watch: Duration::from_secs(3600),
            max_patterns: 64,
            suppressible: vec!["timekeeper/metric_spike".into()],
        }
    }
}

impl TimekeeperConfig {
    /// Every value checked, named as in `[timekeeper]`.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, why: String| Err(format!("timekeeper.{key}: {why}"));
        // (0, 1): 0 would recognise anything, 1 nothing.
        if !(0.0..1.0).contains(&self.similarity) || self.similarity <= 0.0 {
            return bad(
                "similarity",
                format!("{} is outside (0, 1)", self.similarity),
            );
        }
        let max = self.max_suppression.as_secs();
        if !(60..=86_400).contains(&max) {
            return bad(
                "max_suppression",
                format!("{max} s is outside 1 min to 24 h"),
            );
        }
        let w = self.window;
        if w.subsec_nanos() != 0
            || !w.as_secs().is_multiple_of(60)
            || !(15..=360).contains(&(w.as_secs() / 60))
        {
            return bad(
                "window",
                format!("{w:?} is not a whole number of minutes from 15 min to 6 h"),
            );
        }
        if !(0.0..=0.5).contains(&self.dtw_band) {
            return bad("dtw_band", format!("{} is outside [0, 0.5]", self.dtw_band));
        }
        if !(self.spike_z.is_finite() && self.spike_z >= 1.0) {
            return bad(
                "spike_z",
                format!("{} is below 1 (or not a number)", self.spike_z),
            );
        }
        if !(self.error_factor.is_finite() && self.error_factor >= 1.0) {
            return bad("error_factor", format!("{} is below 1", self.error_factor));
        }
        if self.error_min_count == 0 {
            return bad("error_min_count", "must be at least 1".into());
        }
        if self.watch.as_secs() > 7 * 86_400 {
            return bad("watch", "is longer than a week".into());
        }
        if !(1..=1024).contains(&self.max_patterns) {
            return bad(
                "max_patterns",
                format!("{} is outside 1 to 1024", self.max_patterns),
            );
        }
        for entry in &self.suppressible {
            let (gadget, kind) = match entry.split_once('/') {
                Some((g, k)) => (g, Some(k)),
                None => (entry.as_str(), None),
            };
            if !crate::GADGETS.contains(&gadget) {
                return bad(
                    "suppressible",
                    format!(
                        "{entry:?}: unknown gadget {gadget:?} (gadgets: {})",
                        crate::GADGETS.join(", ")
                    ),
                );
            }
            if kind == Some("") {
                return bad("suppressible", format!("{entry:?}: empty kind"));
            }
            if gadget == crate::archivist::NAME {
                return bad(
                    "suppressible",
                    format!("{entry:?}: the Archivist's flushes are evidence, never suppressed"),
                );
            }
            if gadget == super::NAME && kind.is_none_or(|k| k == super::ROUTINE) {
                return bad(
                    "suppressible",
                    format!(
                        "{entry:?}: a routine cannot suppress itself (name timekeeper/metric_spike)"
                    ),
                );
            }
        }
        Ok(())
    }

    /// The engine's filter stage for this list.
    pub fn suppression(&self) -> crate::suppress::Suppression {
        crate::suppress::Suppression::new(&self.suppressible)
    }

    /// The pattern length and the part of it before the onset, in minutes.
    pub fn minutes(&self) -> (usize, usize) {
        let w = (self.window.as_secs() / 60).max(6) as usize;
        (w, w / 6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_specs_and_valid() {
        let c = TimekeeperConfig::default();
        c.validate().unwrap();
        assert_eq!(c.minutes(), (60, 10));
        assert!(!c.enabled);
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let cases: &[(&str, &str)] = &[
            ("similarity = 1.5", "timekeeper.similarity"),
            ("similarity = 0.0", "timekeeper.similarity"),
            ("max_suppression = \"10s\"", "timekeeper.max_suppression"),
            ("max_suppression = \"2 fortnights\"", "bad duration"),
            ("window = \"90s\"", "timekeeper.window"),
            ("window = \"10m\"", "timekeeper.window"),
            ("method = \"fft\"", "fft"),
            ("dtw_band = 0.9", "timekeeper.dtw_band"),
            ("spike_z = 0.5", "timekeeper.spike_z"),
            ("error_factor = 0.5", "timekeeper.error_factor"),
            ("error_min_count = 0", "timekeeper.error_min_count"),
            ("max_patterns = 0", "timekeeper.max_patterns"),
            ("suppressible = [\"oracel\"]", "unknown gadget \"oracel\""),
            ("suppressible = [\"archivist/log_flush\"]", "evidence"),
            ("suppressible = [\"timekeeper\"]", "cannot suppress itself"),
            ("suppressible = [\"oracle/\"]", "empty kind"),
            ("simlarity = 0.9", "simlarity"),
        ];
        for (text, needle) in cases {
            let e = toml::from_str::<TimekeeperConfig>(text)
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate())
                .unwrap_err();
            assert!(e.contains(needle), "{text}: wanted {needle:?} in {e}");
        }
        let ok: TimekeeperConfig = toml::from_str(
            "enabled = true\nmethod = \"dtw\"\nwindow = \"30m\"\nsuppressible = [\"oracle/oom_forecast\", \"timekeeper/metric_spike\"]",
        )
        .unwrap();
        ok.validate().unwrap();
        assert_eq!((ok.method, ok.minutes()), (Method::Dtw, (30, 5)));
    }
}

//! The engine's filter stage, between the gadgets and the rules: while the Timekeeper
//! recognises a benign routine (a `routine` decision this tick), the decisions its
//! `[timekeeper] suppressible` list names are taken out of the tick's decisions, so no
//! rule sees them, and kept in `TickReport::suppressed` with the tag
//! `routine:<pattern>` and the similarity: nothing is hidden, only held back.
//! The Archivist's flushes and the routine decision itself are never suppressed.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::decision::{Decision, DecisionKey};
use crate::timekeeper;

/// A decision the filter held back from the rules this tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppressed {
    pub decision: Decision,
    /// `routine:<pattern id>`
    pub tag: String,
    /// The routine's similarity to its pattern.
    pub similarity: f64,
    /// The first tick this decision is suppressed (what a log shows).
    pub onset: bool,
}

/// What may be suppressed: (gadget, kind or any), from `[timekeeper] suppressible`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suppression {
    selectors: Vec<(String, Option<String>)>,
    /// Keys suppressed the tick before, for `Suppressed::onset`.
    previous: BTreeSet<DecisionKey>,
}

impl Suppression {
    /// From validated `gadget` / `gadget/kind` entries.
    pub fn new(entries: &[String]) -> Suppression {
        Suppression {
            selectors: entries
                .iter()
                .map(|e| match e.split_once('/') {
                    Some((g, k)) => (g.to_string(), Some(k.to_string())),
                    None => (e.clone(), None),
                })
                .collect(),
            previous: BTreeSet::new(),
        }
    }

    /// Whether a routine may hold `d` back.
    pub fn covers(&self, d: &Decision) -> bool {
        if d.gadget == crate::archivist::NAME
            || (d.gadget == timekeeper::NAME && d.kind == timekeeper::ROUTINE)
        {
            return false;
        }
        self.selectors
            .iter()
            .any(|(g, k)| g == d.gadget && k.as_deref().is_none_or(|k| k == d.kind))
    }

    /// Moves the covered decisions out of `decisions` while a routine stands; the most
    /// similar routine of the tick tags them.
    pub fn apply(&mut self, decisions: &mut Vec<Decision>) -> Vec<Suppressed> {
        let routine = decisions
            .iter()
            .filter(|d| d.gadget == timekeeper::NAME && d.kind == timekeeper::ROUTINE)
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
            .map(|d| {
                let pattern = d.evidence.get("pattern").copied().unwrap_or(0.0);
                (format!("routine:{pattern:.0}"), d.confidence)
            });
        let Some((tag, similarity)) = routine else {
            self.previous.clear();
            return Vec::new();
        };
        let (held, kept): (Vec<Decision>, Vec<Decision>) =
            decisions.drain(..).partition(|d| self.covers(d));
        *decisions = kept;
        let mut keys = BTreeSet::new();
        let out = held
            .into_iter()
            .map(|decision| {
                let key = decision.key();
                let onset = !self.previous.contains(&key);
                keys.insert(key);
                Suppressed {
                    decision,
                    tag: tag.clone(),
                    similarity,
                    onset,
                }
            })
            .collect();
        self.previous = keys;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routine(pattern: f64, similarity: f64) -> Decision {
        let mut d = Decision::new("timekeeper", "routine", 0);
        d.confidence = similarity;
        d.evidence.insert("pattern", pattern);
        d
    }

    #[test]
    fn only_listed_decisions_are_held_back_and_only_during_a_routine() {
        let mut s = Suppression::new(&["timekeeper/metric_spike".into(), "pathologist".into()]);
        let spike = Decision::new("timekeeper", "metric_spike", 0);
        let stuck = Decision::new("pathologist", "stuck", 0);
        let forecast = Decision::new("oracle", "oom_forecast", 0);
        let flush = Decision::new("archivist", "log_flush", 0);
        let mut tick = vec![spike.clone(), forecast.clone(), flush.clone()];
        assert!(s.apply(&mut tick).is_empty(), "no routine, nothing held");
        assert_eq!(tick.len(), 3);
        let mut tick = vec![
            spike.clone(),
            stuck.clone(),
            forecast.clone(),
            flush.clone(),
            routine(7.0, 0.91),
            routine(3.0, 0.88),
        ];
        let held = s.apply(&mut tick);
        let kinds: Vec<_> = tick.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, ["oom_forecast", "log_flush", "routine", "routine"]);
        assert_eq!(held.len(), 2);
        assert!(
            held.iter()
                .all(|h| h.tag == "routine:7" && h.similarity == 0.91 && h.onset)
        );
        // Still held the next tick: no longer an onset.
        let mut tick = vec![spike.clone(), routine(7.0, 0.9)];
        let held = s.apply(&mut tick);
        assert!(!held[0].onset);
        assert!(!s.covers(&routine(1.0, 1.0)));
    }
}

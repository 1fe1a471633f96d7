//! The Archivist as a gadget: the `qb-archivist` ring buffers over each frame's log
//! lines, with its own triggers (error spikes, latency spikes from the frame's `traces`
//! rows, OOM kills, restarts) and the onsets of the
//! other gadgets' confident decisions this tick; every flush is an `log_flush` decision
//! (evidence: lines flushed, the window, the reason). For replays and scenarios:
//! gadgetd's `[logs]` pipeline runs its own Archivist and forwards what it flushes.

use std::collections::BTreeSet;

use qb_archivist::{Archivist, ArchivistConfig, FlushEvent, Forwarded, Vocabulary};
use qb_models::ModelError;
use qb_models::registry::{ARCHIVIST_VOCABULARY, Loaded, Registry, load_or_rule};
use serde::Deserialize;

use crate::decision::{Decision, DecisionKey, Gadget};

pub const NAME: &str = "archivist";
pub const LOG_FLUSH: &str = "log_flush";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchivistGadgetConfig {
    /// Off by default: gadgetd's `[logs.archivist]` does this job live.
    pub enabled: bool,
    /// The onset of another gadget's decision at or above this confidence flushes.
    pub decision_confidence: f64,
    /// The ring buffers, sampling and triggers (`qb-archivist`'s settings).
    pub buffer: ArchivistConfig,
}

impl Default for ArchivistGadgetConfig {
    fn default() -> Self {
        ArchivistGadgetConfig {
            enabled: false,
            decision_confidence: 0.85,
            buffer: ArchivistConfig::default(),
        }
    }
}

/// Other gadgets' decisions as triggers: a decision that reaches the confidence (its
/// onset, or a report that grew confident) flushes once, not every tick it holds.
/// Shared by this gadget and gadgetd's `[logs.archivist]`.
#[derive(Debug)]
pub struct DecisionTriggers {
    confidence: f64,
    /// Confident decisions of the previous tick.
    held: BTreeSet<DecisionKey>,
}

impl DecisionTriggers {
    pub fn new(confidence: f64) -> DecisionTriggers {
        DecisionTriggers {
            confidence,
            held: BTreeSet::new(),
        }
    }

    /// Hands this tick's newly confident decisions to `archivist`, for the services of
    /// their cgroup.
    pub fn feed(&mut self, ts_ns: i64, decisions: &[Decision], archivist: &mut Archivist) {
        let mut held = BTreeSet::new();
        for d in decisions
            .iter()
            // A recognised routine is a reason for less noise, not evidence to keep.
            .filter(|d| d.gadget != NAME && d.kind != crate::timekeeper::ROUTINE)
            .filter(|d| d.confidence >= self.confidence)
        {
            let key = d.key();
            if !self.held.contains(&key) {
                let subject = d
                    .cgroup
                    .as_deref()
                    .or(d.process.as_ref().map(|p| p.cgroup.as_str()));
                archivist.on_decision(ts_ns, d.gadget, d.kind, subject);
            }
            held.insert(key);
        }
        self.held = held;
    }
}

impl ArchivistGadgetConfig {
    /// The ring settings and the confidence, named as in `[archivist]` (or `[logs.archivist]`).
    pub fn validate(&self) -> Result<(), String> {
        self.buffer
            .validate()
            .map_err(|e| format!("archivist.buffer: {e}"))?;
        if !(0.0..=1.0).contains(&self.decision_confidence) {
            return Err(format!(
                "archivist.decision_confidence {} is outside [0, 1]",
                self.decision_confidence
            ));
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct ArchivistGadget {
    core: Option<Archivist>,
    problem: Option<String>,
    triggers: DecisionTriggers,
    /// Flush events already reported.
    reported: usize,
    drained: Vec<Forwarded>,
}

/// The core for `config`, with the registry's vocabulary when it ranks flushes (without
/// one it keeps every line of a flush, and says why).
pub fn archivist(
    config: &ArchivistGadgetConfig,
    registry: &Registry,
) -> Result<(Archivist, Option<String>), qb_archivist::ArchivistError> {
    let core = Archivist::new(config.buffer.clone())?;
    if !config.buffer.rank {
        return Ok((core, Some("ranking off: a flush keeps every line".into())));
    }
    let decode =
        |b: &[u8]| Vocabulary::from_bytes(b).map_err(|e| ModelError::Corrupt(e.to_string()));
    Ok(
        match load_or_rule(registry, &ARCHIVIST_VOCABULARY, decode) {
            Loaded::Model(v) => (core.with_vocabulary(v), None),
            Loaded::Rule { reason } => (core, Some(format!("no ranking: {reason}"))),
        },
    )
}

impl ArchivistGadget {
    pub fn new(config: &ArchivistGadgetConfig, registry: &Registry) -> ArchivistGadget {
        let (core, problem) = match archivist(config, registry) {
            Ok((a, why)) => (Some(a), why),
            Err(e) => {
                tracing::error!("archivist: {e}; no log buffering");
                (None, Some(e.to_string()))
            }
        };
        ArchivistGadget {
            core,
            problem,
            triggers: DecisionTriggers::new(config.decision_confidence),
            reported: 0,
            drained: Vec::new(),
        }
    }
}

impl Gadget for ArchivistGadget {
    fn name(&self) -> &'static str {
        NAME
    }

    fn models(&self) -> Vec<(&'static str, String)> {
        let how = match &self.problem {
            None => "model".to_string(),
            Some(why) => format!("rule: {why}"),
        };
        vec![("vocabulary", how)]
    }

    fn observe(&mut self, frame: &qb_signals::Frame, out: &mut Vec<Decision>) {
        let Some(core) = &mut self.core else {
            return;
        };
        core.observe(frame);
        // The gadgets before this one decided this tick.
        self.triggers.feed(frame.ts_ns, out, core);
        for event in &core.events()[self.reported..] {
            out.push(flush_decision(frame.ts_ns, event));
        }
        self.reported = core.events().len();
        // Replays keep nothing they would forward.
        core.drain(&mut self.drained);
        self.drained.clear();
    }
}

fn flush_decision(ts_ns: i64, e: &FlushEvent) -> Decision {
    let mut d = Decision::new(NAME, LOG_FLUSH, ts_ns);
    d.stream = Some(if e.services.is_empty() {
        "(none)".to_string()
    } else {
        e.services.join(",")
    });
    d.confidence = 1.0;
    d.evidence.insert("lines_flushed", e.lines_flushed as f64);
    d.evidence.insert(
        "window_s",
        (e.window_end_ns - e.window_start_ns) as f64 / 1e9,
    );
    d.evidence.insert(e.trigger.reason.name(), 1.0);
    if e.incomplete {
        d.evidence.insert("incomplete", 1.0);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use qb_signals::{Frame, LogRow};

    fn frame(ts_s: i64) -> Frame {
        let mut f = Frame::new(ts_s * 1_000_000_000, "h");
        f.logs.push(LogRow {
            ts_ns: f.ts_ns,
            source: "/var/log/a.log".into(),
            offset: ts_s as u64 * 10,
            pid: None,
            level: Some("info".into()),
            line: format!("tick {ts_s}"),
            truncated: false,
        });
        f
    }

    fn forecast(confidence: f64) -> Decision {
        let mut d = Decision::new("oracle", "oom_forecast", 0);
        d.cgroup = Some("/system.slice/a.service".into());
        d.confidence = confidence;
        d
    }

    #[test]
    fn ranking_loads_the_embedded_vocabulary() {
        let registry = Registry::embedded().unwrap();
        let mut config = ArchivistGadgetConfig::default();
        config.buffer.rank = true;
        let g = ArchivistGadget::new(&config, &registry);
        assert_eq!(g.models(), [("vocabulary", "model".to_string())]);
        config.buffer.rank = false;
        let g = ArchivistGadget::new(&config, &registry);
        assert_eq!(
            g.models()[0].1,
            "rule: ranking off: a flush keeps every line"
        );
    }

    #[test]
    fn a_decision_that_grows_confident_flushes_once() {
        let config = ArchivistGadgetConfig {
            enabled: true,
            ..ArchivistGadgetConfig::default()
        };
        let registry = Registry::embedded().unwrap();
        let mut g = ArchivistGadget::new(&config, &registry);
        let mut flushes = Vec::new();
        for (t, confidence) in [(1, 0.5), (2, 0.6), (3, 0.9), (4, 0.95), (5, 0.9)] {
            let mut out = vec![forecast(confidence)];
            g.observe(&frame(t), &mut out);
            flushes.extend(out.into_iter().filter(|d| d.gadget == NAME).map(|d| (t, d)));
        }
        assert_eq!(flushes.len(), 1, "{flushes:?}");
        let (t, d) = &flushes[0];
        assert_eq!((*t, d.kind, d.confidence), (3, LOG_FLUSH, 1.0));
        assert_eq!(d.evidence.get("decision"), Some(&1.0));
        assert_eq!(d.evidence.get("window_s"), Some(&120.0));
    }

    #[test]
    fn a_latency_spike_in_the_traces_flushes_that_service() {
        let mut config = ArchivistGadgetConfig {
            enabled: true,
            ..ArchivistGadgetConfig::default()
        };
        config.buffer.services = vec![qb_archivist::ServiceRule {
            name: "a".into(),
            sources: vec!["/var/log/a.log".into()],
            cgroups: vec![],
        }];
        let registry = Registry::embedded().unwrap();
        let mut g = ArchivistGadget::new(&config, &registry);
        let mut flushes = Vec::new();
        for t in 1..=200 {
            let mut f = frame(t);
            if t % 10 == 0 {
                // 40 ms p99 for two minutes, then 200 ms: over 2 x the baseline.
                let p99_ms = if t < 120 { 40 } else { 200 };
                f.traces.push(qb_signals::TraceRow {
                    ts_ns: f.ts_ns,
                    service: "a".into(),
                    resource: "GET /x".into(),
                    status: "ok".into(),
                    hits: 100,
                    p99_ns: p99_ms * 1_000_000,
                    ..qb_signals::TraceRow::default()
                });
            }
            let mut out = Vec::new();
            g.observe(&f, &mut out);
            flushes.extend(out.into_iter().map(|d| (t, d)));
        }
        // Debounced while its window is open (30 s), then again while it lasts.
        let at: Vec<i64> = flushes.iter().map(|(t, _)| *t).collect();
        assert_eq!(at.first(), Some(&120), "{at:?}");
        let (_, d) = &flushes[0];
        assert_eq!(d.stream.as_deref(), Some("a"));
        assert_eq!(d.evidence.get("latency_spike"), Some(&1.0));
        assert!(
            d.evidence.get("lines_flushed").is_some_and(|&n| n >= 80.0),
            "{d:?}"
        );
    }
}

//! The Curator as a gadget: PII found in a frame's log lines, one `pii_detected`
//! decision per log stream and tick, with the findings per entity as evidence (never a
//! value). This is the Curator of replays and scenarios; gadgetd's log pipeline runs the
//! same detector *before* the engine and redacts in place, so there this gadget stays
//! off (its default) and the pipeline's alerts are the record.

use std::collections::BTreeMap;

use qb_curator::{Detector, Finding, Scratch};
use serde::Deserialize;

use crate::decision::{Decision, Gadget};

pub const NAME: &str = "curator";
pub const PII_DETECTED: &str = "pii_detected";

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CuratorConfig {
    /// Off by default: gadgetd's `[logs]` pipeline does this job on the raw lines.
    pub enabled: bool,
}

#[derive(Debug)]
pub struct Curator {
    /// The detector and its search state, or why it is missing (its patterns failed to
    /// build: a broken build).
    detector: Result<(Detector, Scratch), String>,
    findings: Vec<Finding>,
}

impl Curator {
    pub fn new() -> Curator {
        let detector = Detector::new()
            .map(|d| {
                let scratch = d.scratch();
                (d, scratch)
            })
            .map_err(|e| {
                tracing::error!("curator: the fast path did not build: {e}; no PII detection");
                e.to_string()
            });
        Curator {
            detector,
            findings: Vec::new(),
        }
    }
}

impl Default for Curator {
    fn default() -> Self {
        Curator::new()
    }
}

impl Gadget for Curator {
    fn name(&self) -> &'static str {
        NAME
    }

    fn models(&self) -> Vec<(&'static str, String)> {
        let how = match &self.detector {
            Ok(_) => "model".to_string(),
            Err(why) => format!("rule: {why}"),
        };
        vec![("fast_path", how)]
    }

    fn observe(&mut self, frame: &qb_signals::Frame, out: &mut Vec<Decision>) {
        let Ok((detector, scratch)) = &mut self.detector else {
            return;
        };
        // stream -> (lines with findings, findings per entity)
        let mut per_stream: BTreeMap<&str, (u64, BTreeMap<&'static str, u64>)> = BTreeMap::new();
        for row in &frame.logs {
            detector.detect(&row.line, scratch, &mut self.findings);
            if self.findings.is_empty() {
                continue;
            }
            let (lines, entities) = per_stream.entry(&row.source).or_default();
            *lines += 1;
            for f in &self.findings {
                *entities.entry(f.entity.name()).or_default() += 1;
            }
        }
        for (stream, (lines, entities)) in per_stream {
            let mut d = Decision::new(NAME, PII_DETECTED, frame.ts_ns);
            d.stream = Some(stream.to_string());
            // The fast path's findings are validated matches: certain by construction.
            d.confidence = 1.0;
            d.source = "fast_path";
            d.evidence.insert("lines", lines as f64);
            d.evidence
                .insert("findings", entities.values().sum::<u64>() as f64);
            for (entity, n) in entities {
                d.evidence.insert(entity, n as f64);
            }
            out.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qb_signals::{Frame, LogRow};

    fn row(source: &str, line: &str) -> LogRow {
        LogRow {
            ts_ns: 5,
            source: source.into(),
            offset: 0,
            pid: None,
            level: None,
            line: line.into(),
            truncated: false,
        }
    }

    #[test]
    fn one_decision_per_stream_with_counts_and_no_values() {
        let mut frame = Frame::new(7, "h");
        frame.logs = vec![
            row(
                "/a.log",
                "mail to jmueller@web.de and maria.garcia@gmail.com",
            ),
            row("/a.log", "ssn 289-58-6539"),
            row(
                "/b.log",
                "block blk_-4532015112830366 replicated to 10.0.0.4",
            ),
            row("/c.log", "card 4532 0151 1283 0366"),
        ];
        let mut out = Vec::new();
        Curator::new().observe(&frame, &mut out);
        let streams: Vec<_> = out.iter().map(|d| d.stream.as_deref().unwrap()).collect();
        assert_eq!(streams, ["/a.log", "/c.log"]);
        let a = &out[0];
        assert_eq!((a.kind, a.ts_ns, a.confidence), (PII_DETECTED, 7, 1.0));
        assert_eq!(a.evidence["lines"], 2.0);
        assert_eq!(a.evidence["findings"], 3.0);
        assert_eq!(a.evidence["email"], 2.0);
        assert_eq!(a.evidence["ssn"], 1.0);
        let json = crate::incident::decision_json(a);
        assert!(
            !json.contains("jmueller") && json.contains("\"stream\":\"/a.log\""),
            "{json}"
        );
    }
}

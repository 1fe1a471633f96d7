//! Incident records: every action and every refusal, with the decision that drove it,
//! as a JSON line and as a readable line.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::decision::Decision;
use crate::executor::{Outcome, StackSnapshot};
use crate::safety::Mode;
use crate::suppress::Suppressed;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub ts_ns: i64,
    /// The rule that fired (`escalation` for a restart's SIGKILL).
    pub rule: String,
    /// `kill`, `restart`, `drop_caches`, `sigkill_after_grace`, ...
    pub action: String,
    pub mode: Mode,
    pub outcome: Outcome,
    pub decision: Decision,
    pub stacks: Option<StackSnapshot>,
}

impl Incident {
    pub fn is_refusal(&self) -> bool {
        self.outcome.is_refusal()
    }
}

/// Nanoseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ts_ns: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ts_ns.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

fn subject(d: &Decision, out: &mut Map<String, Value>) {
    if let Some(p) = &d.process {
        out.insert("pid".into(), json!(p.pid));
        out.insert("comm".into(), json!(p.comm));
    }
    if let Some(c) = d.cgroup.as_ref().or(d.process.as_ref().map(|p| &p.cgroup)) {
        out.insert("cgroup".into(), json!(c));
    }
    if let Some(s) = &d.stream {
        out.insert("stream".into(), json!(s));
    }
    out.insert("confidence".into(), json!(round(d.confidence)));
    if let Some(eta) = d.eta_s {
        out.insert("eta_s".into(), json!(round(eta)));
    }
    out.insert("source".into(), json!(d.source));
    let evidence: Map<String, Value> = d
        .evidence
        .iter()
        .map(|(k, v)| (k.to_string(), json!(round(*v))))
        .collect();
    out.insert("evidence".into(), Value::Object(evidence));
}

/// Six significant decimals: stable JSON without float noise in the last digits.
fn round(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1e6).round() / 1e6
    } else {
        v
    }
}

/// A decision as one JSON line (`event: decision`).
pub fn decision_json(d: &Decision) -> String {
    let mut m = Map::new();
    m.insert("ts".into(), json!(rfc3339(d.ts_ns)));
    m.insert("event".into(), json!("decision"));
    m.insert("gadget".into(), json!(d.gadget));
    m.insert("kind".into(), json!(d.kind));
    subject(d, &mut m);
    Value::Object(m).to_string()
}

/// A decision a recognised routine held back from the rules, as one JSON line
/// (`event: suppressed`, with its `suppressed_by` tag and the routine's `similarity`).
pub fn suppressed_json(s: &Suppressed) -> String {
    let d = &s.decision;
    let mut m = Map::new();
    m.insert("ts".into(), json!(rfc3339(d.ts_ns)));
    m.insert("event".into(), json!("suppressed"));
    m.insert("gadget".into(), json!(d.gadget));
    m.insert("kind".into(), json!(d.kind));
    m.insert("suppressed_by".into(), json!(s.tag));
    m.insert("similarity".into(), json!(round(s.similarity)));
    subject(d, &mut m);
    Value::Object(m).to_string()
}

/// An incident as one JSON line (`event: action` or `refusal`).
pub fn incident_json(i: &Incident) -> String {
    let d = &i.decision;
    let mut m = Map::new();
    m.insert("ts".into(), json!(rfc3339(i.ts_ns)));
    let event = if i.is_refusal() { "refusal" } else { "action" };
    m.insert("event".into(), json!(event));
    m.insert("gadget".into(), json!(d.gadget));
    m.insert("kind".into(), json!(d.kind));
    m.insert("rule".into(), json!(i.rule));
    m.insert("action".into(), json!(i.action));
    m.insert("mode".into(), json!(i.mode));
    if let Value::Object(outcome) = json!(i.outcome) {
        m.extend(outcome);
    }
    subject(d, &mut m);
    if let Some(s) = &i.stacks {
        m.insert("stacks".into(), json!(s));
    }
    Value::Object(m).to_string()
}

fn target_text(d: &Decision) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &d.cgroup {
        parts.push(format!("cgroup {c}"));
    }
    if let Some(p) = &d.process {
        parts.push(format!("pid {} ({})", p.pid, p.comm));
    }
    if let Some(s) = &d.stream {
        parts.push(format!("log {s}"));
    }
    if parts.is_empty() {
        "host".to_string()
    } else {
        parts.join(" ")
    }
}

fn reading_text(d: &Decision) -> String {
    match d.eta_s {
        Some(eta) => format!("p={:.2} eta={eta:.0}s via {}", d.confidence, d.source),
        None => format!("p={:.2} via {}", d.confidence, d.source),
    }
}

/// A decision for people: `<ts> oracle oom_forecast cgroup /a pid 7 (leak) p=0.93 eta=85s`.
pub fn decision_line(d: &Decision) -> String {
    format!(
        "{} {} {} {} {}",
        rfc3339(d.ts_ns),
        d.gadget,
        d.kind,
        target_text(d),
        reading_text(d)
    )
}

/// An incident for people, ending in what happened.
pub fn incident_line(i: &Incident) -> String {
    let d = &i.decision;
    let what = match &i.outcome {
        Outcome::Refused { refusal } => format!("REFUSED: {refusal}"),
        Outcome::Observed => "observed (would pass)".to_string(),
        Outcome::DryRun => "dry run (not done)".to_string(),
        Outcome::Done { detail } => format!("done: {detail}"),
        Outcome::Failed { error } => format!("FAILED: {error}"),
    };
    format!(
        "{} {} {} -> {} [{}] {} {}: {what}",
        rfc3339(i.ts_ns),
        d.gadget,
        d.kind,
        i.action,
        i.rule,
        target_text(d),
        reading_text(d)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(1_767_225_600_123_000_000),
            "2026-01-01T00:00:00.123Z"
        );
    }

    #[test]
    fn a_decision_line_carries_the_required_fields() {
        let mut d = Decision::new("oracle", "oom_forecast", 1_767_225_600_000_000_000);
        d.cgroup = Some("/leak".into());
        d.confidence = 0.912_345_678;
        d.eta_s = Some(84.2);
        d.evidence.insert("usage_frac", 0.8);
        let v: Value = serde_json::from_str(&decision_json(&d)).unwrap();
        assert_eq!(v["ts"], "2026-01-01T00:00:00.000Z");
        assert_eq!(v["event"], "decision");
        assert_eq!(v["gadget"], "oracle");
        assert_eq!(v["kind"], "oom_forecast");
        assert_eq!(v["cgroup"], "/leak");
        assert_eq!(v["confidence"], 0.912346);
        assert_eq!(v["eta_s"], 84.2);
        assert_eq!(v["evidence"]["usage_frac"], 0.8);
        assert!(decision_line(&d).contains("cgroup /leak p=0.91 eta=84s"));
    }

    #[test]
    fn a_suppressed_decision_line_carries_its_tag() {
        let s = Suppressed {
            decision: Decision::new("timekeeper", "metric_spike", 1_767_225_600_000_000_000),
            tag: "routine:3".into(),
            similarity: 0.934_567_891,
            onset: true,
        };
        let v: Value = serde_json::from_str(&suppressed_json(&s)).unwrap();
        assert_eq!(v["event"], "suppressed");
        assert_eq!(v["kind"], "metric_spike");
        assert_eq!(v["suppressed_by"], "routine:3");
        assert_eq!(v["similarity"], 0.934568);
    }
}

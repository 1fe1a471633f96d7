//! The daemon's counters and their Prometheus text exposition (format 0.0.4).
//!
//! The loop updates a `Metrics` behind `Arc<Mutex<..>>` once per tick; the HTTP thread
//! renders it. A poisoned lock (a panic elsewhere) still renders: the counters are
//! plain numbers and stay consistent enough to be worth serving.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use qb_gadgets::{Gadget, Mode, Outcome, TickReport};

use crate::logs::LogStats;

/// Tick latency buckets, in seconds: 100 us to 1 s, finer where ticks usually land
/// (tens of milliseconds: the recorder's /proc walk dominates).
pub const TICK_BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2,
    0.3, 0.5, 0.75, 1.0,
];

#[derive(Debug, Default, Clone)]
pub struct Histogram {
    /// Non-cumulative counts per bucket of `TICK_BUCKETS`, then one for +Inf.
    counts: [u64; TICK_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        let i = TICK_BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(TICK_BUCKETS.len());
        self.counts[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, name: &str, out: &mut String) {
        let mut cumulative = 0;
        for (le, n) in TICK_BUCKETS.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// (gadget, kind) -> onsets.
    decisions: BTreeMap<(String, String), u64>,
    /// (gadget, kind) -> decisions a routine started holding back from the rules.
    suppressed: BTreeMap<(String, String), u64>,
    /// (gadget, action, outcome) -> incidents, refusals included.
    actions: BTreeMap<(String, String, String), u64>,
    /// (gadget, refusal rule) -> refusals.
    refusals: BTreeMap<(String, String), u64>,
    tick_seconds: Histogram,
    /// The engine's share of a tick (gadgets, rules, executor), without the recorder.
    engine_seconds: Histogram,
    ticks: u64,
    /// (gadget, model, status) of the gadgets running now.
    models: Vec<(String, String, String)>,
    mode: String,
    /// The log pipeline's counters, when it runs.
    logs: Option<LogStats>,
    /// The tuner's, when `[tuner]` is enabled.
    tuner: Option<crate::tuning::TunerMetrics>,
    /// The span intake's counters, when `[traces]` is on.
    traces: Option<qb_recorder::TraceCounters>,
}

pub type SharedMetrics = Arc<Mutex<Metrics>>;

/// The lock, even if a panic poisoned it: serving counters beats serving nothing.
pub fn lock(m: &SharedMetrics) -> MutexGuard<'_, Metrics> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    pub fn record_tick(&mut self, latency: Duration, engine: Duration, report: &TickReport) {
        self.ticks += 1;
        self.tick_seconds.observe(latency.as_secs_f64());
        self.engine_seconds.observe(engine.as_secs_f64());
        for d in &report.onsets {
            *self
                .decisions
                .entry((d.gadget.to_string(), d.kind.to_string()))
                .or_default() += 1;
        }
        for s in report.suppressed.iter().filter(|s| s.onset) {
            let d = &s.decision;
            *self
                .suppressed
                .entry((d.gadget.to_string(), d.kind.to_string()))
                .or_default() += 1;
        }
        for i in &report.incidents {
            let gadget = i.decision.gadget.to_string();
            let key = (
                gadget.clone(),
                i.action.clone(),
                i.outcome.name().to_string(),
            );
            *self.actions.entry(key).or_default() += 1;
            if let Outcome::Refused { refusal } = &i.outcome {
                let rule = refusal.rule().to_string();
                *self.refusals.entry((gadget, rule)).or_default() += 1;
            }
        }
    }

    pub fn set_gadgets(&mut self, gadgets: &[Box<dyn Gadget>]) {
        self.models = gadgets
            .iter()
            .flat_map(|g| {
                g.models().into_iter().map(|(model, how)| {
                    // `model` or `rule: <why>`; the why is logged, not a label value.
                    let status = if how == "model" { "model" } else { "rule" };
                    (g.name().to_string(), model.to_string(), status.to_string())
                })
            })
            .collect();
    }

    pub fn set_logs(&mut self, stats: LogStats) {
        self.logs = Some(stats);
    }

    pub fn set_tuner(&mut self, tuner: crate::tuning::TunerMetrics) {
        self.tuner = Some(tuner);
    }

    pub fn set_traces(&mut self, counters: qb_recorder::TraceCounters) {
        self.traces = Some(counters);
    }

    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode.name().to_string();
    }

    pub fn render(&self, resident_bytes: Option<u64>) -> String {
        let mut out = String::new();
        write_family(
            &mut out,
            "qbranch_decisions_total",
            "counter",
            "Decisions that started (onsets), by gadget and kind.",
        );
        for ((gadget, kind), n) in &self.decisions {
            let labels = labels(&[("gadget", gadget), ("kind", kind)]);
            let _ = writeln!(out, "qbranch_decisions_total{labels} {n}");
        }
        write_family(
            &mut out,
            "qbranch_suppressed_total",
            "counter",
            "Decisions a recognised routine (the Timekeeper) held back from the rules, by gadget and kind (onsets).",
        );
        for ((gadget, kind), n) in &self.suppressed {
            let labels = labels(&[("gadget", gadget), ("kind", kind)]);
            let _ = writeln!(out, "qbranch_suppressed_total{labels} {n}");
        }
        write_family(
            &mut out,
            "qbranch_actions_total",
            "counter",
            "Actions the rules asked for, by outcome (refused, observed, dry_run, done, failed).",
        );
        for ((gadget, action, outcome), n) in &self.actions {
            let labels = labels(&[("gadget", gadget), ("action", action), ("outcome", outcome)]);
            let _ = writeln!(out, "qbranch_actions_total{labels} {n}");
        }
        write_family(
            &mut out,
            "qbranch_refusals_total",
            "counter",
            "Actions the safety guard refused, by the guard's rule.",
        );
        for ((gadget, rule), n) in &self.refusals {
            let labels = labels(&[("gadget", gadget), ("rule", rule)]);
            let _ = writeln!(out, "qbranch_refusals_total{labels} {n}");
        }
        write_family(
            &mut out,
            "qbranch_tick_seconds",
            "histogram",
            "Wall time of one tick: collect the frame, run the engine, write the output.",
        );
        self.tick_seconds.render("qbranch_tick_seconds", &mut out);
        write_family(
            &mut out,
            "qbranch_engine_seconds",
            "histogram",
            "Wall time of Engine::step alone: gadgets, rules and executor.",
        );
        self.engine_seconds
            .render("qbranch_engine_seconds", &mut out);
        write_family(&mut out, "qbranch_ticks_total", "counter", "Ticks run.");
        let _ = writeln!(out, "qbranch_ticks_total {}", self.ticks);
        write_family(
            &mut out,
            "qbranch_model_info",
            "gauge",
            "Each gadget's model and whether it runs (model) or fell back to its rule.",
        );
        for (gadget, model, status) in &self.models {
            let labels = labels(&[("gadget", gadget), ("model", model), ("status", status)]);
            let _ = writeln!(out, "qbranch_model_info{labels} 1");
        }
        write_family(&mut out, "qbranch_mode", "gauge", "The executor's mode.");
        let _ = writeln!(out, "qbranch_mode{} 1", labels(&[("mode", &self.mode)]));
        if let Some(logs) = &self.logs {
            render_logs(logs, &mut out);
        }
        if let Some(tuner) = &self.tuner {
            tuner.render(&mut out);
        }
        if let Some(t) = &self.traces {
            for (name, kind, help, value) in [
                (
                    "qbranch_trace_spans_total",
                    "counter",
                    "Spans received by the OTLP intake.",
                    t.spans,
                ),
                (
                    "qbranch_trace_spans_dropped_total",
                    "counter",
                    "Spans refused (503) because the queue to the tick was full.",
                    t.spans_dropped_queue,
                ),
                (
                    "qbranch_trace_spans_unaggregated_total",
                    "counter",
                    "Spans not aggregated: late, too far ahead, or over the key cap per bucket.",
                    t.spans_dropped_aggregation,
                ),
                (
                    "qbranch_trace_bytes_total",
                    "counter",
                    "OTLP request body bytes accepted.",
                    t.bytes,
                ),
                (
                    "qbranch_trace_bad_requests_total",
                    "counter",
                    "OTLP requests refused as malformed, too large, or of the wrong type.",
                    t.bad_requests,
                ),
                (
                    "qbranch_trace_queued_spans",
                    "gauge",
                    "Spans waiting for the next tick.",
                    t.queued_spans,
                ),
            ] {
                write_family(&mut out, name, kind, help);
                let _ = writeln!(out, "{name} {value}");
            }
        }
        if let Some(bytes) = resident_bytes {
            write_family(
                &mut out,
                "qbranch_resident_memory_bytes",
                "gauge",
                "This daemon's resident set size.",
            );
            let _ = writeln!(out, "qbranch_resident_memory_bytes {bytes}");
        }
        out
    }
}

fn render_logs(logs: &LogStats, out: &mut String) {
    let f = &logs.forward;
    for (name, kind, help, value) in [
        (
            "qbranch_log_lines_total",
            "counter",
            "Log lines read by the pipeline.",
            logs.lines,
        ),
        (
            "qbranch_log_redacted_lines_total",
            "counter",
            "Log lines the Curator changed before forwarding.",
            logs.redacted_lines,
        ),
        (
            "qbranch_log_sent_total",
            "counter",
            "Records the sink accepted.",
            f.sent,
        ),
        (
            "qbranch_log_dropped_total",
            "counter",
            "Records dropped: the queue to the sink was at its bound.",
            f.dropped,
        ),
        (
            "qbranch_log_send_errors_total",
            "counter",
            "Failed sends (each retried).",
            f.send_errors,
        ),
        (
            "qbranch_log_buffered_records",
            "gauge",
            "Records queued for the sink.",
            f.buffered_lines,
        ),
        (
            "qbranch_log_buffered_bytes",
            "gauge",
            "Bytes queued for the sink.",
            f.buffered_bytes,
        ),
        (
            "qbranch_curator_slow_sampled_total",
            "counter",
            "Lines handed to the Curator's slow path (the context classifier).",
            logs.slow_sampled,
        ),
        (
            "qbranch_curator_slow_skipped_total",
            "counter",
            "Sampled lines skipped: the slow path's queue was full.",
            logs.slow_skipped,
        ),
        (
            "qbranch_curator_slow_findings_total",
            "counter",
            "PII the fast path missed and the slow path found.",
            logs.slow_findings,
        ),
        (
            "qbranch_log_backlog_bytes",
            "gauge",
            "Bytes in the tailed files not read yet (max_bytes_per_tick).",
            logs.backlog_bytes,
        ),
    ] {
        write_family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    write_family(
        out,
        "qbranch_pii_findings_total",
        "counter",
        "PII the Curator found and redacted, by entity.",
    );
    for (entity, n) in &logs.findings {
        let _ = writeln!(
            out,
            "qbranch_pii_findings_total{} {n}",
            labels(&[("entity", entity)])
        );
    }
    write_family(
        out,
        "qbranch_log_forwarded_total",
        "counter",
        "Records handed to the sink's queue, by why they go (all, sampled, flush).",
    );
    for (why, n) in &logs.forwarded {
        let _ = writeln!(
            out,
            "qbranch_log_forwarded_total{} {n}",
            labels(&[("why", why)])
        );
    }
}

pub(crate) fn write_family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

pub(crate) fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Label values escape backslash, double quote and newline (exposition format 0.0.4).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Resident set size from /proc/self/statm (pages) times the page size.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qb_gadgets::{Decision, Incident, Refusal};

    fn incident(outcome: Outcome) -> Incident {
        Incident {
            ts_ns: 0,
            rule: "oracle-kill".into(),
            action: "kill".into(),
            mode: Mode::DryRun,
            outcome,
            decision: Decision::new("oracle", "oom_forecast", 0),
            stacks: None,
        }
    }

    #[test]
    fn a_tick_counts_onsets_actions_refusals_and_latency() {
        let mut m = Metrics::default();
        m.set_mode(Mode::DryRun);
        let report = TickReport {
            onsets: vec![Decision::new("oracle", "oom_forecast", 0)],
            suppressed: vec![qb_gadgets::Suppressed {
                decision: Decision::new("timekeeper", "metric_spike", 0),
                tag: "routine:1".into(),
                similarity: 0.9,
                onset: true,
            }],
            incidents: vec![
                incident(Outcome::DryRun),
                incident(Outcome::Refused {
                    refusal: Refusal::HostPid { pid: 1 },
                }),
            ],
            ..TickReport::default()
        };
        m.record_tick(
            Duration::from_millis(40),
            Duration::from_micros(300),
            &report,
        );
        m.record_tick(
            Duration::from_secs(2),
            Duration::from_millis(1),
            &TickReport::default(),
        );
        let text = m.render(Some(4096));
        for line in [
            "qbranch_decisions_total{gadget=\"oracle\",kind=\"oom_forecast\"} 1",
            "qbranch_actions_total{gadget=\"oracle\",action=\"kill\",outcome=\"dry_run\"} 1",
            "qbranch_actions_total{gadget=\"oracle\",action=\"kill\",outcome=\"refused\"} 1",
            "qbranch_refusals_total{gadget=\"oracle\",rule=\"host_pid\"} 1",
            "qbranch_suppressed_total{gadget=\"timekeeper\",kind=\"metric_spike\"} 1",
            "qbranch_tick_seconds_bucket{le=\"0.05\"} 1",
            "qbranch_tick_seconds_bucket{le=\"1\"} 1",
            "qbranch_tick_seconds_bucket{le=\"+Inf\"} 2",
            "qbranch_tick_seconds_count 2",
            "qbranch_ticks_total 2",
            "qbranch_mode{mode=\"dry_run\"} 1",
            "qbranch_resident_memory_bytes 4096",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn trace_counters_render_only_when_the_intake_runs() {
        let mut m = Metrics::default();
        assert!(!m.render(None).contains("qbranch_trace"));
        m.set_traces(qb_recorder::TraceCounters {
            spans: 12,
            spans_dropped_queue: 3,
            bytes: 4096,
            ..Default::default()
        });
        let text = m.render(None);
        for line in [
            "qbranch_trace_spans_total 12",
            "qbranch_trace_spans_dropped_total 3",
            "qbranch_trace_bytes_total 4096",
            "# TYPE qbranch_trace_queued_spans gauge",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels(&[("a", "x\"y\\z\nw")]), "{a=\"x\\\"y\\\\z\\nw\"}");
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().is_some_and(|b| b > 0));
        }
    }
}

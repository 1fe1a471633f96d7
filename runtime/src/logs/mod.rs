//! The log pipeline: the recorder tails the configured files into each frame's `logs`,
//! the Curator redacts every line in place before anything else sees it (the gadgets,
//! the Archivist, the sink), and the redacted lines are forwarded to a sink through a
//! bounded queue. So no line leaves unredacted, and a sink that is down costs counted
//! drops, never a blocked tick.

mod forward;
mod slow;

use std::collections::BTreeMap;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;

use anyhow::Context;
use qb_archivist::{Archivist, FlushEvent, Forwarded, Why};
use qb_curator::{LineScratch, RedactConfig, Redactor};
use qb_gadgets::archivist::DecisionTriggers;
use qb_gadgets::incident::rfc3339;
use qb_gadgets::{ArchivistGadgetConfig, TickReport};
use qb_models::registry::Registry;
use qb_signals::{Frame, LogRow};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub use forward::{BATCH_LINES, ForwardStats, Forwarder, SinkSpec};

/// `[logs]` in gadgetd's config file. Without it (or with no `files`) there is no
/// pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSection {
    /// Globs of the files to tail (`*`, `?`, `[..]` within a path component).
    pub files: Vec<String>,
    /// Read files present at start from their beginning (default: from their end).
    #[serde(default)]
    pub from_start: bool,
    /// `stdout`, a file path, or `http://host:port/path` (newline-delimited JSON POSTs).
    #[serde(default = "default_sink")]
    pub sink: String,
    /// The queue in front of the sink: at either bound, records are dropped and counted.
    #[serde(default = "default_buffer_lines")]
    pub buffer_lines: usize,
    #[serde(default = "default_buffer_bytes")]
    pub buffer_bytes: usize,
    /// Longer lines are cut here by the tailer (and flagged `truncated`).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Bytes read from one file in one tick at most: a writer faster than this makes
    /// the pipeline lag behind on disk (`qbranch_log_backlog_bytes`) instead of growing
    /// a tick's lines, and so the daemon's memory, without bound.
    #[serde(default = "default_max_bytes_per_tick")]
    pub max_bytes_per_tick: u64,
    /// Also append every PII alert (never the value) to this file as a JSON line.
    pub alerts: Option<PathBuf>,
    /// The Curator's per-entity policies (`[logs.redact.policy] email = "hash"`).
    #[serde(default)]
    pub redact: RedactConfig,
    /// Learned fast-path rules (`qbranch curator learn`); a missing file is no rules.
    pub rules: Option<PathBuf>,
    /// Share of lines the Curator's slow path (the context classifier) reads, off the
    /// tick; 0 turns it off.
    #[serde(default = "default_slow_path_sample")]
    pub slow_path_sample: f64,
    /// The Archivist (`enabled = true`): instead of every line, forward a 1 % sample and
    /// flush the rings around incidents (its triggers and the gadgets' decisions).
    #[serde(default)]
    pub archivist: ArchivistGadgetConfig,
}

fn default_sink() -> String {
    "stdout".into()
}
fn default_buffer_lines() -> usize {
    100_000
}
fn default_buffer_bytes() -> usize {
    64 << 20
}
fn default_max_line_bytes() -> usize {
    64 << 10
}
fn default_slow_path_sample() -> f64 {
    qb_curator::SlowConfig::default().sample
}
fn default_max_bytes_per_tick() -> u64 {
    32 << 20
}

impl LogsSection {
    /// What `parse` cannot check by type: a sink that parses, bounds that are not zero.
    pub fn validate(&self) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("files: at least one glob".into());
        }
        SinkSpec::parse(&self.sink).map_err(|e| format!("sink: {e}"))?;
        self.archivist.validate()?;
        if !(0.0..=1.0).contains(&self.slow_path_sample) {
            return Err("slow_path_sample must be in [0, 1]".into());
        }
        for (key, v) in [
            ("buffer_lines", self.buffer_lines),
            ("buffer_bytes", self.buffer_bytes),
            ("max_line_bytes", self.max_line_bytes),
            (
                "max_bytes_per_tick",
                usize::try_from(self.max_bytes_per_tick).unwrap_or(1),
            ),
        ] {
            if v == 0 {
                return Err(format!("{key} must be above 0"));
            }
        }
        Ok(())
    }

    pub fn tail_config(&self) -> qb_recorder::TailConfig {
        qb_recorder::TailConfig {
            max_line_bytes: self.max_line_bytes,
            from_start: self.from_start,
            max_bytes_per_poll: self.max_bytes_per_tick,
            ..qb_recorder::TailConfig::default()
        }
    }
}

/// Counters since start, for /metrics and the end-of-run summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogStats {
    pub lines: u64,
    pub redacted_lines: u64,
    /// Findings per entity (`email`, `ssn`, ...).
    pub findings: BTreeMap<&'static str, u64>,
    /// Records handed to the forwarder (queued or dropped) per reason.
    pub forwarded: BTreeMap<&'static str, u64>,
    pub forward: ForwardStats,
    /// Bytes written to the tailed files and not read yet (the per-tick budget).
    pub backlog_bytes: u64,
    /// The slow path: lines handed to it, skipped (its queue was full), and findings.
    pub slow_sampled: u64,
    pub slow_skipped: u64,
    pub slow_findings: u64,
}

#[derive(Debug)]
pub struct LogPipeline {
    redactor: Redactor,
    scratch: LineScratch,
    slow: Option<slow::SlowStage>,
    archivist: Option<Archivist>,
    triggers: DecisionTriggers,
    /// Flush events already reported.
    reported: usize,
    drained: Vec<Forwarded>,
    forwarder: Forwarder,
    stats: LogStats,
}

impl LogPipeline {
    pub fn start(section: &LogsSection, registry: &Registry) -> anyhow::Result<LogPipeline> {
        let sink =
            SinkSpec::parse(&section.sink).map_err(|e| anyhow::anyhow!("[logs] sink: {e}"))?;
        let rules = match &section.rules {
            Some(path) => qb_curator::load_rules(path)?,
            None => Vec::new(),
        };
        let redactor = Redactor::with_rules(section.redact.clone(), &rules).context("curator")?;
        let slow = (section.slow_path_sample > 0.0)
            .then(|| slow::SlowStage::start(section.slow_path_sample))
            .transpose()
            .context("curator slow path")?;
        let forwarder = Forwarder::start(sink, section.buffer_lines, section.buffer_bytes)
            .context("log forwarder: cannot start its thread")?;
        let archivist = section
            .archivist
            .enabled
            .then(|| qb_gadgets::archivist::archivist(&section.archivist, registry))
            .transpose()
            .map_err(|e| anyhow::anyhow!("[logs.archivist]: {e}"))?
            .map(|(a, why)| {
                if let (Some(why), true) = (why, section.archivist.buffer.rank) {
                    tracing::warn!("[logs.archivist]: {why}");
                }
                a
            });
        tracing::info!(
            "logs: tailing {}, redacting ({} learned rules, slow path on {} % of lines), \
             forwarding {} to {}",
            section.files.join(", "),
            rules.len(),
            section.slow_path_sample * 100.0,
            match &archivist {
                Some(a) => format!(
                    "a {} % sample and {} s around incidents",
                    a.config().sample_rate * 100.0,
                    a.config().before_s + a.config().after_s
                ),
                None => "every line".to_string(),
            },
            forwarder.sink()
        );
        Ok(LogPipeline {
            scratch: redactor.scratch(),
            redactor,
            slow,
            archivist,
            triggers: DecisionTriggers::new(section.archivist.decision_confidence),
            reported: 0,
            drained: Vec::new(),
            forwarder,
            stats: LogStats::default(),
        })
    }

    /// Redacts every line in place and returns one alert (a JSON line) per finding.
    pub fn redact(&mut self, logs: &mut [LogRow]) -> Vec<String> {
        let mut alerts = Vec::new();
        // source -> entities found this tick, for one readable line per source.
        let mut found: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
        for row in logs.iter_mut() {
            self.stats.lines += 1;
            let redacted = self.redactor.redact(&row.line, &mut self.scratch);
            if redacted.findings.is_empty() {
                continue;
            }
            let per_source = found.entry(row.source.clone()).or_default();
            for f in redacted.findings {
                *self.stats.findings.entry(f.entity.name()).or_default() += 1;
                *per_source.entry(f.entity.name()).or_default() += 1;
                alerts.push(alert_json(row, f));
            }
            let text = redacted.text.into_owned();
            self.stats.redacted_lines += 1;
            row.line = text;
        }
        for (source, entities) in found {
            let list: Vec<String> = entities.iter().map(|(e, n)| format!("{e} x{n}")).collect();
            tracing::warn!("pii redacted in {source}: {}", list.join(", "));
        }
        if let Some(slow) = &mut self.slow {
            slow.offer(logs);
            let missed = slow.collect();
            if !missed.is_empty() {
                tracing::warn!(
                    "pii the fast path missed, found by the slow path: {} (see proposed_rule)",
                    missed.len()
                );
            }
            alerts.extend(missed);
        }
        alerts
    }

    /// Queues the tick's redacted lines for the sink: all of them, or with the
    /// Archivist what it samples and flushes (the tick's confident decisions are its
    /// triggers too). Returns each new flush as a JSON line (`event: flush`).
    pub fn forward(&mut self, frame: &Frame, report: &TickReport) -> Vec<String> {
        let Some(archivist) = &mut self.archivist else {
            for row in &frame.logs {
                self.queue(row, None, "all");
            }
            return Vec::new();
        };
        archivist.observe(frame);
        self.triggers
            .feed(frame.ts_ns, &report.decisions, archivist);
        let flushes: Vec<String> = archivist.events()[self.reported..]
            .iter()
            .map(|e| {
                tracing::warn!(
                    "archivist: {} flush of {} ({} buffered lines)",
                    e.trigger.reason.name(),
                    e.services.join(", "),
                    e.lines_flushed
                );
                flush_json(e)
            })
            .collect();
        self.reported = archivist.events().len();
        let mut drained = std::mem::take(&mut self.drained);
        archivist.drain(&mut drained);
        for f in drained.drain(..) {
            let why = match f.why {
                Why::Sampled => "sampled",
                Why::Flush { .. } => "flush",
            };
            self.queue(&f.row, Some(&f.service), why);
        }
        self.drained = drained;
        flushes
    }

    fn queue(&mut self, row: &LogRow, service: Option<&str>, why: &'static str) {
        *self.stats.forwarded.entry(why).or_default() += 1;
        self.forwarder.push(record_json(row, service, why));
    }

    /// The counters, with the tailer's backlog as of this tick.
    /// The forwarder's records per send (gadgetd's tuner).
    pub fn set_batch_lines(&self, lines: usize) {
        self.forwarder.set_batch_lines(lines);
    }

    pub fn stats(&mut self, backlog_bytes: u64) -> &LogStats {
        self.stats.forward = self.forwarder.stats();
        self.stats.backlog_bytes = backlog_bytes;
        self.count_slow();
        &self.stats
    }

    fn count_slow(&mut self) {
        if let Some(slow) = &self.slow {
            self.stats.slow_sampled = slow.sampled;
            self.stats.slow_skipped = slow.skipped;
            self.stats.slow_findings = slow.found;
        }
    }

    /// Delivers what is queued (briefly) and returns the final counts and the slow
    /// path's last alerts.
    pub fn stop(&mut self) -> (LogStats, Vec<String>) {
        let alerts = self
            .slow
            .as_mut()
            .map(slow::SlowStage::stop)
            .unwrap_or_default();
        self.stats.forward = self.forwarder.stop();
        self.count_slow();
        (self.stats.clone(), alerts)
    }
}

/// A finding, where it is and which rule matched: never the value.
fn alert_json(row: &LogRow, f: &qb_curator::Finding) -> String {
    let mut m = Map::new();
    m.insert("ts".into(), json!(rfc3339(row.ts_ns)));
    m.insert("event".into(), json!("pii"));
    m.insert("source".into(), json!(row.source));
    m.insert("offset".into(), json!(row.offset));
    m.insert("column".into(), json!(f.range.start));
    m.insert("entity".into(), json!(f.entity.name()));
    m.insert("category".into(), json!(f.entity.category()));
    m.insert("rule".into(), json!(f.rule));
    Value::Object(m).to_string()
}

/// A flush: its reason, services, window and the lines it took from the rings.
fn flush_json(e: &FlushEvent) -> String {
    let mut m = Map::new();
    m.insert("ts".into(), json!(rfc3339(e.trigger.ts_ns)));
    m.insert("event".into(), json!("flush"));
    m.insert("gadget".into(), json!("archivist"));
    m.insert("reason".into(), json!(e.trigger.reason));
    m.insert("services".into(), json!(e.services));
    m.insert("from".into(), json!(rfc3339(e.window_start_ns)));
    m.insert("until".into(), json!(rfc3339(e.window_end_ns)));
    m.insert("lines_flushed".into(), json!(e.lines_flushed));
    if e.incomplete {
        m.insert("incomplete".into(), json!(true));
    }
    Value::Object(m).to_string()
}

fn record_json(row: &LogRow, service: Option<&str>, why: &str) -> String {
    let mut m = Map::new();
    m.insert("ts".into(), json!(rfc3339(row.ts_ns)));
    m.insert("event".into(), json!("log"));
    m.insert("source".into(), json!(row.source));
    if let Some(service) = service {
        m.insert("service".into(), json!(service));
    }
    m.insert("offset".into(), json!(row.offset));
    if let Some(level) = &row.level {
        m.insert("level".into(), json!(level));
    }
    if let Some(pid) = row.pid {
        m.insert("pid".into(), json!(pid));
    }
    if row.truncated {
        m.insert("truncated".into(), json!(true));
    }
    m.insert("why".into(), json!(why));
    m.insert("line".into(), json!(row.line));
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(offset: u64, line: &str) -> LogRow {
        LogRow {
            ts_ns: 1_700_000_000_000_000_000,
            source: "/var/log/app.log".into(),
            offset,
            pid: None,
            level: Some("info".into()),
            line: line.into(),
            truncated: false,
        }
    }

    fn registry() -> Registry {
        Registry::embedded().unwrap()
    }

    fn section(sink: &Path) -> LogsSection {
        let text = format!("files = [\"/x/*.log\"]\nsink = \"{}\"", sink.display());
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn the_slow_path_reports_what_the_fast_path_missed_without_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let mut section = section(&dir.path().join("out.jsonl"));
        section.slow_path_sample = 1.0;
        let mut p = LogPipeline::start(&section, &registry()).unwrap();
        let line = "2026-01-01 INFO KycService - tax id 123.45.6789 verified against registry";
        let mut logs = vec![row(0, line)];
        let mut alerts = p.redact(&mut logs);
        assert_eq!(
            logs[0].line, line,
            "the fast path does not know this spelling"
        );
        let (stats, last) = p.stop();
        alerts.extend(last);
        assert_eq!((stats.slow_sampled, stats.slow_skipped), (1, 0));
        let ssn: Vec<Value> = alerts
            .iter()
            .map(|a| serde_json::from_str::<Value>(a).unwrap())
            .filter(|v| v["entity"] == "ssn")
            .collect();
        assert_eq!(ssn.len(), 1, "{alerts:?}");
        assert_eq!(ssn[0]["rule"], "slow_path");
        assert!(
            ssn[0]["proposed_rule"]
                .as_str()
                .is_some_and(|r| r.contains("(?P<v>"))
        );
        assert!(alerts.iter().all(|a| !a.contains("6789")), "{alerts:?}");
    }

    #[test]
    fn learned_rules_load_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.toml");
        std::fs::write(&rules, "[[rule]]\nname = 1\n").unwrap();
        let mut section = section(&dir.path().join("out.jsonl"));
        section.rules = Some(rules.clone());
        let e = LogPipeline::start(&section, &registry()).unwrap_err();
        assert!(format!("{e:#}").contains("rules.toml"), "{e:#}");
        section.rules = Some(dir.path().join("missing.toml"));
        assert!(
            LogPipeline::start(&section, &registry()).is_ok(),
            "a missing file is no rules"
        );
    }

    #[test]
    fn lines_are_redacted_in_place_and_alerts_never_hold_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        let mut p = LogPipeline::start(&section(&out), &registry()).unwrap();
        let mut logs = vec![
            row(0, "refund to card 4532 0151 1283 0366 for jmueller@web.de"),
            row(60, "GET /health 200"),
        ];
        let alerts = p.redact(&mut logs);
        assert_eq!(
            logs[0].line,
            "refund to card [CREDIT_CARD_REDACTED] for [EMAIL_REDACTED]@web.de"
        );
        assert_eq!(logs[1].line, "GET /health 200");
        assert_eq!(alerts.len(), 2);
        for a in &alerts {
            assert!(!a.contains("0366") && !a.contains("jmueller"), "{a}");
            let v: Value = serde_json::from_str(a).unwrap();
            assert_eq!(
                (v["offset"].as_u64(), v["event"].as_str()),
                (Some(0), Some("pii"))
            );
        }
        let mut frame = Frame::new(1, "h");
        frame.logs = logs;
        assert!(p.forward(&frame, &TickReport::default()).is_empty());
        let (stats, _) = p.stop();
        assert_eq!((stats.lines, stats.redacted_lines), (2, 1));
        assert_eq!(stats.findings.get("credit_card"), Some(&1));
        assert_eq!((stats.forward.sent, stats.forward.dropped), (2, 0));
        let sent = std::fs::read_to_string(&out).unwrap();
        assert!(
            !sent.contains("0366") && sent.contains("GET /health 200"),
            "{sent}"
        );
    }
}

//! The Curator's slow path in gadgetd, off the tick: a sampled share of the redacted
//! lines goes through a bounded channel to a thread that runs the context classifier;
//! what it finds (PII the fast path missed, so still in the forwarded line) comes back
//! as alerts, each with the fast-path rule it suggests (`qbranch curator learn` gates
//! and promotes those). A full channel skips samples and counts them: the slow path
//! never holds a tick up.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use qb_curator::{SlowConfig, SlowFinding, SlowPath, SlowScratch, propose};
use qb_gadgets::incident::rfc3339;
use qb_signals::LogRow;
use serde_json::{Map, Value, json};

/// Sampled lines waiting for the classifier.
const QUEUE: usize = 4096;

#[derive(Debug)]
struct Sample {
    ts_ns: i64,
    source: String,
    offset: u64,
    line: String,
}

#[derive(Debug)]
pub struct SlowStage {
    slow: SlowPath,
    to_thread: Option<SyncSender<Sample>>,
    alerts: Receiver<String>,
    thread: Option<JoinHandle<()>>,
    pub sampled: u64,
    pub skipped: u64,
    pub found: u64,
}

impl SlowStage {
    pub fn start(sample: f64) -> anyhow::Result<SlowStage> {
        let slow = SlowPath::embedded(SlowConfig {
            sample,
            ..SlowConfig::default()
        })?;
        let (to_thread, samples) = sync_channel::<Sample>(QUEUE);
        let (to_tick, alerts) = sync_channel::<String>(QUEUE);
        let worker = slow.clone();
        let thread = std::thread::Builder::new()
            .name("curator-slow".into())
            .spawn(move || classify(&worker, &samples, &to_tick))?;
        Ok(SlowStage {
            slow,
            to_thread: Some(to_thread),
            alerts,
            thread: Some(thread),
            sampled: 0,
            skipped: 0,
            found: 0,
        })
    }

    /// Hands the sampled lines of a tick to the thread (never waits).
    pub fn offer(&mut self, rows: &[LogRow]) {
        let Some(tx) = &self.to_thread else { return };
        for row in rows.iter().filter(|r| self.slow.sampled(&r.line)) {
            let sample = Sample {
                ts_ns: row.ts_ns,
                source: row.source.clone(),
                offset: row.offset,
                line: row.line.clone(),
            };
            match tx.try_send(sample) {
                Ok(()) => self.sampled += 1,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.skipped += 1,
            }
        }
    }

    /// Alerts the thread has produced so far.
    pub fn collect(&mut self) -> Vec<String> {
        let out: Vec<String> = self.alerts.try_iter().collect();
        self.found += out.len() as u64;
        out
    }

    /// Lets the thread finish what it holds and returns its last alerts.
    pub fn stop(&mut self) -> Vec<String> {
        drop(self.to_thread.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("curator slow path: its thread panicked");
        }
        self.collect()
    }
}

fn classify(slow: &SlowPath, samples: &Receiver<Sample>, alerts: &SyncSender<String>) {
    let mut scratch = SlowScratch::default();
    let mut found = Vec::new();
    for s in samples {
        // The line is already redacted: what the fast path found is a token now, so
        // whatever the classifier still finds, the fast path missed.
        slow.check(&s.line, &[], &mut scratch, &mut found);
        for f in &found {
            if alerts.send(alert_json(&s, f)).is_err() {
                return;
            }
        }
    }
}

/// Where, what and the rule it suggests: never the value.
fn alert_json(s: &Sample, f: &SlowFinding) -> String {
    let mut m = Map::new();
    m.insert("ts".into(), json!(rfc3339(s.ts_ns)));
    m.insert("event".into(), json!("pii"));
    m.insert("source".into(), json!(s.source));
    m.insert("offset".into(), json!(s.offset));
    m.insert("column".into(), json!(f.range.start));
    m.insert("entity".into(), json!(f.entity.name()));
    m.insert("category".into(), json!(f.entity.category()));
    m.insert("rule".into(), json!("slow_path"));
    m.insert("probability".into(), json!(f.probability));
    if let Some(pattern) = propose(&s.line, f) {
        m.insert("proposed_rule".into(), json!(pattern));
    }
    Value::Object(m).to_string()
}

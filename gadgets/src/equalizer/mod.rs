//! The Equalizer: a toxic connection ended surgically, the service left serving.
//!
//! Unusual is not harmful: the embedded isolation forest flags the heavy connection of
//! a large download in every run and a slow client's in 98 % (trainer/README.md), and
//! it cannot see a lock holder at all (idle, it looks like the sessions it blocks). So
//! a `toxic_connection` decision needs harm, and there are two kinds of it:
//!
//! - **runaway statement** (`isolation_forest`): the forest's score is at least
//!   `min_score` *and* the connection's request has been running unanswered, without a
//!   byte either way, for `min_runtime`, *and* its owner burns `min_owner_cpu` cores
//!   per connection. A download makes progress; a slow client burns nothing.
//! - **stall** (`stall_rule`): most of a service's connections wait on unanswered
//!   requests for `stall_for`, and exactly one other session went silent, its own last
//!   request answered, just before the first of them: the lock holder, idle in its
//!   transaction. Its confidence grows with the share of the service waiting.
//!
//! The safety the spec asks of this gadget is here and in the guard: never a request
//! to a protected path, only safe methods when the method is known (from the frame's
//! request facts, when traces are received), one ending per minute per service (the
//! guard's `end_connection` cooldown, scoped to the service), the pause file, the
//! process rules (pid 1, kernel threads, this daemon, deny lists), and the default rule
//! acting only on a decision held for 10 s at the forest's operating point. How a connection ends: its backend is
//! terminated where the server runs one process per connection (PostgreSQL), the socket
//! destroyed otherwise (`EndChoice`).

mod config;
mod conns;
mod requests;

use std::collections::HashMap;

use qb_models::features::{EQUALIZER, EqualizerExtractor, EqualizerVector, Extractor};
use qb_models::iforest::IsolationForest;
use qb_models::registry::{self, Loaded, Registry};
use qb_signals::{Frame, ProcessRow};

pub use config::{EndChoice, EqualizerConfig};
use conns::{ConnTracker, ConnView, find_stall};
use requests::{RequestFacts, SPIKE_RATIO};

use crate::decision::{Decision, Gadget};
use crate::safety::{ConnTarget, Target};

pub const NAME: &str = "equalizer";
pub const TOXIC: &str = "toxic_connection";
/// What would have been a `toxic_connection` but for a protected path or an unsafe
/// method: recorded, never acted on.
pub const PROTECTED: &str = "toxic_protected";
/// The rule baseline's confidence: the spec's z-score rule (with the statement's wait
/// for the duration) measured precision 0.99 but recall 0.25; it reports, never acts.
const RULE_CONFIDENCE: f64 = 0.5;
const RULE_SIGMA: f64 = 3.0;

#[derive(Debug)]
pub struct Equalizer {
    config: EqualizerConfig,
    forest: Loaded<IsolationForest>,
    extractor: EqualizerExtractor,
    tracker: ConnTracker,
    requests: RequestFacts,
    vectors: Vec<EqualizerVector>,
}

impl Equalizer {
    pub fn new(registry: &Registry, config: EqualizerConfig) -> Self {
        let forest = registry::load_or_rule(
            registry,
            &registry::EQUALIZER_FOREST,
            IsolationForest::decode,
        );
        Equalizer {
            config,
            forest,
            extractor: EqualizerExtractor::new(),
            tracker: ConnTracker::default(),
            requests: RequestFacts::default(),
            vectors: Vec::new(),
        }
    }

    /// The anomaly score of a connection's vector, and what gave it.
    fn score(&self, v: &EqualizerVector) -> (f64, &'static str) {
        match &self.forest {
            Loaded::Model(f) => (f.score(&v.values), "isolation_forest"),
            // The wait rule: the statement's wait and the owner's CPU both 3-sigma
            // outliers among the service's connections (in the features' z-scores,
            // CPU as its own share).
            Loaded::Rule { .. } => {
                let wait = v.feature("wait_zscore");
                let cpu = v.feature("cpu_attribution");
                let hit = wait >= RULE_SIGMA && cpu >= 0.5;
                (if hit { RULE_CONFIDENCE } else { 0.0 }, "rule")
            }
        }
    }
}

impl Gadget for Equalizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn models(&self) -> Vec<(&'static str, String)> {
        vec![(registry::EQUALIZER_FOREST.name, self.forest.describe())]
    }

    fn observe(&mut self, frame: &Frame, out: &mut Vec<Decision>) {
        let mut vectors = std::mem::take(&mut self.vectors);
        vectors.clear();
        self.extractor.observe(frame, &mut vectors);
        let by_name: HashMap<&str, &EqualizerVector> =
            vectors.iter().map(|v| (v.connection.as_str(), v)).collect();
        let services = self.tracker.observe(frame);
        self.requests.observe(frame);
        let owners: HashMap<u32, &ProcessRow> =
            frame.processes.iter().map(|p| (p.pid, p)).collect();
        let now = frame.ts_ns;
        let ns = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        for views in services.values() {
            let mut owned: HashMap<u32, usize> = HashMap::new();
            for v in views {
                if let Some(pid) = v.row.pid {
                    *owned.entry(pid).or_default() += 1;
                }
            }
            let decide = |v: &ConnView, confidence: f64, source: &'static str| {
                let owner = owners.get(&v.row.pid?)?;
                let request = self.requests.last_request(v.row);
                decision(
                    &self.config,
                    frame,
                    v,
                    owner,
                    &owned,
                    request,
                    confidence,
                    source,
                )
            };
            // Runaway statements.
            for v in views {
                let Some(vector) = by_name.get(v.name().as_str()) else {
                    continue;
                };
                let (score, source) = self.score(vector);
                let anomalous = match source {
                    "rule" => score > 0.0,
                    _ => score >= self.config.min_score,
                };
                // Harm: its owner burns CPU, or (from traces) the service has slowed.
                let p99_ratio = self.requests.p99_ratio(v.row.local_port, now);
                let harmful = v.may_wait()
                    && v.silent_ns(now) >= ns(self.config.min_runtime)
                    && (vector.feature("cpu_attribution") >= self.config.min_owner_cpu
                        || p99_ratio.is_some_and(|r| r >= SPIKE_RATIO));
                if anomalous
                    && harmful
                    && let Some(mut d) = decide(v, score, source)
                {
                    d.evidence.insert("score", score);
                    if let Some(r) = p99_ratio {
                        d.evidence.insert("service_p99_ratio", r);
                    }
                    for (name, value) in EQUALIZER.names.iter().zip(vector.values) {
                        d.evidence.insert(name, value);
                    }
                    out.push(d);
                }
            }
            // A stall behind one idle session.
            let stall = find_stall(
                views,
                now,
                self.config.min_waiting,
                ns(self.config.stall_for),
                ns(self.config.stall_lead),
            );
            if let Some(st) = stall
                && let Some(mut d) = decide(&views[st.culprit], st.confidence(), "stall_rule")
            {
                d.evidence.insert("waiting", st.waiting as f64);
                d.evidence.insert("active", st.active as f64);
                d.evidence
                    .insert("stall_s", (now - st.onset_ns) as f64 / 1e9);
                out.push(d);
            }
        }
        self.vectors = vectors;
    }
}

/// The decision on `v`: `toxic_protected` when its client's last request (from traces)
/// went to a protected path or used an unsafe method.
#[allow(clippy::too_many_arguments)]
fn decision(
    config: &EqualizerConfig,
    frame: &Frame,
    v: &ConnView,
    owner: &ProcessRow,
    owned: &HashMap<u32, usize>,
    request: Option<&requests::Request>,
    confidence: f64,
    source: &'static str,
) -> Option<Decision> {
    let local_port = u16::try_from(v.row.local_port).ok()?;
    let remote_port = u16::try_from(v.row.remote_port).ok()?;
    // One process per connection: the owner serves only this one and is a child of the
    // listener (never the listener itself).
    let per_connection = owned.get(&owner.pid) == Some(&1)
        && v.listener_pid
            .is_some_and(|l| l == owner.ppid && l != owner.pid);
    let mut target = Target::from_process(owner);
    target.connection = Some(ConnTarget {
        local_addr: v.row.local_addr.clone(),
        local_port,
        remote_addr: v.row.remote_addr.clone(),
        remote_port,
        inode: v.row.inode,
        method: config.method(per_connection),
    });
    let protected = request.is_some_and(|r| {
        r.path.as_deref().is_some_and(|p| config.protects_path(p))
            || !config.allows_method(r.method.as_deref())
    });
    let mut d = Decision::new(NAME, if protected { PROTECTED } else { TOXIC }, frame.ts_ns);
    d.process = Some(target);
    d.confidence = confidence;
    d.source = source;
    d.evidence
        .insert("silent_s", v.silent_ns(frame.ts_ns) as f64 / 1e9);
    d.evidence.insert(
        "owner_connections",
        owned.get(&owner.pid).copied().unwrap_or(0) as f64,
    );
    Some(d)
}

#[cfg(test)]
mod tests;

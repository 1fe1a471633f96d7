//! What a gadget concludes about one target at one tick.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::safety::Target;

/// One gadget's conclusion. Gadgets emit a decision every tick for as long as it holds,
/// so rules can measure how long it has held (hold-downs) from the frames alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub gadget: &'static str,
    /// What was concluded: `oom_forecast`, `stuck`, `false_positive`, ...
    pub kind: &'static str,
    /// The frame's time, the only clock a gadget reads.
    pub ts_ns: i64,
    /// The cgroup the conclusion is about, when it is about one.
    pub cgroup: Option<String>,
    /// The process an action would land on: the stuck process, or the Oracle's victim.
    pub process: Option<Target>,
    /// The log stream (file) the conclusion is about, for the log gadgets.
    pub stream: Option<String>,
    /// In [0, 1]: the model's probability, or a rule baseline's fixed confidence.
    pub confidence: f64,
    /// Seconds until the predicted failure, where the gadget forecasts one.
    pub eta_s: Option<f64>,
    /// Which model (or `rule`) produced it.
    pub source: &'static str,
    /// The values that drove the decision, by name.
    pub evidence: BTreeMap<&'static str, f64>,
}

impl Decision {
    pub fn new(gadget: &'static str, kind: &'static str, ts_ns: i64) -> Self {
        Decision {
            gadget,
            kind,
            ts_ns,
            cgroup: None,
            process: None,
            stream: None,
            confidence: 0.0,
            eta_s: None,
            source: "rule",
            evidence: BTreeMap::new(),
        }
    }

    /// The identity a decision keeps from tick to tick: hold-downs and onsets key on it.
    /// A decision about a cgroup is that cgroup's, whichever process it names as the
    /// victim this tick (two growers trading places must not restart the hold-down);
    /// a decision about a process alone is that process's; one about a log stream, the
    /// stream's; one about a connection, that connection's (a server process may hold
    /// many).
    pub fn key(&self) -> DecisionKey {
        DecisionKey {
            gadget: self.gadget,
            kind: self.kind,
            cgroup: self.cgroup.clone(),
            stream: self.stream.clone(),
            connection: self
                .process
                .as_ref()
                .and_then(|p| p.connection.as_ref())
                .map(|c| c.name()),
            process: match self.cgroup {
                Some(_) => None,
                None => self.process.as_ref().map(|p| (p.pid, p.start_time_ns)),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DecisionKey {
    pub gadget: &'static str,
    pub kind: &'static str,
    pub cgroup: Option<String>,
    pub stream: Option<String>,
    pub connection: Option<String>,
    pub process: Option<(u32, i64)>,
}

/// A gadget: frames in, decisions out. Called every tick; it must never panic and reads
/// time only from the frame, so a replay decides exactly as the live daemon did.
pub trait Gadget: std::fmt::Debug + Send {
    fn name(&self) -> &'static str;
    /// Where each of its models came from (`model` or `rule: <why>`), for the daemon's
    /// `models` view and metrics.
    fn models(&self) -> Vec<(&'static str, String)>;
    fn observe(&mut self, frame: &qb_signals::Frame, out: &mut Vec<Decision>);
}

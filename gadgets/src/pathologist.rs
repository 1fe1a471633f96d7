//! The Pathologist: every process with a full window is classified working / idle /
//! stuck by the embedded random forest each tick. P(stuck) at or above
//! `report_probability` is a `stuck` decision on that process; the default rule acts
//! once it has held above 0.9 for 60 s (stacks, SIGTERM, 10 s, SIGKILL). Without the
//! forest the spec's rule stands in, at a confidence of 0.5: its measured precision
//! (0.08 on held-out data) is far too low for it ever to meet an action threshold.

use std::collections::{BTreeMap, HashMap};

use qb_models::features::pathologist::{STUCK, rule};
use qb_models::features::{Extractor, PATHOLOGIST_LEN, PathologistExtractor, PathologistVector};
use qb_models::forest::RandomForest;
use qb_models::registry::{self, Loaded, Registry};
use qb_signals::{Frame, ProcessRow};

use crate::config::PathologistConfig;
use crate::decision::{Decision, Gadget};
use crate::safety::Target;

const NAME: &str = "pathologist";
/// The rule baseline's confidence when it says stuck.
const RULE_CONFIDENCE: f64 = 0.5;
const EVIDENCE: [&str; 10] = [
    "cpu_cores",
    "io_rate",
    "syscall_rate",
    "syscall_entropy",
    "wait_futex_share",
    "d_state_share",
    "progress_share",
    "connections_silent",
    "unread_bytes",
    "backlog",
];

#[derive(Debug)]
pub struct Pathologist {
    config: PathologistConfig,
    forest: Loaded<RandomForest>,
    extractor: PathologistExtractor,
    vectors: Vec<PathologistVector>,
    proba: Vec<f32>,
    /// Since when each (pid, start time) has been reported stuck.
    since: BTreeMap<(u32, i64), i64>,
    /// Each process's last vector and P(stuck): an idle process's vector is the same
    /// tick after tick, and the forest is deterministic, so it is asked once.
    last: HashMap<u32, ([f64; PATHOLOGIST_LEN], f64)>,
}

impl Pathologist {
    pub fn new(registry: &Registry, config: PathologistConfig) -> Self {
        let forest = registry::load_or_rule(
            registry,
            &registry::PATHOLOGIST_FOREST,
            RandomForest::decode,
        );
        let classes = match &forest {
            Loaded::Model(f) => f.classes(),
            Loaded::Rule { .. } => 0,
        };
        Pathologist {
            config,
            forest,
            extractor: PathologistExtractor::new(),
            vectors: Vec::new(),
            proba: vec![0.0; classes],
            since: BTreeMap::new(),
            last: HashMap::new(),
        }
    }

    /// P(stuck) and which model said it.
    fn p_stuck(&mut self, v: &PathologistVector) -> (f64, &'static str) {
        match &self.forest {
            Loaded::Model(f) if self.proba.len() > STUCK as usize => {
                let same = |(x, _): &&([f64; PATHOLOGIST_LEN], f64)| {
                    x.iter()
                        .zip(&v.values)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                };
                if let Some((_, p)) = self.last.get(&v.pid).filter(same) {
                    return (*p, "random_forest");
                }
                f.predict_proba_into(&v.values, &mut self.proba);
                let p = f64::from(self.proba[STUCK as usize]);
                self.last.insert(v.pid, (v.values, p));
                (p, "random_forest")
            }
            _ => {
                let stuck = rule(v) == STUCK;
                (if stuck { RULE_CONFIDENCE } else { 0.0 }, "rule")
            }
        }
    }
}

impl Gadget for Pathologist {
    fn name(&self) -> &'static str {
        NAME
    }

    fn models(&self) -> Vec<(&'static str, String)> {
        vec![(registry::PATHOLOGIST_FOREST.name, self.forest.describe())]
    }

    fn observe(&mut self, frame: &Frame, out: &mut Vec<Decision>) {
        let mut vectors = std::mem::take(&mut self.vectors);
        vectors.clear();
        self.extractor.observe(frame, &mut vectors);
        let rows: HashMap<u32, &ProcessRow> = frame.processes.iter().map(|p| (p.pid, p)).collect();
        let mut still = BTreeMap::new();
        for v in &vectors {
            let Some(row) = rows.get(&v.pid) else {
                continue;
            };
            let (p, source) = self.p_stuck(v);
            if p.is_nan() || p < self.config.report_probability {
                continue;
            }
            let key = (row.pid, row.start_time_ns);
            let since = self.since.get(&key).copied().unwrap_or(frame.ts_ns);
            still.insert(key, since);
            let mut d = Decision::new(NAME, "stuck", frame.ts_ns);
            d.process = Some(Target::from_process(row));
            d.confidence = p;
            d.source = source;
            d.evidence
                .insert("stuck_for_s", (frame.ts_ns - since) as f64 / 1e9);
            for name in EVIDENCE {
                d.evidence.insert(name, v.feature(name));
            }
            out.push(d);
        }
        self.since = still;
        if self.last.len() > 2 * vectors.len() + 64 {
            let live: std::collections::HashSet<u32> = vectors.iter().map(|v| v.pid).collect();
            self.last.retain(|pid, _| live.contains(pid));
        }
        self.vectors = vectors;
    }
}

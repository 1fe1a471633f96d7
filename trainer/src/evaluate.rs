//! Scoring OOM detectors on trajectories alike: the Oracle's two models and the rules
//! of the spec, systemd-oomd and earlyoom. A leak is caught when a detector alarms
//! before the kill; its lead is the time from the first alarm to the kill. Any alarm
//! on a cgroup that is never killed is a false alarm.

use std::collections::BTreeMap;

use qb_models::arima::TimeToLimit;
use qb_models::lstm::OomForecast;

use crate::oracle::{ARIMA_WINDOW, HORIZON_S, OOM_LEVEL, OracleModels, SEQUENCE, Trajectory};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detector {
    /// P(OOM within the horizon) >= 0.5.
    Lstm,
    /// >= 0.85: the spec's confidence for acting.
    LstmConfident,
    /// The forecast mean reaches the limit within the horizon.
    Arima,
    /// P(above the limit within the horizon) >= 0.85 under the forecast.
    ArimaConfident,
    SpecRule,
    SystemdOomd,
    Earlyoom,
}

impl Detector {
    pub const ALL: [Detector; 7] = [
        Detector::Lstm,
        Detector::LstmConfident,
        Detector::Arima,
        Detector::ArimaConfident,
        Detector::SpecRule,
        Detector::SystemdOomd,
        Detector::Earlyoom,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Detector::Lstm => "lstm",
            Detector::LstmConfident => "lstm_p85",
            Detector::Arima => "arima",
            Detector::ArimaConfident => "arima_p85",
            Detector::SpecRule => "spec_rule",
            Detector::SystemdOomd => "systemd_oomd",
            Detector::Earlyoom => "earlyoom",
        }
    }

    pub fn is_model(self) -> bool {
        !matches!(
            self,
            Detector::SpecRule | Detector::SystemdOomd | Detector::Earlyoom
        )
    }

    /// How often it decides, in vectors: the models every few ticks (their cost), the
    /// rules every tick, as the daemons run them.
    fn every(self) -> usize {
        match self {
            Detector::Lstm | Detector::LstmConfident => 2,
            Detector::Arima | Detector::ArimaConfident => 5,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Decision {
    i: usize,
    alarm: bool,
    eta_s: Option<f64>,
}

/// Median seconds between vectors.
fn interval_s(t: &Trajectory) -> f64 {
    let mut d: Vec<i64> = t.ts_ns.windows(2).map(|w| w[1] - w[0]).collect();
    d.sort_unstable();
    d.get(d.len() / 2)
        .map_or(1.0, |&ns| (ns as f64 / 1e9).max(1e-3))
}

/// Detectors that share one reading per decision: a model at two confidences runs
/// once for both.
const GROUPS: [&[Detector]; 5] = [
    &[Detector::Lstm, Detector::LstmConfident],
    &[Detector::Arima, Detector::ArimaConfident],
    &[Detector::SpecRule],
    &[Detector::SystemdOomd],
    &[Detector::Earlyoom],
];

/// What a model said at one decision point.
enum Reading {
    Lstm(Option<OomForecast>),
    Arima(Option<TimeToLimit>),
    Rule,
}

/// The decisions of every detector of `group` (one list each) on `t`.
fn decide(group: &[Detector], t: &Trajectory, m: &OracleModels) -> Vec<Vec<Decision>> {
    let idx = |name: &str| {
        qb_models::features::ORACLE
            .names
            .iter()
            .position(|n| *n == name)
    };
    let (usage, ws, psi, full) = (
        idx("usage_frac"),
        idx("working_set_frac"),
        idx("psi_some_avg10"),
        idx("psi_full_avg10"),
    );
    let get = |i: usize, j: Option<usize>| j.map_or(0.0, |j| t.x[i][j]);
    let lead = group[0];
    let first = match lead {
        Detector::Lstm | Detector::LstmConfident => SEQUENCE - 1,
        Detector::Arima | Detector::ArimaConfident => ARIMA_WINDOW - 1,
        _ => 0,
    };
    let dt = interval_s(t);
    let mut full_since: Option<i64> = None;
    let mut out = vec![Vec::new(); group.len()];
    for i in (first..t.x.len()).step_by(lead.every()) {
        let reading = match lead {
            Detector::Lstm | Detector::LstmConfident => {
                Reading::Lstm(m.lstm.forecast(&t.x[i + 1 - SEQUENCE..=i]).ok())
            }
            Detector::Arima | Detector::ArimaConfident => {
                let series: Vec<f64> = (i + 1 - ARIMA_WINDOW..=i).map(|k| get(k, ws)).collect();
                let horizon = (HORIZON_S / dt).ceil().max(1.0) as usize;
                Reading::Arima(
                    m.arima
                        .refit(&series)
                        .and_then(|a| a.time_to_limit(OOM_LEVEL, horizon, 0.95))
                        .ok()
                        .flatten(),
                )
            }
            _ => Reading::Rule,
        };
        for (&det, decisions) in group.iter().zip(&mut out) {
            let (alarm, eta_s) = match (det, &reading) {
                (Detector::Lstm | Detector::LstmConfident, Reading::Lstm(f)) => {
                    let min = if det == Detector::Lstm { 0.5 } else { 0.85 };
                    f.map_or((false, None), |f| (f.probability >= min, Some(f.eta_s)))
                }
                (Detector::Arima | Detector::ArimaConfident, Reading::Arima(ttl)) => {
                    let eta = ttl.and_then(|t| t.eta_steps);
                    let alarm = match det {
                        Detector::Arima => eta.is_some(),
                        _ => ttl.is_some_and(|t| t.probability_within_horizon >= 0.85),
                    };
                    (alarm, eta.map(|s| s as f64 * dt))
                }
                (Detector::SpecRule, _) => (get(i, psi) > 0.20 && get(i, usage) > 0.90, None),
                (Detector::SystemdOomd, _) => {
                    if get(i, full) > 0.60 {
                        let since = *full_since.get_or_insert(t.ts_ns[i]);
                        (t.ts_ns[i] - since >= 30_000_000_000, None)
                    } else {
                        full_since = None;
                        (false, None)
                    }
                }
                (Detector::Earlyoom, _) => (1.0 - get(i, ws) <= 0.10, None),
                // A model detector is only ever grouped with its own model's reading.
                _ => (false, None),
            };
            decisions.push(Decision { i, alarm, eta_s });
        }
    }
    out
}

/// One detector's results over a set of trajectories.
#[derive(Debug, Clone)]
pub struct Score {
    pub detector: Detector,
    leaks: usize,
    /// Seconds from the first alarm to the kill, one per caught leak.
    leads: Vec<f64>,
    negatives: usize,
    negatives_alarmed: usize,
    /// Lookalikes (cgroups built to look like leaks) per dataset kind: (count, of
    /// which alarmed).
    by_kind: BTreeMap<String, (usize, usize)>,
    /// At each decision, alarm against "the kill comes within the horizon":
    /// [true positive, false positive, false negative, true negative].
    window: [u64; 4],
    /// |ETA - truth| / truth for alarms within the horizon that gave an ETA.
    eta_errors: Vec<f64>,
}

impl Score {
    fn new(detector: Detector) -> Self {
        Score {
            detector,
            leaks: 0,
            leads: Vec::new(),
            negatives: 0,
            negatives_alarmed: 0,
            by_kind: BTreeMap::new(),
            window: [0; 4],
            eta_errors: Vec::new(),
        }
    }

    fn add(&mut self, t: &Trajectory, decisions: &[Decision]) {
        for d in decisions {
            let within = t.to_oom_s(d.i).is_some_and(|s| s <= HORIZON_S);
            self.window[match (d.alarm, within) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (false, false) => 3,
            }] += 1;
            if let (true, true, Some(eta), Some(truth)) =
                (d.alarm, within, d.eta_s, t.to_oom_s(d.i))
            {
                self.eta_errors.push((eta - truth).abs() / truth.max(1.0));
            }
        }
        let first = decisions.iter().find(|d| d.alarm);
        if t.oom_ns.is_some() {
            self.leaks += 1;
            if let Some(lead) = first.and_then(|d| t.to_oom_s(d.i)) {
                self.leads.push(lead);
            }
        } else {
            self.negatives += 1;
            self.negatives_alarmed += usize::from(first.is_some());
            if t.lookalike {
                let k = self.by_kind.entry(t.kind.clone()).or_default();
                k.0 += 1;
                k.1 += usize::from(first.is_some());
            }
        }
    }

    fn ratio(a: usize, b: usize) -> f64 {
        if b == 0 { 0.0 } else { a as f64 / b as f64 }
    }

    pub fn recall(&self) -> f64 {
        Self::ratio(self.leads.len(), self.leaks)
    }

    /// Leaks caught at least 60 s before the kill: time for a graceful restart.
    pub fn recall_60s(&self) -> f64 {
        Self::ratio(
            self.leads.iter().filter(|&&l| l >= 60.0).count(),
            self.leaks,
        )
    }

    pub fn false_alarm_rate(&self) -> f64 {
        Self::ratio(self.negatives_alarmed, self.negatives)
    }

    fn lead_quantiles(&self) -> Option<[f64; 5]> {
        let mut l = self.leads.clone();
        l.sort_by(f64::total_cmp);
        let q = |p: f64| l[((l.len() - 1) as f64 * p).round() as usize];
        (!l.is_empty()).then(|| [q(0.0), q(0.1), q(0.5), q(0.9), q(1.0)])
    }

    pub fn to_json(&self) -> serde_json::Value {
        let [tp, fp, fn_, _] = self.window;
        let mut eta = self.eta_errors.clone();
        eta.sort_by(f64::total_cmp);
        serde_json::json!({
            "detector": self.detector.name(),
            "leaks": self.leaks,
            "caught": self.leads.len(),
            "recall": self.recall(),
            "recall_lead_60s": self.recall_60s(),
            "recall_lead_120s": Self::ratio(self.leads.iter().filter(|&&l| l >= 120.0).count(), self.leaks),
            "lead_s": self.lead_quantiles().map(|q| serde_json::json!(
                {"min": q[0], "p10": q[1], "median": q[2], "p90": q[3], "max": q[4]})),
            "leads_s": self.leads,
            "negative_cgroups": self.negatives,
            "negative_cgroups_alarmed": self.negatives_alarmed,
            "false_alarm_rate": self.false_alarm_rate(),
            "lookalike_false_alarms": self.by_kind.iter().map(|(k, (n, a))| (k.clone(), serde_json::json!({"cgroups": n, "alarmed": a}))).collect::<serde_json::Map<_, _>>(),
            "window": {"true_positive": tp, "false_positive": fp, "false_negative": fn_, "true_negative": self.window[3],
                       "precision": if tp + fp == 0 { None } else { Some(tp as f64 / (tp + fp) as f64) },
                       "recall": if tp + fn_ == 0 { None } else { Some(tp as f64 / (tp + fn_) as f64) }},
            "eta_relative_error_median": eta.get(eta.len() / 2),
        })
    }

    /// `lstm: caught 19/20 (>= 60 s ahead: 18), lead p10/median/p90 75/160/420 s, false
    /// alarms on 3/95 cgroups (lookalikes 3/12)`
    pub fn line(&self) -> String {
        let (looks, looks_alarmed) = self
            .by_kind
            .values()
            .fold((0, 0), |(n, a), (kn, ka)| (n + kn, a + ka));
        let leads = self.lead_quantiles().map_or("-".into(), |q| {
            format!("{:.0}/{:.0}/{:.0} s", q[1], q[2], q[3])
        });
        format!(
            "{}: caught {}/{} (>= 60 s ahead: {}), lead p10/median/p90 {leads}, false alarms on {}/{} cgroups (lookalikes {looks_alarmed}/{looks})",
            self.detector.name(),
            self.leads.len(),
            self.leaks,
            self.leads.iter().filter(|&&l| l >= 60.0).count(),
            self.negatives_alarmed,
            self.negatives
        )
    }
}

/// Every detector on every trajectory. ARIMA (a refit per decision) runs on a second
/// thread while the others share the first; each model runs once per decision for both
/// of its confidences.
pub fn score(trajectories: &[Trajectory], models: &OracleModels) -> Vec<Score> {
    let run = |group: &[Detector]| {
        let mut scores: Vec<Score> = group.iter().map(|&d| Score::new(d)).collect();
        for t in trajectories {
            for (s, decisions) in scores.iter_mut().zip(decide(group, t, models)) {
                s.add(t, &decisions);
            }
        }
        scores
    };
    let is_arima = |g: &&&[Detector]| g[0] == Detector::Arima;
    std::thread::scope(|scope| {
        let arima = scope.spawn(|| {
            GROUPS
                .iter()
                .filter(is_arima)
                .flat_map(|g| run(g))
                .collect::<Vec<_>>()
        });
        let rest: Vec<Score> = GROUPS
            .iter()
            .filter(|g| !is_arima(g))
            .flat_map(|g| run(g))
            .collect();
        let arima = arima
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let mut all: Vec<Score> = rest.into_iter().chain(arima).collect();
        all.sort_by_key(|s| Detector::ALL.iter().position(|d| *d == s.detector));
        all
    })
}

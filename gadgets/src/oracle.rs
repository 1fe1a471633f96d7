//! The Oracle: per memory cgroup (and the host as a whole), the probability of an OOM
//! kill within 180 s and its ETA, from the embedded LSTM, with ARIMA as the second
//! opinion and the fallback, and the earlyoom-like rule when neither model loads.
//!
//! Each forecast at or above `report_probability` is an `oom_forecast` decision naming
//! a victim: the process of the cgroup that grows fastest (RSS slope, weighted by its
//! oom_score_adj) among those the safety policy allows, never simply the largest. A
//! cgroup where no allowed process grows gets no victim, so only host-wide relief can
//! follow. Rollback bookkeeping: every confident forecast is followed up; one whose
//! deadline passes with no OOM kill and its victim still running is a `false_positive`
//! decision, the record retraining needs.

use std::collections::BTreeMap;

use qb_models::arima::Arima;
use qb_models::features::oracle::{ARIMA_WINDOW, HORIZON_S, OOM_LEVEL, SEQUENCE};
use qb_models::features::{
    Extractor, Histories, ORACLE, ORACLE_LEN, OracleExtractor, OracleVector,
};
use qb_models::lstm::{Lstm, OomForecast};
use qb_models::registry::{self, Loaded, Registry};
use qb_signals::{CgroupRow, Frame, ProcessRow, SystemRow};

use crate::config::OracleConfig;
use crate::decision::{Decision, Gadget};
use crate::policy::{Policy, cgroup_under};
use crate::safety::{ActionKind, Target};

const NAME: &str = "oracle";
/// The decisions that close a confident forecast: what retraining needs to learn from,
/// so the daemon keeps them with its incidents.
pub const FOLLOW_UP_KINDS: [&str; 3] = ["oom_confirmed", "oom_averted", "false_positive"];
/// A forecast this confident is followed up for the rollback bookkeeping (the default
/// rules act from here).
const CONFIDENT: f64 = 0.85;
/// A cgroup using less than this of its limit is not forecast this tick: even the
/// fastest leak in the simulator's families needs minutes from here to the limit, and
/// it is checked again every tick.
const WATCH_FROM: f64 = 0.2;
/// The models run every few ticks (their cost); readings stand in between.
const LSTM_EVERY: u64 = 2;
const ARIMA_EVERY: u64 = 5;
/// After a forecast's ETA, how long the OOM kill may be late before it counts as false.
const FOLLOW_UP_SLACK_NS: i64 = 60_000_000_000;

fn index(name: &str) -> usize {
    ORACLE
        .names
        .iter()
        .position(|n| *n == name)
        .unwrap_or(usize::MAX)
}

/// What the models said about one cgroup, last time they ran.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    lstm: Option<OomForecast>,
    /// P(above the OOM level within the horizon), ETA in seconds.
    arima: Option<(f64, Option<f64>)>,
    /// Median-free interval estimate: seconds between this cgroup's last two vectors.
    dt_s: f64,
    last_ns: i64,
}

/// A confident forecast awaiting its outcome.
#[derive(Debug, Clone)]
struct FollowUp {
    since_ns: i64,
    deadline_ns: i64,
    eta_s: f64,
    oom_kills: u64,
    victim: Option<(u32, i64)>,
}

#[derive(Debug)]
pub struct Oracle {
    config: OracleConfig,
    policy: Policy,
    lstm: Loaded<Lstm>,
    arima: Loaded<Arima>,
    extractor: OracleExtractor,
    vectors: Vec<OracleVector>,
    sequences: Histories<String, [f64; ORACLE_LEN]>,
    working_sets: Histories<String, f64>,
    rss: Histories<(u32, i64), (i64, f64)>,
    readings: BTreeMap<String, Reading>,
    follow_ups: BTreeMap<String, FollowUp>,
    tick: u64,
}

impl Oracle {
    pub fn new(registry: &Registry, config: OracleConfig, policy: Policy) -> Self {
        Oracle {
            config,
            policy,
            lstm: registry::load_or_rule(registry, &registry::ORACLE_LSTM, Lstm::decode),
            arima: registry::load_or_rule(registry, &registry::ORACLE_ARIMA, Arima::decode),
            extractor: OracleExtractor::new(),
            vectors: Vec::new(),
            sequences: Histories::new(SEQUENCE, 10),
            working_sets: Histories::new(ARIMA_WINDOW, 10),
            rss: Histories::new(SEQUENCE, 3),
            readings: BTreeMap::new(),
            follow_ups: BTreeMap::new(),
            tick: 0,
        }
    }

    /// The models' readings for one vector, refreshed when their turn comes.
    fn read(&mut self, v: &OracleVector) -> Reading {
        let ws = v.values[index("working_set_frac")];
        let usage = v.values[index("usage_frac")];
        // Borrowed from the histories (disjoint fields): no window is copied per tick.
        let sequence = self.sequences.push(&v.cgroup, v.values);
        let series = self.working_sets.push(&v.cgroup, ws);
        let r = self.readings.entry(v.cgroup.clone()).or_default();
        if r.last_ns > 0 {
            r.dt_s = ((v.ts_ns - r.last_ns) as f64 / 1e9).max(1e-3);
        }
        r.last_ns = v.ts_ns;
        if usage.max(ws) < WATCH_FROM {
            r.lstm = None;
            r.arima = None;
            return *r;
        }
        let lstm_due = self.tick.is_multiple_of(LSTM_EVERY) || r.lstm.is_none();
        if let (Loaded::Model(m), Some(seq), true) = (&self.lstm, sequence, lstm_due) {
            r.lstm = m.forecast(seq).ok();
        }
        // ARIMA is the second opinion once the LSTM is worried, and the forecaster
        // when there is no LSTM.
        let worried = match &self.lstm {
            Loaded::Model(_) => r
                .lstm
                .is_some_and(|f| f.probability >= self.config.report_probability),
            Loaded::Rule { .. } => true,
        };
        let arima_due = self.tick.is_multiple_of(ARIMA_EVERY) || r.arima.is_none();
        if let (Loaded::Model(m), Some(series), true, true) =
            (&self.arima, series, worried, arima_due)
        {
            let dt = if r.dt_s > 0.0 { r.dt_s } else { 1.0 };
            let horizon = (HORIZON_S / dt).ceil().max(1.0) as usize;
            r.arima = m
                .refit(series)
                .and_then(|a| a.time_to_limit(OOM_LEVEL, horizon, 0.95))
                .ok()
                .map(|t| {
                    t.map_or((0.0, None), |t| {
                        (
                            t.probability_within_horizon,
                            t.eta_steps.map(|s| s as f64 * dt),
                        )
                    })
                });
        } else if !worried {
            r.arima = None;
        }
        *r
    }

    /// Confidence, ETA and source: the LSTM, else ARIMA, else the rule.
    fn judge(&self, v: &OracleVector, r: &Reading) -> Option<(f64, Option<f64>, &'static str)> {
        if matches!(self.lstm, Loaded::Model(_)) {
            return r
                .lstm
                .map(|f| (f.probability, Some(f.eta_s.max(eta_floor_s(v))), "lstm"));
        }
        if matches!(self.arima, Loaded::Model(_)) {
            return r.arima.map(|(p, eta)| (p, eta, "arima"));
        }
        // earlyoom's condition (under 10 % left), ETA by linear extrapolation.
        let ws = v.values[index("working_set_frac")];
        let per_min = v.values[index("working_set_velocity")];
        let eta = (per_min > 0.0).then(|| (1.0 - ws).max(0.0) / per_min * 60.0);
        Some(((ws >= 0.9) as u8 as f64 * 0.9, eta, "rule"))
    }

    /// The fastest-growing process of the cgroup the policy allows acting on, and how
    /// many growers it protected (a scope or a critical name can leave none).
    fn victim<'a>(
        &self,
        cgroup: &str,
        processes: &'a [ProcessRow],
    ) -> (Option<(&'a ProcessRow, f64)>, usize) {
        let (allowed, protected): (Vec<_>, Vec<_>) = processes
            .iter()
            .filter(|p| cgroup == "/" || cgroup_under(&p.cgroup, cgroup))
            .filter_map(|p| {
                let growth = self.growth(p)?;
                let weight = ((1000.0 + f64::from(p.oom_score_adj)) / 1000.0).clamp(0.0, 2.0);
                let score = growth * weight;
                (score > 0.0).then_some((p, score))
            })
            .partition(|(p, _)| {
                self.policy
                    .screen(ActionKind::Kill, &Target::from_process(p))
                    .is_ok()
            });
        let best = allowed.into_iter().max_by(|a, b| {
            a.1.total_cmp(&b.1)
                .then(a.0.rss_bytes.cmp(&b.0.rss_bytes))
                .then(b.0.pid.cmp(&a.0.pid))
        });
        (best, protected.len())
    }

    /// RSS growth in bytes per second over the process's recent ticks.
    fn growth(&self, p: &ProcessRow) -> Option<f64> {
        let h = self.rss.get(&(p.pid, p.start_time_ns))?;
        let (first, last) = (h.first()?, h.last()?);
        let dt = (last.0 - first.0) as f64 / 1e9;
        (dt > 0.0).then(|| (last.1 - first.1) / dt)
    }

    /// Closes follow-ups whose outcome is known; returns their decisions.
    fn follow_up(&mut self, frame: &Frame, host: Option<&CgroupRow>, out: &mut Vec<Decision>) {
        let now = frame.ts_ns;
        let rows: BTreeMap<&str, &CgroupRow> = frame
            .cgroups
            .iter()
            .chain(host)
            .map(|r| (r.path.as_str(), r))
            .collect();
        self.follow_ups.retain(|cgroup, f| {
            let Some(row) = rows.get(cgroup.as_str()) else {
                return false; // the cgroup went away: no outcome to learn from
            };
            let kind = if row.oom_kill_events > f.oom_kills {
                "oom_confirmed"
            } else if now > f.deadline_ns {
                let victim_alive = f.victim.is_some_and(|(pid, start)| {
                    frame
                        .processes
                        .iter()
                        .any(|p| p.pid == pid && p.start_time_ns == start)
                });
                if f.victim.is_some() && !victim_alive {
                    "oom_averted"
                } else {
                    "false_positive"
                }
            } else {
                return true;
            };
            let mut d = Decision::new(NAME, kind, now);
            d.cgroup = Some(cgroup.clone());
            d.confidence = 1.0;
            d.evidence
                .insert("forecast_at_s_before", (now - f.since_ns) as f64 / 1e9);
            d.evidence.insert("forecast_eta_s", f.eta_s);
            out.push(d);
            false
        });
    }
}

/// The soonest an OOM kill can plausibly come: the headroom to the OOM level filled at
/// three times the fastest growth of the window (usage or working set). The LSTM's ETA
/// is held to it: on some held-out leaks it read ~6 s while 200 s remained, which would
/// fire the kill stage where a restart was due. A cgroup that is not growing gets the
/// horizon: no stage that needs an imminent kill.
fn eta_floor_s(v: &OracleVector) -> f64 {
    let ws = v.values[index("working_set_frac")];
    let per_min = v.values[index("usage_velocity")].max(v.values[index("working_set_velocity")]);
    if per_min <= 0.0 {
        return HORIZON_S;
    }
    ((OOM_LEVEL - ws).max(0.0) / (3.0 * per_min) * 60.0).min(HORIZON_S)
}

/// The host as a cgroup, for hosts whose recorder has no root row (cgroup v2).
fn host_row(system: &SystemRow, ts_ns: i64) -> CgroupRow {
    let total = system.mem_total_bytes;
    CgroupRow {
        ts_ns,
        path: "/".to_string(),
        memory_usage_bytes: total.saturating_sub(system.mem_free_bytes),
        memory_limit_bytes: Some(total),
        anon_bytes: system.active_anon_bytes + system.inactive_anon_bytes,
        file_bytes: system.cached_bytes + system.buffers_bytes,
        active_file_bytes: system.active_file_bytes,
        inactive_file_bytes: system.inactive_file_bytes,
        working_set_bytes: total.saturating_sub(system.mem_available_bytes),
        shmem_bytes: system.shmem_bytes,
        swap_bytes: Some(
            system
                .swap_total_bytes
                .saturating_sub(system.swap_free_bytes),
        ),
        oom_kill_events: system.oom_kill,
        psi_memory_some_avg10: system.psi_memory_some_avg10,
        psi_memory_some_avg60: system.psi_memory_some_avg60,
        psi_memory_some_avg300: system.psi_memory_some_avg300,
        psi_memory_full_avg10: system.psi_memory_full_avg10,
        ..CgroupRow::default()
    }
}

impl Gadget for Oracle {
    fn name(&self) -> &'static str {
        NAME
    }

    fn models(&self) -> Vec<(&'static str, String)> {
        vec![
            (registry::ORACLE_LSTM.name, self.lstm.describe()),
            (registry::ORACLE_ARIMA.name, self.arima.describe()),
        ]
    }

    fn observe(&mut self, frame: &Frame, out: &mut Vec<Decision>) {
        for p in &frame.processes {
            self.rss
                .push_partial(&(p.pid, p.start_time_ns), (frame.ts_ns, p.rss_bytes as f64));
        }
        self.rss.end_tick();
        let has_root = frame.cgroups.iter().any(|c| c.path == "/");
        let host = (self.config.host && !has_root)
            .then(|| frame.system.as_ref().map(|s| host_row(s, frame.ts_ns)))
            .flatten();
        let mut vectors = std::mem::take(&mut self.vectors);
        vectors.clear();
        match &host {
            Some(row) => {
                // The extractor reads only the system row and the cgroups.
                let mut view = Frame::new(frame.ts_ns, "");
                view.system = frame.system.clone();
                view.cgroups = frame.cgroups.clone();
                view.cgroups.push(row.clone());
                self.extractor.observe(&view, &mut vectors);
            }
            None => self.extractor.observe(frame, &mut vectors),
        }
        for v in &vectors {
            if v.cgroup == "/" && !self.config.host {
                continue;
            }
            let reading = self.read(v);
            let Some((p, eta, source)) = self.judge(v, &reading) else {
                continue;
            };
            // NaN never reports.
            if p.is_nan() || p < self.config.report_probability {
                continue;
            }
            let mut d = Decision::new(NAME, "oom_forecast", frame.ts_ns);
            d.cgroup = Some(v.cgroup.clone());
            d.confidence = p;
            d.eta_s = eta.filter(|e| e.is_finite());
            d.source = source;
            for name in [
                "usage_frac",
                "working_set_frac",
                "usage_velocity",
                "psi_some_avg10",
            ] {
                d.evidence.insert(name, v.values[index(name)]);
            }
            if let Some(f) = reading.lstm {
                d.evidence.insert("lstm_probability", f.probability);
                d.evidence.insert("lstm_eta_s", f.eta_s);
            }
            if let Some((ap, aeta)) = reading.arima {
                d.evidence.insert("arima_probability", ap);
                if let Some(e) = aeta {
                    d.evidence.insert("arima_eta_s", e);
                }
            }
            let (victim, protected) = self.victim(&v.cgroup, &frame.processes);
            d.evidence.insert("protected_growers", protected as f64);
            if let Some((victim, growth)) = victim {
                d.evidence.insert("victim_growth_bytes_per_s", growth);
                d.evidence
                    .insert("victim_rss_bytes", victim.rss_bytes as f64);
                d.process = Some(Target::from_process(victim));
            }
            if p >= CONFIDENT && !self.follow_ups.contains_key(&v.cgroup) {
                let eta_s = d.eta_s.unwrap_or(HORIZON_S).min(HORIZON_S);
                let oom_kills = frame
                    .cgroups
                    .iter()
                    .chain(&host)
                    .find(|c| c.path == v.cgroup)
                    .map_or(0, |c| c.oom_kill_events);
                self.follow_ups.insert(
                    v.cgroup.clone(),
                    FollowUp {
                        since_ns: frame.ts_ns,
                        deadline_ns: frame.ts_ns + (eta_s * 1e9) as i64 + FOLLOW_UP_SLACK_NS,
                        eta_s,
                        oom_kills,
                        victim: d.process.as_ref().map(|t| (t.pid, t.start_time_ns)),
                    },
                );
            } else if p >= CONFIDENT
                && let (Some(f), Some(eta)) = (self.follow_ups.get_mut(&v.cgroup), d.eta_s)
            {
                // Still confident: the forecast stands, its deadline moves with it.
                f.deadline_ns = f
                    .deadline_ns
                    .max(frame.ts_ns + (eta.min(HORIZON_S) * 1e9) as i64 + FOLLOW_UP_SLACK_NS);
            }
            out.push(d);
        }
        self.vectors = vectors;
        self.follow_up(frame, host.as_ref(), out);
        self.tick += 1;
    }
}

//! Training and evaluating the Oracle: from the memory family, per-cgroup trajectories
//! of Oracle vectors; an ARIMA order chosen by AIC on the training leaks (refitted per
//! cgroup online); an LSTM on 30-vector sequences to P(OOM within 180 s) and an ETA.
//! Both, the spec's threshold rule and the rules of systemd-oomd and earlyoom are run on
//! the same held-out trajectories and scored alike: recall, lead times, false alarms.

use std::collections::BTreeMap;

use qb_models::arima::{self, Arima, Grid};
use qb_models::artifact::current_schema_hash;
use qb_models::features::{ORACLE, ORACLE_LEN, OracleExtractor, check_finite};
use qb_models::lstm::Lstm;
use qb_models::{Artifact, ModelKind};

use crate::datasets::{Entry, Split, open_labelled, replay_vectors};
use crate::evaluate::{Score, score};
use crate::lstm::{Example, LstmParams};
use crate::{TrainError, Trained};

pub use qb_models::features::oracle::{ARIMA_WINDOW, HORIZON_S, OOM_LEVEL, SEQUENCE};

/// One cgroup's vectors through a dataset, cut at its OOM kill if it had one.
#[derive(Debug, Clone)]
pub struct Trajectory {
    /// The dataset's kind (`linear_leak`, `burst_then_free`, `live`, ..).
    pub kind: String,
    pub cgroup: String,
    pub ts_ns: Vec<i64>,
    pub x: Vec<[f64; ORACLE_LEN]>,
    pub oom_ns: Option<i64>,
    /// The labelled negative of its dataset: a cgroup built to look like a leak
    /// (a burst, a plateau, a sawtooth) that never reaches its limit.
    pub lookalike: bool,
}

impl Trajectory {
    /// Seconds from vector `i` to the OOM kill.
    pub fn to_oom_s(&self, i: usize) -> Option<f64> {
        self.oom_ns.map(|o| (o - self.ts_ns[i]) as f64 / 1e9)
    }

    fn feature(&self, i: usize, name: &str) -> f64 {
        ORACLE
            .names
            .iter()
            .position(|n| *n == name)
            .map_or(0.0, |j| self.x[i][j])
    }
}

/// Replays `entry` into one trajectory per cgroup.
pub fn trajectories(entry: &Entry) -> Result<Vec<Trajectory>, TrainError> {
    let where_ = entry.dir.display().to_string();
    let (ds, labels) = open_labelled(entry)?;
    let lookalikes: Vec<&str> = labels
        .iter()
        .filter(|l| l.kind == "memory_negative")
        .map(|l| l.target.as_str())
        .collect();
    let mut ooms = BTreeMap::new();
    for l in labels.iter().filter(|l| l.kind == "memory_leak") {
        let attrs: serde_json::Value = serde_json::from_str(&l.attributes)
            .map_err(|e| TrainError::NoData(format!("{where_}: label attributes: {e}")))?;
        if let Some(oom) = attrs["oom_ns"].as_i64() {
            ooms.insert(l.target.clone(), oom);
        }
    }
    let mut by_cgroup: BTreeMap<String, Trajectory> = BTreeMap::new();
    replay_vectors(&ds, OracleExtractor::new(), 1, |vectors| {
        for v in vectors {
            let oom_ns = ooms.get(&v.cgroup).copied();
            if oom_ns.is_some_and(|o| v.ts_ns >= o) {
                continue;
            }
            check_finite(&ORACLE, &v.values)
                .map_err(|e| TrainError::NoData(format!("{where_}: {}: {e}", v.cgroup)))?;
            let t = by_cgroup
                .entry(v.cgroup.clone())
                .or_insert_with(|| Trajectory {
                    kind: entry.kind.clone(),
                    cgroup: v.cgroup.clone(),
                    ts_ns: Vec::new(),
                    x: Vec::new(),
                    oom_ns,
                    lookalike: lookalikes.contains(&v.cgroup.as_str()),
                });
            t.ts_ns.push(v.ts_ns);
            t.x.push(v.values);
        }
        Ok(())
    })?;
    Ok(by_cgroup.into_values().collect())
}

/// LSTM examples from a training trajectory: every second window within the horizon,
/// sparser further from an OOM, on lookalikes, and on quiet cgroups, to keep the
/// classes near 1 : 5 with the hard negatives well represented.
pub(crate) fn examples(t: &Trajectory, out: &mut Vec<Example>) {
    for end in SEQUENCE - 1..t.x.len() {
        let to_oom = t.to_oom_s(end);
        let positive = to_oom.is_some_and(|s| s <= HORIZON_S);
        let every = match to_oom {
            _ if positive => 2,
            Some(_) => 10,
            None if t.lookalike => 5,
            None => 40,
        };
        if end % every != 0 {
            continue;
        }
        let sequence = t.x[end + 1 - SEQUENCE..=end]
            .iter()
            .flat_map(|row| row.iter().map(|&v| v as f32))
            .collect();
        out.push(Example {
            sequence,
            positive,
            log_eta: to_oom
                .filter(|s| *s <= 1800.0)
                .map(|s| s.max(1.0).ln() as f32),
        });
    }
}

/// The working-set series ending at vector `end`, as ARIMA sees it.
pub(crate) fn working_set(t: &Trajectory, end: usize) -> Vec<f64> {
    (end + 1 - ARIMA_WINDOW..=end)
        .map(|i| t.feature(i, "working_set_frac"))
        .collect()
}

/// Chooses the ARIMA order by AIC over the grid on the training leaks, 60 to 300 s
/// before their kills: the most frequent winner, fitted on one of its windows, is the
/// stored model.
pub(crate) fn choose_arima(train: &[Trajectory]) -> Result<(Arima, serde_json::Value), TrainError> {
    // (order, constant) -> the models that won with it.
    type Order = ((usize, usize, usize), bool);
    let mut wins: BTreeMap<Order, Vec<Arima>> = BTreeMap::new();
    let mut tried = 0;
    for t in train.iter().filter(|t| t.oom_ns.is_some()) {
        for lead in [300.0, 180.0, 60.0] {
            let Some(end) = (0..t.x.len()).rev().find(|&i| t.to_oom_s(i) >= Some(lead)) else {
                continue;
            };
            if end + 1 < ARIMA_WINDOW {
                continue;
            }
            tried += 1;
            if let Ok(sel) = arima::select(&working_set(t, end), &Grid::default()) {
                let m = sel.best.model;
                wins.entry((m.order(), m.constant().is_some()))
                    .or_default()
                    .push(m);
            }
        }
    }
    let (key, models) = wins.iter().max_by_key(|(_, v)| v.len()).ok_or_else(|| {
        TrainError::NoData("ARIMA: no training leak window could be fitted".into())
    })?;
    let counts: Vec<serde_json::Value> = wins
        .iter()
        .map(|((o, c), v)| serde_json::json!({"order": [o.0, o.1, o.2], "constant": c, "windows": v.len()}))
        .collect();
    let json = serde_json::json!({
        "order": [key.0.0, key.0.1, key.0.2],
        "constant": key.1,
        "windows_tried": tried,
        "chosen_by_aic": counts,
        "window_points": ARIMA_WINDOW,
        "oom_level": OOM_LEVEL,
    });
    Ok((models[0].clone(), json))
}

/// The models of an Oracle, as the evaluation runs them.
#[derive(Debug)]
pub struct OracleModels {
    pub lstm: Lstm,
    pub arima: Arima,
}

/// Fits both models on the training entries and scores every detector on the
/// held-out entries and on `live` recordings. Two artifacts: `oracle_lstm` and
/// `oracle_arima`.
pub fn train(
    entries: &[Entry],
    live: &[Entry],
    params: LstmParams,
    progress: &mut dyn FnMut(String),
) -> Result<Vec<Trained>, TrainError> {
    let (mut train, mut held_out) = (Vec::new(), Vec::new());
    for (i, e) in entries.iter().enumerate() {
        progress(format!("replaying {}/{} datasets", i + 1, entries.len()));
        let ts = trajectories(e)?;
        match e.split {
            Split::Training => train.extend(ts),
            Split::HeldOut => held_out.extend(ts),
        }
    }
    let leaks = train.iter().filter(|t| t.oom_ns.is_some()).count();
    if leaks < 3 {
        return Err(TrainError::NoData(format!(
            "only {leaks} training trajectories end in an OOM kill; the Oracle needs at least 3"
        )));
    }
    progress("choosing the ARIMA order".into());
    let (arima, arima_json) = choose_arima(&train)?;

    let mut examples_ = Vec::new();
    for t in &train {
        examples(t, &mut examples_);
    }
    let positives = examples_.iter().filter(|e| e.positive).count();
    let fitted = crate::lstm::fit(&examples_, ORACLE_LEN, SEQUENCE, params, |epoch, loss| {
        progress(format!(
            "LSTM epoch {epoch}/{}: loss {loss:.4}",
            params.epochs
        ))
    })?;
    let lstm_bytes = fitted.encode(HORIZON_S)?;
    let models = OracleModels {
        lstm: Lstm::decode(&lstm_bytes)?,
        arima: arima.clone(),
    };

    progress(format!(
        "evaluating on {} held-out trajectories",
        held_out.len()
    ));
    let held = score(&held_out, &models);
    let mut live_t = Vec::new();
    for e in live {
        live_t.extend(trajectories(e)?);
    }
    let live_score = score(&live_t, &models);

    let evaluation = serde_json::json!({
        "horizon_s": HORIZON_S,
        "held_out": held.iter().map(Score::to_json).collect::<Vec<_>>(),
        "live": {
            "recordings": live.iter().map(|e| e.dir.display().to_string()).collect::<Vec<_>>(),
            "detectors": live_score.iter().map(Score::to_json).collect::<Vec<_>>(),
        },
        "rules": {
            "spec_rule": "memory PSI some avg10 > 20 % and usage > 90 % of the limit",
            "systemd_oomd": "memory PSI full avg10 > 60 % for 30 s",
            "earlyoom": "available memory (limit - working set) <= 10 % of the limit (no swap here)",
        },
    });
    let mut summary: Vec<String> = held
        .iter()
        .map(|s| format!("held-out, {}", s.line()))
        .collect();
    summary.extend(live_score.iter().map(|s| format!("live, {}", s.line())));
    let verdict = verdict(&held);
    summary.push(verdict.clone());

    let training_rows = examples_.len();
    let held_rows: usize = held_out.iter().map(|t| t.x.len()).sum();
    let lstm = Trained {
        name: "oracle_lstm",
        artifact: Artifact {
            kind: ModelKind::Lstm,
            schema_hash: current_schema_hash(),
            feature_hash: ORACLE.hash(),
            payload: lstm_bytes,
        },
        training_rows,
        held_out_rows: held_rows,
        metrics: serde_json::json!({
            "model": "lstm",
            "params": {"hidden": params.hidden, "epochs": params.epochs, "batch": params.batch,
                       "learning_rate": params.learning_rate, "seed": params.seed, "sequence": SEQUENCE},
            "training_examples": training_rows,
            "training_positives": positives,
            "epoch_losses": fitted.losses,
            "evaluation": evaluation,
            "verdict": verdict,
        }),
        summary: summary.clone(),
    };
    let arima = Trained {
        name: "oracle_arima",
        artifact: Artifact {
            kind: ModelKind::Arima,
            schema_hash: current_schema_hash(),
            feature_hash: ORACLE.hash(),
            payload: arima.encode(),
        },
        training_rows: leaks,
        held_out_rows: held_rows,
        metrics: serde_json::json!({
            "model": "arima",
            "selection": arima_json,
            "evaluation": evaluation,
            "verdict": verdict,
        }),
        summary: vec![format!(
            "ARIMA order {:?} ({}), refitted per cgroup on {ARIMA_WINDOW} points",
            models.arima.order(),
            if models.arima.constant().is_some() {
                "with drift"
            } else {
                "no constant"
            }
        )],
    };
    Ok(vec![lstm, arima])
}

/// Says which detector did best by actionable recall (an alarm 60 s or more before
/// the kill), false alarms breaking ties, and where a rule beats a model: on that
/// recall, or on false alarms.
fn verdict(scores: &[Score]) -> String {
    let best = scores.iter().max_by(|a, b| {
        (a.recall_60s(), -a.false_alarm_rate())
            .partial_cmp(&(b.recall_60s(), -b.false_alarm_rate()))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let (models, rules): (Vec<&Score>, Vec<&Score>) =
        scores.iter().partition(|s| s.detector.is_model());
    let mut losses = Vec::new();
    for m in &models {
        for r in &rules {
            if r.recall_60s() > m.recall_60s() {
                losses.push(format!(
                    "{} beats {} on recall >= 60 s",
                    r.detector.name(),
                    m.detector.name()
                ));
            }
            if r.false_alarm_rate() < m.false_alarm_rate() && r.recall() > 0.0 {
                losses.push(format!(
                    "{} has fewer false alarms than {} ({:.3} vs {:.3} of negative cgroups)",
                    r.detector.name(),
                    m.detector.name(),
                    r.false_alarm_rate(),
                    m.false_alarm_rate()
                ));
            }
        }
    }
    format!(
        "best by recall with >= 60 s of lead: {}; {}",
        best.map_or("-", |b| b.detector.name()),
        if losses.is_empty() {
            "no rule beats a model".to_string()
        } else {
            format!("the models lose here: {}", losses.join("; "))
        }
    )
}

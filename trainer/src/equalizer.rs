//! Training the Equalizer's isolation forest: connection vectors from the toxic family,
//! toxic when the connection is the labelled toxic session, fitted without labels on
//! the training seeds and evaluated on the held-out seeds against the spec's rule
//! (z-score above 3 on both duration and CPU attribution means toxic).

use std::collections::BTreeMap;

use qb_models::artifact::current_schema_hash;
use qb_models::features::{EQUALIZER, EqualizerExtractor, EqualizerVector, check_finite, zscores};
use qb_models::iforest::{IForestParams, IsolationForest};
use qb_models::metrics::roc_auc;
use qb_models::{Artifact, ModelError, ModelKind};
use qb_signals::LabelRow;
use serde_json::json;

use crate::datasets::{Entry, open_labelled, replay_vectors};
use crate::eval::{Confusion, ROC_POINTS, roc_points};
use crate::{TrainError, Trained};

pub const CLASSES: [&str; 2] = ["normal", "toxic"];
const TOXIC: u32 = 1;
/// The label kind of a toxic session; `toxic_negative` marks heavy but harmless ones.
const TOXIC_LABEL: &str = "toxic_query";
const NEGATIVE_LABEL: &str = "toxic_negative";
/// A connection only gets vectors once its window is full, and its wait and CPU
/// windows still hold the first seconds of the session; those ticks are not labelled
/// either way.
const SETTLE_NS: i64 = 10_000_000_000;
/// Every n-th tick: neighbouring windows overlap by 9 of 10 ticks.
const EVERY: usize = 5;
/// The paper's operating point: `s > 0.5` is anomalous.
pub const PAPER_THRESHOLD: f64 = 0.5;
/// The Equalizer gadget's `min_score` default, which it pairs with harm (qb-gadgets).
pub const GADGET_MIN_SCORE: f64 = 0.6;
/// The rule's operating point, in standard deviations.
pub const RULE_SIGMA: f64 = 3.0;
/// Fewer toxic training vectors than this cannot choose a threshold.
const MIN_TOXIC: usize = 20;

fn feature(v: &[f64], name: &str) -> f64 {
    EQUALIZER
        .names
        .iter()
        .position(|n| *n == name)
        .map_or(0.0, |i| v[i])
}

/// The service a connection belongs to: `conn:<local>:<port>` of its name.
fn service(connection: &str) -> &str {
    connection.split_once('-').map_or(connection, |(s, _)| s)
}

/// The spec's rule (Option 1) as a continuous score, one per vector of a tick: the
/// smaller of the duration z-score (`duration`: `age_zscore` as the spec words it) and
/// the z-score of `cpu_attribution` against the other connections of the same service
/// at that tick (the feature itself is cores per connection, not a z-score). Above
/// [`RULE_SIGMA`] means both are 3-sigma outliers: the rule fires.
///
/// A z-score among `n` values never exceeds `sqrt(n - 1)`: a service with fewer than
/// ten connections can never reach 3 sigma.
pub fn rule_scores(tick: &[EqualizerVector], duration: &str) -> Vec<f64> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, v) in tick.iter().enumerate() {
        groups.entry(service(&v.connection)).or_default().push(i);
    }
    let mut out = vec![0.0; tick.len()];
    for idx in groups.values() {
        let cpu: Vec<f64> = idx
            .iter()
            .map(|&i| feature(&tick[i].values, "cpu_attribution"))
            .collect();
        for (&i, z) in idx.iter().zip(zscores(&cpu)) {
            out[i] = feature(&tick[i].values, duration).min(z);
        }
    }
    out
}

#[derive(Debug, Default)]
struct Samples {
    x: Vec<f64>,
    toxic: Vec<bool>,
    rule: Vec<f64>,
    /// The rule with the statement's duration (`wait_zscore`) for the connection's.
    rule_wait: Vec<f64>,
    /// Index into `kinds`: the scenario the vector comes from.
    kind: Vec<usize>,
    /// On the connection a `toxic_negative` label names: the heavy but harmless one.
    hard: Vec<bool>,
    kinds: Vec<String>,
}

impl Samples {
    fn len(&self) -> usize {
        self.toxic.len()
    }

    fn positives(&self) -> usize {
        self.toxic.iter().filter(|&&t| t).count()
    }

    fn kind_index(&mut self, kind: &str) -> usize {
        match self.kinds.iter().position(|k| k == kind) {
            Some(i) => i,
            None => {
                self.kinds.push(kind.into());
                self.kinds.len() - 1
            }
        }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * EQUALIZER.len()..(i + 1) * EQUALIZER.len()]
    }

    /// Only the vectors that are not toxic.
    fn normal_rows(&self) -> Vec<f64> {
        (0..self.len())
            .filter(|&i| !self.toxic[i])
            .flat_map(|i| self.row(i).iter().copied())
            .collect()
    }
}

/// A labelled connection: its name and the interval in which the label holds.
fn connection_label(labels: &[LabelRow], kind: &str) -> Option<(String, i64, i64)> {
    labels.iter().find(|l| l.kind == kind).and_then(|l| {
        l.target
            .starts_with("conn:")
            .then(|| (l.target.clone(), l.start_ns, l.end_ns.unwrap_or(i64::MAX)))
    })
}

fn samples(entry: &Entry, out: &mut Samples) -> Result<(), TrainError> {
    let (ds, labels) = open_labelled(entry)?;
    let toxic = connection_label(&labels, TOXIC_LABEL);
    let heavy = connection_label(&labels, NEGATIVE_LABEL);
    let kind = out.kind_index(&entry.kind);
    replay_vectors(&ds, EqualizerExtractor::new(), EVERY, |vectors| {
        let rule = rule_scores(vectors, "age_zscore");
        let rule_wait = rule_scores(vectors, "wait_zscore");
        for ((v, rule), rule_wait) in vectors.iter().zip(rule).zip(rule_wait) {
            check_finite(&EQUALIZER, &v.values).map_err(|e| {
                TrainError::Model(ModelError::Input(format!(
                    "{} at {} ns, {}: {e}",
                    entry.dir.display(),
                    v.ts_ns,
                    v.connection
                )))
            })?;
            let is_toxic = match &toxic {
                Some((conn, start, end))
                    if *conn == v.connection && (*start..=*end).contains(&v.ts_ns) =>
                {
                    if v.ts_ns < start + SETTLE_NS {
                        continue;
                    }
                    true
                }
                _ => false,
            };
            let hard = heavy.as_ref().is_some_and(|(conn, start, end)| {
                *conn == v.connection && (*start..=*end).contains(&v.ts_ns)
            });
            out.x.extend_from_slice(&v.values);
            out.toxic.push(is_toxic);
            out.rule.push(rule);
            out.rule_wait.push(rule_wait);
            out.kind.push(kind);
            out.hard.push(hard);
        }
        Ok(())
    })
}

/// The vectors [`train`] fits and evaluates on, one split of them: row-major
/// [`EQUALIZER`] rows and whether each is toxic. For comparisons outside the trainer
/// (`models/compare/`); training itself keeps the rule scores and scenarios alongside.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SplitVectors {
    pub x: Vec<f64>,
    pub toxic: Vec<bool>,
}

/// The training and held-out vectors of `entries`, exactly as [`train`] extracts them
/// (every 5th tick, toxic from the label's onset plus the settling time).
pub fn split_vectors(entries: &[Entry]) -> Result<(SplitVectors, SplitVectors), TrainError> {
    let (train, test) = crate::by_split(entries, samples)?;
    let keep = |s: Samples| SplitVectors {
        x: s.x,
        toxic: s.toxic,
    };
    Ok((keep(train), keep(test)))
}

/// Flagged when `score > threshold`.
fn confusion(scores: &[f64], truth: &[bool], threshold: f64) -> Confusion {
    let mut c = Confusion::new(&CLASSES);
    for (&s, &t) in scores.iter().zip(truth) {
        c.add(u32::from(t), u32::from(s > threshold));
    }
    c
}

/// The threshold that maximises F1 of `score > threshold` on these scores: half way
/// between the lowest flagged score and the next one below it.
fn best_f1_threshold(scores: &[f64], truth: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = truth.iter().filter(|&&t| t).count() as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut best_f1, mut best) = (-1.0, f64::INFINITY);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        // Every vector tied at `s` is flagged together.
        while i < order.len() && scores[order[i]] == s {
            if truth[order[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        let f1 = 2.0 * tp / (tp + fp + positives);
        if f1 > best_f1 {
            best_f1 = f1;
            best = match order.get(i) {
                Some(&next) => (s + scores[next]) / 2.0,
                None => s - 1e-9,
            };
        }
    }
    best
}

fn rate(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// A model's held-out evaluation: AUC and the ROC curve, and precision and recall at the operating points.
#[derive(Debug)]
struct Eval {
    auc: Option<f64>,
    /// `[fpr, tpr]` points of the ROC curve, thinned to at most [`ROC_POINTS`].
    roc: Vec<[f64; 2]>,
    points: Vec<(&'static str, f64, Confusion)>,
}

impl Eval {
    fn new(scores: &[f64], truth: &[bool], points: &[(&'static str, f64)]) -> Self {
        Eval {
            auc: roc_auc(scores, truth),
            roc: roc_points(scores, truth, ROC_POINTS),
            points: points
                .iter()
                .map(|&(name, t)| (name, t, confusion(scores, truth, t)))
                .collect(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let points: serde_json::Map<String, serde_json::Value> = self
            .points
            .iter()
            .map(|(name, t, c)| {
                let mut j = c.to_json();
                j["threshold"] = json!(t);
                j["precision"] = json!(c.precision(TOXIC));
                j["recall"] = json!(c.recall(TOXIC));
                ((*name).to_string(), j)
            })
            .collect();
        json!({"auc": self.auc, "roc": self.roc, "operating_points": points})
    }

    fn line(&self) -> String {
        let auc = self.auc.map_or("-".into(), |a| format!("{a:.3}"));
        let points: Vec<String> = self
            .points
            .iter()
            .map(|(name, t, c)| format!("at {name} ({t:.3}): {}", c.line(TOXIC)))
            .collect();
        format!("AUC {auc}; {}", points.join("; "))
    }
}

/// The false-positive rate of each detector on one scenario, over all its normal
/// vectors and over the heavy-but-harmless connection alone; the recall on its toxic
/// ones, and their AUC against every normal vector of the split and against the normal
/// vectors of the same scenario (the blocked sessions behind a lock holder).
fn per_kind(s: &Samples, detectors: &[(&str, &[f64], f64)]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (k, name) in s.kinds.iter().enumerate() {
        let of = |pick: &dyn Fn(usize) -> bool| -> Vec<usize> {
            (0..s.len())
                .filter(|&i| s.kind[i] == k && pick(i))
                .collect()
        };
        let (neg, hard, pos) = (
            of(&|i| !s.toxic[i]),
            of(&|i| s.hard[i]),
            of(&|i| s.toxic[i]),
        );
        let mut d = serde_json::Map::new();
        for &(det, scores, t) in detectors {
            let flagged = |rows: &[usize]| rows.iter().filter(|&&i| scores[i] > t).count();
            // This scenario's toxic vectors ranked against every normal one.
            let (ranked, truth): (Vec<f64>, Vec<bool>) = (0..s.len())
                .filter(|&i| !s.toxic[i] || s.kind[i] == k)
                .map(|i| (scores[i], s.toxic[i]))
                .unzip();
            d.insert(
                det.into(),
                json!({
                    "fpr": rate(flagged(&neg), neg.len()),
                    "fpr_heavy_connection": rate(flagged(&hard), hard.len()),
                    "recall": rate(flagged(&pos), pos.len()),
                    "auc_against_all_normal": roc_auc(&ranked, &truth),
                    "auc_within_scenario": roc_auc(
                        &pos.iter().chain(&neg).map(|&i| scores[i]).collect::<Vec<_>>(),
                        &pos.iter().chain(&neg).map(|&i| s.toxic[i]).collect::<Vec<_>>(),
                    ),
                }),
            );
        }
        out.insert(
            name.clone(),
            json!({
                "rows": neg.len() + pos.len(),
                "toxic": pos.len(),
                "heavy_connection_rows": hard.len(),
                "detectors": d,
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// Fits on the training entries, evaluates on the held-out ones, and on `live`
/// recordings (labelled live runs) when given.
pub fn train(entries: &[Entry], live: &[Entry], seed: u64) -> Result<Trained, TrainError> {
    let (train, test) = crate::by_split(entries, samples)?;
    let positives = train.positives();
    if positives < MIN_TOXIC {
        return Err(TrainError::NoData(format!(
            "only {positives} toxic samples in the training datasets (at least {MIN_TOXIC} \
             are needed to choose the operating threshold)"
        )));
    }
    let params = IForestParams {
        trees: 100,
        subsample: 256,
        seed,
    };
    let d = EQUALIZER.len();
    // Shipped: the forest fitted on every training vector, toxic ones included, as the
    // runtime sees a service; an operator can refit it from a recording without any
    // labels. The normal-only fit below needs labels to leave the toxic rows out; it is
    // evaluated alongside only to show what that knowledge would buy. On the standard
    // set (forest seeds 1, 2, 3, 7) it ranks slightly better (held-out AUC 0.945-0.951
    // against 0.909-0.943) but its F1-chosen threshold does worse (precision 0.20-0.25,
    // recall 0.25, against 0.27-0.46 and 0.25-0.50).
    let forest = IsolationForest::fit(&train.x, d, params)?;
    let normal_only = IsolationForest::fit(&train.normal_rows(), d, params)?;

    let score_all = |f: &IsolationForest, s: &Samples| -> Vec<f64> {
        (0..s.len()).map(|i| f.score(s.row(i))).collect()
    };
    let train_scores = score_all(&forest, &train);
    let chosen = best_f1_threshold(&train_scores, &train.toxic);
    let normal_chosen = best_f1_threshold(&score_all(&normal_only, &train), &train.toxic);
    let rule_chosen = best_f1_threshold(&train.rule, &train.toxic);
    let rule_wait_chosen = best_f1_threshold(&train.rule_wait, &train.toxic);

    let model_points = [
        ("s > 0.5", PAPER_THRESHOLD),
        ("the gadget's min_score", GADGET_MIN_SCORE),
        ("F1 on training", chosen),
    ];
    let rule_points = [("3 sigma", RULE_SIGMA), ("F1 on training", rule_chosen)];
    let test_scores = score_all(&forest, &test);
    let model = Eval::new(&test_scores, &test.toxic, &model_points);
    let normal_eval = Eval::new(
        &score_all(&normal_only, &test),
        &test.toxic,
        &[
            ("s > 0.5", PAPER_THRESHOLD),
            ("F1 on training", normal_chosen),
        ],
    );
    let baseline = Eval::new(&test.rule, &test.toxic, &rule_points);
    let wait_baseline = Eval::new(
        &test.rule_wait,
        &test.toxic,
        &[
            ("3 sigma", RULE_SIGMA),
            ("F1 on training", rule_wait_chosen),
        ],
    );
    let kinds = per_kind(
        &test,
        &[
            ("model_operating", &test_scores, chosen),
            ("model_paper", &test_scores, PAPER_THRESHOLD),
            ("rule_3_sigma", &test.rule, RULE_SIGMA),
            ("rule_wait_3_sigma", &test.rule_wait, RULE_SIGMA),
        ],
    );

    let mut live_samples = Samples::default();
    for e in live {
        samples(e, &mut live_samples)?;
    }
    let live_scores = score_all(&forest, &live_samples);
    let live_model = Eval::new(&live_scores, &live_samples.toxic, &model_points);
    let live_baseline = Eval::new(&live_samples.rule, &live_samples.toxic, &rule_points);

    let mut summary = vec![
        format!("held-out, isolation forest: {}", model.line()),
        format!("held-out, rule baseline: {}", baseline.line()),
        format!(
            "held-out, rule with the statement's wait for the duration: {}",
            wait_baseline.line()
        ),
        format!(
            "held-out false-positive rate, all connections / the heavy one, model at \
             s > {chosen:.3} | rule 3 sigma: {}",
            negative_kinds(&kinds)
        ),
        format!(
            "held-out, forest fitted on normal vectors only (needs labels, not shipped): {}",
            normal_eval.line()
        ),
    ];
    summary.extend(losses(&model, &baseline, "rule", "rule_3_sigma", &kinds));
    summary.extend(losses(
        &model,
        &wait_baseline,
        "wait rule",
        "rule_wait_3_sigma",
        &kinds,
    ));
    if !live.is_empty() {
        summary.push(format!(
            "live recordings, isolation forest: {}",
            live_model.line()
        ));
        summary.push(format!(
            "live recordings, rule baseline: {}",
            live_baseline.line()
        ));
    }

    let artifact = Artifact {
        kind: ModelKind::IsolationForest,
        schema_hash: current_schema_hash(),
        feature_hash: EQUALIZER.hash(),
        payload: forest.encode(),
    };
    Ok(Trained {
        name: "equalizer",
        artifact,
        training_rows: train.len(),
        held_out_rows: test.len(),
        metrics: json!({
            "classes": CLASSES,
            "operating_threshold": chosen,
            "paper_threshold": PAPER_THRESHOLD,
            "fitted_on": "every training vector, toxic ones included (no labels needed)",
            "training_toxic_rows": positives,
            "held_out_toxic_rows": test.positives(),
            "model": model.to_json(),
            "rule_baseline": baseline.to_json(),
            "rule": "min(age_zscore, z-score of cpu_attribution among the service's \
                     connections at that tick) > 3 => toxic",
            "rule_wait_variant": wait_baseline.to_json(),
            "rule_wait": "the rule with wait_zscore (time since the client last sent \
                          data: the running statement) for age_zscore",
            "per_kind": kinds,
            "normal_only_fit": normal_eval.to_json(),
            "live": {
                "recordings": live.iter().map(|e| e.dir.display().to_string()).collect::<Vec<_>>(),
                "rows": live_samples.len(),
                "model": live_model.to_json(),
                "rule_baseline": live_baseline.to_json(),
            },
            "params": {
                "trees": params.trees,
                "subsample": params.subsample,
                "seed": seed,
                "every_nth_tick": EVERY,
                "settle_s": SETTLE_NS / 1_000_000_000,
            },
        }),
        summary,
    })
}

/// `large_download 0.010 / 0.500 | 0.000 / 0.000, ...` for the scenarios without a
/// toxic session.
fn negative_kinds(kinds: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().map_or("-".into(), |v| format!("{v:.3}"));
    kinds
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, k)| k["toxic"] == 0)
        .map(|(name, k)| {
            let d = &k["detectors"];
            format!(
                "{name} {} / {} | {} / {}",
                f(&d["model_operating"]["fpr"]),
                f(&d["model_operating"]["fpr_heavy_connection"]),
                f(&d["rule_3_sigma"]["fpr"]),
                f(&d["rule_3_sigma"]["fpr_heavy_connection"]),
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the model does worse than a rule (`detector` in the per-kind table): AUC,
/// precision or recall at the operating points, or the false-positive rate of a
/// scenario without a toxic session. One line, or none when it loses nowhere.
fn losses(
    model: &Eval,
    rule: &Eval,
    rule_name: &str,
    detector: &str,
    kinds: &serde_json::Value,
) -> Option<String> {
    let mut lost = Vec::new();
    if let (Some(m), Some(r)) = (model.auc, rule.auc)
        && m < r
    {
        lost.push(format!("AUC {m:.3} < {r:.3}"));
    }
    if let (Some((_, _, m)), Some((_, _, r))) = (model.points.last(), rule.points.first()) {
        for (what, mv, rv) in [
            ("precision", m.precision(TOXIC), r.precision(TOXIC)),
            ("recall", m.recall(TOXIC), r.recall(TOXIC)),
        ] {
            if let (Some(mv), Some(rv)) = (mv, rv)
                && mv < rv
            {
                lost.push(format!("{what} {mv:.3} < {rv:.3}"));
            }
        }
    }
    for (name, k) in kinds.as_object().into_iter().flatten() {
        let d = &k["detectors"];
        for (which, field) in [("", "fpr"), (" heavy connection", "fpr_heavy_connection")] {
            if let (Some(m), Some(r)) = (
                d["model_operating"][field].as_f64(),
                d[detector][field].as_f64(),
            ) && m > r
                && k["toxic"] == 0
            {
                lost.push(format!("{name}{which} false positives {m:.3} > {r:.3}"));
            }
        }
    }
    // A rule that never fires cannot lose on false positives; say how much it catches.
    let recall = rule
        .points
        .first()
        .and_then(|(_, _, c)| c.recall(TOXIC))
        .map_or("-".into(), |r| format!("{r:.3}"));
    (!lost.is_empty()).then(|| {
        format!(
            "the model LOSES to the {rule_name} (held-out, at the operating points; the \
             rule's recall is {recall}): {}",
            lost.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_f1_threshold_separates_what_it_can() {
        let scores = [0.9, 0.8, 0.7, 0.4, 0.3];
        let truth = [true, true, false, false, false];
        let t = best_f1_threshold(&scores, &truth);
        assert!((t - 0.75).abs() < 1e-12, "{t}");
        let c = confusion(&scores, &truth, t);
        assert_eq!(
            (c.precision(TOXIC), c.recall(TOXIC)),
            (Some(1.0), Some(1.0))
        );
        // Ties are flagged together.
        let t = best_f1_threshold(&[0.5, 0.5, 0.1], &[true, false, false]);
        assert!(t < 0.5 && t > 0.1, "{t}");
    }

    #[test]
    fn the_rule_scores_cpu_against_the_same_service() {
        let v = |conn: &str, age: f64, cpu: f64| EqualizerVector {
            connection: conn.into(),
            pid: None,
            ts_ns: 0,
            values: [age, 0.0, 0.0, cpu, 0.0, 0.0, 0.0],
        };
        let mut tick: Vec<EqualizerVector> = (0..10)
            .map(|i| v(&format!("conn:10.0.0.5:5432-10.0.2.20:{i}"), -0.3, 0.01))
            .collect();
        // Its CPU z-score is sqrt(10) = 3.16: the smaller one, the age's, is the score.
        tick.push(v("conn:10.0.0.5:5432-10.0.2.20:99", 3.0, 1.0));
        // Another service: its busy connection does not dilute the first one's spread.
        tick.push(v("conn:10.0.0.5:80-10.0.2.20:1", 0.0, 5.0));
        let r = rule_scores(&tick, "age_zscore");
        assert!((r[10] - 3.0).abs() < 1e-9, "{r:?}");
        assert!(r[..10].iter().all(|&s| s < 0.0));
        assert_eq!(r[11], 0.0, "alone in its service");
    }
}

//! Training the Pathologist's random forest: process vectors from the stuck family,
//! classes working / idle / stuck, fitted on the training seeds and evaluated on the
//! held-out seeds against the spec's rule (entropy under 1 bit and no IO over the
//! window means stuck).

use qb_models::artifact::current_schema_hash;
use qb_models::features::pathologist::{CLASSES, STUCK, idle_or_working, rule};
use qb_models::features::{PATHOLOGIST, PathologistExtractor, check_finite};
use qb_models::forest::{ForestParams, RandomForest};
use qb_models::{Artifact, ModelKind};

use crate::datasets::{Entry, open_labelled, replay_vectors};
use crate::eval::Confusion;
use crate::{TrainError, Trained};

/// After the onset the window still holds healthy ticks; the first ones are not
/// labelled either way.
const SETTLE_NS: i64 = 10_000_000_000;
/// Every n-th vector of a process: neighbouring windows overlap by 29 of 30 ticks.
const EVERY: usize = 5;

#[derive(Debug, Default)]
struct Samples {
    x: Vec<f64>,
    y: Vec<u32>,
    rule: Vec<u32>,
}

fn samples(entry: &Entry, out: &mut Samples) -> Result<(), TrainError> {
    let (ds, labels) = open_labelled(entry)?;
    let stuck = labels.iter().find(|l| l.kind == "stuck").and_then(|l| {
        Some((
            l.target.strip_prefix("pid:")?.parse::<u32>().ok()?,
            l.start_ns,
        ))
    });
    replay_vectors(&ds, PathologistExtractor::new(), EVERY, |vectors| {
        for v in vectors {
            check_finite(&PATHOLOGIST, &v.values).map_err(|e| {
                TrainError::NoData(format!("{}: pid {}: {e}", entry.dir.display(), v.pid))
            })?;
            let class = match stuck {
                Some((pid, start)) if pid == v.pid && v.ts_ns >= start + SETTLE_NS => STUCK,
                Some((pid, start)) if pid == v.pid && v.ts_ns >= start => continue,
                _ => idle_or_working(v),
            };
            out.x.extend_from_slice(&v.values);
            out.y.push(class);
            out.rule.push(rule(v));
        }
        Ok(())
    })
}

/// The Pathologist's vectors of one split: row-major [`PATHOLOGIST`] rows and their
/// classes (indices into [`CLASSES`]). For comparisons outside the trainer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ClassVectors {
    pub x: Vec<f64>,
    pub y: Vec<u32>,
}

/// The training and held-out vectors of `entries`, exactly as [`train`] extracts them.
pub fn split_vectors(entries: &[Entry]) -> Result<(ClassVectors, ClassVectors), TrainError> {
    let (train, test) = crate::by_split(entries, samples)?;
    let keep = |s: Samples| ClassVectors { x: s.x, y: s.y };
    Ok((keep(train), keep(test)))
}

/// The forest's parameters for `rows` training rows, as [`train`] fits it.
pub fn forest_params(rows: usize, seed: u64) -> ForestParams {
    ForestParams {
        sample_size: 20_000.min(rows),
        seed,
        ..ForestParams::default()
    }
}

/// Fits on the training entries, evaluates on the held-out ones, and on `live`
/// recordings (labelled live runs) when given.
pub fn train(entries: &[Entry], live: &[Entry], seed: u64) -> Result<Trained, TrainError> {
    let (train, test) = crate::by_split(entries, samples)?;
    let positives = train.y.iter().filter(|&&c| c == STUCK).count();
    if positives < 20 {
        return Err(TrainError::NoData(format!(
            "only {positives} stuck samples in the training datasets"
        )));
    }
    let params = forest_params(train.y.len(), seed);
    let forest = RandomForest::fit(&train.x, PATHOLOGIST.len(), &train.y, CLASSES.len(), params)?;
    let (model, baseline) = evaluate(&forest, &test);
    let mut live_samples = Samples::default();
    for e in live {
        samples(e, &mut live_samples)?;
    }
    let (live_model, live_baseline) = evaluate(&forest, &live_samples);
    let artifact = Artifact {
        kind: ModelKind::RandomForest,
        schema_hash: current_schema_hash(),
        feature_hash: PATHOLOGIST.hash(),
        payload: forest.encode(),
    };
    Ok(Trained {
        name: "pathologist",
        artifact,
        training_rows: train.y.len(),
        held_out_rows: test.y.len(),
        metrics: serde_json::json!({
            "classes": CLASSES,
            "model": model.to_json(),
            "rule_baseline": baseline.to_json(),
            "rule": "syscall_entropy < 1 bit and no IO over the 30-tick window => stuck",
            "live": {
                "recordings": live.iter().map(|e| e.dir.display().to_string()).collect::<Vec<_>>(),
                "rows": live_samples.y.len(),
                "model": live_model.to_json(),
                "rule_baseline": live_baseline.to_json(),
            },
            "params": {"trees": params.trees, "max_depth": params.max_depth, "sample_size": params.sample_size, "seed": seed},
        }),
        summary: [
            format!("held-out, random forest: {}", model.line(STUCK)),
            format!("held-out, rule baseline: {}", baseline.line(STUCK)),
        ]
        .into_iter()
        .chain(
            (!live.is_empty())
                .then(|| {
                    [
                        format!("live recordings, random forest: {}", live_model.line(STUCK)),
                        format!(
                            "live recordings, rule baseline: {}",
                            live_baseline.line(STUCK)
                        ),
                    ]
                })
                .into_iter()
                .flatten(),
        )
        .collect(),
    })
}

fn evaluate(forest: &RandomForest, s: &Samples) -> (Confusion, Confusion) {
    let d = PATHOLOGIST.len();
    let (mut model, mut baseline) = (Confusion::new(&CLASSES), Confusion::new(&CLASSES));
    for (i, &truth) in s.y.iter().enumerate() {
        model.add(truth, forest.predict(&s.x[i * d..(i + 1) * d]));
        baseline.add(truth, s.rule[i]);
    }
    (model, baseline)
}

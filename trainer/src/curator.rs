//! Training the Curator's context classifier: every candidate span of every log line
//! of the pii family (qb-models' tokenizer), labelled from the simulator's byte spans,
//! fitted by SGD (multinomial logistic regression, L2 on the rows an update touches)
//! on the training seeds and evaluated on the held-out seeds, per candidate and per
//! labelled span.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use qb_models::artifact::current_schema_hash;
use qb_models::features::CURATOR;
use qb_models::features::curator::{
    BUCKETS, CLASSES, ContextClassifier, LineScratch, NONE, candidates, features, tokens,
};
use qb_models::{Artifact, ModelKind};
use qb_signals::rng::Rng;
use qb_signals::{Dataset, LabelRow, LogRow};

use crate::datasets::{Entry, Split};
use crate::eval::Confusion;
use crate::{TrainError, Trained};

#[derive(Debug, Clone)]
pub struct CuratorParams {
    pub seed: u64,
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    /// Share of "none" candidates kept for fitting (weighted up by its inverse); all
    /// are kept for evaluation.
    pub none_keep: f64,
}

impl Default for CuratorParams {
    fn default() -> Self {
        CuratorParams {
            seed: 1,
            epochs: 4,
            learning_rate: 0.1,
            l2: 1e-6,
            none_keep: 0.25,
        }
    }
}

/// A PII span: byte range and entity label name.
pub type Span = (Range<usize>, String);

/// A log line and its PII spans (byte ranges, entity label names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledLine {
    pub text: String,
    pub spans: Vec<Span>,
}

/// The lines of a simulated pii dataset with their `pii` spans (lines without any
/// have none).
pub fn labelled_lines(dir: &std::path::Path) -> Result<Vec<LabelledLine>, TrainError> {
    let ds = Dataset::open(dir)?;
    let labels: Vec<LabelRow> = ds.read_table()?;
    if labels.is_empty() {
        return Err(TrainError::NoLabels(dir.display().to_string()));
    }
    let mut spans: HashMap<(String, u64), Vec<Span>> = HashMap::new();
    for l in labels.iter().filter(|l| l.kind == "pii") {
        let bad = |why: &str| {
            TrainError::NoData(format!(
                "{}: label of {}: {why}: {}",
                dir.display(),
                l.target,
                l.attributes
            ))
        };
        let v: serde_json::Value =
            serde_json::from_str(&l.attributes).map_err(|e| bad(&e.to_string()))?;
        let offset = v["offset"].as_u64().ok_or_else(|| bad("no offset"))?;
        let list = v["spans"].as_array().ok_or_else(|| bad("no spans"))?;
        let entry = spans.entry((l.target.clone(), offset)).or_default();
        for s in list {
            let (Some(a), Some(b), Some(e)) =
                (s["start"].as_u64(), s["end"].as_u64(), s["entity"].as_str())
            else {
                return Err(bad("a span without start, end or entity"));
            };
            entry.push((a as usize..b as usize, e.to_string()));
        }
    }
    let rows: Vec<LogRow> = ds.read_table()?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let spans = spans.remove(&(r.source, r.offset)).unwrap_or_default();
            // A span that does not fit the line (should never happen) is dropped.
            let spans = spans
                .into_iter()
                .filter(|(s, _)| s.end <= r.line.len() && r.line.is_char_boundary(s.start))
                .collect();
            LabelledLine {
                text: r.line,
                spans,
            }
        })
        .collect())
}

/// The class of a candidate: the entity of a span it matches (each covers 80 % of
/// the other), "none" when it overlaps no span, None (not used) when it overlaps one
/// only partly.
pub fn candidate_class(c: &Range<usize>, spans: &[Span]) -> Option<usize> {
    let mut class = Some(NONE);
    for (s, e) in spans {
        let overlap = c.end.min(s.end).saturating_sub(c.start.max(s.start));
        if overlap == 0 {
            continue;
        }
        let aligned = overlap * 5 >= c.len() * 4 && overlap * 5 >= s.len() * 4;
        class = if aligned {
            CLASSES.iter().position(|k| k == e)
        } else {
            None
        };
        if aligned {
            break;
        }
    }
    class
}

#[derive(Debug, Default)]
struct Samples {
    features: Vec<u32>,
    ends: Vec<usize>,
    y: Vec<u8>,
    weight: Vec<f32>,
}

fn keep_none(line: usize, cand: usize, keep: f64) -> bool {
    let mut h = qb_signals::Fnv64::new();
    h.write(&(line as u64).to_le_bytes());
    h.write(&(cand as u64).to_le_bytes());
    (h.finish() % 10_000) as f64 / 10_000.0 < keep
}

fn samples(lines: &[LabelledLine], keep: f64, out: &mut Samples) {
    let mut s = LineScratch::default();
    for (n, line) in lines.iter().enumerate() {
        tokens(&line.text, &mut s.tokens);
        candidates(&line.text, &s.tokens, &mut s.candidates);
        for (k, c) in s.candidates.iter().enumerate() {
            let Some(class) = candidate_class(&c.range, &line.spans) else {
                continue;
            };
            if class == NONE && !keep_none(out.y.len() + n, k, keep) {
                continue;
            }
            features(&line.text, &s.tokens, c, &mut s.features);
            out.features.extend_from_slice(&s.features);
            out.ends.push(out.features.len());
            out.y.push(class as u8);
            out.weight.push(if class == NONE {
                (1.0 / keep) as f32
            } else {
                1.0
            });
        }
    }
}

/// SGD over the samples in a seeded order, learning rate decaying per epoch.
fn fit(x: &Samples, p: &CuratorParams) -> ContextClassifier {
    let k = CLASSES.len();
    let mut m = ContextClassifier::zeros();
    let mut order: Vec<usize> = (0..x.y.len()).collect();
    let mut rng = Rng::new(p.seed ^ 0xC0_4A70);
    let mut prob = [0.0f32; CLASSES.len()];
    for epoch in 0..p.epochs {
        rng.shuffle(&mut order);
        let lr = p.learning_rate / (1.0 + epoch as f32);
        for &i in &order {
            let start = if i == 0 { 0 } else { x.ends[i - 1] };
            let f = &x.features[start..x.ends[i]];
            m.probabilities(f, &mut prob);
            let w = x.weight[i].min(8.0);
            for (c, pr) in prob.iter_mut().enumerate() {
                *pr = w * (*pr - if c == usize::from(x.y[i]) { 1.0 } else { 0.0 });
            }
            for (b, g) in m.bias.iter_mut().zip(&prob) {
                *b -= lr * g;
            }
            for &b in f {
                let row = &mut m.weights[b as usize * k..(b as usize + 1) * k];
                for (wt, g) in row.iter_mut().zip(&prob) {
                    *wt -= lr * (g + p.l2 * *wt);
                }
            }
        }
    }
    m
}

/// Per-candidate confusion, and per-span (a label found when a prediction of its
/// entity overlaps it) and per-prediction counts, per entity.
#[derive(Debug)]
struct Eval {
    candidates: Confusion,
    /// entity -> (labels, found, predictions, correct)
    spans: BTreeMap<String, [u64; 4]>,
}

fn evaluate(m: &ContextClassifier, lines: &[LabelledLine]) -> Eval {
    let mut ev = Eval {
        candidates: Confusion::new(&CLASSES),
        spans: BTreeMap::new(),
    };
    let mut s = LineScratch::default();
    let mut prob = [0.0f32; CLASSES.len()];
    let mut predicted: Vec<(Range<usize>, usize)> = Vec::new();
    for line in lines {
        tokens(&line.text, &mut s.tokens);
        candidates(&line.text, &s.tokens, &mut s.candidates);
        predicted.clear();
        for c in &s.candidates {
            features(&line.text, &s.tokens, c, &mut s.features);
            m.probabilities(&s.features, &mut prob);
            let best = argmax(&prob);
            if let Some(truth) = candidate_class(&c.range, &line.spans) {
                ev.candidates.add(truth as u32, best as u32);
            }
            if best != NONE {
                predicted.push((c.range.clone(), best));
            }
        }
        let overlaps = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end;
        for (span, e) in &line.spans {
            let c = ev.spans.entry(e.clone()).or_default();
            c[0] += 1;
            c[1] += u64::from(
                predicted
                    .iter()
                    .any(|(r, k)| CLASSES[*k] == e && overlaps(r, span)),
            );
        }
        for (r, k) in &predicted {
            let c = ev.spans.entry(CLASSES[*k].to_string()).or_default();
            c[2] += 1;
            c[3] += u64::from(
                line.spans
                    .iter()
                    .any(|(s, e)| e == CLASSES[*k] && overlaps(r, s)),
            );
        }
    }
    ev
}

fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .fold(
            (NONE, f32::MIN),
            |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
        )
        .0
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn span_json(ev: &Eval) -> serde_json::Value {
    ev.spans
        .iter()
        .map(|(e, c)| {
            (
                e.clone(),
                serde_json::json!({
                    "labels": c[0], "recall": ratio(c[1], c[0]),
                    "predictions": c[2], "precision": ratio(c[3], c[2]),
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Fits on the training entries and evaluates on the held-out ones (all kinds, and
/// `novel_formats` apart when present).
pub fn train(
    entries: &[Entry],
    params: &CuratorParams,
    progress: &mut dyn FnMut(String),
) -> Result<Trained, TrainError> {
    let mut train_lines = Vec::new();
    let mut held: Vec<(String, Vec<LabelledLine>)> = Vec::new();
    for e in entries {
        progress(format!("reading {}/{} seed {}", e.family, e.kind, e.seed));
        let lines = labelled_lines(&e.dir)?;
        match e.split {
            Split::Training => train_lines.extend(lines),
            Split::HeldOut => held.push((e.kind.clone(), lines)),
        }
    }
    let mut x = Samples::default();
    progress(format!("features of {} training lines", train_lines.len()));
    samples(&train_lines, params.none_keep, &mut x);
    let positives = x.y.iter().filter(|&&y| usize::from(y) != NONE).count();
    if positives < 50 {
        return Err(TrainError::NoData(format!(
            "only {positives} PII candidates in the training split: not enough to train the curator"
        )));
    }
    progress(format!("fitting on {} candidates", x.y.len()));
    let model = fit(&x, params);

    progress("evaluating".into());
    let all: Vec<LabelledLine> = held.iter().flat_map(|(_, l)| l.iter().cloned()).collect();
    let ev = evaluate(&model, &all);
    let novel: Vec<LabelledLine> = held
        .iter()
        .filter(|(k, _)| k == "novel_formats")
        .flat_map(|(_, l)| l.iter().cloned())
        .collect();
    let ev_novel = (!novel.is_empty()).then(|| evaluate(&model, &novel));

    let mut summary = vec![format!(
        "held-out candidates (per class, precision and recall over {} lines):",
        all.len()
    )];
    for c in 1..CLASSES.len() as u32 {
        summary.push(format!("  {}", ev.candidates.line(c)));
    }
    let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    summary
        .push("held-out spans (a label found by an overlapping prediction of its entity):".into());
    for (e, c) in &ev.spans {
        summary.push(format!(
            "  {e}: recall {} of {}, precision {} of {} predictions",
            f(ratio(c[1], c[0])),
            c[0],
            f(ratio(c[3], c[2])),
            c[2]
        ));
    }
    if let Some(n) = &ev_novel {
        summary.push("held-out novel_formats spans:".into());
        for (e, c) in &n.spans {
            summary.push(format!(
                "  {e}: recall {} of {}, precision {} of {} predictions",
                f(ratio(c[1], c[0])),
                c[0],
                f(ratio(c[3], c[2])),
                c[2]
            ));
        }
    }
    let metrics = serde_json::json!({
        "model": "curator",
        "kind": "logistic_regression",
        "buckets": BUCKETS,
        "classes": CLASSES,
        "params": {
            "seed": params.seed, "epochs": params.epochs, "learning_rate": params.learning_rate,
            "l2": params.l2, "none_keep": params.none_keep,
        },
        "training_candidates": x.y.len(),
        "training_pii_candidates": positives,
        "held_out_lines": all.len(),
        "held_out_candidates": ev.candidates.to_json(),
        "held_out_spans": span_json(&ev),
        "held_out_novel_formats_spans": ev_novel.as_ref().map(span_json),
    });
    Ok(Trained {
        name: "curator",
        artifact: Artifact {
            kind: ModelKind::LogisticRegression,
            schema_hash: current_schema_hash(),
            feature_hash: CURATOR.hash(),
            payload: model.encode(),
        },
        training_rows: train_lines.len(),
        held_out_rows: all.len(),
        metrics,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_take_the_class_of_the_span_they_match() {
        let spans = vec![(10..21, "ssn".to_string())];
        assert_eq!(candidate_class(&(10..21), &spans), Some(2));
        assert_eq!(candidate_class(&(0..5), &spans), Some(NONE));
        // Partly overlapping: neither the entity nor "none".
        assert_eq!(candidate_class(&(5..14), &spans), None);
        assert_eq!(candidate_class(&(10..21), &[(10..21, "nope".into())]), None);
    }

    #[test]
    fn sgd_separates_a_toy_problem() {
        let line = |v: &str, e: Option<&str>| {
            let text = format!("tax id {v} verified");
            let spans = e
                .map(|e| (7..7 + v.len(), e.to_string()))
                .into_iter()
                .collect();
            LabelledLine { text, spans }
        };
        let mut lines = Vec::new();
        for i in 0..200u32 {
            lines.push(line(
                &format!("{:03}.{:02}.{:04}", 100 + i % 700, 10 + i % 80, 1000 + i),
                Some("ssn"),
            ));
            lines.push(line(&format!("v{}.{}", i, i % 7), None));
        }
        let mut x = Samples::default();
        samples(&lines, 1.0, &mut x);
        let m = fit(
            &x,
            &CuratorParams {
                none_keep: 1.0,
                ..Default::default()
            },
        );
        let ev = evaluate(&m, &lines);
        assert!(
            ev.candidates.recall(2).unwrap_or(0.0) > 0.95,
            "{:?}",
            ev.candidates.line(2)
        );
    }
}

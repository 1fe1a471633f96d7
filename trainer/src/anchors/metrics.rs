//! One implementation of every metric, applied alike to our predictions and to the
//! anchor's (which the Python side writes as numbers): the two sides of a comparison
//! can only differ in what they predicted.

use qb_models::metrics::roc_auc;
use serde_json::{Map, Value, json};

/// ROC AUC of anomaly scores (higher = more anomalous) against 0/1 labels.
pub fn scores(pred: &[f64], truth: &[f64]) -> Value {
    let labels: Vec<bool> = truth.iter().map(|&t| t > 0.5).collect();
    json!({"roc_auc": roc_auc(pred, &labels)})
}

/// Accuracy, macro F1 over `classes`, and precision and recall of `positive`.
pub fn classes(pred: &[f64], truth: &[f64], classes: usize, positive: usize) -> Value {
    let mut m = vec![vec![0usize; classes]; classes];
    for (&p, &t) in pred.iter().zip(truth) {
        let (p, t) = (p as usize, t as usize);
        if p < classes && t < classes {
            m[t][p] += 1;
        }
    }
    let n: usize = m.iter().flatten().sum();
    let correct: usize = (0..classes).map(|c| m[c][c]).sum();
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    let precision = |c: usize| ratio(m[c][c], (0..classes).map(|t| m[t][c]).sum());
    let recall = |c: usize| ratio(m[c][c], m[c].iter().sum());
    let f1 = |c: usize| match (precision(c), recall(c)) {
        (Some(p), Some(r)) if p + r > 0.0 => 2.0 * p * r / (p + r),
        _ => 0.0,
    };
    let present: Vec<usize> = (0..classes)
        .filter(|&c| m[c].iter().sum::<usize>() > 0)
        .collect();
    let f1_macro = (!present.is_empty())
        .then(|| present.iter().map(|&c| f1(c)).sum::<f64>() / present.len() as f64);
    json!({
        "accuracy": ratio(correct, n),
        "f1_macro": f1_macro,
        "precision": precision(positive),
        "recall": recall(positive),
    })
}

/// Mean absolute and root-mean-square error of forecasts.
pub fn errors(pred: &[f64], truth: &[f64]) -> Value {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return json!({"mae": null, "rmse": null});
    }
    let (mut abs, mut sq) = (0.0, 0.0);
    for (p, t) in pred.iter().zip(truth) {
        abs += (p - t).abs();
        sq += (p - t) * (p - t);
    }
    json!({"mae": abs / n as f64, "rmse": (sq / n as f64).sqrt()})
}

/// ROC AUC of probabilities and accuracy at 0.5.
pub fn probabilities(pred: &[f64], truth: &[f64]) -> Value {
    let mut v = scores(pred, truth);
    let flagged: Vec<f64> = pred
        .iter()
        .map(|&p| f64::from(u8::from(p >= 0.5)))
        .collect();
    let mut m = Map::new();
    m.insert("roc_auc".into(), v["roc_auc"].take());
    m.insert(
        "accuracy".into(),
        classes(&flagged, truth, 2, 1)["accuracy"].clone(),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_metrics_from_a_small_confusion() {
        let truth = [0.0, 0.0, 1.0, 2.0, 2.0];
        let pred = [0.0, 1.0, 1.0, 2.0, 0.0];
        let m = classes(&pred, &truth, 3, 2);
        assert_eq!(m["accuracy"], json!(0.6));
        assert_eq!(
            (m["precision"].clone(), m["recall"].clone()),
            (json!(1.0), json!(0.5))
        );
        let e = errors(&[1.0, 3.0], &[2.0, 1.0]);
        assert_eq!(e["mae"], json!(1.5));
        let p = probabilities(&[0.9, 0.2, 0.6], &[1.0, 0.0, 0.0]);
        assert_eq!(p["roc_auc"], json!(1.0));
        assert_eq!(p["accuracy"], json!(2.0 / 3.0));
    }
}

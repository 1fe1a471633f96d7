//! Evaluation: confusion matrices and the per-class precision and recall derived from
//! them.

#[derive(Debug, Clone)]
pub struct Confusion {
    classes: Vec<String>,
    /// `counts[truth][predicted]`.
    counts: Vec<Vec<u64>>,
}

impl Confusion {
    pub fn new(classes: &[&str]) -> Self {
        Confusion {
            classes: classes.iter().map(|c| c.to_string()).collect(),
            counts: vec![vec![0; classes.len()]; classes.len()],
        }
    }

    pub fn add(&mut self, truth: u32, predicted: u32) {
        if let Some(c) = self
            .counts
            .get_mut(truth as usize)
            .and_then(|row| row.get_mut(predicted as usize))
        {
            *c += 1;
        }
    }

    /// None when nothing was predicted (or is truly) of the class.
    pub fn precision(&self, class: u32) -> Option<f64> {
        let c = class as usize;
        let predicted: u64 = self.counts.iter().map(|r| r[c]).sum();
        (predicted > 0).then(|| self.counts[c][c] as f64 / predicted as f64)
    }

    pub fn recall(&self, class: u32) -> Option<f64> {
        let c = class as usize;
        let truly: u64 = self.counts[c].iter().sum();
        (truly > 0).then(|| self.counts[c][c] as f64 / truly as f64)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let per_class: Vec<serde_json::Value> = (0..self.classes.len() as u32)
            .map(|c| {
                serde_json::json!({
                    "class": self.classes[c as usize],
                    "precision": self.precision(c),
                    "recall": self.recall(c),
                })
            })
            .collect();
        serde_json::json!({"confusion": self.counts, "per_class": per_class})
    }

    /// `stuck: precision 0.97, recall 0.91 (n = 1234)`.
    pub fn line(&self, class: u32) -> String {
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
        let n: u64 = self.counts[class as usize].iter().sum();
        format!(
            "{}: precision {}, recall {} (n = {n})",
            self.classes[class as usize],
            f(self.precision(class)),
            f(self.recall(class))
        )
    }
}

/// At most this many points of a ROC curve go into a metrics file: enough to draw it.
pub const ROC_POINTS: usize = 100;

/// The ROC curve of `scores` (higher = more positive) against `truth` as `[fpr, tpr]`
/// points, from `[0, 0]` to `[1, 1]`, one per distinct threshold (tied scores are
/// flagged together), thinned evenly along the curve to at most `max_points` (the ends kept)
/// and rounded to 4 decimals. Empty when a class is missing or a score is NaN, as
/// `roc_auc` is then undefined.
pub fn roc_points(scores: &[f64], truth: &[bool], max_points: usize) -> Vec<[f64; 2]> {
    let pos = truth.iter().filter(|&&t| t).count();
    let neg = truth.len() - pos;
    if scores.len() != truth.len() || pos == 0 || neg == 0 || scores.iter().any(|s| s.is_nan()) {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut curve = vec![[0.0, 0.0]];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if truth[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        curve.push([fp as f64 / neg as f64, tp as f64 / pos as f64]);
    }
    let round = |p: [f64; 2]| p.map(|v| (v * 1e4).round() / 1e4);
    let keep = max_points.max(2);
    if curve.len() <= keep {
        return curve.into_iter().map(round).collect();
    }
    // Thinned by distance along the curve (|dfpr| + |dtpr|), not by threshold: a few
    // positives among many negatives would otherwise leave its steep start bare.
    let mut along = Vec::with_capacity(curve.len());
    let mut total = 0.0;
    for (k, p) in curve.iter().enumerate() {
        if k > 0 {
            total += (p[0] - curve[k - 1][0]).abs() + (p[1] - curve[k - 1][1]).abs();
        }
        along.push(total);
    }
    let mut out = Vec::with_capacity(keep);
    let mut k = 0;
    for step in 0..keep {
        let target = total * step as f64 / (keep - 1) as f64;
        while k + 1 < curve.len() && along[k] < target {
            k += 1;
        }
        out.push(round(curve[k]));
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_and_recall_from_the_matrix() {
        let mut c = Confusion::new(&["a", "b"]);
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (1, 0)] {
            c.add(t, p);
        }
        c.add(7, 0); // out of range: ignored
        assert_eq!(c.precision(0), Some(2.0 / 3.0));
        assert_eq!(c.recall(0), Some(2.0 / 3.0));
        assert_eq!(c.recall(1), Some(0.5));
        let empty = Confusion::new(&["a"]);
        assert_eq!((empty.precision(0), empty.recall(0)), (None, None));
        assert!(c.line(1).contains("recall 0.500 (n = 2)"));
    }

    #[test]
    fn roc_points_run_from_corner_to_corner_and_are_thinned() {
        let scores = [0.9, 0.8, 0.8, 0.3, 0.1];
        let truth = [true, true, false, false, true];
        assert_eq!(
            roc_points(&scores, &truth, 100),
            vec![
                [0.0, 0.0],
                [0.0, 0.3333],
                [0.5, 0.6667],
                [1.0, 0.6667],
                [1.0, 1.0]
            ]
        );
        let many: Vec<f64> = (0..10_000).map(f64::from).collect();
        let labels: Vec<bool> = (0..10_000).map(|i| i % 3 == 0).collect();
        let pts = roc_points(&many, &labels, ROC_POINTS);
        assert!(pts.len() <= ROC_POINTS, "{}", pts.len());
        assert_eq!((pts[0], pts[pts.len() - 1]), ([0.0, 0.0], [1.0, 1.0]));
        assert!(
            pts.windows(2)
                .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1])
        );
        assert!(roc_points(&[0.5], &[true], 100).is_empty());
    }
}

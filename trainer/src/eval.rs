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
}

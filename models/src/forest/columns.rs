//! The payload's arrays, checked and assembled into a forest (for `fit` and `decode`
//! alike).

use super::*;

/// A forest as the payload holds it; [`Columns::assemble`] checks it and builds the
/// nodes, for `fit` and `decode` alike.
#[derive(Debug, Default)]
pub(super) struct Columns {
    pub(super) sizes: Vec<u32>,
    pub(super) features: Vec<u16>,
    pub(super) thresholds: Vec<f32>,
    pub(super) leaf_rows: Vec<u32>,
    pub(super) probs: Vec<f32>,
}

impl Columns {
    pub(super) fn from_trees(trees: &[Vec<Grown>], probs: Vec<f32>) -> Self {
        let mut c = Columns {
            probs,
            ..Columns::default()
        };
        for tree in trees {
            c.sizes.push(tree.len() as u32);
            for n in tree {
                match *n {
                    Grown::Split {
                        feature, threshold, ..
                    } => {
                        c.features.push(feature as u16);
                        c.thresholds.push(threshold);
                    }
                    Grown::Leaf { row } => {
                        c.features.push(PAYLOAD_LEAF);
                        c.leaf_rows.push(row);
                    }
                }
            }
        }
        c
    }

    pub(super) fn assemble(self, features: usize, classes: usize) -> Result<RandomForest, String> {
        if features == 0 || features >= usize::from(PAYLOAD_LEAF) {
            return Err(format!("{features} features"));
        }
        if classes == 0 || !self.probs.len().is_multiple_of(classes) {
            return Err(format!(
                "{} probabilities for {classes} classes",
                self.probs.len()
            ));
        }
        let table_rows = self.probs.len() / classes;
        for (r, row) in self.probs.chunks_exact(classes).enumerate() {
            let sum: f32 = row.iter().sum();
            if row.iter().any(|p| !(0.0..=1.0).contains(p)) || (sum - 1.0).abs() > 1e-3 {
                return Err(format!("probability row {r} is not a distribution"));
            }
        }
        if self.sizes.is_empty() {
            return Err("no trees".into());
        }
        let total: u64 = self.sizes.iter().map(|&s| u64::from(s)).sum();
        if total != self.features.len() as u64 || total >= u64::from(u32::MAX) {
            return Err(format!(
                "tree sizes add up to {total}, {} node features",
                self.features.len()
            ));
        }
        let splits = self.features.iter().filter(|&&f| f != PAYLOAD_LEAF).count();
        if splits != self.thresholds.len() || self.features.len() - splits != self.leaf_rows.len() {
            return Err(format!(
                "{splits} splits and {} leaves, {} thresholds and {} leaf rows",
                self.features.len() - splits,
                self.thresholds.len(),
                self.leaf_rows.len()
            ));
        }
        let mut f = RandomForest {
            features,
            classes,
            roots: Vec::with_capacity(self.sizes.len()),
            depths: Vec::with_capacity(self.sizes.len()),
            nodes: Vec::with_capacity(self.features.len()),
            probs: self.probs,
        };
        let (mut thresholds, mut leaf_rows) = (self.thresholds.iter(), self.leaf_rows.iter());
        let mut depth = Vec::new();
        let mut from = 0usize;
        for (t, &size) in self.sizes.iter().enumerate() {
            let size = size as usize;
            let tree = &self.features[from..from + size];
            let root = from as u32;
            // A breadth-first tree of s splits has s + 1 leaves, and the k-th split's
            // children, 2k + 1 and 2k + 2, come after it.
            let tree_splits = tree.iter().filter(|&&f| f != PAYLOAD_LEAF).count();
            if size != 2 * tree_splits + 1 {
                return Err(format!(
                    "tree {t} has {size} nodes and {tree_splits} splits"
                ));
            }
            depth.clear();
            depth.resize(size, 0u32);
            let mut k = 0;
            for (i, &feature) in tree.iter().enumerate() {
                let at = root + i as u32;
                if feature == PAYLOAD_LEAF {
                    let row = leaf_rows.next().copied().unwrap_or(u32::MAX);
                    if row as usize >= table_rows {
                        return Err(format!(
                            "tree {t} node {i}: leaf row {row} outside the {table_rows} rows"
                        ));
                    }
                    f.nodes.push(Node {
                        threshold: f32::from_bits(row),
                        feature: features as u32,
                        left: at,
                    });
                    continue;
                }
                let threshold = thresholds.next().copied().unwrap_or(f32::NAN);
                let left = 2 * k + 1;
                if usize::from(feature) >= features || !threshold.is_finite() || left <= i {
                    return Err(format!(
                        "tree {t} node {i}: feature {feature}, threshold {threshold}, \
                         children at {left}"
                    ));
                }
                depth[left] = depth[i] + 1;
                depth[left + 1] = depth[i] + 1;
                f.nodes.push(Node {
                    threshold,
                    feature: u32::from(feature),
                    left: root + left as u32,
                });
                k += 1;
            }
            f.roots.push(root);
            f.depths.push(depth.iter().copied().max().unwrap_or(0));
            from += size;
        }
        Ok(f)
    }
}

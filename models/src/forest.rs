//! Random forest classifier (the Pathologist's): CART trees on Gini impurity, bootstrap
//! samples and a random subset of features per split, class probabilities at the leaves.
//! Trees are stored flat (one array of nodes, one of leaf probabilities), so prediction
//! is a few dozen comparisons and no allocation, and the artifact stays small.

use qb_signals::rng::Rng;

use crate::ModelError;
use crate::codec::{Decoder, Encoder};

#[derive(Debug, Clone, Copy)]
pub struct ForestParams {
    pub trees: usize,
    pub max_depth: usize,
    /// A node with fewer samples than this becomes a leaf.
    pub min_split: usize,
    /// Features tried per split; 0 means the square root of the feature count.
    pub features_per_split: usize,
    /// Rows drawn (with replacement) for each tree; 0 means as many as there are.
    pub sample_size: usize,
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 50,
            max_depth: 12,
            min_split: 4,
            features_per_split: 0,
            sample_size: 0,
            seed: 1,
        }
    }
}

/// Marks a leaf in `Node::feature`.
const LEAF: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    /// Split feature, or `LEAF`.
    feature: u32,
    /// Go left when `x[feature] <= threshold`; for a leaf, the index of its
    /// probabilities (in units of `classes`).
    threshold: f64,
    left: u32,
    right: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RandomForest {
    features: usize,
    classes: usize,
    /// Index of each tree's root in `nodes`.
    roots: Vec<u32>,
    nodes: Vec<Node>,
    /// Leaf class probabilities, `classes` per leaf.
    probs: Vec<f32>,
}

impl RandomForest {
    /// Fits on `x` (row-major, `features` columns) with classes `y` in `0..classes`.
    pub fn fit(
        x: &[f64],
        features: usize,
        y: &[u32],
        classes: usize,
        params: ForestParams,
    ) -> Result<Self, ModelError> {
        let input = |m: String| Err(ModelError::Input(m));
        if features == 0 || x.len() != y.len() * features || y.is_empty() {
            return input(format!(
                "random forest: {} values for {} rows of {features} features",
                x.len(),
                y.len()
            ));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return input(format!(
                "random forest: row {} feature {} is {}",
                i / features,
                i % features,
                x[i]
            ));
        }
        if let Some(&c) = y.iter().find(|&&c| c as usize >= classes) {
            return input(format!("random forest: class {c} outside 0..{classes}"));
        }
        if params.trees == 0 {
            return input("random forest: needs at least one tree".into());
        }
        let mtry = match params.features_per_split {
            0 => (features as f64).sqrt().round().max(1.0) as usize,
            m => m.min(features),
        };
        let mut f = RandomForest {
            features,
            classes,
            roots: Vec::with_capacity(params.trees),
            nodes: Vec::new(),
            probs: Vec::new(),
        };
        let mut rng = Rng::new(params.seed);
        let n = y.len();
        for _ in 0..params.trees {
            let mut tree_rng = rng.fork(f.roots.len() as u64 + 1);
            let size = if params.sample_size == 0 {
                n
            } else {
                params.sample_size
            };
            let mut sample: Vec<u32> = (0..size)
                .map(|_| (tree_rng.next_u64() % n as u64) as u32)
                .collect();
            f.roots.push(f.nodes.len() as u32);
            let mut b = Builder {
                x,
                y,
                features,
                classes,
                mtry,
                params,
                rng: tree_rng,
                forest: &mut f,
            };
            b.grow(&mut sample, 0);
        }
        Ok(f)
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn features(&self) -> usize {
        self.features
    }

    /// Mean class probabilities over the trees, into `out` (length `classes`).
    pub fn predict_proba_into(&self, row: &[f64], out: &mut [f32]) {
        out.iter_mut().for_each(|p| *p = 0.0);
        for &root in &self.roots {
            let mut i = root as usize;
            loop {
                let n = self.nodes[i];
                if n.feature == LEAF {
                    let at = n.threshold as usize * self.classes;
                    for (o, p) in out.iter_mut().zip(&self.probs[at..at + self.classes]) {
                        *o += p;
                    }
                    break;
                }
                let v = row.get(n.feature as usize).copied().unwrap_or(0.0);
                i = if v <= n.threshold { n.left } else { n.right } as usize;
            }
        }
        let k = self.roots.len().max(1) as f32;
        out.iter_mut().for_each(|p| *p /= k);
    }

    pub fn predict_proba(&self, row: &[f64]) -> Vec<f32> {
        let mut out = vec![0.0; self.classes];
        self.predict_proba_into(row, &mut out);
        out
    }

    /// The most probable class (the lowest on a tie).
    pub fn predict(&self, row: &[f64]) -> u32 {
        let p = self.predict_proba(row);
        let mut best = 0;
        for (c, &v) in p.iter().enumerate() {
            if v > p[best] {
                best = c;
            }
        }
        best as u32
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u32(self.features as u32).u32(self.classes as u32);
        e.u32s(&self.roots);
        e.u32s(&self.nodes.iter().map(|n| n.feature).collect::<Vec<_>>());
        e.f64s(&self.nodes.iter().map(|n| n.threshold).collect::<Vec<_>>());
        e.u32s(&self.nodes.iter().map(|n| n.left).collect::<Vec<_>>());
        e.u32s(&self.nodes.iter().map(|n| n.right).collect::<Vec<_>>());
        e.f32s(&self.probs);
        e.finish()
    }

    /// Decodes and validates: every index in range and every child after its parent,
    /// so a corrupt payload cannot make prediction loop or read out of bounds.
    pub fn decode(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut d = Decoder::new(bytes);
        let features = d.u32("features")? as usize;
        let classes = d.u32("classes")? as usize;
        let roots = d.u32s("roots")?;
        let feature = d.u32s("node features")?;
        let threshold = d.f64s("node thresholds")?;
        let left = d.u32s("left children")?;
        let right = d.u32s("right children")?;
        let probs = d.f32s("leaf probabilities")?;
        d.finish()?;
        let bad = |why: String| Err(ModelError::Corrupt(format!("random forest: {why}")));
        let n = feature.len();
        if [threshold.len(), left.len(), right.len()] != [n, n, n] || classes == 0 {
            return bad("node arrays of different lengths".into());
        }
        if roots.iter().any(|&r| r as usize >= n) {
            return bad("a root outside the node array".into());
        }
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let node = Node {
                feature: feature[i],
                threshold: threshold[i],
                left: left[i],
                right: right[i],
            };
            if node.feature == LEAF {
                let at = node.threshold;
                if !(at >= 0.0 && at.fract() == 0.0 && (at as usize + 1) * classes <= probs.len()) {
                    return bad(format!("leaf {i} points outside the probabilities"));
                }
            } else if node.feature as usize >= features
                || !node.threshold.is_finite()
                || node.left as usize <= i
                || node.right as usize <= i
                || node.left as usize >= n
                || node.right as usize >= n
            {
                return bad(format!("node {i} is malformed"));
            }
            nodes.push(node);
        }
        Ok(RandomForest {
            features,
            classes,
            roots,
            nodes,
            probs,
        })
    }
}

struct Builder<'a> {
    x: &'a [f64],
    y: &'a [u32],
    features: usize,
    classes: usize,
    mtry: usize,
    params: ForestParams,
    rng: Rng,
    forest: &'a mut RandomForest,
}

impl Builder<'_> {
    /// Grows the subtree of `sample`; returns its node index.
    fn grow(&mut self, sample: &mut [u32], depth: usize) -> u32 {
        let at = self.forest.nodes.len() as u32;
        self.forest.nodes.push(Node {
            feature: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
        });
        let counts = self.counts(sample);
        let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
        let split =
            if pure || depth >= self.params.max_depth || sample.len() < self.params.min_split {
                None
            } else {
                self.best_split(sample, &counts)
            };
        let Some((feature, threshold)) = split else {
            let leaf = self.forest.probs.len() / self.classes;
            let total = sample.len().max(1) as f32;
            self.forest
                .probs
                .extend(counts.iter().map(|&c| c as f32 / total));
            self.forest.nodes[at as usize].threshold = leaf as f64;
            return at;
        };
        // Partition in place: left part first.
        let mut mid = 0;
        for i in 0..sample.len() {
            if self.value(sample[i], feature) <= threshold {
                sample.swap(i, mid);
                mid += 1;
            }
        }
        let (l, r) = sample.split_at_mut(mid);
        let left = self.grow(l, depth + 1);
        let right = self.grow(r, depth + 1);
        self.forest.nodes[at as usize] = Node {
            feature: feature as u32,
            threshold,
            left,
            right,
        };
        at
    }

    fn value(&self, row: u32, feature: usize) -> f64 {
        self.x[row as usize * self.features + feature]
    }

    fn counts(&self, sample: &[u32]) -> Vec<usize> {
        let mut c = vec![0; self.classes];
        for &r in sample {
            c[self.y[r as usize] as usize] += 1;
        }
        c
    }

    /// The (feature, threshold) with the lowest weighted Gini among `mtry` random
    /// features; None when no split separates anything.
    fn best_split(&mut self, sample: &[u32], counts: &[usize]) -> Option<(usize, f64)> {
        let mut order: Vec<usize> = (0..self.features).collect();
        let n = sample.len() as f64;
        let mut best: Option<(f64, usize, f64)> = None;
        let mut pairs: Vec<(f64, u32)> = Vec::with_capacity(sample.len());
        for k in 0..self.mtry {
            // Partial Fisher-Yates: the first mtry entries become a random subset.
            let j = k + (self.rng.next_u64() % (self.features - k) as u64) as usize;
            order.swap(k, j);
            let f = order[k];
            pairs.clear();
            pairs.extend(
                sample
                    .iter()
                    .map(|&r| (self.value(r, f), self.y[r as usize])),
            );
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut left = vec![0usize; self.classes];
            for i in 0..pairs.len() - 1 {
                left[pairs[i].1 as usize] += 1;
                if pairs[i].0 == pairs[i + 1].0 {
                    continue;
                }
                let nl = (i + 1) as f64;
                let nr = n - nl;
                let gini = |side: &mut dyn Iterator<Item = f64>, total: f64| {
                    1.0 - side.map(|c| (c / total).powi(2)).sum::<f64>()
                };
                let gl = gini(&mut left.iter().map(|&c| c as f64), nl);
                let gr = gini(
                    &mut left.iter().zip(counts).map(|(&l, &c)| (c - l) as f64),
                    nr,
                );
                let score = (nl * gl + nr * gr) / n;
                if best.is_none_or(|b| score < b.0) {
                    best = Some((score, f, (pairs[i].0 + pairs[i + 1].0) / 2.0));
                }
            }
        }
        best.map(|(_, f, t)| (f, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes in two features: x0 < 0.3 → 0, x1 > 0.6 → 2, else 1; 5 % noise.
    fn data(n: usize, seed: u64) -> (Vec<f64>, Vec<u32>) {
        let mut r = Rng::new(seed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (a, b, noise) = (r.unit(), r.unit(), r.unit());
            x.extend([a, b, r.unit()]);
            let c = if a < 0.3 {
                0
            } else if b > 0.6 {
                2
            } else {
                1
            };
            y.push(if noise < 0.05 { (c + 1) % 3 } else { c });
        }
        (x, y)
    }

    #[test]
    fn learns_a_three_class_boundary_and_generalises() {
        let (x, y) = data(2000, 1);
        let f = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
        let (tx, ty) = data(1000, 2);
        let right = (0..ty.len())
            .filter(|&i| f.predict(&tx[i * 3..i * 3 + 3]) == ty[i])
            .count();
        // 5 % label noise caps accuracy near 95 %.
        assert!(right > 900, "{right} of 1000");
        let p = f.predict_proba(&[0.1, 0.1, 0.5]);
        assert!(
            (p.iter().sum::<f32>() - 1.0).abs() < 1e-4 && p[0] > 0.8,
            "{p:?}"
        );
    }

    #[test]
    fn same_seed_same_forest_and_the_encoding_round_trips() {
        let (x, y) = data(500, 3);
        let a = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
        let b = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
        assert_eq!(a.encode(), b.encode());
        let c = RandomForest::decode(&a.encode()).unwrap();
        assert_eq!(a, c);
        let other = ForestParams {
            seed: 2,
            ..ForestParams::default()
        };
        assert_ne!(
            a.encode(),
            RandomForest::fit(&x, 3, &y, 3, other).unwrap().encode()
        );
    }

    #[test]
    fn bad_input_and_corrupt_payloads_are_refused() {
        let p = ForestParams::default();
        assert!(RandomForest::fit(&[], 3, &[], 3, p).is_err());
        assert!(RandomForest::fit(&[1.0, 2.0], 3, &[0], 3, p).is_err());
        let e = RandomForest::fit(&[1.0, f64::NAN, 0.0], 3, &[0], 3, p).unwrap_err();
        assert!(e.to_string().contains("row 0 feature 1"), "{e}");
        assert!(RandomForest::fit(&[1.0, 2.0, 3.0], 3, &[5], 3, p).is_err());

        let (x, y) = data(200, 4);
        let good = RandomForest::fit(&x, 3, &y, 3, p).unwrap().encode();
        assert!(RandomForest::decode(&good[..good.len() - 3]).is_err());
        // A child pointing backwards (a cycle) is refused.
        let mut f = RandomForest::decode(&good).unwrap();
        let inner = f.nodes.iter().position(|n| n.feature != LEAF).unwrap();
        f.nodes[inner].left = inner as u32;
        assert!(RandomForest::decode(&f.encode()).is_err());
        let mut f = RandomForest::decode(&good).unwrap();
        f.nodes[inner].feature = 99;
        assert!(RandomForest::decode(&f.encode()).is_err());
    }
}

//! Random forest classifier (the Pathologist's): CART trees on Gini impurity, bootstrap
//! samples and a random subset of features per split, class probabilities at the leaves.
//!
//! Layout, for speed and size: every tree is stored breadth-first in one array of 12-byte
//! nodes (`f32` threshold, `u32` feature, `u32` left child; the right child is the left
//! one's neighbour), and leaves index a shared table of the distinct class distributions.
//! Inputs are compared as `f32` at fit and at prediction alike, so the split a row takes
//! is the same in both. A leaf loops to itself, so prediction walks up to 64 trees at
//! once for as many steps as the deepest of them needs, with no branch on the data: the
//! walks are independent chains of loads the processor overlaps.

use std::collections::HashMap;

use qb_signals::rng::Rng;

use crate::ModelError;
use crate::codec::{Decoder, Encoder};

/// The payload's layout; 1 was the unversioned one with `f64` thresholds and explicit
/// children.
const PAYLOAD_VERSION: u32 = 2;

/// Marks a leaf in the payload's node features.
const PAYLOAD_LEAF: u16 = u16::MAX;

/// Trees walked together in prediction (measured on the bench's 50 trees: 8 at a time
/// 1.8 us a row, 16 1.5 us, all 50 1.3 us).
const LANES: usize = 64;

/// Rows this wide or narrower are converted on the stack in prediction.
const STACK_FEATURES: usize = 64;

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

/// One node of a tree. A split sends a row to `left` when its value (as [`key`] gives
/// it) is at most `threshold`, else to `left + 1`. A leaf has `feature` = the forest's
/// feature count, a column that reads minus infinity, so it always "goes left" to
/// `left`, itself; its `threshold` bits are the row of its probabilities in `probs`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    threshold: f32,
    feature: u32,
    left: u32,
}

impl Node {
    fn is_leaf(self, features: usize) -> bool {
        self.feature as usize == features
    }

    /// The row of a leaf's probabilities.
    fn leaf_row(self) -> usize {
        self.threshold.to_bits() as usize
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RandomForest {
    features: usize,
    classes: usize,
    /// Index of each tree's root in `nodes`; a tree's nodes run to the next root.
    roots: Vec<u32>,
    /// Edges from each tree's root to its deepest leaf.
    depths: Vec<u32>,
    nodes: Vec<Node>,
    /// The distinct leaf distributions, `classes` per row.
    probs: Vec<f32>,
}

/// A value as the trees compare it: the nearest `f32`, kept finite so that thresholds
/// (midpoints between two such values) always are. NaN goes right of every split, as
/// `v <= threshold` sends it in `f64`.
fn key(v: f64) -> f32 {
    if v.is_nan() {
        f32::MAX
    } else {
        (v as f32).clamp(f32::MIN, f32::MAX)
    }
}

/// A threshold with `a <= t < b` for keys `a < b`: their midpoint rounded to `f32`, or
/// `a` where rounding reaches `b` (adjacent floats).
fn midpoint(a: f32, b: f32) -> f32 {
    let m = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
    if m < b { m } else { a }
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
        if features >= usize::from(PAYLOAD_LEAF) {
            return input(format!(
                "random forest: {features} features, at most {} fit the payload",
                PAYLOAD_LEAF - 1
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
        let keys: Vec<f32> = x.iter().map(|&v| key(v)).collect();
        let mut table = LeafTable::default();
        let mut trees = Vec::with_capacity(params.trees);
        let mut rng = Rng::new(params.seed);
        let n = y.len();
        for t in 0..params.trees {
            let mut tree_rng = rng.fork(t as u64 + 1);
            let size = if params.sample_size == 0 {
                n
            } else {
                params.sample_size
            };
            let mut sample: Vec<u32> = (0..size)
                .map(|_| (tree_rng.next_u64() % n as u64) as u32)
                .collect();
            let mut b = Builder {
                keys: &keys,
                y,
                features,
                classes,
                mtry,
                params,
                rng: tree_rng,
                tree: Vec::new(),
                table: &mut table,
            };
            b.grow(&mut sample, 0);
            trees.push(breadth_first(&b.tree));
        }
        let columns = Columns::from_trees(&trees, table.probs);
        columns
            .assemble(features, classes)
            .map_err(|e| ModelError::Input(format!("random forest: {e}")))
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn features(&self) -> usize {
        self.features
    }

    /// Mean class probabilities over the trees, into `out` (length `classes`). A row
    /// shorter than `features` reads 0 for the missing values.
    pub fn predict_proba_into(&self, row: &[f64], out: &mut [f32]) {
        let mut stack = [0.0f32; STACK_FEATURES + 1];
        let mut heap = Vec::new();
        let x = if self.features <= STACK_FEATURES {
            &mut stack[..=self.features]
        } else {
            heap.resize(self.features + 1, 0.0);
            &mut heap[..]
        };
        for (i, v) in x.iter_mut().enumerate() {
            *v = key(row.get(i).copied().unwrap_or(0.0));
        }
        // The column leaves read: never above a threshold, so a leaf stays put.
        x[self.features] = f32::NEG_INFINITY;

        out.iter_mut().for_each(|p| *p = 0.0);
        for (roots, depths) in self.roots.chunks(LANES).zip(self.depths.chunks(LANES)) {
            let mut at = [0u32; LANES];
            let at = &mut at[..roots.len()];
            at.copy_from_slice(roots);
            let steps = depths.iter().copied().max().unwrap_or(0);
            for _ in 0..steps {
                for a in at.iter_mut() {
                    let n = self.nodes[*a as usize];
                    *a = n.left + u32::from(x[n.feature as usize] > n.threshold);
                }
            }
            for &a in at.iter() {
                let from = self.nodes[a as usize].leaf_row() * self.classes;
                let probs = &self.probs[from..from + self.classes];
                for (o, p) in out.iter_mut().zip(probs) {
                    *o += p;
                }
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

    /// The artifact payload. Trees are breadth-first with each split's children
    /// adjacent, so the children of a tree's k-th split are its nodes 2k + 1 and 2k + 2
    /// and need not be stored:
    ///
    /// ```text
    /// version u32 | features u32 | classes u32 | tree sizes u32s (nodes per tree)
    /// | node features u16s (u16::MAX: a leaf) | thresholds f32s (one per split)
    /// | leaf rows u32s (one per leaf) | probabilities f32s (classes per row)
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let c = self.columns();
        let mut e = Encoder::new();
        e.u32(PAYLOAD_VERSION)
            .u32(self.features as u32)
            .u32(self.classes as u32)
            .u32s(&c.sizes)
            .u16s(&c.features)
            .f32s(&c.thresholds)
            .u32s(&c.leaf_rows)
            .f32s(&c.probs);
        e.finish()
    }

    /// Decodes and validates: every tree a well-formed breadth-first tree (so children
    /// are in range and after their parent, and prediction cannot loop or read out of
    /// bounds), features in range, finite thresholds, leaf rows inside the table and
    /// every row of it a probability distribution.
    pub fn decode(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut d = Decoder::new(bytes);
        let version = d.u32("version")?;
        let corrupt = |m: String| ModelError::Corrupt(format!("random forest payload: {m}"));
        if version != PAYLOAD_VERSION {
            return Err(corrupt(format!(
                "version {version}, this build reads {PAYLOAD_VERSION}"
            )));
        }
        let features = d.u32("features")? as usize;
        let classes = d.u32("classes")? as usize;
        let columns = Columns {
            sizes: d.u32s("tree sizes")?,
            features: d.u16s("node features")?,
            thresholds: d.f32s("thresholds")?,
            leaf_rows: d.u32s("leaf rows")?,
            probs: d.f32s("probabilities")?,
        };
        d.finish()?;
        columns.assemble(features, classes).map_err(corrupt)
    }

    /// The payload's arrays, read back from the nodes.
    fn columns(&self) -> Columns {
        let mut c = Columns {
            probs: self.probs.clone(),
            ..Columns::default()
        };
        let mut ends = self.roots.iter().skip(1).copied().map(|r| r as usize);
        let mut from = 0;
        for _ in &self.roots {
            let to = ends.next().unwrap_or(self.nodes.len());
            c.sizes.push((to - from) as u32);
            from = to;
        }
        for &n in &self.nodes {
            if n.is_leaf(self.features) {
                c.features.push(PAYLOAD_LEAF);
                c.leaf_rows.push(n.leaf_row() as u32);
            } else {
                c.features.push(n.feature as u16);
                c.thresholds.push(n.threshold);
            }
        }
        c
    }
}

/// A forest as the payload holds it; [`Columns::assemble`] checks it and builds the
/// nodes, for `fit` and `decode` alike.
#[derive(Debug, Default)]
struct Columns {
    sizes: Vec<u32>,
    features: Vec<u16>,
    thresholds: Vec<f32>,
    leaf_rows: Vec<u32>,
    probs: Vec<f32>,
}

impl Columns {
    fn from_trees(trees: &[Vec<Grown>], probs: Vec<f32>) -> Self {
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

    fn assemble(self, features: usize, classes: usize) -> Result<RandomForest, String> {
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

/// A tree as it grows, depth first; `breadth_first` lays it out.
#[derive(Debug, Clone, Copy)]
enum Grown {
    Split {
        feature: usize,
        threshold: f32,
        left: usize,
        right: usize,
    },
    Leaf {
        row: u32,
    },
}

/// The tree in breadth-first order with each split's children adjacent (child indices
/// are implied by the order, see [`RandomForest::encode`]).
fn breadth_first(tree: &[Grown]) -> Vec<Grown> {
    let mut order = vec![0];
    let mut i = 0;
    while i < order.len() {
        if let Grown::Split { left, right, .. } = tree[order[i]] {
            order.extend([left, right]);
        }
        i += 1;
    }
    order.into_iter().map(|i| tree[i]).collect()
}

/// The distinct leaf distributions, each stored once.
#[derive(Debug, Default)]
struct LeafTable {
    probs: Vec<f32>,
    rows: HashMap<Vec<u32>, u32>,
}

impl LeafTable {
    fn row(&mut self, dist: Vec<f32>) -> u32 {
        let bits = dist.iter().map(|p| p.to_bits()).collect();
        let next = self.rows.len() as u32;
        *self.rows.entry(bits).or_insert_with(|| {
            self.probs.extend(&dist);
            next
        })
    }
}

struct Builder<'a> {
    keys: &'a [f32],
    y: &'a [u32],
    features: usize,
    classes: usize,
    mtry: usize,
    params: ForestParams,
    rng: Rng,
    tree: Vec<Grown>,
    table: &'a mut LeafTable,
}

impl Builder<'_> {
    /// Grows the subtree of `sample`; returns its node index.
    fn grow(&mut self, sample: &mut [u32], depth: usize) -> usize {
        let at = self.tree.len();
        self.tree.push(Grown::Leaf { row: 0 });
        let counts = self.counts(sample);
        let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
        let split =
            if pure || depth >= self.params.max_depth || sample.len() < self.params.min_split {
                None
            } else {
                self.best_split(sample, &counts)
            };
        let Some((feature, threshold)) = split else {
            let total = sample.len().max(1) as f32;
            let row = self
                .table
                .row(counts.iter().map(|&c| c as f32 / total).collect());
            self.tree[at] = Grown::Leaf { row };
            return at;
        };
        // Partition in place: left part first.
        let mut mid = 0;
        for i in 0..sample.len() {
            if self.key(sample[i], feature) <= threshold {
                sample.swap(i, mid);
                mid += 1;
            }
        }
        let (l, r) = sample.split_at_mut(mid);
        let left = self.grow(l, depth + 1);
        let right = self.grow(r, depth + 1);
        self.tree[at] = Grown::Split {
            feature,
            threshold,
            left,
            right,
        };
        at
    }

    fn key(&self, row: u32, feature: usize) -> f32 {
        self.keys[row as usize * self.features + feature]
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
    fn best_split(&mut self, sample: &[u32], counts: &[usize]) -> Option<(usize, f32)> {
        let mut order: Vec<usize> = (0..self.features).collect();
        let n = sample.len() as f64;
        let mut best: Option<(f64, usize, f32)> = None;
        let mut pairs: Vec<(f32, u32)> = Vec::with_capacity(sample.len());
        let mut left = vec![0usize; self.classes];
        for k in 0..self.mtry {
            // Partial Fisher-Yates: the first mtry entries become a random subset.
            let j = k + (self.rng.next_u64() % (self.features - k) as u64) as usize;
            order.swap(k, j);
            let f = order[k];
            pairs.clear();
            pairs.extend(sample.iter().map(|&r| (self.key(r, f), self.y[r as usize])));
            pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            left.iter_mut().for_each(|c| *c = 0);
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
                    best = Some((score, f, midpoint(pairs[i].0, pairs[i + 1].0)));
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

    /// The walk of one tree, one node at a time, from the payload's view of it.
    fn walk(f: &RandomForest, tree: usize, row: &[f64]) -> usize {
        let mut i = f.roots[tree] as usize;
        loop {
            let n = f.nodes[i];
            if n.is_leaf(f.features) {
                return n.leaf_row();
            }
            let v = row.get(n.feature as usize).copied().unwrap_or(0.0);
            i = if key(v) <= n.threshold {
                n.left
            } else {
                n.left + 1
            } as usize;
        }
    }

    /// The class probabilities of `row`, tree by tree with [`walk`].
    fn walked(f: &RandomForest, row: &[f64]) -> Vec<f32> {
        let mut mean = vec![0.0f32; f.classes];
        for t in 0..f.roots.len() {
            let from = walk(f, t, row) * f.classes;
            let probs = &f.probs[from..from + f.classes];
            mean.iter_mut().zip(probs).for_each(|(m, p)| *m += p);
        }
        mean.iter_mut().for_each(|m| *m /= f.roots.len() as f32);
        mean
    }

    #[test]
    fn training_rows_reach_leaves_of_their_class() {
        // Grown to purity, a tree sends every row of its bootstrap sample to a leaf of
        // the row's class, if fit and prediction compare values alike. A third of the
        // rows have a twin of another class whose first feature differs by less than an
        // f32 tells apart, so only the third feature separates them (all three are
        // tried at every split, so every node that can be split is).
        let (mut x, mut y) = data(200, 5);
        let mut r = Rng::new(9);
        for i in 0..100 {
            x.extend([x[i * 3] + 1e-12, x[i * 3 + 1], r.unit()]);
            y.push((y[i] + 1) % 3);
        }
        let p = ForestParams {
            trees: 5,
            max_depth: 64,
            min_split: 2,
            features_per_split: 3,
            ..ForestParams::default()
        };
        let f = RandomForest::fit(&x, 3, &y, 3, p).unwrap();
        let mut rng = Rng::new(p.seed);
        for t in 0..p.trees {
            let mut tree_rng = rng.fork(t as u64 + 1);
            for _ in 0..y.len() {
                let i = (tree_rng.next_u64() % y.len() as u64) as usize;
                let leaf = walk(&f, t, &x[i * 3..i * 3 + 3]);
                assert_eq!(f.probs[leaf * 3 + y[i] as usize], 1.0, "tree {t} row {i}");
            }
        }
    }

    #[test]
    fn walking_trees_together_is_walking_them_one_by_one() {
        let (x, y) = data(300, 5);
        let p = ForestParams {
            trees: 11,
            ..ForestParams::default()
        };
        let f = RandomForest::fit(&x, 3, &y, 3, p).unwrap();
        for row in x.chunks_exact(3) {
            assert_eq!(f.predict_proba(row), walked(&f, row));
        }
        // Values that round to the same f32, NaN, infinities, beyond f32's range.
        let odd = [
            0.3,
            0.3 + 1e-12,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            1e300,
        ];
        for a in odd {
            for b in odd {
                let row = [a, b, 0.5];
                assert_eq!(f.predict_proba(&row), walked(&f, &row), "{row:?}");
            }
        }
        assert_eq!(f.predict_proba(&[0.1]), f.predict_proba(&[0.1, 0.0, 0.0]));
    }

    #[test]
    fn thresholds_fall_between_the_values_they_separate() {
        for (a, b) in [
            (0.1f32, 0.2f32),
            (1.0, f32::from_bits(1.0f32.to_bits() + 1)),
            (f32::MIN, f32::MAX),
            (f32::MAX / 2.0, f32::MAX),
            (-0.0, f32::from_bits(1)),
        ] {
            let t = midpoint(a, b);
            assert!(a <= t && t < b && t.is_finite(), "{a} {b} {t}");
        }
        assert_eq!(key(f64::NAN), f32::MAX);
        assert_eq!(key(1e300), f32::MAX);
        assert_eq!(key(f64::NEG_INFINITY), f32::MIN);
    }

    #[test]
    fn same_seed_same_forest_and_the_encoding_round_trips() {
        let (x, y) = data(500, 3);
        let a = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
        let b = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
        assert_eq!(a.encode(), b.encode());
        let c = RandomForest::decode(&a.encode()).unwrap();
        assert_eq!(a, c);
        assert_eq!(c.encode(), a.encode());
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
    fn predictions_survive_the_round_trip_bit_for_bit() {
        let (x, y) = data(1000, 6);
        let f = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
        let g = RandomForest::decode(&f.encode()).unwrap();
        let (tx, _) = data(500, 7);
        for row in tx.chunks_exact(3) {
            let (p, q) = (f.predict_proba(row), g.predict_proba(row));
            assert_eq!(
                p.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                q.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(f.predict(row), g.predict(row));
        }
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
        let good = RandomForest::fit(&x, 3, &y, 3, p).unwrap();
        let bytes = good.encode();
        let corrupt = |bytes: &[u8]| match RandomForest::decode(bytes) {
            Err(ModelError::Corrupt(m)) => m,
            other => panic!("{other:?}"),
        };
        let m = corrupt(&bytes[..bytes.len() - 3]);
        assert!(m.contains("probabilities"), "{m}");
        let mut v = bytes.clone();
        v[0] = 1;
        assert!(corrupt(&v).contains("version 1"));

        // Columns edited one way or another, each refused with its reason.
        let edit = |change: &dyn Fn(&mut Columns)| {
            let mut c = good.columns();
            change(&mut c);
            let mut e = Encoder::new();
            e.u32(PAYLOAD_VERSION)
                .u32(3)
                .u32(3)
                .u32s(&c.sizes)
                .u16s(&c.features)
                .f32s(&c.thresholds)
                .u32s(&c.leaf_rows)
                .f32s(&c.probs);
            corrupt(&e.finish())
        };
        let split = good
            .columns()
            .features
            .iter()
            .position(|&f| f != PAYLOAD_LEAF);
        let split = split.unwrap();
        assert!(edit(&|c| c.features[split] = 3).contains("feature 3"));
        assert!(edit(&|c| c.thresholds[0] = f32::INFINITY).contains("threshold inf"));
        assert!(edit(&|c| c.leaf_rows[0] = 1 << 20).contains("outside"));
        assert!(edit(&|c| c.probs[0] = 1.5).contains("not a distribution"));
        assert!(edit(&|c| c.sizes[0] += 2).contains("add up"));
        assert!(edit(&|c| c.sizes.clear()).contains("no trees"));
        assert!(
            edit(&|c| {
                c.thresholds.pop();
            })
            .contains("thresholds")
        );
        // Moving tree 1's first node into tree 0 makes both trees malformed.
        assert!(
            edit(&|c| {
                c.sizes[0] += 1;
                c.sizes[1] -= 1;
            })
            .contains("tree 0")
        );
        // A leaf ahead of the splits whose children would come before it: the root a
        // leaf, then a split (three leaves, one split: sizes match but not the order).
        let m = edit(&|c| {
            let (size0, rest) = (c.sizes[0] as usize, c.sizes[1..].to_vec());
            let f0: Vec<u16> = c.features.drain(..size0).collect();
            let splits0 = f0.iter().filter(|&&f| f != PAYLOAD_LEAF).count();
            let leaves0 = f0.len() - splits0;
            c.thresholds.drain(..splits0);
            c.leaf_rows.drain(..leaves0);
            c.sizes = [3].into_iter().chain(rest).collect();
            for (i, f) in [PAYLOAD_LEAF, 0, PAYLOAD_LEAF].into_iter().enumerate() {
                c.features.insert(i, f);
            }
            c.thresholds.insert(0, 0.5);
            c.leaf_rows.splice(0..0, [0, 0]);
        });
        assert!(m.contains("tree 0 node 1"), "{m}");
    }

    #[test]
    fn every_flipped_byte_is_refused_or_decodes_to_a_walkable_forest() {
        let (x, y) = data(60, 8);
        let p = ForestParams {
            trees: 3,
            max_depth: 4,
            ..ForestParams::default()
        };
        let bytes = RandomForest::fit(&x, 3, &y, 3, p).unwrap().encode();
        let rows = [[0.1, 0.9, 0.5], [f64::NAN, 1e300, -1.0], [0.7, 0.2, 0.0]];
        for i in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                match RandomForest::decode(&b) {
                    Ok(f) => {
                        for row in &rows {
                            let p = f.predict_proba(row);
                            assert!(p.iter().all(|v| v.is_finite()), "byte {i}: {p:?}");
                        }
                    }
                    Err(ModelError::Corrupt(_)) => {}
                    Err(e) => panic!("byte {i}: {e}"),
                }
            }
        }
        for len in 0..bytes.len() {
            assert!(matches!(
                RandomForest::decode(&bytes[..len]),
                Err(ModelError::Corrupt(_))
            ));
        }
    }
}

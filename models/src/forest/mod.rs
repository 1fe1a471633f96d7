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

use qb_signals::rng::Rng;

use crate::ModelError;
use crate::codec::{Decoder, Encoder};

mod columns;
mod grow;

use columns::Columns;
use grow::{Builder, Grown, LeafTable, breadth_first};

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

#[cfg(test)]
mod tests;

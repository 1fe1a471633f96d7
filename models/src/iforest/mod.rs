//! Isolation forest (Liu, Ting and Zhou, ICDM 2008), the Equalizer's anomaly model.
//!
//! Each tree isolates a subsample of `psi` rows with random axis-parallel cuts down to a
//! height limit of `ceil(log2 psi)`; anomalies are isolated near the root. The score of a
//! row is the paper's `s = 2^(-E[h] / c(psi))` in (0, 1): above 0.5 is anomalous, well
//! below 0.5 is normal. Validated against the paper's AUC table in `models/README.md`.
//!
//! Choices the paper leaves open, made as scikit-learn makes them (which reproduces the
//! paper's table):
//! - the split attribute is uniform among the attributes that are *not constant* in the
//!   node; a node where every attribute is constant becomes a leaf;
//! - the cut `p` is uniform in `[min, max)` and rows with `x <= p` go left, so both
//!   children are non-empty;
//! - `c(1) = 0` and `c(2) = 1` (the exact average path length of a BST on two keys, as
//!   in the authors' 2012 journal version); the formula is used for `n > 2`;
//! - a subsample larger than the data is clipped to the data (`psi = min(subsample, n)`).
//!
//! Trees live in one flat node array, children after their parent, so scoring is a
//! loop over a contiguous slice with no recursion and no allocation.

mod build;
mod payload;
#[cfg(test)]
mod tests;

use qb_signals::rng::Rng;

use crate::ModelError;
use build::{Builder, below};

/// Version of the payload layout below; bump on any change.
const PAYLOAD_VERSION: u32 = 1;
/// `feature` of a leaf.
const LEAF: u32 = u32::MAX;
const EULER_GAMMA: f64 = 0.577_215_664_9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IForestParams {
    pub trees: usize,
    pub subsample: usize,
    pub seed: u64,
}

impl Default for IForestParams {
    /// The paper's settings: 100 trees of 256 rows each.
    fn default() -> Self {
        IForestParams {
            trees: 100,
            subsample: 256,
            seed: 0,
        }
    }
}

/// One node, 16 bytes. A split sends `x[feature] <= value` to `next` and the rest to
/// `next + 1`; a leaf (`feature == LEAF`) holds in `value` its whole contribution to
/// the path length, `depth + c(size)`, and in `next` its training size (kept for the
/// payload, which stores sizes, not derived floats).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    value: f64,
    feature: u32,
    next: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    dims: usize,
    /// The subsample size actually used, `min(subsample, rows)`.
    psi: usize,
    /// `c(psi)`, the normaliser of the score.
    c_psi: f64,
    /// Index of each tree's root in `nodes`; a tree ends where the next one starts.
    roots: Vec<u32>,
    nodes: Vec<Node>,
}

/// Average path length of an unsuccessful BST search among `n` keys: the paper's
/// `c(n) = 2 H(n-1) - 2 (n-1) / n`, with `H(i) ~ ln(i) + 0.5772156649`.
pub fn c(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// `ceil(log2 psi)`, in integers so that powers of two are exact.
pub fn height_limit(psi: usize) -> usize {
    if psi <= 1 {
        0
    } else {
        (usize::BITS - (psi - 1).leading_zeros()) as usize
    }
}

impl IsolationForest {
    /// Fits on `data`, row-major with `dims` values per row.
    pub fn fit(data: &[f64], dims: usize, params: IForestParams) -> Result<Self, ModelError> {
        let input = |m: String| ModelError::Input(format!("isolation forest: {m}"));
        if dims == 0 || dims >= LEAF as usize {
            return Err(input(format!("rows of {dims} columns")));
        }
        if !data.len().is_multiple_of(dims) {
            return Err(input(format!(
                "{} values is not a whole number of rows of {dims}",
                data.len()
            )));
        }
        let n = data.len() / dims;
        if n < 2 {
            return Err(input(format!("needs at least 2 rows, got {n}")));
        }
        if n > u32::MAX as usize {
            return Err(input(format!("{n} rows is more than this model indexes")));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(input(format!(
                "row {}, column {} is {}",
                i / dims,
                i % dims,
                data[i]
            )));
        }
        if params.subsample < 2 {
            return Err(input(format!("subsample {} is below 2", params.subsample)));
        }
        if params.trees == 0 {
            return Err(input("needs at least one tree".into()));
        }
        let psi = params.subsample.min(n);
        let mut rng = Rng::new(params.seed);
        let mut b = Builder::new(dims, psi);
        // A permutation kept across trees: a partial Fisher-Yates from any arrangement
        // still draws a uniform subset without replacement, so it is never reset.
        let mut perm: Vec<u32> = (0..n as u32).collect();
        let mut roots = Vec::with_capacity(params.trees);
        for _ in 0..params.trees {
            for i in 0..psi {
                let j = i + below(&mut rng, n - i);
                perm.swap(i, j);
                let r = perm[i] as usize;
                // Copied out so a tree touches psi * dims contiguous values, not the
                // whole data set.
                let row = &data[r * dims..(r + 1) * dims];
                b.sample[i * dims..(i + 1) * dims].copy_from_slice(row);
            }
            // A tree has at most 2 psi - 1 nodes; every index must fit the u32 payload.
            let root = b.nodes.len();
            if root + 2 * psi > u32::MAX as usize {
                return Err(input("the forest outgrows u32 node indices".into()));
            }
            roots.push(root as u32);
            b.grow(&mut rng, psi);
        }
        Ok(IsolationForest {
            dims,
            psi,
            c_psi: c(psi),
            roots,
            nodes: b.nodes,
        })
    }

    /// Fits on rows given as slices; they must all have the same width.
    pub fn fit_rows(rows: &[&[f64]], params: IForestParams) -> Result<Self, ModelError> {
        let dims = rows.first().map_or(0, |r| r.len());
        let mut data = Vec::with_capacity(rows.len() * dims);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != dims {
                return Err(ModelError::Input(format!(
                    "isolation forest: row {i} has {} values, row 0 has {dims}",
                    r.len()
                )));
            }
            data.extend_from_slice(r);
        }
        if rows.is_empty() {
            return Err(ModelError::Input("isolation forest: no rows".into()));
        }
        Self::fit(&data, dims, params)
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    pub fn subsample(&self) -> usize {
        self.psi
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Mean path length `E[h(x)]` over the trees, with the `c(size)` adjustment at
    /// leaves. `row` must have [`dims`](Self::dims) values.
    fn mean_path(&self, row: &[f64]) -> f64 {
        let mut sum = 0.0;
        for &root in &self.roots {
            let mut i = root as usize;
            loop {
                let n = self.nodes[i];
                if n.feature == LEAF {
                    sum += n.value;
                    break;
                }
                // NaN compares false and goes right, like any value above the cut.
                i = n.next as usize + usize::from(row[n.feature as usize] > n.value);
            }
        }
        sum / self.roots.len() as f64
    }

    /// The paper's anomaly score `s` in (0, 1); above 0.5 is anomalous. A row of the
    /// wrong width scores NaN (never anomalous by `s > 0.5`); use
    /// [`try_score`](Self::try_score) where the input is not already checked.
    pub fn score(&self, row: &[f64]) -> f64 {
        if row.len() != self.dims {
            return f64::NAN;
        }
        (-self.mean_path(row) / self.c_psi).exp2()
    }

    /// [`score`](Self::score), refusing a row of the wrong width or with NaN/inf values.
    pub fn try_score(&self, row: &[f64]) -> Result<f64, ModelError> {
        if row.len() != self.dims {
            return Err(ModelError::Input(format!(
                "isolation forest: {} values, the model has {} features",
                row.len(),
                self.dims
            )));
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Input(format!(
                "isolation forest: column {j} is {}",
                row[j]
            )));
        }
        Ok(self.score(row))
    }
}

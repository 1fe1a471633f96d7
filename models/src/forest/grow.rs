//! Growing one tree: CART on Gini impurity over f32 keys, laid out breadth-first.

use std::collections::HashMap;

use qb_signals::rng::Rng;

use super::*;

/// A tree as it grows, depth first; `breadth_first` lays it out.
#[derive(Debug, Clone, Copy)]
pub(super) enum Grown {
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
pub(super) fn breadth_first(tree: &[Grown]) -> Vec<Grown> {
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
pub(super) struct LeafTable {
    pub(super) probs: Vec<f32>,
    pub(super) rows: HashMap<Vec<u32>, u32>,
}

impl LeafTable {
    pub(super) fn row(&mut self, dist: Vec<f32>) -> u32 {
        let bits = dist.iter().map(|p| p.to_bits()).collect();
        let next = self.rows.len() as u32;
        *self.rows.entry(bits).or_insert_with(|| {
            self.probs.extend(&dist);
            next
        })
    }
}

pub(super) struct Builder<'a> {
    pub(super) keys: &'a [f32],
    pub(super) y: &'a [u32],
    pub(super) features: usize,
    pub(super) classes: usize,
    pub(super) mtry: usize,
    pub(super) params: ForestParams,
    pub(super) rng: Rng,
    pub(super) tree: Vec<Grown>,
    pub(super) table: &'a mut LeafTable,
}

impl Builder<'_> {
    /// Grows the subtree of `sample`; returns its node index.
    pub(super) fn grow(&mut self, sample: &mut [u32], depth: usize) -> usize {
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

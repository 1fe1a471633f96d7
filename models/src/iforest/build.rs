//! Growing one isolation tree into the forest's flat node array.

use qb_signals::rng::Rng;

use super::{LEAF, Node, c, height_limit};

/// Uniform integer in `0..n` (n >= 1), by Lemire's multiply-shift with rejection, so
/// there is no modulo bias.
pub(super) fn below(rng: &mut Rng, n: usize) -> usize {
    let n = n as u64;
    // 2^64 mod n: low halves below it would make some results more likely than others.
    let reject = n.wrapping_neg() % n;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if m as u64 >= reject {
            return (m >> 64) as usize;
        }
    }
}

/// Scratch for growing trees, reused across them.
pub(super) struct Builder {
    dims: usize,
    limit: usize,
    pub(super) nodes: Vec<Node>,
    /// The current subsample, row-major; the caller fills it before each `grow`.
    pub(super) sample: Vec<f64>,
    /// Rows of `sample`, partitioned in place as nodes split.
    idx: Vec<u32>,
    /// Candidate split attributes of the current node.
    features: Vec<u32>,
    /// Nodes waiting to be grown: (node, rows lo..hi in `idx`, depth).
    stack: Vec<(usize, usize, usize, usize)>,
}

impl Builder {
    pub(super) fn new(dims: usize, psi: usize) -> Self {
        Builder {
            dims,
            limit: height_limit(psi),
            nodes: Vec::new(),
            sample: vec![0.0; psi * dims],
            idx: Vec::with_capacity(psi),
            features: Vec::with_capacity(dims),
            stack: Vec::new(),
        }
    }

    /// Grows one tree over the `psi` rows in `sample`, appending its nodes.
    pub(super) fn grow(&mut self, rng: &mut Rng, psi: usize) {
        self.idx.clear();
        self.idx.extend(0..psi as u32);
        let root = self.push_node();
        self.stack.push((root, 0, psi, 0));
        while let Some((node, lo, hi, depth)) = self.stack.pop() {
            let split = if depth >= self.limit || hi - lo <= 1 {
                None
            } else {
                self.choose_split(rng, lo, hi)
            };
            let Some((f, p)) = split else {
                self.nodes[node] = Node {
                    value: depth as f64 + c(hi - lo),
                    feature: LEAF,
                    next: (hi - lo) as u32,
                };
                continue;
            };
            let mid = self.partition(lo, hi, f, p);
            let left = self.push_node();
            self.push_node();
            self.nodes[node] = Node {
                value: p,
                feature: f as u32,
                next: left as u32,
            };
            // Right first, so the left subtree is grown first (depth-first order).
            self.stack.push((left + 1, mid, hi, depth + 1));
            self.stack.push((left, lo, mid, depth + 1));
        }
    }

    fn push_node(&mut self) -> usize {
        self.nodes.push(Node {
            value: 0.0,
            feature: LEAF,
            next: 0,
        });
        self.nodes.len() - 1
    }

    /// An attribute uniform among those not constant on rows `lo..hi`, and a cut
    /// uniform in `[min, max)`; None when every attribute is constant.
    fn choose_split(&mut self, rng: &mut Rng, lo: usize, hi: usize) -> Option<(usize, f64)> {
        self.features.clear();
        self.features.extend(0..self.dims as u32);
        while !self.features.is_empty() {
            let k = below(rng, self.features.len());
            let f = self.features[k] as usize;
            let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
            for &r in &self.idx[lo..hi] {
                let x = self.sample[r as usize * self.dims + f];
                min = min.min(x);
                max = max.max(x);
            }
            if min < max {
                let p = min + (max - min) * rng.unit();
                // Rounding can land on max, which would leave the right child empty.
                return Some((f, if p < max { p } else { min }));
            }
            self.features.swap_remove(k);
        }
        None
    }

    /// Moves rows with `x[f] <= p` to the front of `lo..hi`; returns where they end.
    fn partition(&mut self, lo: usize, hi: usize, f: usize, p: f64) -> usize {
        let mut mid = lo;
        for i in lo..hi {
            let r = self.idx[i] as usize;
            if self.sample[r * self.dims + f] <= p {
                self.idx.swap(mid, i);
                mid += 1;
            }
        }
        mid
    }
}

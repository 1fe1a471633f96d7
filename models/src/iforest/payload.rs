//! The artifact payload of an isolation forest, and its validation on the way in.

use super::{IsolationForest, LEAF, Node, PAYLOAD_VERSION, c, height_limit};
use crate::ModelError;
use crate::codec::{Decoder, Encoder};

impl IsolationForest {
    /// The artifact payload:
    ///
    /// ```text
    /// version u32 | dims u32 | psi u32 | roots u32s | feature u32s (u32::MAX: leaf)
    /// | threshold f64s (0 at leaves) | next u32s (left child of a split, size of a leaf)
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u32(PAYLOAD_VERSION)
            .u32(self.dims as u32)
            .u32(self.psi as u32)
            .u32s(&self.roots);
        let features: Vec<u32> = self.nodes.iter().map(|n| n.feature).collect();
        let thresholds: Vec<f64> = self
            .nodes
            .iter()
            .map(|n| if n.feature == LEAF { 0.0 } else { n.value })
            .collect();
        let next: Vec<u32> = self.nodes.iter().map(|n| n.next).collect();
        e.u32s(&features).f64s(&thresholds).u32s(&next);
        e.finish()
    }

    /// Reads [`encode`](Self::encode)'s payload, checking that it is a forest this code
    /// can walk: every index in range, every node with exactly one parent that comes
    /// before it (so no cycles), features below `dims`, finite thresholds.
    pub fn decode(bytes: &[u8]) -> Result<Self, ModelError> {
        let corrupt = |m: String| ModelError::Corrupt(format!("isolation forest payload: {m}"));
        let mut d = Decoder::new(bytes);
        let version = d.u32("version")?;
        if version != PAYLOAD_VERSION {
            return Err(corrupt(format!(
                "version {version}, this build reads {PAYLOAD_VERSION}"
            )));
        }
        let dims = d.u32("dims")? as usize;
        let psi = d.u32("psi")? as usize;
        let roots = d.u32s("roots")?;
        let features = d.u32s("feature")?;
        let thresholds = d.f64s("threshold")?;
        let next = d.u32s("next")?;
        d.finish()?;
        if dims == 0 || psi < 2 {
            return Err(corrupt(format!("dims {dims}, psi {psi}")));
        }
        let len = features.len();
        if thresholds.len() != len || next.len() != len {
            return Err(corrupt(format!(
                "{len} features, {} thresholds, {} next: node arrays differ in length",
                thresholds.len(),
                next.len()
            )));
        }
        if roots.is_empty() || roots[0] != 0 {
            return Err(corrupt("the first tree must start at node 0".into()));
        }
        let mut depth = vec![0usize; len];
        let mut has_parent = vec![false; len];
        let limit = height_limit(psi);
        let mut nodes = Vec::with_capacity(len);
        for (t, &start) in roots.iter().enumerate() {
            let start = start as usize;
            let end = roots.get(t + 1).map_or(len, |&r| r as usize);
            if start >= end || end > len {
                return Err(corrupt(format!(
                    "tree {t} spans nodes {start}..{end} of {len}"
                )));
            }
            for i in start..end {
                if i > start && !has_parent[i] {
                    return Err(corrupt(format!("node {i} of tree {t} has no parent")));
                }
                let (f, x, nx) = (features[i], thresholds[i], next[i]);
                if f == LEAF {
                    if nx == 0 || nx as usize > psi {
                        return Err(corrupt(format!("leaf {i} has size {nx}, psi is {psi}")));
                    }
                    nodes.push(Node {
                        value: depth[i] as f64 + c(nx as usize),
                        feature: LEAF,
                        next: nx,
                    });
                    continue;
                }
                if f as usize >= dims {
                    return Err(corrupt(format!(
                        "node {i} splits on feature {f}, the model has {dims}"
                    )));
                }
                if !x.is_finite() {
                    return Err(corrupt(format!("node {i} has threshold {x}")));
                }
                let l = nx as usize;
                // Children come after their parent, inside the same tree.
                if l <= i || l + 1 >= end {
                    return Err(corrupt(format!(
                        "node {i} of tree {t} has children {l} and {}, outside {}..{end}",
                        l + 1,
                        i + 1
                    )));
                }
                if depth[i] >= limit {
                    return Err(corrupt(format!(
                        "node {i} splits at depth {}, the height limit is {limit}",
                        depth[i]
                    )));
                }
                for ch in [l, l + 1] {
                    if has_parent[ch] {
                        return Err(corrupt(format!("node {ch} has two parents")));
                    }
                    has_parent[ch] = true;
                    depth[ch] = depth[i] + 1;
                }
                nodes.push(Node {
                    value: x,
                    feature: f,
                    next: nx,
                });
            }
        }
        Ok(IsolationForest {
            dims,
            psi,
            c_psi: c(psi),
            roots,
            nodes,
        })
    }
}

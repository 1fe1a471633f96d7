//! DDSketch (Masson, Rim, Lee, VLDB 2019): quantiles with a relative-error guarantee.
//!
//! Our own, small implementation rather than `sketches-ddsketch`: durations are whole
//! nanoseconds (so no negative store), we need a fixed bin bound and a merge, and the
//! whole thing is one logarithmic mapping over a dense `Vec`.
//!
//! A value `v > 0` goes to bin `k = ceil(log_gamma(v))` with
//! `gamma = (1 + a) / (1 - a)`; the bin's representative `2 gamma^k / (gamma + 1)` is
//! within `a` (relative) of every value in it. With `a = 1 %`, 2,048 bins cover 1 ns to
//! far beyond a day, so the bound only bites on absurd inputs; then the lowest bins are
//! collapsed into one, which keeps the upper quantiles (p90, p99) exact to `a`.

/// Relative accuracy of every quantile.
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// Most bins a sketch holds (a few KiB at most).
pub const MAX_BINS: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub struct DDSketch {
    /// `ln(gamma)`.
    ln_gamma: f64,
    gamma: f64,
    /// Key of `bins[0]`.
    min_key: i32,
    bins: Vec<u64>,
    /// Values of 0 (they have no logarithm).
    zeros: u64,
    count: u64,
}

impl Default for DDSketch {
    fn default() -> Self {
        Self::new()
    }
}

impl DDSketch {
    pub fn new() -> Self {
        let gamma = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
        DDSketch {
            ln_gamma: gamma.ln(),
            gamma,
            min_key: 0,
            bins: Vec::new(),
            zeros: 0,
            count: 0,
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn bin_count(&self) -> usize {
        self.bins.len()
    }

    fn key(&self, v: u64) -> i32 {
        // v >= 1, so the key is >= 0 and at most ~2,200 for u64::MAX.
        ((v as f64).ln() / self.ln_gamma).ceil() as i32
    }

    fn value(&self, key: i32) -> f64 {
        2.0 * self.gamma.powi(key) / (self.gamma + 1.0)
    }

    pub fn add(&mut self, v: u64) {
        self.add_n(v, 1);
    }

    fn add_n(&mut self, v: u64, n: u64) {
        self.count += n;
        if v == 0 {
            self.zeros += n;
            return;
        }
        let key = self.key(v);
        self.add_key(key, n);
    }

    fn add_key(&mut self, key: i32, n: u64) {
        if self.bins.is_empty() {
            self.min_key = key;
            self.bins.push(n);
            return;
        }
        if key < self.min_key {
            let grow = (self.min_key - key) as usize;
            self.bins.splice(0..0, std::iter::repeat_n(0, grow));
            self.min_key = key;
        }
        let idx = (key - self.min_key) as usize;
        if idx >= self.bins.len() {
            self.bins.resize(idx + 1, 0);
        }
        self.bins[idx] += n;
        self.collapse();
    }

    /// Folds the lowest bins into one until at most `MAX_BINS` remain.
    fn collapse(&mut self) {
        if self.bins.len() <= MAX_BINS {
            return;
        }
        let excess = self.bins.len() - MAX_BINS;
        let folded: u64 = self.bins[..=excess].iter().sum();
        self.bins.drain(..excess);
        self.bins[0] = folded;
        self.min_key += excess as i32;
    }

    /// Adds every value of `other` (same accuracy: there is only one).
    pub fn merge(&mut self, other: &DDSketch) {
        self.zeros += other.zeros;
        self.count += other.zeros;
        for (i, &n) in other.bins.iter().enumerate() {
            if n > 0 {
                self.count += n;
                self.add_key(other.min_key + i as i32, n);
            }
        }
    }

    /// The value at rank `q * (count - 1)` (lower rank), within 1 % of the exact one;
    /// `None` when empty. `q` is clamped to [0, 1].
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = (q * (self.count - 1) as f64).floor() as u64;
        if rank < self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        for (i, &n) in self.bins.iter().enumerate() {
            seen += n;
            if seen > rank {
                return Some(self.value(self.min_key + i as i32));
            }
        }
        self.bins
            .len()
            .checked_sub(1)
            .map(|i| self.value(self.min_key + i as i32))
    }

    /// `quantile` rounded to whole nanoseconds (0 when empty).
    pub fn quantile_ns(&self, q: f64) -> u64 {
        self.quantile(q).map_or(0, |v| v.round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(sorted: &[u64], q: f64) -> u64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    fn within(est: f64, exact: u64) -> bool {
        let exact = exact as f64;
        (est - exact).abs() <= RELATIVE_ACCURACY * exact + 1e-9 * exact.max(1.0)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn quantiles_are_within_one_percent_of_exact(
            values in prop::collection::vec(
                // Up to 11 days: below the bin bound, where every quantile is within 1 %.
                prop_oneof![0u64..1_000, 1_000u64..10_000_000, 1u64..1_000_000_000_000_000],
                1..2_000,
            ),
            q in 0.0f64..=1.0,
        ) {
            let mut s = DDSketch::new();
            values.iter().for_each(|&v| s.add(v));
            let mut sorted = values.clone();
            sorted.sort_unstable();
            for q in [q, 0.0, 0.5, 0.9, 0.99, 1.0] {
                let est = s.quantile(q).unwrap();
                let ex = exact(&sorted, q);
                prop_assert!(within(est, ex), "q={q} est={est} exact={ex}");
            }
            prop_assert!(s.bin_count() <= MAX_BINS);
        }

        #[test]
        fn merge_equals_adding_everything(
            a in prop::collection::vec(0u64..1_000_000_000, 0..500),
            b in prop::collection::vec(0u64..1_000_000_000, 0..500),
        ) {
            let (mut sa, mut sb, mut all) = (DDSketch::new(), DDSketch::new(), DDSketch::new());
            a.iter().for_each(|&v| { sa.add(v); all.add(v) });
            b.iter().for_each(|&v| { sb.add(v); all.add(v) });
            sa.merge(&sb);
            prop_assert_eq!(sa.count(), all.count());
            for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
                prop_assert_eq!(sa.quantile(q), all.quantile(q));
            }
        }
    }

    #[test]
    fn empty_and_degenerate_inputs() {
        let mut s = DDSketch::new();
        assert_eq!(s.quantile(0.5), None);
        assert_eq!(s.quantile_ns(0.99), 0);
        s.add(0);
        assert_eq!(s.quantile(f64::NAN), Some(0.0));
        s.add(u64::MAX);
        assert!(s.quantile(1.0).unwrap() > 1e19);
        assert_eq!(s.quantile(-3.0), Some(0.0));
    }

    #[test]
    fn bins_stay_bounded_and_upper_quantiles_stay_accurate() {
        let mut s = DDSketch::new();
        // Spans 1 ns .. 1e19 ns: more keys than MAX_BINS at 1 %.
        let mut v = 1u64;
        let mut values = Vec::new();
        while v < u64::MAX / 2 {
            s.add(v);
            values.push(v);
            v = v + v / 50 + 1;
        }
        assert!(s.bin_count() <= MAX_BINS, "{}", s.bin_count());
        values.sort_unstable();
        for q in [0.9, 0.99, 1.0] {
            assert!(within(s.quantile(q).unwrap(), exact(&values, q)), "q={q}");
        }
    }
}

//! Fixed-length history per target, and the little statistics the feature sets need.

use std::collections::BTreeMap;

/// The last `len` observations of each target (a cgroup, a pid, a connection), pruned
/// when a target has not been seen for a while.
///
/// Each history is a vector of up to `2 * len` values whose last `len` are the window:
/// the window is always one contiguous slice, and the oldest half is dropped once per
/// `len` pushes, so a push moves no memory on average (a ring buffer made contiguous
/// every tick moved the whole window every tick).
#[derive(Debug, Clone)]
pub struct Histories<K: Ord, T> {
    len: usize,
    /// Ticks a target may be missing (a read that failed) before it is forgotten.
    grace: u64,
    tick: u64,
    map: BTreeMap<K, (u64, Vec<T>)>,
}

impl<K: Ord + Clone, T> Histories<K, T> {
    pub fn new(len: usize, grace: u64) -> Self {
        Histories {
            len: len.max(1),
            grace,
            tick: 0,
            map: BTreeMap::new(),
        }
    }

    fn append(&mut self, key: &K, value: T) -> &[T] {
        let len = self.len;
        let (seen, h) = self
            .map
            .entry(key.clone())
            .or_insert_with(|| (0, Vec::with_capacity(2 * len)));
        *seen = self.tick;
        if h.len() == 2 * len {
            h.drain(..len);
        }
        h.push(value);
        &h[h.len().saturating_sub(len)..]
    }

    /// Appends `value` to `key`'s history; returns it, oldest first, when it holds
    /// `len` observations.
    pub fn push(&mut self, key: &K, value: T) -> Option<&[T]> {
        let len = self.len;
        let window = self.append(key, value);
        (window.len() == len).then_some(window)
    }

    /// Like [`Histories::push`], but returns the history as soon as it holds two
    /// observations (enough for a rate).
    pub fn push_partial(&mut self, key: &K, value: T) -> Option<&[T]> {
        let window = self.append(key, value);
        (window.len() >= 2).then_some(window)
    }

    /// `key`'s history so far (at most `len` observations), oldest first.
    pub fn get(&self, key: &K) -> Option<&[T]> {
        let h = &self.map.get(key)?.1;
        Some(&h[h.len().saturating_sub(self.len)..])
    }

    /// Ends a tick: forgets targets not seen for longer than the grace.
    pub fn end_tick(&mut self) {
        let (tick, grace) = (self.tick, self.grace);
        self.map.retain(|_, (seen, _)| tick - *seen <= grace);
        self.tick += 1;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Least-squares slope of `y` against `x`, and R² of the fit (1 for a constant series).
pub fn slope_r2(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len().min(y.len());
    if n < 2 {
        return (0.0, 1.0);
    }
    let nf = n as f64;
    let mx = x[..n].iter().sum::<f64>() / nf;
    let my = y[..n].iter().sum::<f64>() / nf;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return (0.0, 1.0);
    }
    let r2 = if syy == 0.0 {
        1.0
    } else {
        sxy * sxy / (sxx * syy)
    };
    (sxy / sxx, r2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histories_fill_slide_and_forget() {
        let mut h: Histories<&str, u32> = Histories::new(3, 1);
        assert!(h.push(&"a", 1).is_none());
        h.end_tick();
        assert!(h.push(&"a", 2).is_none());
        h.end_tick();
        assert_eq!(h.push(&"a", 3).unwrap(), &[1, 2, 3]);
        h.end_tick();
        assert_eq!(h.push(&"a", 4).unwrap(), &[2, 3, 4]);
        for v in 5..20 {
            assert_eq!(
                h.push(&"a", v).unwrap(),
                &[v - 2, v - 1, v],
                "slides past the compaction"
            );
            assert_eq!(h.get(&"a").unwrap(), &[v - 2, v - 1, v]);
            h.end_tick();
        }
        h.end_tick();
        assert_eq!(h.len(), 1, "one missed tick is within the grace");
        h.end_tick();
        assert!(h.is_empty(), "forgotten after the grace");
    }

    #[test]
    fn slope_and_r2() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let (s, r2) = slope_r2(&x, &[1.0, 3.0, 5.0, 7.0]);
        assert!((s - 2.0).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
        assert_eq!(slope_r2(&x, &[4.0; 4]), (0.0, 1.0));
        let (_, r2) = slope_r2(&x, &[0.0, 1.0, 0.0, 1.0]);
        assert!(r2 < 0.5);
        assert_eq!(slope_r2(&[1.0], &[1.0]), (0.0, 1.0));
    }
}

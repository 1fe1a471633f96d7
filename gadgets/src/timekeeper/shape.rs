//! Metric shapes: per-minute points of a few host channels, z-normalised per channel,
//! compared by cosine similarity or by DTW within a Sakoe-Chiba band. Pure math on
//! slices, no state; every function returns a finite number for any input.

use serde::Deserialize;

/// Host channels a shape is made of, per minute.
pub const CHANNELS: usize = 4;
pub const CHANNEL_NAMES: [&str; CHANNELS] = ["cpu_busy", "iowait", "load_per_cpu", "io_pressure"];
/// The smallest spread a channel is divided by when normalised: a flat channel's noise
/// must stay small, not be blown up to unit variance and drown the channels that move.
/// Shares of CPU time, runnable tasks per CPU, PSI percent.
pub const SPREAD_FLOOR: [f64; CHANNELS] = [0.03, 0.03, 0.1, 3.0];

/// One minute: the channels' means.
pub type Point = [f64; CHANNELS];

/// How two shapes are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Cosine,
    Dtw,
}

/// Each channel minus its mean, over its standard deviation (at least its floor).
/// Non-finite values count as the channel's mean.
pub fn normalise(points: &[Point]) -> Vec<Point> {
    let n = points.len().max(1) as f64;
    let mut out = vec![[0.0; CHANNELS]; points.len()];
    for c in 0..CHANNELS {
        let finite = || points.iter().map(|p| p[c]).filter(|v| v.is_finite());
        let count = finite().count().max(1) as f64;
        let mean = finite().sum::<f64>() / count;
        let var = finite().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let spread = var.sqrt().max(SPREAD_FLOOR[c]);
        for (o, p) in out.iter_mut().zip(points) {
            o[c] = if p[c].is_finite() {
                (p[c] - mean) / spread
            } else {
                0.0
            };
        }
    }
    out
}

fn dot(a: &Point, b: &Point) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn finite_or_zero(v: f64) -> f64 {
    if v.is_finite() {
        v.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Cosine of the angle between two normalised shapes of equal length (all channels as
/// one vector); 0 when either is all zeros or the lengths differ.
pub fn cosine(a: &[Point], b: &[Point]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let ab: f64 = a.iter().zip(b).map(|(x, y)| dot(x, y)).sum();
    let aa: f64 = a.iter().map(|x| dot(x, x)).sum();
    let bb: f64 = b.iter().map(|x| dot(x, x)).sum();
    if aa <= 0.0 || bb <= 0.0 {
        return 0.0;
    }
    finite_or_zero(ab / (aa * bb).sqrt())
}

/// DTW as a similarity on the cosine's scale: 1 - D / (|a|^2 + |b|^2), D the cheapest
/// warping path's sum of squared point distances, the path kept within `band` steps of
/// the diagonal. Without warping D = |a - b|^2, so equal-norm shapes score their cosine;
/// warping can only raise it.
pub fn dtw(a: &[Point], b: &[Point], band: usize) -> f64 {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return 0.0;
    }
    // The band must reach the corner when the lengths differ.
    let band = band.max(n.abs_diff(m));
    let aa: f64 = a.iter().map(|x| dot(x, x)).sum();
    let bb: f64 = b.iter().map(|x| dot(x, x)).sum();
    if aa + bb <= 0.0 {
        return 0.0;
    }
    let mut prev = vec![f64::INFINITY; m + 1];
    let mut row = vec![f64::INFINITY; m + 1];
    prev[0] = 0.0;
    for i in 1..=n {
        row.fill(f64::INFINITY);
        let lo = i.saturating_sub(band).max(1);
        let hi = (i + band).min(m);
        for j in lo..=hi {
            let d: f64 = a[i - 1]
                .iter()
                .zip(&b[j - 1])
                .map(|(x, y)| (x - y).powi(2))
                .sum();
            row[j] = d + prev[j - 1].min(prev[j]).min(row[j - 1]);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    finite_or_zero(1.0 - prev[m] / (aa + bb))
}

/// The similarity of two raw shapes of equal length, normalised here. `band` is DTW's
/// warping window as a share of the length.
pub fn similarity(method: Method, band: f64, a: &[Point], b: &[Point]) -> f64 {
    let (a, b) = (normalise(a), normalise(b));
    match method {
        Method::Cosine => cosine(&a, &b),
        Method::Dtw => {
            let steps = (band.clamp(0.0, 1.0) * a.len() as f64).ceil() as usize;
            dtw(&a, &b, steps.max(1))
        }
    }
}

/// Median and scaled MAD (1.4826 MAD, a standard deviation for normal data) of the
/// finite values; `None` without any.
pub fn robust(values: &mut Vec<f64>) -> Option<(f64, f64)> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let med = median(values);
    for v in values.iter_mut() {
        *v = (*v - med).abs();
    }
    let mad = median(values);
    Some((med, 1.4826 * mad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(f: impl Fn(usize) -> f64, n: usize) -> Vec<Point> {
        (0..n)
            .map(|i| {
                let v = f(i);
                [v, v / 2.0, 2.0 * v, 100.0 * v]
            })
            .collect()
    }

    #[test]
    fn cosine_on_known_vectors() {
        let a = vec![[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]];
        let b = vec![[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]];
        assert!((cosine(&a, &b) - 1.0 / 2f64.sqrt()).abs() < 1e-12);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-12);
        let neg: Vec<Point> = a.iter().map(|p| p.map(|v| -v)).collect();
        assert!((cosine(&a, &neg) + 1.0).abs() < 1e-12);
        // Orthogonal, empty, zero, unequal lengths, NaN: 0, never NaN.
        let c = vec![[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        assert_eq!(cosine(&a, &c), 0.0);
        assert_eq!(cosine(&[], &[]), 0.0);
        assert_eq!(cosine(&a, &[[0.0; CHANNELS]; 2]), 0.0);
        assert_eq!(cosine(&a, &a[..1]), 0.0);
        assert_eq!(cosine(&a, &[[f64::NAN; CHANNELS]; 2]), 0.0);
    }

    #[test]
    fn normalising_ignores_amplitude_and_offset_but_keeps_flat_channels_small() {
        let a = shape(|i| if (5..10).contains(&i) { 1.0 } else { 0.0 }, 20);
        let b = shape(|i| if (5..10).contains(&i) { 3.0 } else { 0.5 }, 20);
        let s = similarity(Method::Cosine, 0.1, &a, &b);
        assert!((s - 1.0).abs() < 1e-9, "{s}");
        // A channel flat within its floor stays near zero after normalising.
        let mut flat = a.clone();
        for (i, p) in flat.iter_mut().enumerate() {
            p[1] = 0.01 * (i % 2) as f64;
        }
        let z = normalise(&flat);
        assert!(z.iter().all(|p| p[1].abs() <= 0.5), "{z:?}");
        let with_nan = {
            let mut x = a.clone();
            x[3][0] = f64::NAN;
            x
        };
        assert!(normalise(&with_nan).iter().flatten().all(|v| v.is_finite()));
    }

    #[test]
    fn dtw_equals_cosine_without_a_shift_and_forgives_one() {
        let a = normalise(&shape(|i| ((i as f64) / 3.0).sin(), 30));
        let d = dtw(&a, &a, 3);
        assert!((d - 1.0).abs() < 1e-12, "{d}");
        // Two minutes late: cosine suffers, DTW with a 3-step band does not.
        let step = |at: usize| shape(move |i| if i >= at && i < at + 12 { 1.0 } else { 0.0 }, 30);
        let (x, y) = (normalise(&step(8)), normalise(&step(10)));
        let (c, w) = (cosine(&x, &y), dtw(&x, &y, 3));
        assert!(c < 0.8 && w > 0.95, "cosine {c}, dtw {w}");
        // The band limits the warp: a 1-step band cannot absorb a 2-step shift.
        assert!(dtw(&x, &y, 1) < w);
        assert_eq!(dtw(&[], &x, 3), 0.0);
    }

    #[test]
    fn robust_statistics_of_known_values() {
        let mut v = vec![1.0, 2.0, 3.0, 4.0, 100.0, f64::NAN];
        let (med, scale) = robust(&mut v).unwrap();
        assert_eq!(med, 3.0);
        assert!((scale - 1.4826).abs() < 1e-12);
        assert_eq!(robust(&mut vec![f64::NAN]), None);
    }
}

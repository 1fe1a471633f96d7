//! Deterministic numbers for the candidate sets: SplitMix64 and a Halton sequence.
//! Our own, so a seed means the same proposals on every platform and release, and the
//! crate needs no RNG dependency.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, and good enough for jittering candidates.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller; the second value is dropped for simplicity).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

const PRIMES: [u64; 16] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53];

/// The radical inverse of `i` in `base`: the i-th Halton coordinate.
fn radical_inverse(mut i: u64, base: u64) -> f64 {
    let mut f = 1.0;
    let mut r = 0.0;
    let b = base as f64;
    while i > 0 {
        f /= b;
        r += f * (i % base) as f64;
        i /= base;
    }
    r
}

/// Point `i` of a `dim`-dimensional Halton sequence, rotated by `shift` (Cranley-Patterson)
/// so that different seeds cover the cube differently but equally evenly. Dimensions
/// beyond the prime table reuse primes, which only weakens their spread.
pub fn halton(i: u64, shift: &[f64]) -> Vec<f64> {
    shift
        .iter()
        .enumerate()
        .map(|(d, s)| (radical_inverse(i, PRIMES[d % PRIMES.len()]) + s).fract())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halton_is_in_the_unit_cube_and_spreads() {
        let shift = [0.3, 0.7];
        let pts: Vec<Vec<f64>> = (1..65).map(|i| halton(i, &shift)).collect();
        assert!(pts.iter().flatten().all(|v| (0.0..1.0).contains(v)));
        // Every quarter of each axis gets about a quarter of the points.
        for d in 0..2 {
            for q in 0..4 {
                let lo = q as f64 / 4.0;
                let n = pts
                    .iter()
                    .filter(|p| p[d] >= lo && p[d] < lo + 0.25)
                    .count();
                assert!((14..=18).contains(&n), "axis {d} quarter {q}: {n}");
            }
        }
    }

    #[test]
    fn splitmix_is_deterministic_and_uniform_enough() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<f64> = (0..1000).map(|_| a.unit()).collect();
        assert!(
            xs.iter()
                .zip((0..1000).map(|_| b.unit()))
                .all(|(x, y)| *x == y)
        );
        let mean = xs.iter().sum::<f64>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }
}

//! Gaussian-process regression on the unit cube: a Matern-5/2 kernel with a noise term,
//! rewards standardised to mean 0 and unit variance, and hyperparameters picked by the
//! log marginal likelihood over a small fixed grid. A grid, not gradient ascent, so a fit
//! is deterministic and cannot wander off to a degenerate optimum; with tens of points a
//! grid of 60 Cholesky factorisations costs well under a millisecond optimised.

use crate::TunerError;

const LENGTHSCALES: [f64; 6] = [0.05, 0.1, 0.2, 0.3, 0.5, 1.0];
const SIGNAL_VARS: [f64; 3] = [0.05, 0.5, 1.5];
/// As a share of the standardised variance: from near-exact to mostly noise.
const NOISE_VARS: [f64; 7] = [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5, 1.0];
/// Added to the diagonal, growing tenfold per retry, when a factorisation fails.
const JITTERS: [f64; 5] = [0.0, 1e-10, 1e-8, 1e-6, 1e-4];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    pub lengthscale: f64,
    pub signal_var: f64,
    pub noise_var: f64,
}

/// A fitted process: predicts a mean and a standard deviation in reward units.
#[derive(Debug, Clone)]
pub struct Gp {
    x: Vec<Vec<f64>>,
    /// K^-1 (y - mean), standardised.
    alpha: Vec<f64>,
    /// Lower Cholesky factor of K + noise, row-major n x n.
    chol: Vec<f64>,
    hyper: Hyper,
    y_mean: f64,
    y_std: f64,
    log_likelihood: f64,
}

fn matern52(a: &[f64], b: &[f64], h: &Hyper) -> f64 {
    let r2: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let s = 5f64.sqrt() * r2.sqrt() / h.lengthscale;
    h.signal_var * (1.0 + s + s * s / 3.0) * (-s).exp()
}

/// Cholesky factorisation of a symmetric positive-definite `n x n` matrix (row-major);
/// None when it is not positive definite (to the precision at hand).
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut sum = a[i * n + j];
            for k in 0..j {
                sum -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if sum.is_nan() || sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[i * n + i] = sum.sqrt();
            } else {
                l[i * n + j] = sum / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves L z = b (forward substitution).
fn solve_lower(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; n];
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * z[k];
        }
        z[i] = s / l[i * n + i];
    }
    z
}

/// Solves L^T z = b (back substitution).
fn solve_upper_t(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; n];
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * z[k];
        }
        z[i] = s / l[i * n + i];
    }
    z
}

impl Gp {
    /// Fits the process to points in `[0, 1]^d` and their rewards, choosing the
    /// hyperparameters of the grid with the highest log marginal likelihood.
    pub fn fit(x: &[Vec<f64>], y: &[f64]) -> Result<Gp, TunerError> {
        if x.is_empty() || x.len() != y.len() {
            return Err(TunerError::Numerical(format!(
                "{} points for {} rewards",
                x.len(),
                y.len()
            )));
        }
        let dim = x[0].len();
        if x.iter()
            .any(|p| p.len() != dim || p.iter().any(|v| !v.is_finite()))
            || y.iter().any(|v| !v.is_finite())
        {
            return Err(TunerError::Numerical(
                "points of mixed dimension or non-finite values".into(),
            ));
        }
        let n = y.len() as f64;
        let y_mean = y.iter().sum::<f64>() / n;
        let var = y.iter().map(|v| (v - y_mean).powi(2)).sum::<f64>() / n;
        // A flat reward has nothing to standardise: keep its scale.
        let y_std = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
        let ys: Vec<f64> = y.iter().map(|v| (v - y_mean) / y_std).collect();
        let mut best: Option<Gp> = None;
        for &lengthscale in &LENGTHSCALES {
            for &signal_var in &SIGNAL_VARS {
                for &noise_var in &NOISE_VARS {
                    let hyper = Hyper {
                        lengthscale,
                        signal_var,
                        noise_var,
                    };
                    let Some(gp) = Self::fit_with(x, &ys, hyper, y_mean, y_std) else {
                        continue;
                    };
                    // Strictly greater: ties keep the earlier (smoother-noise) grid point.
                    if best
                        .as_ref()
                        .is_none_or(|b| gp.log_likelihood > b.log_likelihood)
                    {
                        best = Some(gp);
                    }
                }
            }
        }
        best.ok_or_else(|| {
            TunerError::Numerical("no hyperparameters gave a positive-definite kernel".into())
        })
    }

    fn fit_with(x: &[Vec<f64>], ys: &[f64], hyper: Hyper, y_mean: f64, y_std: f64) -> Option<Gp> {
        let n = x.len();
        let mut k = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = matern52(&x[i], &x[j], &hyper);
                k[i * n + j] = v;
                k[j * n + i] = v;
            }
            k[i * n + i] += hyper.noise_var;
        }
        let chol = JITTERS.iter().find_map(|jitter| {
            let mut kj = k.clone();
            for i in 0..n {
                kj[i * n + i] += jitter;
            }
            cholesky(&kj, n)
        })?;
        let z = solve_lower(&chol, n, ys);
        let alpha = solve_upper_t(&chol, n, &z);
        let log_det: f64 = (0..n).map(|i| chol[i * n + i].ln()).sum::<f64>() * 2.0;
        let fit: f64 = ys.iter().zip(&alpha).map(|(a, b)| a * b).sum();
        let log_likelihood =
            -0.5 * fit - 0.5 * log_det - 0.5 * n as f64 * std::f64::consts::TAU.ln();
        log_likelihood.is_finite().then(|| Gp {
            x: x.to_vec(),
            alpha,
            chol,
            hyper,
            y_mean,
            y_std,
            log_likelihood,
        })
    }

    pub fn hyper(&self) -> Hyper {
        self.hyper
    }

    pub fn y_std(&self) -> f64 {
        self.y_std
    }

    /// Posterior mean and standard deviation at `p`, standardised (as fitted).
    pub fn predict_std(&self, p: &[f64]) -> (f64, f64) {
        let n = self.x.len();
        let ks: Vec<f64> = self
            .x
            .iter()
            .map(|xi| matern52(xi, p, &self.hyper))
            .collect();
        let mean: f64 = ks.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let v = solve_lower(&self.chol, n, &ks);
        let var = self.hyper.signal_var - v.iter().map(|a| a * a).sum::<f64>();
        let mean = if mean.is_finite() { mean } else { 0.0 };
        // Rounding can make the variance slightly negative next to a data point.
        let sd = if var.is_finite() {
            var.max(1e-12).sqrt()
        } else {
            1e-6
        };
        (mean, sd)
    }

    /// Posterior mean and standard deviation at `p`, in reward units.
    pub fn predict(&self, p: &[f64]) -> (f64, f64) {
        let (m, s) = self.predict_std(p);
        (self.y_mean + m * self.y_std, s * self.y_std)
    }

    /// A standardised reward back in reward units.
    pub fn unstandardise(&self, v: f64) -> f64 {
        self.y_mean + v * self.y_std
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_a_smooth_function() {
        let f = |x: f64| (6.0 * x).sin();
        let x: Vec<Vec<f64>> = (0..12).map(|i| vec![i as f64 / 11.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| f(p[0])).collect();
        let gp = Gp::fit(&x, &y).unwrap();
        for t in [0.13, 0.5, 0.77] {
            let (m, s) = gp.predict(&[t]);
            assert!((m - f(t)).abs() < 0.05, "at {t}: {m} vs {}", f(t));
            assert!(s < 0.2, "{s}");
        }
        // Far from the data in 1-D there is no "far"; the uncertainty at a point is
        // smallest there.
        let (_, at) = gp.predict(&[0.0]);
        let (_, between) = gp.predict(&[0.045]);
        assert!(at <= between + 1e-9);
    }

    #[test]
    fn degenerate_data_gives_numbers_not_nan() {
        // Duplicates, a flat reward, a single point.
        let x = vec![vec![0.5], vec![0.5], vec![0.5]];
        let gp = Gp::fit(&x, &[1.0, 1.0, 1.0]).unwrap();
        let (m, s) = gp.predict(&[0.2]);
        assert!(m.is_finite() && s.is_finite() && s > 0.0);
        let gp = Gp::fit(&[vec![0.1, 0.9]], &[3.0]).unwrap();
        assert!((gp.predict(&[0.1, 0.9]).0 - 3.0).abs() < 1e-6);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Gp::fit(&[], &[]).is_err());
        assert!(Gp::fit(&[vec![0.1]], &[f64::NAN]).is_err());
        assert!(Gp::fit(&[vec![0.1], vec![0.1, 0.2]], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn cholesky_solves() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let l = cholesky(&a, 2).unwrap();
        let z = solve_upper_t(&l, 2, &solve_lower(&l, 2, &[2.0, 1.0]));
        // A z = b
        assert!((4.0 * z[0] + 2.0 * z[1] - 2.0).abs() < 1e-12);
        assert!((2.0 * z[0] + 3.0 * z[1] - 1.0).abs() < 1e-12);
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}

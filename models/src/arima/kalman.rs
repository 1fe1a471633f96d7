//! The exact Gaussian likelihood of a stationary ARMA(p, q) by the Kalman filter, on
//! Harvey's state-space form (statsmodels' SARIMAX uses the same):
//!
//! ```text
//! w_t - mean = Z alpha_t,  alpha_{t+1} = T alpha_t + R e_{t+1},  e ~ N(0, sigma2)
//! T = [phi | I; 0], R = [1, theta_1, ..., theta_{r-1}]', Z = [1, 0, ..], r = max(p, q+1)
//! ```
//!
//! The filter runs with sigma2 = 1: the gain does not depend on it, so sigma2 is
//! concentrated out (its maximum-likelihood value is sum(v^2 / F) / n) and the
//! optimizer searches one dimension less. The state starts at its stationary
//! distribution (the solution of P = T P T' + R R'), which makes the likelihood exact.

use super::params::{MAX_ORDER, Params};

pub(super) const MAX_R: usize = MAX_ORDER + 1;
pub(super) type Mat = [[f64; MAX_R]; MAX_R];

/// T's first column (phi, zero-padded) and R, for state dimension r.
#[derive(Debug, Clone, Copy)]
pub(super) struct StateSpace {
    pub r: usize,
    pub phi: [f64; MAX_R],
    pub rv: [f64; MAX_R],
}

impl StateSpace {
    pub fn new(p: usize, q: usize, params: &Params) -> Self {
        let r = p.max(q + 1);
        let mut phi = [0.0; MAX_R];
        let mut rv = [0.0; MAX_R];
        phi[..p].copy_from_slice(&params.ar[..p]);
        rv[0] = 1.0;
        rv[1..=q].copy_from_slice(&params.ma[..q]);
        StateSpace { r, phi, rv }
    }

    /// The stationary state covariance (sigma2 = 1): solves (I - T kron T) vec P =
    /// vec(R R') by Gaussian elimination; None when T is (numerically) on the unit
    /// circle.
    pub fn stationary_cov(&self) -> Option<Mat> {
        let r = self.r;
        let n = r * r;
        let mut t = [[0.0; MAX_R]; MAX_R];
        for i in 0..r {
            t[i][0] = self.phi[i];
            if i + 1 < r {
                t[i][i + 1] = 1.0;
            }
        }
        const N: usize = MAX_R * MAX_R;
        let mut a = [[0.0; N + 1]; N];
        for i in 0..r {
            for j in 0..r {
                let row = i * r + j;
                for k in 0..r {
                    for l in 0..r {
                        a[row][k * r + l] = -t[i][k] * t[j][l];
                    }
                }
                a[row][row] += 1.0;
                a[row][n] = self.rv[i] * self.rv[j];
            }
        }
        for col in 0..n {
            let piv = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
            if a[piv][col].abs() < 1e-12 {
                return None;
            }
            a.swap(col, piv);
            let (upper, lower) = a.split_at_mut(col + 1);
            let pivot = &upper[col];
            for row in &mut lower[..n - col - 1] {
                let f = row[col] / pivot[col];
                if f != 0.0 {
                    for (x, y) in row[col..=n].iter_mut().zip(&pivot[col..=n]) {
                        *x -= f * y;
                    }
                }
            }
        }
        let mut x = [0.0; N];
        for row in (0..n).rev() {
            let mut s = a[row][n];
            for k in row + 1..n {
                s -= a[row][k] * x[k];
            }
            x[row] = s / a[row][row];
        }
        let mut p = [[0.0; MAX_R]; MAX_R];
        for i in 0..r {
            for j in 0..r {
                p[i][j] = 0.5 * (x[i * r + j] + x[j * r + i]);
            }
        }
        p.iter().flatten().all(|v| v.is_finite()).then_some(p)
    }
}

/// What one pass of the filter leaves: the sums the likelihood needs and the one-step
/// prediction of the state after the last observation (for forecasting).
#[derive(Debug, Clone, Copy)]
pub(super) struct Filtered {
    /// sum of v_t^2 / F_t (sigma2 = 1).
    pub ssq: f64,
    pub sum_log_f: f64,
    pub n: usize,
    /// E[alpha_{n+1} | w_1..w_n].
    pub state: [f64; MAX_R],
    /// Var[alpha_{n+1} | w_1..w_n] / sigma2.
    pub cov: Mat,
}

impl Filtered {
    pub fn sigma2(&self) -> f64 {
        self.ssq / self.n as f64
    }

    /// The log-likelihood with sigma2 at its maximum-likelihood value.
    pub fn concentrated_llf(&self) -> f64 {
        let n = self.n as f64;
        -0.5 * n * ((2.0 * std::f64::consts::PI).ln() + self.sigma2().ln() + 1.0)
            - 0.5 * self.sum_log_f
    }
}

/// Once P moves less than this, it has reached its steady state: later steps skip the
/// covariance update (a pure speed-up; the likelihood changes by far less than 1e-9).
const STEADY: f64 = 1e-13;

/// With sigma2 = 1 every prediction variance is at least 1 (P >= R R' and R_0 = 1).
/// Below that, rounding has won: near a unit root the stationary P is ~1e10 and the
/// update cancels it down to ~1. Such parameters are refused, so the optimizer backs
/// off from them instead of trusting a broken likelihood.
const F_FLOOR: f64 = 1.0 - 1e-7;

/// Runs the filter over `w` (mean removed inside); None when the model is degenerate
/// (no stationary covariance) or the filter lost its precision (see [`F_FLOOR`]).
pub(super) fn filter(ss: &StateSpace, w: &[f64], mean: f64) -> Option<Filtered> {
    let p0 = ss.stationary_cov()?;
    // One copy per state size: fixed-size arrays let the compiler unroll the small
    // matrix products, several times faster than loops over a MAX_R bound.
    match ss.r {
        1 => filter_r::<1>(ss, &p0, w, mean),
        2 => filter_r::<2>(ss, &p0, w, mean),
        3 => filter_r::<3>(ss, &p0, w, mean),
        4 => filter_r::<4>(ss, &p0, w, mean),
        5 => filter_r::<5>(ss, &p0, w, mean),
        _ => filter_r::<MAX_R>(ss, &p0, w, mean),
    }
}

fn filter_r<const R: usize>(ss: &StateSpace, p0: &Mat, w: &[f64], mean: f64) -> Option<Filtered> {
    let mut phi = [0.0; R];
    let mut rv = [0.0; R];
    phi.copy_from_slice(&ss.phi[..R]);
    rv.copy_from_slice(&ss.rv[..R]);
    let mut p = [[0.0; R]; R];
    for (row, src) in p.iter_mut().zip(p0) {
        row.copy_from_slice(&src[..R]);
    }
    let mut a = [0.0; R];
    let (mut ssq, mut sum_log_f) = (0.0, 0.0);
    let mut steady = false;
    for &y in w {
        let v = y - mean - a[0];
        let f = p[0][0];
        if !f.is_finite() || f < F_FLOOR {
            return None;
        }
        ssq += v * v / f;
        sum_log_f += f.ln();
        let mut upd = a;
        for i in 0..R {
            upd[i] += p[i][0] / f * v;
        }
        for i in 0..R {
            a[i] = phi[i] * upd[0] + if i + 1 < R { upd[i + 1] } else { 0.0 };
        }
        if !steady {
            let mut pf = p;
            for i in 0..R {
                for j in 0..R {
                    pf[i][j] -= p[i][0] * p[j][0] / f;
                }
            }
            // T pf T' + R R', T's superdiagonal as shifts.
            let mut tp = [[0.0; R]; R];
            for i in 0..R {
                for j in 0..R {
                    tp[i][j] = phi[i] * pf[0][j] + if i + 1 < R { pf[i + 1][j] } else { 0.0 };
                }
            }
            let mut moved = 0.0f64;
            for i in 0..R {
                for j in 0..R {
                    let next = phi[j] * tp[i][0]
                        + if j + 1 < R { tp[i][j + 1] } else { 0.0 }
                        + rv[i] * rv[j];
                    moved = moved.max((next - p[i][j]).abs());
                    p[i][j] = next;
                }
            }
            steady = moved < STEADY;
        }
    }
    let mut state = [0.0; MAX_R];
    state[..R].copy_from_slice(&a);
    let mut cov = [[0.0; MAX_R]; MAX_R];
    for (dst, src) in cov.iter_mut().zip(&p) {
        dst[..R].copy_from_slice(src);
    }
    let sane = ssq.is_finite() && sum_log_f.is_finite() && p[0][0] >= F_FLOOR;
    sane.then_some(Filtered {
        ssq,
        sum_log_f,
        n: w.len(),
        state,
        cov,
    })
}

/// Conditional sum of squares (pre-sample errors zero, the first p values conditioned
/// on), divided by the number of terms: the cheap objective that gives the exact
/// likelihood its starting point.
pub(super) fn css(p: usize, q: usize, params: &Params, w: &[f64], mean: f64) -> f64 {
    let mut errs = [0.0; MAX_ORDER];
    let mut ssq = 0.0;
    for t in p..w.len() {
        let mut pred = 0.0;
        for i in 0..p {
            pred += params.ar[i] * (w[t - i - 1] - mean);
        }
        for (m, e) in params.ma[..q].iter().zip(&errs) {
            pred += m * e;
        }
        let e = w[t] - mean - pred;
        errs.copy_within(0..MAX_ORDER - 1, 1);
        errs[0] = e;
        ssq += e * e;
    }
    ssq / (w.len() - p).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stationary_cov_of_an_ar1_and_an_ma1() {
        let mut params = Params::default();
        params.ar[0] = 0.6;
        let p = StateSpace::new(1, 0, &params).stationary_cov().unwrap();
        assert!((p[0][0] - 1.0 / (1.0 - 0.36)).abs() < 1e-12);

        let mut params = Params::default();
        params.ma[0] = 0.5;
        let p = StateSpace::new(0, 1, &params).stationary_cov().unwrap();
        // alpha = [w_t, theta e_t]: Var w = 1 + theta^2.
        assert!((p[0][0] - 1.25).abs() < 1e-12);
        assert!((p[1][1] - 0.25).abs() < 1e-12);
        assert!((p[0][1] - 0.5).abs() < 1e-12);

        let mut params = Params::default();
        params.ar[0] = 1.0;
        assert!(StateSpace::new(1, 0, &params).stationary_cov().is_none());
    }

    #[test]
    fn ar1_likelihood_matches_the_closed_form() {
        let w = [0.3, -1.2, 0.8, 2.0, 1.1, -0.4];
        let phi: f64 = 0.5;
        let mut params = Params::default();
        params.ar[0] = phi;
        let f = filter(&StateSpace::new(1, 0, &params), &w, 0.0).unwrap();
        // Exact AR(1): first term w_1^2 (1 - phi^2), then (w_t - phi w_{t-1})^2.
        let mut ssq = w[0] * w[0] * (1.0 - phi * phi);
        for t in 1..w.len() {
            ssq += (w[t] - phi * w[t - 1]).powi(2);
        }
        assert!((f.ssq - ssq).abs() < 1e-12);
        assert!((f.sum_log_f + (1.0 - phi * phi).ln()).abs() < 1e-12);
        assert!((f.state[0] - phi * w[5]).abs() < 1e-12);
    }
}

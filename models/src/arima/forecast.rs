//! Forecasts with prediction intervals, and when a forecast reaches a limit.
//!
//! The differenced series w is forecast from the filtered state; the forecast of y
//! integrates it d times from the last observed Δ^k y. Its error is a linear function
//! of the state's error and the future innovations, so its variance is exact:
//!
//! ```text
//! Var y_{n+h} = G_h P G_h' + sigma2 * sum_{m=0}^{h-2} psi_m^2
//! ```
//!
//! with G_h = Z T^{h-1} and psi_m = Z T^m R, each summed cumulatively d times (the
//! errors of w accumulate into y). That is what statsmodels' state space with the
//! integrated states gives.

use super::Arima;
use super::kalman::{MAX_R, StateSpace};
use crate::ModelError;

/// Most steps one call forecasts (the Oracle needs minutes at 1 s ticks).
pub const MAX_STEPS: usize = 100_000;

/// One forecast step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    pub mean: f64,
    /// Standard deviation of the forecast error.
    pub sd: f64,
    pub lower: f64,
    pub upper: f64,
}

/// When the forecast reaches a limit, in steps after the last observation (1 = the
/// next tick). Only upward crossings (usage reaching its limit) are considered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeToLimit {
    /// First step whose forecast mean is at or above the limit; None when the mean
    /// stays below it within the horizon.
    pub eta_steps: Option<usize>,
    /// First step whose upper bound is at or above the limit: the earliest the limit
    /// is plausibly reached.
    pub earliest_steps: usize,
    /// First step whose lower bound is at or above the limit: by then the limit is
    /// reached even in the optimistic case. None when that does not happen within
    /// the horizon.
    pub latest_steps: Option<usize>,
    /// max over steps h <= horizon of P(y_{n+h} >= limit) under the Gaussian
    /// forecast: a lower bound on the probability that the path reaches the limit
    /// within the horizon (the exact first-passage probability needs the joint law
    /// of the steps).
    pub probability_within_horizon: f64,
}

impl Arima {
    /// Means and variances of y_{n+1..n+steps}.
    fn moments(&self, steps: usize) -> (Vec<f64>, Vec<f64>) {
        let r = self.r();
        let ss = StateSpace::new(self.p, self.q, &self.params());
        let mean = self.constant.unwrap_or(0.0);
        let d = self.d;
        // g = Z T^{h-1}; g_cum[k] = g summed k times over h; psi likewise.
        let mut g = [0.0; MAX_R];
        g[0] = 1.0;
        let mut g_cum = [[0.0; MAX_R]; 3];
        let mut psi_cum = [0.0; 3];
        let mut psi_ssq = 0.0;
        let mut levels = self.tail.clone();
        let (mut means, mut vars) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
        for _ in 0..steps {
            g_cum[0] = g;
            for k in 1..=d {
                let (done, rest) = g_cum.split_at_mut(k);
                for (x, y) in rest[0][..r].iter_mut().zip(&done[k - 1][..r]) {
                    *x += y;
                }
            }
            let gd = &g_cum[d];
            let mut state_var = 0.0;
            for i in 0..r {
                for j in 0..r {
                    state_var += gd[i] * self.state_cov[i * r + j] * gd[j];
                }
            }
            vars.push((state_var + self.sigma2 * psi_ssq).max(0.0));

            let mut x = mean + (0..r).map(|i| g[i] * self.state[i]).sum::<f64>();
            for level in levels.iter_mut().rev() {
                *level += x;
                x = *level;
            }
            means.push(x);

            psi_cum[0] = (0..r).map(|i| g[i] * ss.rv[i]).sum();
            for k in 1..=d {
                psi_cum[k] += psi_cum[k - 1];
            }
            psi_ssq += psi_cum[d] * psi_cum[d];
            // g T: the superdiagonal shifts g right, the first column collects phi.
            let mut next = [0.0; MAX_R];
            next[0] = (0..r).map(|i| g[i] * ss.phi[i]).sum();
            next[1..r].copy_from_slice(&g[..r - 1]);
            g = next;
        }
        (means, vars)
    }

    /// Forecasts `steps` ahead with two-sided `confidence` intervals (0.95 gives
    /// statsmodels' default `conf_int(alpha=0.05)`).
    pub fn forecast(&self, steps: usize, confidence: f64) -> Result<Vec<Forecast>, ModelError> {
        let z = z_for(confidence)?;
        if steps > MAX_STEPS {
            return Err(ModelError::Input(format!(
                "ARIMA: {steps} forecast steps, at most {MAX_STEPS}"
            )));
        }
        let (means, vars) = self.moments(steps);
        Ok(means
            .into_iter()
            .zip(vars)
            .map(|(mean, var)| {
                let sd = var.sqrt();
                Forecast {
                    mean,
                    sd,
                    lower: mean - z * sd,
                    upper: mean + z * sd,
                }
            })
            .collect())
    }

    /// When the forecast reaches `limit` within `horizon` steps (see
    /// [`TimeToLimit`]); None when even the upper bound stays below it.
    pub fn time_to_limit(
        &self,
        limit: f64,
        horizon: usize,
        confidence: f64,
    ) -> Result<Option<TimeToLimit>, ModelError> {
        if !limit.is_finite() {
            return Err(ModelError::Input(format!("ARIMA: the limit is {limit}")));
        }
        if horizon == 0 {
            return Err(ModelError::Input("ARIMA: the horizon is 0 steps".into()));
        }
        let fc = self.forecast(horizon, confidence)?;
        let first = |test: &dyn Fn(&Forecast) -> bool| fc.iter().position(test).map(|i| i + 1);
        let Some(earliest_steps) = first(&|f| f.upper >= limit) else {
            return Ok(None);
        };
        let probability_within_horizon = fc
            .iter()
            .map(|f| {
                if f.sd > 0.0 {
                    normal_cdf((f.mean - limit) / f.sd)
                } else if f.mean >= limit {
                    1.0
                } else {
                    0.0
                }
            })
            .fold(0.0, f64::max);
        Ok(Some(TimeToLimit {
            eta_steps: first(&|f| f.mean >= limit),
            earliest_steps,
            latest_steps: first(&|f| f.lower >= limit),
            probability_within_horizon,
        }))
    }
}

fn z_for(confidence: f64) -> Result<f64, ModelError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(ModelError::Input(format!(
            "ARIMA: confidence {confidence} is not in (0, 1)"
        )));
    }
    Ok(normal_quantile(0.5 + confidence / 2.0))
}

/// Inverse of the standard normal CDF, Acklam's rational approximation (relative
/// error below 1.2e-9), for p in (0, 1).
pub(super) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.383_577_518_672_69e2,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-03,
        3.224671290700398e-01,
        2.445134137142996e+00,
        3.754408661907416e+00,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Standard normal CDF through erfc (Numerical Recipes' Chebyshev fit, relative error
/// below 1.2e-7).
pub(super) fn normal_cdf(x: f64) -> f64 {
    let z = -x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z.abs());
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * poly.exp();
    let erfc = if z >= 0.0 { erfc } else { 2.0 - erfc };
    0.5 * erfc
}

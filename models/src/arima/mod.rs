//! ARIMA(p, d, q), the Oracle's forecaster of a cgroup's memory usage: fitted by exact
//! Gaussian maximum likelihood (Kalman filter, `kalman.rs`) from a conditional-sum-of-
//! squares start, order chosen by AIC with d from a KPSS rule (`select.rs`), forecasts
//! with prediction intervals and the time until a limit is reached (`forecast.rs`).
//!
//! It matches statsmodels' `ARIMA(y, order, trend).fit()` (checked by
//! `tests/arima.rs` against fixtures from `scripts/arima_fixtures.py`):
//!
//! - the model is `Δ^d y_t = c + u_t`, u an ARMA(p, q) with
//!   `u_t = φ_1 u_{t-1} + .. + e_t + θ_1 e_{t-1} + ..`: `c` is statsmodels' `const`
//!   (trend "c") when d = 0 and its drift `x1` (trend "t") when d = 1;
//! - the d integrated states are diffuse, whose exact likelihood is the likelihood of
//!   the differenced series, so n = len - d observations count (statsmodels
//!   approximates it: variance 1e6 around 0, the first d observations skipped, which
//!   is off by ~1e-3 in llf for a series at level 500 and more for one in bytes);
//! - stationarity and invertibility are enforced by transforms to partial
//!   autocorrelations, as statsmodels does (`params.rs` says where they differ);
//! - sigma2 is concentrated out of the likelihood (the optimum is the same);
//! - AIC = -2 llf + 2k, AICc = AIC + 2k(k+1)/(n-k-1), BIC = -2 llf + k ln n, with
//!   k = p + q + (1 if constant) + 1 (sigma2).

mod forecast;
mod kalman;
mod optimize;
mod params;
mod payload;
mod select;

pub use forecast::{Forecast, TimeToLimit};
pub use params::{MAX_ORDER, is_invertible, is_stationary};
pub use select::{Candidate, Grid, KPSS_CRITICAL_5PCT, Selection, choose_d, kpss, select};

use crate::ModelError;
use kalman::StateSpace;
use optimize::{Settings, minimize};
use params::{Layout, Params};

/// Largest d: a constant with d = 2 would be a quadratic trend, and more differencing
/// than 2 is never what a memory series needs.
pub const MAX_D: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Fit the mean `c` of the differenced series (statsmodels trend "c" for d = 0,
    /// "t" for d = 1). Refused for d = 2.
    pub constant: bool,
    /// Optimizer iterations, for the CSS start and for the likelihood each.
    pub max_iter: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            constant: true,
            max_iter: 200,
        }
    }
}

/// A fitted model and the state it forecasts from (after the last observation).
/// Read-only outside this module, so a model is always one a fit or a validated
/// payload produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Arima {
    p: usize,
    d: usize,
    q: usize,
    /// The mean of the d-times differenced series, if fitted (see the module doc).
    constant: Option<f64>,
    ar: Vec<f64>,
    ma: Vec<f64>,
    /// Innovation variance; 0 for a series that is exactly predictable (flat, or a
    /// perfect ramp when d = 1).
    sigma2: f64,
    /// Δ^k y at the last observation, k = 0..d: the starting points of integration.
    tail: Vec<f64>,
    /// E[state after the last observation], in units of the series.
    state: Vec<f64>,
    /// Its covariance, sigma2 included, r x r row-major.
    state_cov: Vec<f64>,
}

/// A fit and its statistics, defined as statsmodels defines them.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub model: Arima,
    /// +inf for an exactly predictable series (sigma2 = 0), the information criteria
    /// then -inf.
    pub llf: f64,
    pub aic: f64,
    pub aicc: f64,
    pub bic: f64,
    /// Observations in the likelihood: len - d.
    pub nobs: usize,
    /// Number of estimated parameters, sigma2 included.
    pub k: usize,
    pub iterations: usize,
    pub converged: bool,
}

/// Fits ARIMA(p, d, q) to `series` (oldest first).
pub fn fit(
    series: &[f64],
    order: (usize, usize, usize),
    opts: &FitOptions,
) -> Result<Fit, ModelError> {
    let (p, d, q) = order;
    let name = format!("ARIMA({p},{d},{q})");
    check_order(&name, p, d, q, opts.constant)?;
    check_series(series)?;
    let k = p + q + usize::from(opts.constant) + 1;
    // n - k - 1 > 0 keeps AICc finite; below that the fit is not worth having.
    let need = d + k + 2;
    if series.len() < need {
        return Err(ModelError::Input(format!(
            "{name}{} needs at least {need} points, got {}",
            if opts.constant {
                " with a constant"
            } else {
                ""
            },
            series.len()
        )));
    }
    let w = difference(series, d);
    if let Some(i) = w.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::Input(format!(
            "{name}: difference {i} of the series overflows (values near f64::MAX)"
        )));
    }
    let n = w.len();
    let layout = Layout {
        constant: opts.constant,
        p,
        q,
    };
    // Centre and scale, so the optimizer's steps and tolerances mean the same for a
    // series in bytes as for one in fractions.
    let (centre, scale) = if opts.constant {
        let m = w.iter().sum::<f64>() / n as f64;
        let var = w.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64;
        (m, var.sqrt())
    } else {
        (
            0.0,
            (w.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt(),
        )
    };
    let level = series.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale <= 1e-10 * level || scale == 0.0 {
        return Ok(exact_fit(
            p,
            d,
            q,
            opts.constant.then_some(centre),
            series,
            k,
        ));
    }
    let ws: Vec<f64> = w.iter().map(|v| (v - centre) / scale).collect();
    let settings = Settings {
        max_iter: opts.max_iter,
        gtol: 1e-6,
        ftol: 1e-9,
    };

    let start = minimize(
        |x| {
            let prm = layout.constrain(x, 0.0, 1.0);
            kalman::css(p, q, &prm, &ws, prm.mean).ln()
        },
        &vec![0.0; layout.len()],
        settings,
    );
    let ml = |x: &[f64]| {
        let prm = layout.constrain(x, 0.0, 1.0);
        match kalman::filter(&StateSpace::new(p, q, &prm), &ws, prm.mean) {
            Some(f) => f.sigma2().ln() + f.sum_log_f / n as f64,
            None => f64::INFINITY,
        }
    };
    let x0 = if start.x.iter().all(|v| v.is_finite()) && ml(&start.x).is_finite() {
        start.x
    } else {
        vec![0.0; layout.len()]
    };
    let mut best = minimize(ml, &x0, settings);
    if !best.converged && x0.iter().any(|&v| v != 0.0) {
        // A CSS start can sit near a boundary the likelihood dislikes: try the
        // white-noise start too and keep the better optimum.
        let other = minimize(ml, &vec![0.0; layout.len()], settings);
        if other.f < best.f {
            best = other;
        }
    }
    let prm = layout.constrain(&best.x, centre, scale);
    let filtered = kalman::filter(&StateSpace::new(p, q, &prm), &w, prm.mean)
        .filter(|f| f.ssq > 0.0)
        .ok_or_else(|| {
            ModelError::Input(format!(
                "{name}: the likelihood is not finite at the estimate (a degenerate series?)"
            ))
        })?;
    let sigma2 = filtered.sigma2();
    let llf = filtered.concentrated_llf();
    let mut model = Arima {
        p,
        d,
        q,
        constant: opts.constant.then_some(prm.mean),
        ar: prm.ar[..p].to_vec(),
        ma: prm.ma[..q].to_vec(),
        sigma2,
        tail: tails(series, d),
        state: Vec::new(),
        state_cov: Vec::new(),
    };
    model.set_state(&filtered);
    let (kf, nf) = (k as f64, n as f64);
    let aic = -2.0 * llf + 2.0 * kf;
    Ok(Fit {
        model,
        llf,
        aic,
        aicc: if nf - kf - 1.0 > 0.0 {
            aic + 2.0 * kf * (kf + 1.0) / (nf - kf - 1.0)
        } else {
            f64::INFINITY
        },
        bic: -2.0 * llf + kf * nf.ln(),
        nobs: n,
        k,
        iterations: start.iterations + best.iterations,
        converged: best.converged,
    })
}

/// The fit of a series whose differences are constant: no noise to model, so the
/// forecast continues it exactly (flat, or a straight line for d = 1 with drift).
fn exact_fit(p: usize, d: usize, q: usize, constant: Option<f64>, series: &[f64], k: usize) -> Fit {
    let r = p.max(q + 1);
    Fit {
        model: Arima {
            p,
            d,
            q,
            constant,
            ar: vec![0.0; p],
            ma: vec![0.0; q],
            sigma2: 0.0,
            tail: tails(series, d),
            state: vec![0.0; r],
            state_cov: vec![0.0; r * r],
        },
        llf: f64::INFINITY,
        aic: f64::NEG_INFINITY,
        aicc: f64::NEG_INFINITY,
        bic: f64::NEG_INFINITY,
        nobs: series.len() - d,
        k,
        iterations: 0,
        converged: true,
    }
}

impl Arima {
    /// (p, d, q).
    pub fn order(&self) -> (usize, usize, usize) {
        (self.p, self.d, self.q)
    }

    /// The mean of the d-times differenced series: statsmodels' `const` for d = 0, its
    /// drift for d = 1; None when not fitted.
    pub fn constant(&self) -> Option<f64> {
        self.constant
    }

    /// φ_1..φ_p.
    pub fn ar(&self) -> &[f64] {
        &self.ar
    }

    /// θ_1..θ_q.
    pub fn ma(&self) -> &[f64] {
        &self.ma
    }

    /// Innovation variance; 0 for an exactly predictable series (flat, or a perfect
    /// ramp when d = 1).
    pub fn sigma2(&self) -> f64 {
        self.sigma2
    }

    fn r(&self) -> usize {
        self.p.max(self.q + 1)
    }

    fn params(&self) -> Params {
        let mut prm = Params {
            mean: self.constant.unwrap_or(0.0),
            ..Params::default()
        };
        prm.ar[..self.p].copy_from_slice(&self.ar);
        prm.ma[..self.q].copy_from_slice(&self.ma);
        prm
    }

    fn set_state(&mut self, f: &kalman::Filtered) {
        let r = self.r();
        self.state = f.state[..r].to_vec();
        self.state_cov = (0..r * r)
            .map(|i| f.cov[i / r][i % r] * self.sigma2)
            .collect();
    }

    /// The same model, its state brought up to the end of `series` (the Kalman filter
    /// with the parameters held fixed): how a stored model forecasts new data without
    /// refitting.
    pub fn apply(&self, series: &[f64]) -> Result<Arima, ModelError> {
        check_series(series)?;
        if series.len() <= self.d {
            return Err(ModelError::Input(format!(
                "ARIMA with d = {} needs at least {} points, got {}",
                self.d,
                self.d + 1,
                series.len()
            )));
        }
        let mut out = self.clone();
        out.tail = tails(series, self.d);
        if self.sigma2 == 0.0 {
            return Ok(out);
        }
        let w = difference(series, self.d);
        let prm = self.params();
        let f = kalman::filter(&StateSpace::new(self.p, self.q, &prm), &w, prm.mean)
            .ok_or_else(|| ModelError::Input("ARIMA: the filter diverged on this series".into()))?;
        out.set_state(&f);
        Ok(out)
    }

    /// The same order (and constant or not) fitted afresh to `series`: how the Oracle
    /// follows each cgroup online with the order the trainer chose. A leak's rate is
    /// the cgroup's own, so parameters are re-estimated rather than carried over.
    pub fn refit(&self, series: &[f64]) -> Result<Arima, ModelError> {
        let opts = FitOptions {
            constant: self.constant.is_some(),
            ..FitOptions::default()
        };
        Ok(fit(series, self.order(), &opts)?.model)
    }
}

fn check_order(name: &str, p: usize, d: usize, q: usize, constant: bool) -> Result<(), ModelError> {
    if p > MAX_ORDER || q > MAX_ORDER || d > MAX_D {
        return Err(ModelError::Input(format!(
            "{name}: p and q are at most {MAX_ORDER}, d at most {MAX_D}"
        )));
    }
    if constant && d == 2 {
        return Err(ModelError::Input(format!(
            "{name}: a constant with d = 2 is a quadratic trend; fit d = 2 without one"
        )));
    }
    Ok(())
}

/// Refuses an empty series and names the first NaN or infinite value.
pub(crate) fn check_series(series: &[f64]) -> Result<(), ModelError> {
    if series.is_empty() {
        return Err(ModelError::Input("ARIMA: the series is empty".into()));
    }
    match series.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(ModelError::Input(format!(
            "ARIMA: series[{i}] is {} (of {} points)",
            series[i],
            series.len()
        ))),
        None => Ok(()),
    }
}

pub(crate) fn difference(series: &[f64], d: usize) -> Vec<f64> {
    let mut w = series.to_vec();
    for _ in 0..d {
        w = w.windows(2).map(|p| p[1] - p[0]).collect();
    }
    w
}

/// Δ^k y at the last point, for k = 0..d (`series.len() > d`).
fn tails(series: &[f64], d: usize) -> Vec<f64> {
    (0..d)
        .map(|k| difference(&series[series.len() - k - 1..], k)[0])
        .collect()
}

#[cfg(test)]
mod tests;

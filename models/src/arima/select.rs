//! Order selection: d by a KPSS rule, then p, q and the constant by AIC.
//!
//! Likelihoods of different d are of different data (the series differenced d
//! times), so AIC cannot choose d. The rule, as Hyndman and Khandakar's auto.arima:
//! starting at d = 0, difference while the KPSS level-stationarity test rejects at
//! 5 % (statistic above 0.463), at most `max_d` times; a series whose differences are
//! constant (a flat line, a perfect ramp) stops there. A memory leak (a trend plus
//! noise) gets d = 1 and a drift; a flat series with noise, d = 0.
//!
//! For that d, every p <= max_p and q <= max_q is fitted, with a constant where it is
//! allowed (always for d = 0, both with and without a drift for d = 1, never for
//! d = 2), and the lowest AIC wins; ties go to the smaller model (tried first).

use super::{Fit, FitOptions, MAX_D, check_series, difference, fit};
use crate::ModelError;

/// The 5 % critical value of the KPSS level-stationarity statistic (Kwiatkowski et
/// al. 1992, table 1).
pub const KPSS_CRITICAL_5PCT: f64 = 0.463;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub max_p: usize,
    pub max_d: usize,
    pub max_q: usize,
    pub max_iter: usize,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            max_p: 2,
            max_d: 2,
            max_q: 2,
            max_iter: FitOptions::default().max_iter,
        }
    }
}

/// One order tried.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub order: (usize, usize, usize),
    pub constant: bool,
    /// The fit's AIC, or why it could not be fitted.
    pub aic: Result<f64, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub best: Fit,
    /// The KPSS statistic of the series differenced 0, 1, .. times, as far as the
    /// rule tested.
    pub kpss: Vec<f64>,
    pub candidates: Vec<Candidate>,
}

/// The KPSS level-stationarity statistic: partial sums of the demeaned series against
/// a Bartlett-weighted long-run variance with trunc(3 sqrt(n) / 13) lags (as R's
/// forecast::ndiffs). None for fewer than 3 points or a constant series.
pub fn kpss(x: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mean = x.iter().sum::<f64>() / nf;
    let e: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let mut s = 0.0;
    let mut eta = 0.0;
    for v in &e {
        s += v;
        eta += s * s;
    }
    let lags = ((3.0 * nf.sqrt() / 13.0) as usize).min(n - 1);
    let mut lrv = e.iter().map(|v| v * v).sum::<f64>() / nf;
    for j in 1..=lags {
        let w = 1.0 - j as f64 / (lags as f64 + 1.0);
        let gamma = e[j..].iter().zip(&e).map(|(a, b)| a * b).sum::<f64>() / nf;
        lrv += 2.0 * w * gamma;
    }
    (lrv > 0.0).then(|| eta / (nf * nf * lrv))
}

fn is_flat(x: &[f64]) -> bool {
    let level = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (lo, hi) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    hi - lo <= 1e-10 * level
}

/// The rule's d (see the module doc) and the KPSS statistics it computed.
pub fn choose_d(series: &[f64], max_d: usize) -> (usize, Vec<f64>) {
    let mut x = series.to_vec();
    let mut stats = Vec::new();
    for d in 0..max_d.min(MAX_D) {
        if is_flat(&x) {
            return (d, stats);
        }
        match kpss(&x) {
            Some(stat) => {
                stats.push(stat);
                if stat <= KPSS_CRITICAL_5PCT {
                    return (d, stats);
                }
            }
            None => return (d, stats),
        }
        x = difference(&x, 1);
    }
    (max_d.min(MAX_D), stats)
}

/// Chooses d by the KPSS rule, then fits every (p, q, constant) of the grid and
/// returns the lowest AIC.
pub fn select(series: &[f64], grid: &Grid) -> Result<Selection, ModelError> {
    check_series(series)?;
    let (d, kpss) = choose_d(series, grid.max_d);
    let constants: &[bool] = match d {
        0 => &[true],
        1 => &[false, true],
        _ => &[false],
    };
    let mut candidates = Vec::new();
    let mut best: Option<Fit> = None;
    for p in 0..=grid.max_p {
        for q in 0..=grid.max_q {
            for &constant in constants {
                let opts = FitOptions {
                    constant,
                    max_iter: grid.max_iter,
                };
                let result = fit(series, (p, d, q), &opts);
                candidates.push(Candidate {
                    order: (p, d, q),
                    constant,
                    aic: result.as_ref().map(|f| f.aic).map_err(|e| e.to_string()),
                });
                if let Ok(f) = result
                    && best.as_ref().is_none_or(|b| f.aic < b.aic)
                {
                    best = Some(f);
                }
            }
        }
    }
    match best {
        Some(best) => Ok(Selection {
            best,
            kpss,
            candidates,
        }),
        None => Err(ModelError::Input(format!(
            "ARIMA: no order of the grid could be fitted to {} points ({})",
            series.len(),
            candidates
                .first()
                .and_then(|c| c.aic.as_ref().err().cloned())
                .unwrap_or_default()
        ))),
    }
}

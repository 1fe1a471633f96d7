//! qb-models' ARIMA against statsmodels: every fixture in tests/fixtures/arima (written
//! by scripts/arima_fixtures.py, statsmodels' `ARIMA(y, order, trend).fit()`) is
//! refitted here and must agree within these tolerances (also in models/README.md):
//!
//! - every parameter (constant or drift, AR, MA, sigma2): within 0.02 absolute or 2 %
//!   of statsmodels' value, whichever is looser;
//! - log-likelihood: within 0.05 absolute (statsmodels' approximate diffuse start, with
//!   variance 1e6, differs from the exact diffuse likelihood by ~1e-5 here); AIC, AICc
//!   and BIC follow from it and the parameter count, so within 0.1;
//! - 10-step forecast means: within 1 % of the series' standard deviation;
//! - 95 % interval widths: within 5 % of statsmodels' width.
//!
//! `cargo test -p qb-models --test arima -- --nocapture` prints the measured agreement.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use qb_models::arima::{FitOptions, Grid, fit, select};
use serde::Deserialize;

const PARAM_ABS: f64 = 0.02;
const PARAM_REL: f64 = 0.02;
const LLF_ABS: f64 = 0.05;
const IC_ABS: f64 = 0.1;
const MEAN_OF_SD: f64 = 0.01;
const WIDTH_REL: f64 = 0.05;

#[derive(Debug, Deserialize)]
struct Fixture {
    name: String,
    statsmodels: String,
    order: [usize; 3],
    trend: String,
    series: Vec<f64>,
    param_names: Vec<String>,
    params: Vec<f64>,
    converged: bool,
    llf: f64,
    aic: f64,
    aicc: f64,
    bic: f64,
    nobs_effective: usize,
    alpha: f64,
    forecast_steps: usize,
    forecast_mean: Vec<f64>,
    forecast_lower: Vec<f64>,
    forecast_upper: Vec<f64>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arima");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 8, "fixtures missing in {}", dir.display());
    paths
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

fn std_dev(x: &[f64]) -> f64 {
    let m = x.iter().sum::<f64>() / x.len() as f64;
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn agrees_with_statsmodels() {
    let mut failures = Vec::new();
    println!(
        "{:16} {:>9} {:>18} {:>11} {:>11} {:>11}  statsmodels",
        "fixture", "order", "max |dparam|", "dllf", "dmean/sd", "dwidth rel"
    );
    for fx in fixtures() {
        let [p, d, q] = fx.order;
        assert!(fx.converged, "{}: statsmodels did not converge", fx.name);
        let constant = fx.trend != "n";
        let f = fit(
            &fx.series,
            (p, d, q),
            &FitOptions {
                constant,
                ..FitOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", fx.name));
        let m = &f.model;
        let mut ours = Vec::new();
        ours.extend(m.constant());
        ours.extend(m.ar());
        ours.extend(m.ma());
        ours.push(m.sigma2());
        assert_eq!(
            ours.len(),
            fx.params.len(),
            "{}: {:?}",
            fx.name,
            fx.param_names
        );

        let (mut worst_param, mut worst_name) = (0.0f64, "");
        for ((name, want), got) in fx.param_names.iter().zip(&fx.params).zip(&ours) {
            let diff = (got - want).abs();
            if diff > worst_param {
                (worst_param, worst_name) = (diff, name);
            }
            if diff > PARAM_ABS.max(PARAM_REL * want.abs()) {
                failures.push(format!("{}: {name} {got} vs statsmodels {want}", fx.name));
            }
        }
        let dllf = f.llf - fx.llf;
        if dllf.abs() > LLF_ABS {
            failures.push(format!("{}: llf {} vs {}", fx.name, f.llf, fx.llf));
        }
        for (what, got, want) in [
            ("aic", f.aic, fx.aic),
            ("aicc", f.aicc, fx.aicc),
            ("bic", f.bic, fx.bic),
        ] {
            if (got - want).abs() > IC_ABS {
                failures.push(format!("{}: {what} {got} vs {want}", fx.name));
            }
        }
        assert_eq!(f.nobs, fx.nobs_effective, "{}", fx.name);

        let fc = m.forecast(fx.forecast_steps, 1.0 - fx.alpha).unwrap();
        let sd = std_dev(&fx.series);
        let (mut worst_mean, mut worst_width) = (0.0f64, 0.0f64);
        for (h, step) in fc.iter().enumerate() {
            let dm = (step.mean - fx.forecast_mean[h]).abs() / sd;
            let want_w = fx.forecast_upper[h] - fx.forecast_lower[h];
            let dw = ((step.upper - step.lower) - want_w).abs() / want_w;
            worst_mean = worst_mean.max(dm);
            worst_width = worst_width.max(dw);
            if dm > MEAN_OF_SD || dw > WIDTH_REL {
                failures.push(format!(
                    "{} step {}: mean {} vs {}, interval [{}, {}] vs [{}, {}]",
                    fx.name,
                    h + 1,
                    step.mean,
                    fx.forecast_mean[h],
                    step.lower,
                    step.upper,
                    fx.forecast_lower[h],
                    fx.forecast_upper[h]
                ));
            }
        }
        println!(
            "{:16} {:>9} {:>18} {:>11.2e} {:>11.2e} {:>11.2e}  {}",
            fx.name,
            format!("({p},{d},{q}){}", if constant { "+c" } else { "" }),
            format!("{worst_param:.2e} {worst_name}"),
            dllf,
            worst_mean,
            worst_width,
            fx.statsmodels
        );
    }
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
}

/// The selected model is at least as good (by AIC) as the fixture's own order when
/// the rule picked the same d, and every selection forecasts finitely.
#[test]
fn selection_on_the_fixtures_is_consistent() {
    for fx in fixtures() {
        let sel = select(&fx.series, &Grid::default()).unwrap();
        let b = &sel.best.model;
        let fc = b.forecast(30, 0.95).unwrap();
        assert!(
            fc.iter().all(|s| s.mean.is_finite() && s.lower <= s.upper),
            "{}",
            fx.name
        );
        println!(
            "{:16} kpss {:?} -> ({},{},{}){} aic {:.2} (statsmodels' order: aic {:.2})",
            fx.name,
            sel.kpss
                .iter()
                .map(|k| (k * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            b.order().0,
            b.order().1,
            b.order().2,
            if b.constant().is_some() { "+c" } else { "" },
            sel.best.aic,
            fx.aic
        );
        if b.order().1 == fx.order[1] {
            let same = sel.candidates.iter().find(|c| {
                c.order == (fx.order[0], fx.order[1], fx.order[2])
                    && c.constant == (fx.trend != "n")
            });
            if let Some(Ok(aic)) = same.map(|c| c.aic.clone()) {
                assert!(
                    sel.best.aic <= aic + 1e-9,
                    "{}: best {} vs {}",
                    fx.name,
                    sel.best.aic,
                    aic
                );
            }
        }
    }
}

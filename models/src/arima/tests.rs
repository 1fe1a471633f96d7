use super::forecast::{normal_cdf, normal_quantile};
use super::*;

/// xorshift64* and Box-Muller: deterministic noise without a dependency.
fn noise(seed: u64, n: usize, sd: f64) -> Vec<f64> {
    let mut s = seed.max(1);
    let mut uniform = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        ((s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            sd * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

fn input_error(r: Result<Fit, ModelError>) -> String {
    match r {
        Err(ModelError::Input(m)) => m,
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn bad_input_is_refused_with_the_index_or_reason() {
    let mut y: Vec<f64> = (0..50).map(|i| i as f64).collect();
    let opts = FitOptions::default();
    y[17] = f64::NAN;
    let e = input_error(fit(&y, (1, 0, 0), &opts));
    assert!(e.contains("series[17] is NaN"), "{e}");
    y[17] = 0.0;
    y[3] = f64::NEG_INFINITY;
    let e = input_error(fit(&y, (1, 0, 0), &opts));
    assert!(e.contains("series[3] is -inf"), "{e}");
    assert!(
        matches!(select(&y, &Grid::default()), Err(ModelError::Input(m)) if m.contains("series[3]"))
    );

    let e = input_error(fit(&[], (0, 0, 0), &opts));
    assert!(e.contains("empty"), "{e}");
    let e = input_error(fit(&[1.0, 2.0, 3.0, 4.0, 5.0], (2, 1, 1), &opts));
    assert!(
        e.contains("ARIMA(2,1,1) with a constant needs at least 8 points, got 5"),
        "{e}"
    );
    let e = input_error(fit(&y[4..], (0, 2, 1), &opts));
    assert!(e.contains("quadratic"), "{e}");
    let e = input_error(fit(&y[4..], (6, 0, 0), &opts));
    assert!(e.contains("at most 5"), "{e}");

    let m = fit(&y[4..], (1, 1, 0), &opts).unwrap().model;
    assert!(m.forecast(3, 1.0).is_err());
    assert!(m.forecast(3, f64::NAN).is_err());
    assert!(m.time_to_limit(f64::INFINITY, 10, 0.95).is_err());
    assert!(m.time_to_limit(100.0, 0, 0.95).is_err());
    assert!(m.apply(&[1.0]).is_err());
    assert!(m.apply(&[1.0, f64::NAN]).is_err());
}

#[test]
fn a_perfect_ramp_reaches_the_limit_when_the_line_does() {
    // 100 + 5 t for t = 0..59: the line reaches 1000 at t = 180, step 121 after t = 59.
    let y: Vec<f64> = (0..60).map(|t| 100.0 + 5.0 * t as f64).collect();
    let sel = select(&y, &Grid::default()).unwrap();
    assert_eq!(sel.best.model.d, 1, "{:?}", sel.best.model);
    assert_eq!(sel.best.model.constant, Some(5.0));
    let ttl = sel
        .best
        .model
        .time_to_limit(1000.0, 300, 0.95)
        .unwrap()
        .unwrap();
    assert_eq!(ttl.eta_steps, Some(121), "{ttl:?}");
    assert_eq!(ttl.earliest_steps, 121);
    assert_eq!(ttl.latest_steps, Some(121));
    assert_eq!(ttl.probability_within_horizon, 1.0);
    // Beyond the horizon: nothing.
    assert_eq!(
        sel.best.model.time_to_limit(1000.0, 100, 0.95).unwrap(),
        None
    );

    // With noise, the estimate stays close and the interval brackets the line.
    let noisy: Vec<f64> = y
        .iter()
        .zip(noise(7, 60, 2.0))
        .map(|(a, b)| a + b)
        .collect();
    let sel = select(&noisy, &Grid::default()).unwrap();
    let ttl = sel
        .best
        .model
        .time_to_limit(1000.0, 300, 0.95)
        .unwrap()
        .unwrap();
    let eta = ttl.eta_steps.unwrap();
    assert!((110..=132).contains(&eta), "{ttl:?} {:?}", sel.best.model);
    assert!(ttl.earliest_steps <= eta && ttl.latest_steps.is_none_or(|l| l >= eta));
    assert!(ttl.probability_within_horizon > 0.9, "{ttl:?}");
}

#[test]
fn a_flat_series_far_below_the_limit_never_reaches_it() {
    let flat = vec![512.0; 120];
    let sel = select(&flat, &Grid::default()).unwrap();
    assert_eq!(sel.best.model.d, 0);
    let fc = sel.best.model.forecast(5, 0.95).unwrap();
    assert!(
        fc.iter()
            .all(|f| f.mean == 512.0 && f.lower == 512.0 && f.upper == 512.0)
    );
    assert_eq!(
        sel.best.model.time_to_limit(1024.0, 300, 0.95).unwrap(),
        None
    );

    let noisy: Vec<f64> = noise(11, 120, 3.0).iter().map(|e| 512.0 + e).collect();
    let sel = select(&noisy, &Grid::default()).unwrap();
    assert_eq!(sel.best.model.d, 0, "{:?}", sel.kpss);
    assert_eq!(
        sel.best.model.time_to_limit(1024.0, 300, 0.95).unwrap(),
        None
    );
    // Near the limit it is a risk but not the expectation.
    let ttl = sel
        .best
        .model
        .time_to_limit(517.0, 300, 0.95)
        .unwrap()
        .unwrap();
    assert_eq!(ttl.eta_steps, None);
    assert!(ttl.probability_within_horizon > 0.02 && ttl.probability_within_horizon < 0.5);
}

#[test]
fn a_random_walk_forecast_variance_grows_linearly() {
    let y: Vec<f64> = noise(3, 200, 1.0)
        .iter()
        .scan(0.0, |s, e| {
            *s += e;
            Some(*s)
        })
        .collect();
    let f = fit(
        &y,
        (0, 1, 0),
        &FitOptions {
            constant: false,
            ..FitOptions::default()
        },
    )
    .unwrap();
    let fc = f.model.forecast(4, 0.95).unwrap();
    for (h, step) in fc.iter().enumerate() {
        assert!((step.mean - y[199]).abs() < 1e-12);
        assert!((step.sd * step.sd - (h + 1) as f64 * f.model.sigma2).abs() < 1e-9);
    }
    // sigma2 of a random walk is the mean squared increment.
    let w = difference(&y, 1);
    let ms = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    assert!((f.model.sigma2 - ms).abs() < 1e-9 * ms);
}

#[test]
fn apply_on_the_fitted_series_reproduces_the_state() {
    let y: Vec<f64> = noise(5, 150, 1.0)
        .iter()
        .scan(0.0, |s, e| {
            *s = 0.6 * *s + e;
            Some(10.0 + *s)
        })
        .collect();
    let f = fit(&y, (1, 0, 1), &FitOptions::default()).unwrap();
    assert!(f.converged);
    assert_eq!(f.model.apply(&y).unwrap(), f.model);
    let later = f.model.apply(&y[..100]).unwrap();
    assert_ne!(
        later.forecast(1, 0.9).unwrap(),
        f.model.forecast(1, 0.9).unwrap()
    );
}

#[test]
fn the_payload_round_trips_and_refuses_damage() {
    let y: Vec<f64> = (0..80)
        .zip(noise(9, 80, 1.0))
        .map(|(t, e)| 50.0 + 0.5 * t as f64 + e)
        .collect();
    let m = fit(&y, (1, 1, 1), &FitOptions::default()).unwrap().model;
    let bytes = m.encode();
    assert_eq!(Arima::decode(&bytes).unwrap(), m);
    for cut in [0, 1, 4, 20, bytes.len() / 2, bytes.len() - 1] {
        let e = Arima::decode(&bytes[..cut]).unwrap_err().to_string();
        // The decoder names the field the payload broke off in.
        assert!(
            e.contains("ends inside '") || e.contains("' claims"),
            "{cut}: {e}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Arima::decode(&longer).is_err());

    let mut explosive = m.clone();
    explosive.ar = vec![1.5];
    let e = Arima::decode(&explosive.encode()).unwrap_err().to_string();
    assert!(e.contains("not stationary"), "{e}");
    let mut nan = m.clone();
    nan.sigma2 = f64::NAN;
    assert!(
        Arima::decode(&nan.encode())
            .unwrap_err()
            .to_string()
            .contains("non-finite")
    );
    let mut short = m;
    short.state.pop();
    assert!(
        Arima::decode(&short.encode())
            .unwrap_err()
            .to_string()
            .contains("'state'")
    );
}

#[test]
fn a_series_in_bytes_fits_like_the_same_series_in_mib() {
    // A leak: 400 MiB + 1.5 MiB/s + AR(1) noise, then the same in bytes at a 2 GiB
    // offset. Standardising inside the fit makes both the same problem.
    let mut ar = 0.0;
    let mib: Vec<f64> = noise(13, 300, 3.0)
        .iter()
        .enumerate()
        .map(|(t, e)| {
            ar = 0.6 * ar + e;
            400.0 + 1.5 * t as f64 + ar
        })
        .collect();
    let scale = 1024.0 * 1024.0;
    let bytes: Vec<f64> = mib.iter().map(|v| 2048.0 * scale + v * scale).collect();
    let opts = FitOptions::default();
    let a = fit(&mib, (1, 1, 1), &opts).unwrap();
    let b = fit(&bytes, (1, 1, 1), &opts).unwrap();
    assert!((a.model.ar[0] - b.model.ar[0]).abs() < 1e-6, "{a:?} {b:?}");
    assert!((a.model.ma[0] - b.model.ma[0]).abs() < 1e-3, "{a:?} {b:?}");
    assert!((b.model.sigma2 / (scale * scale) / a.model.sigma2 - 1.0).abs() < 1e-6);
    let shift = a.nobs as f64 * scale.ln();
    assert!((b.llf + shift - a.llf).abs() < 1e-6, "{} {}", a.llf, b.llf);
    let limit = (2048.0 + 1024.0) * scale;
    let ttl = b.model.time_to_limit(limit, 600, 0.95).unwrap().unwrap();
    let ttl_mib = a.model.time_to_limit(1024.0, 600, 0.95).unwrap().unwrap();
    assert_eq!(ttl.eta_steps, ttl_mib.eta_steps);
    // 1.5 MiB/s from ~850 MiB: the line reaches 1024 MiB about 115 s later.
    let eta = ttl.eta_steps.unwrap();
    assert!((95..=135).contains(&eta), "{ttl:?}");
}

#[test]
fn kpss_rule_differences_a_trend_and_not_noise() {
    let white = noise(21, 200, 1.0);
    assert_eq!(choose_d(&white, 2).0, 0);
    let trend: Vec<f64> = white
        .iter()
        .enumerate()
        .map(|(t, e)| 0.2 * t as f64 + e)
        .collect();
    assert_eq!(choose_d(&trend, 2).0, 1);
    let walk: Vec<f64> = white
        .iter()
        .scan(0.0, |s, e| {
            *s += e;
            Some(*s)
        })
        .collect();
    let (d, stats) = choose_d(&walk, 2);
    assert_eq!(d, 1, "{stats:?}");
    assert!(stats[0] > KPSS_CRITICAL_5PCT);
    assert_eq!(choose_d(&walk, 0).0, 0);
}

#[test]
fn normal_quantile_and_cdf() {
    assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
    assert!((normal_quantile(0.995) - 2.575_829_303_548_901).abs() < 1e-8);
    assert!((normal_quantile(0.001) + 3.090_232_306_167_813).abs() < 1e-8);
    for x in [-3.0, -1.0, 0.0, 0.5, 2.0] {
        assert!((normal_cdf(normal_quantile(normal_cdf(x))) - normal_cdf(x)).abs() < 1e-7);
    }
    assert!((normal_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-7);
}

#[test]
fn odd_series_give_results_or_errors_never_panics() {
    let n = 40;
    let odd: Vec<Vec<f64>> = vec![
        vec![1e300; n],
        (0..n)
            .map(|t| if t % 2 == 0 { 1e300 } else { -1e300 })
            .collect(),
        (0..n).map(|t| 1e-300 * t as f64).collect(),
        (0..n)
            .map(|t| if t % 2 == 0 { 1.0 } else { -1.0 })
            .collect(),
        (0..n).map(|t| if t < n / 2 { 0.0 } else { 1e6 }).collect(),
        (0..n).map(|t| (t * t) as f64).collect(),
        (0..n).map(|t| 2f64.powi(t as i32)).collect(),
        vec![0.0; 3],
        vec![5.0],
    ];
    for y in &odd {
        for p in 0..=2 {
            for d in 0..=2 {
                for q in 0..=2 {
                    for constant in [false, true] {
                        let opts = FitOptions {
                            constant,
                            max_iter: 50,
                        };
                        if let Ok(f) = fit(y, (p, d, q), &opts) {
                            let _ = f.model.forecast(20, 0.9);
                            let _ = f.model.time_to_limit(1e6, 20, 0.9);
                            let _ = f.model.apply(y);
                            let back = Arima::decode(&f.model.encode());
                            assert!(back.is_ok(), "{back:?} {:?} {:?}", f.model, &y[..4]);
                        }
                    }
                }
            }
        }
        let _ = select(y, &Grid::default());
    }
    // Arbitrary bytes never decode into a model that panics later.
    for seed in 1..200u64 {
        let bytes: Vec<u8> = noise(seed, 64, 100.0)
            .iter()
            .map(|v| *v as i64 as u8)
            .collect();
        assert!(Arima::decode(&bytes).is_err());
    }
}

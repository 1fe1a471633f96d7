//! ARIMA fit time and per-item inference latency, on 300-point series like the
//! Oracle's (1 s ticks of a cgroup's memory usage):
//!
//!   cargo bench -p qb-models --bench arima
//!
//! `fit_111_drift`: one ARIMA(1,1,1) with drift by exact likelihood; `select/*`: the
//! default grid (d by the KPSS rule, then p, q <= 2 and the constant by AIC);
//! `forecast_180`: one 180-step forecast with intervals from a fitted model;
//! `refit_60`: the Oracle's online step (the stored order fitted afresh to a cgroup's
//! last 60 points); `apply_300`: refiltering a stored model over a new 300-point window.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qb_models::arima::{FitOptions, Grid, fit, select};

/// A deterministic Gaussian-ish noise stream (sum of uniforms from xorshift64*).
fn noise(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| (0..12).map(|_| next()).sum::<f64>() - 6.0)
        .collect()
}

/// MiB in use: a leak (trend plus AR(1) noise), a GC sawtooth, a flat service.
fn series() -> [(&'static str, Vec<f64>); 3] {
    let e = noise(42, 300);
    let mut ar = 0.0;
    let leak = (0..300)
        .map(|t| {
            ar = 0.6 * ar + 3.0 * e[t];
            400.0 + 1.5 * t as f64 + ar
        })
        .collect();
    let saw = (0..300)
        .map(|t| 600.0 + 8.0 * (t % 40) as f64 + 2.0 * e[(t * 7) % 300])
        .collect();
    let flat = (0..300).map(|t| 250.0 + 0.5 * e[(t * 11) % 300]).collect();
    [("leak", leak), ("sawtooth", saw), ("flat", flat)]
}

fn bench(c: &mut Criterion) {
    let all = series();
    let leak = &all[0].1;
    let opts = FitOptions::default();
    c.bench_function("arima/fit_111_drift_300", |b| {
        b.iter(|| fit(black_box(leak), (1, 1, 1), &opts).unwrap())
    });
    for (name, y) in &all {
        c.bench_function(&format!("arima/select_300/{name}"), |b| {
            b.iter(|| select(black_box(y), &Grid::default()).unwrap())
        });
    }
    let model = fit(leak, (1, 1, 1), &opts).unwrap().model;
    c.bench_function("arima/forecast_180", |b| {
        b.iter(|| black_box(&model).forecast(180, 0.95).unwrap())
    });
    c.bench_function("arima/time_to_limit_180", |b| {
        b.iter(|| black_box(&model).time_to_limit(1000.0, 180, 0.95).unwrap())
    });
    // The Oracle online: the stored order refitted on a cgroup's last 60 points.
    let window = &leak[240..];
    c.bench_function("arima/refit_60", |b| {
        b.iter(|| black_box(&model).refit(black_box(window)).unwrap())
    });
    c.bench_function("arima/apply_300", |b| {
        b.iter(|| black_box(&model).apply(black_box(leak)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

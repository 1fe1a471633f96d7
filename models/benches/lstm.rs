//! The Oracle's LSTM: decode time and per-item inference latency (one 30 x 18
//! sequence, hidden 32, as the trainer ships it):
//!
//!   cargo bench -p qb-models --bench lstm
//!
//! Fit time is the trainer's (`qbranch train oracle` reports it): training runs in
//! candle, which the runtime never links.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qb_models::lstm::{Lstm, encode};
use qb_signals::rng::Rng;

const F: usize = 18;
const H: usize = 32;

fn model() -> Vec<u8> {
    let mut rng = Rng::new(7);
    let mut t = |n: usize, scale: f64| -> Vec<f32> {
        (0..n).map(|_| rng.range(-scale, scale) as f32).collect()
    };
    let b = 1.0 / (H as f64).sqrt();
    encode(
        &[
            ("input.mean", vec![F], t(F, 1.0)),
            ("input.std", vec![F], vec![1.0; F]),
            ("lstm.weight_ih_l0", vec![4 * H, F], t(4 * H * F, b)),
            ("lstm.weight_hh_l0", vec![4 * H, H], t(4 * H * H, b)),
            ("lstm.bias_ih_l0", vec![4 * H], t(4 * H, b)),
            ("lstm.bias_hh_l0", vec![4 * H], t(4 * H, b)),
            ("prob.weight", vec![1, H], t(H, b)),
            ("prob.bias", vec![1], t(1, b)),
            ("eta.weight", vec![1, H], t(H, b)),
            ("eta.bias", vec![1], t(1, b)),
        ],
        180.0,
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let bytes = model();
    println!("payload: {} bytes", bytes.len());
    c.bench_function("lstm/decode", |b| {
        b.iter(|| Lstm::decode(black_box(&bytes)).unwrap())
    });
    let m = Lstm::decode(&bytes).unwrap();
    let mut rng = Rng::new(1);
    let seq: Vec<[f64; F]> = (0..30)
        .map(|_| std::array::from_fn(|_| rng.range(-1.0, 1.0)))
        .collect();
    c.bench_function("lstm/forecast_30x18", |b| {
        b.iter(|| m.forecast(black_box(&seq)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

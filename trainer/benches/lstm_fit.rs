//! The LSTM's fit time with candle on CPU: one epoch over 1,024 sequences of 30 x 18
//! (hidden 32, batch 64), the Oracle's shape; `qbranch train oracle` runs 12 epochs over
//! about 25,000.
//!
//!   cargo bench -p qb-trainer --bench lstm_fit
//!
//! Inference is qb-models' (`cargo bench -p qb-models --bench lstm`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use qb_signals::rng::Rng;
use qb_trainer::lstm::{Example, LstmParams, fit};

fn examples(n: usize) -> Vec<Example> {
    let mut rng = Rng::new(5);
    (0..n)
        .map(|i| Example {
            sequence: (0..30 * 18).map(|_| rng.range(-1.0, 1.0) as f32).collect(),
            positive: i % 5 == 0,
            log_eta: (i % 5 == 0).then_some(4.0),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = examples(1024);
    let params = LstmParams {
        epochs: 1,
        ..LstmParams::default()
    };
    let mut g = c.benchmark_group("lstm");
    g.sample_size(10);
    g.bench_function("fit_epoch_1024x30x18", |b| {
        b.iter(|| fit(&data, 18, 30, params, |_, _| {}).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

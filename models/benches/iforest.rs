//! Isolation forest costs at the paper's size (100 trees, subsample 256) on 10k x 6
//! synthetic rows: fit, scoring one row, and decoding the artifact payload.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qb_models::iforest::{IForestParams, IsolationForest};
use qb_signals::rng::Rng;

const ROWS: usize = 10_000;
const DIMS: usize = 6;

/// Gaussian rows with 1 % shifted outliers, so trees have both shallow and deep leaves.
fn data() -> Vec<f64> {
    let mut rng = Rng::new(1);
    (0..ROWS * DIMS)
        .map(|i| {
            rng.normal()
                + if (i / DIMS).is_multiple_of(100) {
                    5.0
                } else {
                    0.0
                }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let x = data();
    let params = IForestParams::default();
    c.bench_function("iforest fit 10k x 6", |b| {
        b.iter(|| IsolationForest::fit(black_box(&x), DIMS, params))
    });
    let Ok(forest) = IsolationForest::fit(&x, DIMS, params) else {
        panic!("fit failed");
    };
    let mut rows = x.chunks_exact(DIMS).cycle();
    c.bench_function("iforest score 1 row", |b| {
        b.iter(|| forest.score(black_box(rows.next().unwrap_or(&[0.0; DIMS]))))
    });
    let payload = forest.encode();
    c.bench_function("iforest decode payload", |b| {
        b.iter(|| IsolationForest::decode(black_box(&payload)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

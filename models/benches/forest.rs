//! Random forest costs at the Pathologist's size: 50 trees on 20k rows of 20 features,
//! 3 classes. Fit, predicting one row (the daemon does this per process per tick; the
//! target is under 10 us), the payload size and the accuracy on held-out rows.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qb_models::forest::{ForestParams, RandomForest};
use qb_signals::rng::Rng;

const ROWS: usize = 20_000;
const HELD_OUT: usize = 5_000;
const FEATURES: usize = 20;

/// Classes from a few features with noise, the rest distractors.
fn data(rows: usize, seed: u64) -> (Vec<f64>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let x: Vec<f64> = (0..rows * FEATURES).map(|_| rng.unit()).collect();
    let y = x
        .chunks_exact(FEATURES)
        .map(|r| {
            let s = r[0] + 0.5 * r[3] - 0.3 * r[7] + 0.1 * rng.normal();
            if s < 0.4 {
                0
            } else if s < 0.8 {
                1
            } else {
                2
            }
        })
        .collect();
    (x, y)
}

fn bench(c: &mut Criterion) {
    let (x, y) = data(ROWS, 1);
    let params = ForestParams::default();
    let mut g = c.benchmark_group("forest");
    g.sample_size(10);
    g.bench_function("fit 50 trees 20k x 20", |b| {
        b.iter(|| RandomForest::fit(black_box(&x), FEATURES, &y, 3, params))
    });
    g.finish();
    let Ok(forest) = RandomForest::fit(&x, FEATURES, &y, 3, params) else {
        panic!("fit failed");
    };
    eprintln!("forest payload: {} bytes", forest.encode().len());
    let (tx, ty) = data(HELD_OUT, 2);
    let right = tx
        .chunks_exact(FEATURES)
        .zip(&ty)
        .filter(|&(r, &c)| forest.predict(r) == c)
        .count();
    eprintln!(
        "forest held-out accuracy: {right} of {HELD_OUT} ({:.2} %)",
        100.0 * right as f64 / HELD_OUT as f64
    );
    let mut rows = x.chunks_exact(FEATURES).cycle();
    let mut out = [0.0f32; 3];
    c.bench_function("forest predict 1 row", |b| {
        b.iter(|| {
            forest.predict_proba_into(black_box(rows.next().unwrap_or(&[0.0; FEATURES])), &mut out)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

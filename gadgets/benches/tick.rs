//! Engine tick latency at 500 processes with the gadgets the default config enables
//! (the Oracle and the Pathologist) and their embedded models: the target is
//! under 1 ms per tick.
//!
//! The frames come from `qb_gadgets::synthetic` (a busy host shaped as described there),
//! the fixture `qbranch perf`'s `engine tick` probe measures too. Windows are full
//! before timing starts.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use qb_gadgets::synthetic::{self, SyntheticHost};
use qb_models::registry::Registry;

fn tick(c: &mut Criterion) {
    let registry = Registry::embedded().expect("embedded models");
    let mut engine = synthetic::engine(&registry);
    let mut host = SyntheticHost::new();
    for _ in 0..synthetic::WARM_TICKS {
        engine.step(&host.frame());
    }
    c.bench_function("engine/tick_500_processes", |b| {
        b.iter_batched(|| host.frame(), |f| engine.step(&f), BatchSize::SmallInput)
    });
}

criterion_group!(benches, tick);
criterion_main!(benches);

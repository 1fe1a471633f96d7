//! Decode + aggregate throughput, JSON and protobuf (spans per second = batch / time).

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qb_traces::otlp::{self, Encoding};
use qb_traces::{Concentrator, ConcentratorConfig};

#[path = "../tests/support/batches.rs"]
mod batches;

fn bench(c: &mut Criterion) {
    let n = 1_000;
    let mut group = c.benchmark_group("decode_aggregate");
    group.throughput(Throughput::Elements(n as u64));
    for (name, encoding, body) in [
        ("json", Encoding::Json, batches::json(n, 0)),
        ("protobuf", Encoding::Protobuf, batches::proto(n, 0)),
    ] {
        let mut conc = Concentrator::new(ConcentratorConfig::default());
        let mut spans = Vec::with_capacity(n);
        let now = batches::T0 as i64;
        group.bench_function(name, |b| {
            b.iter(|| {
                spans.clear();
                otlp::decode(encoding, &body, &mut spans).unwrap();
                spans.iter().for_each(|s| conc.add(s, now));
            })
        });
        let _ = conc.flush_traces(i64::MAX);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

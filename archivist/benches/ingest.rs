//! Ingest throughput: lines per second through `observe` + `drain` on realistic lines
//! (eight services, 1 % sample, compression and eviction included).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qb_archivist::{Archivist, ArchivistConfig, synth};

const S: i64 = 1_000_000_000;

fn ingest(c: &mut Criterion) {
    let mut state = 1u64;
    // Ten seconds of 10k lines/s, pre-generated: the bench measures the Archivist only.
    let frames: Vec<_> = (1..=10)
        .map(|t| synth::frame(t * S, 10_000, &mut state))
        .collect();
    let lines: u64 = frames.iter().map(|f| f.logs.len() as u64).sum();
    let mut g = c.benchmark_group("archivist");
    g.throughput(Throughput::Elements(lines));
    g.sample_size(20);
    g.bench_function("observe_100k_lines", |b| {
        b.iter_batched(
            || Archivist::new(ArchivistConfig::default()).map_err(|e| e.to_string()),
            |a| {
                let Ok(mut a) = a else { return 0 };
                let mut out = Vec::new();
                for f in &frames {
                    a.observe(f);
                    a.drain(&mut out);
                }
                out.len()
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);

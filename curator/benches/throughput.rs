//! Fast-path throughput on one core over a realistic mix: the simulator's ordinary
//! traffic and lookalike decoys with 3 % of records leaking PII
//! (`qb_simulator::pii::throughput_corpus`, which `qbranch perf` redacts too). Compares the Curator's
//! detector (one regex-automata meta regex, 16 MiB lazy-DFA cache, validation) with a
//! `regex::RegexSet` over the same patterns (which only says which patterns match;
//! finding spans would need a second pass per matching pattern, so it is a lower bound
//! on that engine's cost).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qb_curator::{Detector, RedactConfig, Redactor};
use qb_simulator::pii::throughput_corpus;

/// Lines in the corpus: one pass is one criterion iteration.
const LINES: usize = 20_000;

fn bench(c: &mut Criterion) {
    let lines = throughput_corpus(LINES);
    let mut group = c.benchmark_group("curator_fast_path");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(10);

    let Ok(detector) = Detector::new() else {
        return;
    };
    let mut scratch = detector.scratch();
    let mut findings = Vec::new();
    group.bench_function("meta_multi_pattern_detect", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for line in &lines {
                detector.detect(line, &mut scratch, &mut findings);
                n += findings.len();
            }
            n
        })
    });

    let Ok(redactor) = Redactor::new(RedactConfig::default()) else {
        return;
    };
    let mut line_scratch = redactor.scratch();
    group.bench_function("meta_multi_pattern_redact", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for line in &lines {
                bytes += redactor.redact(line, &mut line_scratch).text.len();
            }
            bytes
        })
    });

    let patterns = qb_curator::candidate_patterns();
    if let Ok(set) = regex::RegexSet::new(&patterns) {
        group.bench_function("regex_set_is_match_only", |b| {
            b.iter(|| lines.iter().filter(|l| set.is_match(l)).count())
        });
        group.bench_function("regex_set_matches", |b| {
            b.iter(|| {
                lines
                    .iter()
                    .map(|l| set.matches(l).iter().count())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

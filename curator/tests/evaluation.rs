//! Per-entity precision and recall on the simulator's held-out seeds, and the share of
//! PII-free lines (ordinary traffic and lookalike decoys) the redactor changes.
//! A label counts as found when a finding of the same entity overlaps it; a finding
//! counts as correct when it overlaps a label of its entity.

use std::collections::BTreeMap;

use qb_curator::{Detector, Entity};
use qb_simulator::{PiiLineGenerator, PiiMix};

const HELD_OUT: [u64; 4] = [10001, 10002, 10003, 10004];
const LINES_PER_SEED: i64 = 20_000;

#[derive(Default, Debug)]
struct Counts {
    labels: u64,
    found: u64,
    findings: u64,
    correct: u64,
}

fn detector() -> Detector {
    match Detector::new() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn per_entity_precision_recall_and_clean_lines_changed() {
    let detector = detector();
    let mut scratch = detector.scratch();
    let mut findings = Vec::new();
    let mut per: BTreeMap<&'static str, Counts> = BTreeMap::new();
    let (mut clean_lines, mut clean_changed) = (0u64, 0u64);
    for seed in HELD_OUT {
        // A leaking writer (every entity, every format) and a dense-lookalike one.
        for (pii_rate, lookalike_rate) in [(0.3, 0.3), (0.0, 0.6)] {
            let mut mix = PiiMix::new("payments-api", &[]);
            mix.pii_rate = pii_rate;
            mix.lookalike_rate = lookalike_rate;
            let mut lines = PiiLineGenerator::new(seed, mix);
            for i in 0..LINES_PER_SEED {
                let line = lines.next_line(1_767_225_600_000_000_000 + i * 50_000_000);
                detector.detect(&line.text, &mut scratch, &mut findings);
                if line.spans.is_empty() {
                    clean_lines += 1;
                    clean_changed += u64::from(!findings.is_empty());
                    if !findings.is_empty() && std::env::var_os("CURATOR_EVAL_VERBOSE").is_some() {
                        for f in &findings {
                            eprintln!(
                                "FP {} {:?} in {}",
                                f.rule,
                                &line.text[f.range.clone()],
                                line.text
                            );
                        }
                    }
                }
                for span in &line.spans {
                    let c = per.entry(span.entity).or_default();
                    c.labels += 1;
                    let hit = findings.iter().any(|f| {
                        f.entity.name() == span.entity
                            && f.range.start < span.end
                            && span.start < f.range.end
                    });
                    c.found += u64::from(hit);
                    if !hit && std::env::var_os("CURATOR_EVAL_VERBOSE").is_some() {
                        eprintln!(
                            "FN {} {:?} in {}",
                            span.entity,
                            &line.text[span.start..span.end],
                            line.text
                        );
                    }
                }
                for f in &findings {
                    let c = per.entry(f.entity.name()).or_default();
                    c.findings += 1;
                    c.correct += u64::from(line.spans.iter().any(|s| {
                        f.entity.name() == s.entity
                            && f.range.start < s.end
                            && s.start < f.range.end
                    }));
                }
            }
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    println!("entity            labels  recall  precision");
    for (entity, c) in &per {
        println!(
            "{entity:<16} {:>7}  {:>6.4}  {:>9.4}",
            c.labels,
            ratio(c.found, c.labels),
            ratio(c.correct, c.findings)
        );
    }
    let changed = ratio(clean_changed, clean_lines);
    println!(
        "PII-free lines changed: {clean_changed} of {clean_lines} ({:.4} %)",
        100.0 * changed
    );

    // Floors under today's numbers, so a regression fails (targets: see README).
    for entity in Entity::ALL {
        let Some(c) = per.get(entity.name()) else {
            panic!("no labels for {}", entity.name())
        };
        let (recall, precision) = (ratio(c.found, c.labels), ratio(c.correct, c.findings));
        assert!(recall >= 0.97, "{} recall {recall:.4}", entity.name());
        assert!(
            precision >= 0.95,
            "{} precision {precision:.4}",
            entity.name()
        );
    }
    assert!(changed < 0.002, "PII-free lines changed {changed:.4}");
}

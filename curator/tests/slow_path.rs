//! The slow path that learns, end to end: on held-out seeds of the simulator's
//! `novel_formats` kind (spellings the fast path does not know), the fast path's
//! recall before learning and after learning from the training seeds through the
//! sampled (1 %) slow path and the promotion gate; and the gate refusing an
//! over-broad rule because it fires on PII-free logs.

use std::collections::BTreeMap;

use qb_curator::{
    Detector, Entity, Gate, LabelledLine, LearnedRule, Learner, Proposal, Redactor, SlowConfig,
    SlowPath, SlowScratch, Verdict,
};
use qb_simulator::pii::LogFormat;
use qb_simulator::rng::Rng;
use qb_simulator::{PiiKind, PiiLine, PiiLineGenerator, PiiMix, START_NS};

const TRAINING: std::ops::RangeInclusive<u64> = 1..=8;
const HELD_OUT: [u64; 4] = [10001, 10002, 10003, 10004];

fn lines(kind: PiiKind, seed: u64, pii_rate: Option<f64>, n: usize) -> Vec<PiiLine> {
    // A novel_formats writer is an application (as in the generator): an access log
    // would carry ordinary spellings the fast path already knows.
    let formats: &[LogFormat] = if kind == PiiKind::NovelFormats {
        &[
            LogFormat::Java,
            LogFormat::Json,
            LogFormat::Syslog,
            LogFormat::Logfmt,
        ]
    } else {
        &[]
    };
    let mut mix = PiiMix::for_kind(kind, "app", formats, &mut Rng::new(seed));
    if let Some(r) = pii_rate {
        mix.pii_rate = r;
    }
    let mut g = PiiLineGenerator::new(seed, mix);
    (0..n)
        .map(|i| g.next_line(START_NS + i as i64 * 50_000_000))
        .collect()
}

fn labelled(l: PiiLine) -> LabelledLine {
    let spans = l
        .spans
        .iter()
        .filter_map(|s| Some((s.start..s.end, Entity::from_name(s.entity)?)))
        .collect();
    LabelledLine {
        text: l.text,
        spans,
    }
}

fn clean_corpus() -> Vec<String> {
    let mut out = Vec::new();
    for seed in TRAINING {
        for kind in [PiiKind::Clean, PiiKind::Lookalikes] {
            out.extend(
                lines(kind, seed, None, 2_000)
                    .into_iter()
                    .filter(|l| l.spans.is_empty())
                    .map(|l| l.text),
            );
        }
    }
    out
}

fn labelled_corpus() -> Vec<LabelledLine> {
    let mut out = Vec::new();
    for seed in TRAINING {
        for kind in [PiiKind::PiiFlood, PiiKind::NovelFormats] {
            out.extend(
                lines(kind, seed, Some(0.3), 2_000)
                    .into_iter()
                    .map(labelled),
            );
        }
    }
    out
}

/// Per-entity (labels, found by an overlapping finding of the same entity).
fn recall(detector: &Detector, lines: &[PiiLine]) -> BTreeMap<&'static str, (u64, u64)> {
    let mut scratch = detector.scratch();
    let mut findings = Vec::new();
    let mut per = BTreeMap::new();
    for line in lines {
        detector.detect(&line.text, &mut scratch, &mut findings);
        for s in &line.spans {
            let c: &mut (u64, u64) = per.entry(s.entity).or_default();
            c.0 += 1;
            c.1 += u64::from(findings.iter().any(|f| {
                f.entity.name() == s.entity && f.range.start < s.end && s.start < f.range.end
            }));
        }
    }
    per
}

fn total(per: &BTreeMap<&'static str, (u64, u64)>) -> f64 {
    let (n, found) = per.values().fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1));
    found as f64 / n.max(1) as f64
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn learning_from_the_sampled_slow_path_raises_recall_on_novel_formats() {
    let held_out: Vec<PiiLine> = HELD_OUT
        .iter()
        .flat_map(|&s| lines(PiiKind::NovelFormats, s, Some(0.3), 3_000))
        .collect();
    let fast = ok(Detector::new());
    let before = recall(&fast, &held_out);

    // Learn: the fast path, then the 1 % slow path, over the training seeds' streams.
    let slow = ok(SlowPath::embedded(SlowConfig::default()));
    let mut scratch = fast.scratch();
    let mut slow_scratch = SlowScratch::default();
    let (mut found, mut missed) = (Vec::new(), Vec::new());
    let mut learner = Learner::new();
    let (mut streamed, mut sampled) = (0usize, 0usize);
    for seed in TRAINING {
        for line in lines(PiiKind::NovelFormats, seed, Some(0.3), 25_000) {
            streamed += 1;
            fast.detect(&line.text, &mut scratch, &mut found);
            if slow.observe(&line.text, &found, &mut slow_scratch, &mut missed) {
                sampled += 1;
                for f in &missed {
                    learner.add(&line.text, f);
                }
            }
        }
    }
    let clean = clean_corpus();
    let labelled = labelled_corpus();
    let gate = Gate::new(&clean, &labelled);
    let mut rules: Vec<LearnedRule> = Vec::new();
    let proposals = learner.proposals();
    for p in &proposals {
        match gate.check(p, 0) {
            Verdict::Accepted(r) => rules.push(r),
            Verdict::Rejected { proposal, reason } => {
                println!(
                    "rejected {} {}: {reason}",
                    proposal.entity.name(),
                    proposal.pattern
                )
            }
        }
    }
    let learned = ok(Detector::with_rules(&rules));
    let after = recall(&learned, &held_out);

    println!(
        "streamed {streamed} lines, sampled {sampled}, {} proposals, {} accepted",
        proposals.len(),
        rules.len()
    );
    for r in &rules {
        println!("accepted {} {}", r.entity.name(), r.pattern);
    }
    println!("entity        labels  before  after");
    for (e, (n, b)) in &before {
        let a = after.get(e).map_or(0, |c| c.1);
        println!(
            "{e:<12} {n:>7}  {:.4}  {:.4}",
            *b as f64 / *n as f64,
            a as f64 / *n as f64
        );
    }
    let (b, a) = (total(&before), total(&after));
    println!("all          {:.4}  {:.4}", b, a);
    assert!(
        b < 0.1,
        "the fast path should miss the novel spellings: {b:.4}"
    );
    assert!(
        a >= b + 0.5,
        "learning should raise recall: {b:.4} -> {a:.4}"
    );

    // Learned rules do not touch held-out PII-free lines, and redact like built-ins.
    let redactor = ok(Redactor::with_rules(Default::default(), &rules));
    let mut rs = redactor.scratch();
    for seed in HELD_OUT {
        for kind in [PiiKind::Clean, PiiKind::Lookalikes] {
            for l in lines(kind, seed, None, 2_000) {
                if l.spans.is_empty() {
                    let out = redactor.redact(&l.text, &mut rs);
                    assert_eq!(
                        out.text,
                        l.text.as_str(),
                        "a learned rule changed a PII-free line"
                    );
                }
            }
        }
    }
    let hit = held_out.iter().find(|l| {
        let mut f = Vec::new();
        learned.detect(&l.text, &mut learned.scratch(), &mut f);
        f.iter().any(|f| f.rule.starts_with("learned_"))
    });
    if let Some(l) = hit {
        let out = redactor.redact(&l.text, &mut rs).text.into_owned();
        assert!(out.contains("_REDACTED]"), "{out}");
    }
}

#[test]
fn the_gate_rejects_a_bare_nine_digit_rule_for_false_positives() {
    let clean = clean_corpus();
    let labelled = labelled_corpus();
    let gate = Gate::new(&clean, &labelled);
    let broad = Proposal {
        entity: Entity::Ssn,
        pattern: r"(?P<v>[0-9]{9})".into(),
        support: 100,
    };
    match gate.check(&broad, 0) {
        Verdict::Rejected { reason, .. } => {
            assert!(reason.starts_with("false positives"), "{reason}")
        }
        Verdict::Accepted(r) => panic!("accepted {r:?}"),
    }
}

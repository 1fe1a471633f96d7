//! PII-in-logs generators: every span slices to a value that passes its own validator,
//! labels join their log rows, lookalikes fool naive validators but are never PII,
//! negatives carry none, and the whole is byte-stable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "pii/shortcuts.rs"]
mod shortcuts;
#[path = "pii/validate.rs"]
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use qb_signals::{Dataset, LabelRow, LogRow};
use qb_simulator::pii::{Entity, LogFormat, Lookalike, label_attributes, line_labels};
use qb_simulator::rng::Rng;
use qb_simulator::{PiiKind, PiiLineGenerator, PiiMix, START_NS, TRAINING_SEEDS, write_pii};
use validate::Span;

const SECOND: Duration = Duration::from_secs(1);
const RUN: Duration = Duration::from_secs(300);
/// The standard sets' length for this family.
const STANDARD: Duration = Duration::from_secs(600);

struct Run {
    logs: Vec<LogRow>,
    labels: Vec<LabelRow>,
}

fn run(kind: PiiKind, seed: u64, duration: Duration) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    write_pii(&dir, kind, seed, duration, SECOND).unwrap();
    let ds = Dataset::open(&dir).unwrap();
    Run {
        logs: ds.read_table::<LogRow>().unwrap(),
        labels: ds.read_table::<LabelRow>().unwrap(),
    }
}

/// A label with its row and spans.
struct Labelled<'a> {
    label: &'a LabelRow,
    row: &'a LogRow,
    spans: Vec<Span>,
}

impl Run {
    /// Every label joined to its row by (source, offset); panics on a dangling label.
    fn joined(&self) -> Vec<Labelled<'_>> {
        let rows: BTreeMap<(&str, u64), &LogRow> = self
            .logs
            .iter()
            .map(|r| ((r.source.as_str(), r.offset), r))
            .collect();
        assert_eq!(rows.len(), self.logs.len(), "(source, offset) is a key");
        self.labels
            .iter()
            .map(|label| {
                let (offset, spans) = validate::attributes(&label.attributes).unwrap();
                let row = rows[&(label.target.as_str(), offset)];
                Labelled { label, row, spans }
            })
            .collect()
    }

    fn of_kind<'a>(
        &'a self,
        joined: &'a [Labelled<'a>],
        kind: &'a str,
    ) -> impl Iterator<Item = &'a Labelled<'a>> {
        joined.iter().filter(move |l| l.label.kind == kind)
    }
}

fn slice<'a>(row: &'a LogRow, s: &Span) -> &'a str {
    &row.line[s.start..s.end]
}

fn overlaps(a: &Span, b: &Span) -> bool {
    a.start < b.end && b.start < a.end
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    write_pii(&a, PiiKind::PiiFlood, 5, RUN, SECOND).unwrap();
    write_pii(&b, PiiKind::PiiFlood, 5, RUN, SECOND).unwrap();
    write_pii(&c, PiiKind::PiiFlood, 6, RUN, SECOND).unwrap();
    let files = |d: &Path| {
        let mut out = BTreeMap::new();
        let mut stack = vec![d.to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(d).unwrap().to_path_buf();
                    out.insert(rel, std::fs::read(&path).unwrap());
                }
            }
        }
        out
    };
    let (fa, fb) = (files(&a), files(&b));
    assert!(fa.len() >= 4, "manifest and three tables: {:?}", fa.keys());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (path, bytes) in &fa {
        assert!(
            bytes == &fb[path],
            "{} differs between two runs",
            path.display()
        );
    }
    let logs = |d: &Path| Dataset::open(d).unwrap().read_table::<LogRow>().unwrap();
    assert_ne!(logs(&a)[..50], logs(&c)[..50], "another seed, other lines");
}

#[test]
fn every_pii_span_is_a_valid_entity_in_its_own_line() {
    for kind in [PiiKind::PiiFlood, PiiKind::DebugDump] {
        for seed in 1..=3 {
            let r = run(kind, seed, RUN);
            let joined = r.joined();
            let mut n = 0;
            for l in &joined {
                assert_eq!(l.label.ts_ns, l.row.ts_ns);
                assert_eq!(
                    (l.label.start_ns, l.label.end_ns),
                    (l.row.ts_ns, Some(l.row.ts_ns))
                );
                assert!(!l.spans.is_empty());
                for s in &l.spans {
                    assert!(
                        s.start < s.end && s.end <= l.row.line.len(),
                        "{s:?} in {}",
                        l.row.line
                    );
                    assert!(
                        l.row.line.is_char_boundary(s.start) && l.row.line.is_char_boundary(s.end)
                    );
                }
                if l.label.kind != "pii" {
                    continue;
                }
                for s in &l.spans {
                    let v = slice(l.row, s);
                    assert!(
                        validate::entity(&s.entity, v, &l.row.line, s.start),
                        "{kind} {seed}: '{v}' is not a valid {} in: {}",
                        s.entity,
                        l.row.line
                    );
                    n += 1;
                }
            }
            assert!(n > 20, "{kind} {seed}: only {n} PII spans");
        }
    }
}

#[test]
fn lookalikes_fool_naive_validators_but_are_never_pii() {
    let mut fooled: BTreeMap<&str, usize> = BTreeMap::new();
    let mut types = BTreeSet::new();
    for seed in 1..=3 {
        for kind in PiiKind::ALL {
            let r = run(kind, seed, RUN);
            let joined = r.joined();
            // Lookalike spans never overlap a PII span of the same line.
            let pii: BTreeMap<(&str, u64), &Vec<Span>> = r
                .of_kind(&joined, "pii")
                .map(|l| ((l.row.source.as_str(), l.row.offset), &l.spans))
                .collect();
            for l in r.of_kind(&joined, "pii_lookalike") {
                for s in &l.spans {
                    types.insert(s.entity.clone());
                    if let Some(p) = pii.get(&(l.row.source.as_str(), l.row.offset)) {
                        assert!(
                            !p.iter().any(|q| overlaps(q, s)),
                            "{s:?} overlaps PII: {}",
                            l.row.line
                        );
                    }
                    let v = slice(l.row, s);
                    let ds: String = v.chars().filter(char::is_ascii_digit).collect();
                    let card_like = ds.len() == 16
                        && validate::luhn(&ds)
                        && validate::card_brand(&ds).is_some();
                    match s.entity.as_str() {
                        "order_number" => assert!(
                            !(ds.len() == 16 && validate::luhn(&ds)),
                            "a 16-digit order number passes Luhn: {v}"
                        ),
                        "block_id" if card_like => {
                            *fooled.entry("block_id passes Luhn and brand").or_default() += 1
                        }
                        "version" if v.parse::<std::net::Ipv4Addr>().is_ok() => {
                            *fooled.entry("version is an IPv4 address").or_default() += 1
                        }
                        "invoice_number" if validate::entity("ssn", v, "", 0) => {
                            *fooled.entry("invoice passes SSN rules").or_default() += 1
                        }
                        "epoch" if v.len() == 10 || v.len() == 13 => {
                            *fooled.entry("epoch is a 10/13-digit run").or_default() += 1
                        }
                        "hash" if validate::entity("aws_secret_key", v, "", 0) => {
                            *fooled.entry("sha1 shaped as an AWS secret").or_default() += 1
                        }
                        "private_ip" => assert!(validate::private_ip(v), "not private: {v}"),
                        _ => {}
                    }
                }
            }
            if !kind.leaks() {
                assert_eq!(
                    r.of_kind(&joined, "pii").count(),
                    0,
                    "{kind} {seed} carries PII"
                );
            }
        }
    }
    assert_eq!(
        fooled.len(),
        5,
        "each naive validator is fooled: {fooled:?}"
    );
    let all: BTreeSet<String> = Lookalike::ALL
        .iter()
        .map(|k| k.name().to_string())
        .collect();
    assert_eq!(types, all, "every lookalike type appears");
}

#[test]
fn leaks_start_at_an_onset_and_stay_a_minority_of_lines() {
    for seed in 1..=4 {
        let flood = run(PiiKind::PiiFlood, seed, RUN);
        let pii: Vec<&LabelRow> = flood.labels.iter().filter(|l| l.kind == "pii").collect();
        let first = pii.iter().map(|l| l.ts_ns).min().unwrap();
        assert!(
            first >= START_NS + 60_000_000_000,
            "{seed}: the leak starts 20 % in or later"
        );
        let after = flood.logs.iter().filter(|r| r.ts_ns >= first).count();
        let share = pii.len() as f64 / after as f64;
        assert!(
            (0.002..0.15).contains(&share),
            "{seed}: {share} of lines leak"
        );
        let targets: BTreeSet<&str> = pii.iter().map(|l| l.target.as_str()).collect();
        assert!(targets.len() >= 2, "a flood leaks from several services");

        // A debug dump: one service, one set of entity types on every line.
        let dump = run(PiiKind::DebugDump, seed, RUN);
        let joined = dump.joined();
        let lines: Vec<&Labelled> = dump.of_kind(&joined, "pii").collect();
        let targets: BTreeSet<&str> = lines.iter().map(|l| l.label.target.as_str()).collect();
        assert_eq!(targets.len(), 1, "{seed}: {targets:?}");
        let sets: BTreeSet<Vec<&str>> = lines
            .iter()
            .map(|l| {
                let mut e: Vec<&str> = l.spans.iter().map(|s| s.entity.as_str()).collect();
                e.sort();
                e
            })
            .collect();
        assert_eq!(sets.len(), 1, "{seed}: {sets:?}");
        let n = sets.iter().next().unwrap().len();
        assert!((2..=4).contains(&n), "{seed}: {n} entity types");
    }
}

/// Which format a line is in, by its shape alone.
fn shape(line: &str) -> &'static str {
    match line.as_bytes().first() {
        Some(b'{') => "json",
        Some(b'<') => "syslog",
        _ if line.starts_with("ts=") => "logfmt",
        _ if line.contains(" - ") && line.contains("] \"") => "access",
        _ => "java",
    }
}

#[test]
fn every_format_in_every_run_and_every_entity_across_training_seeds() {
    for kind in PiiKind::ALL {
        let r = run(kind, 1, STANDARD);
        let formats: BTreeSet<&str> = r.logs.iter().map(|row| shape(&row.line)).collect();
        let all: BTreeSet<&str> = LogFormat::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(formats, all, "{kind}");
        assert!(
            r.logs.iter().any(|row| row.line.starts_with("\tat ")),
            "{kind}: stack traces"
        );
        let bytes: usize = r.logs.iter().map(|row| row.line.len() + 1).sum();
        assert!(bytes < 32 << 20, "{kind}: {bytes} bytes of logs in 10 min");
    }
    let mut entities = BTreeSet::new();
    for seed in TRAINING_SEEDS.take(4) {
        let r = run(PiiKind::PiiFlood, seed, RUN);
        let joined = r.joined();
        for l in r.of_kind(&joined, "pii") {
            entities.extend(l.spans.iter().map(|s| s.entity.clone()));
        }
    }
    let all: BTreeSet<String> = Entity::ALL.iter().map(|e| e.name().to_string()).collect();
    assert_eq!(entities, all);
}

#[test]
fn rows_are_what_the_recorder_would_read() {
    for (kind, seed) in [
        (PiiKind::PiiFlood, 2),
        (PiiKind::DebugDump, 7),
        (PiiKind::Lookalikes, 4),
    ] {
        recorder_view(&run(kind, seed, RUN));
    }
}

fn recorder_view(r: &Run) {
    let mut next: BTreeMap<&str, u64> = BTreeMap::new();
    for row in &r.logs {
        let at = next.entry(&row.source).or_default();
        assert_eq!(row.offset, *at, "offsets run on per file: {}", row.source);
        *at += row.line.len() as u64 + 1;
        assert!(!row.line.contains('\n') && !row.truncated);
        assert!(row.source.starts_with("/var/log/") && row.source.ends_with(".log"));
        assert_eq!(
            row.level.as_deref(),
            qb_recorder::logs::detect_level(&row.line),
            "level of {}",
            row.line
        );
        assert_eq!(
            row.pid,
            qb_recorder::logs::detect_pid(&row.line),
            "pid of {}",
            row.line
        );
        if row.line.starts_with('{') {
            validate::json(&row.line).unwrap_or_else(|e| panic!("{e}: {}", row.line));
        }
    }
    let levels: BTreeSet<&str> = r.logs.iter().filter_map(|l| l.level.as_deref()).collect();
    assert!(levels.len() >= 4, "{levels:?}");
    assert!(r.logs.iter().filter(|l| l.pid.is_some()).count() > 100);
}

#[test]
fn unlabelled_text_hides_no_card_numbers_or_emails() {
    for kind in [PiiKind::PiiFlood, PiiKind::Lookalikes] {
        let r = run(kind, 3, RUN);
        let joined = r.joined();
        let mut covered: BTreeMap<(&str, u64), Vec<&Span>> = BTreeMap::new();
        for l in &joined {
            covered
                .entry((&l.row.source, l.row.offset))
                .or_default()
                .extend(&l.spans);
        }
        for row in &r.logs {
            let spans = covered.get(&(row.source.as_str(), row.offset));
            let inside =
                |i: usize| spans.is_some_and(|v| v.iter().any(|s| (s.start..s.end).contains(&i)));
            let b = row.line.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let j = (i..b.len())
                    .find(|&j| !b[j].is_ascii_digit())
                    .unwrap_or(b.len());
                if j - i >= 13 && j - i <= 19 && validate::luhn(&row.line[i..j]) {
                    assert!(inside(i), "unlabelled Luhn-valid run in: {}", row.line);
                }
                i = j.max(i + 1);
            }
            for (at, _) in row.line.match_indices('@') {
                let mail = b.get(at + 1).is_some_and(u8::is_ascii_alphanumeric)
                    && at > 0
                    && b[at - 1].is_ascii_alphanumeric();
                assert!(!mail || inside(at), "unlabelled email in: {}", row.line);
            }
        }
    }
}

#[test]
fn the_line_generator_is_reusable_and_its_labels_are_the_datasets() {
    let mix = PiiMix::for_kind(
        PiiKind::PiiFlood,
        "webapp",
        &LogFormat::ALL,
        &mut Rng::new(9),
    );
    assert!(mix.pii_rate > 0.0 && mix.entities.len() >= 6);
    let lines = |seed| {
        let mut g = PiiLineGenerator::new(seed, mix.clone());
        (0..3000)
            .map(|i| g.next_line(START_NS + i * 10_000_000))
            .collect::<Vec<_>>()
    };
    let (a, b) = (lines(4), lines(4));
    assert_eq!(a, b);
    assert_ne!(a, lines(5));
    let mut offset = 0u64;
    let mut pii = 0;
    for line in &a {
        for s in &line.spans {
            let v = &line.text[s.start..s.end];
            assert!(
                validate::entity(s.entity, v, &line.text, s.start),
                "{v} as {}",
                s.entity
            );
            pii += 1;
        }
        let labels = line_labels(line, "/tmp/flood.log", offset, 7);
        assert_eq!(
            labels.len(),
            usize::from(!line.spans.is_empty()) + usize::from(!line.lookalikes.is_empty())
        );
        for l in &labels {
            let spans = if l.kind == "pii" {
                &line.spans
            } else {
                &line.lookalikes
            };
            assert_eq!(l.attributes, label_attributes(offset, spans));
            let (at, parsed) = validate::attributes(&l.attributes).unwrap();
            assert_eq!(at, offset);
            assert_eq!(parsed.len(), spans.len());
            assert_eq!(
                (l.target.as_str(), l.start_ns, l.end_ns),
                ("/tmp/flood.log", 7, Some(7))
            );
        }
        offset += line.text.len() as u64 + 1;
    }
    assert!(pii > 50, "{pii}");

    // A debug dump carries exactly its entity types, spelled one way throughout.
    let dump = PiiMix::for_kind(
        PiiKind::DebugDump,
        "accounts",
        &[LogFormat::Json],
        &mut Rng::new(3),
    );
    let mut g = PiiLineGenerator::new(
        1,
        PiiMix {
            pii_rate: 0.5,
            ..dump.clone()
        },
    );
    let want: BTreeSet<&str> = dump.entities.iter().map(|e| e.name()).collect();
    for _ in 0..200 {
        let line = g.next_line(START_NS);
        if !line.spans.is_empty() {
            let got: BTreeSet<&str> = line.spans.iter().map(|s| s.entity).collect();
            assert_eq!(got, want, "{}", line.text);
        }
    }
}

#[test]
fn spans_point_into_escaped_json_and_logfmt() {
    for (format, escaped_quote) in [(LogFormat::Json, "\\\""), (LogFormat::Logfmt, "\\\"")] {
        let mut mix = PiiMix::new("accounts", &[format]);
        mix.pii_rate = 0.6;
        let mut g = PiiLineGenerator::new(11, mix);
        let (mut after_escape, mut multiline) = (0, 0);
        for i in 0..4000 {
            let line = g.next_line(START_NS + i);
            if format == LogFormat::Json {
                validate::json(&line.text).unwrap_or_else(|e| panic!("{e}: {}", line.text));
                multiline += usize::from(line.text.contains("\\n\\tat "));
            }
            for s in &line.spans {
                let v = &line.text[s.start..s.end];
                assert!(
                    validate::entity(s.entity, v, &line.text, s.start),
                    "{v} as {}",
                    s.entity
                );
                after_escape += usize::from(line.text[..s.start].contains(escaped_quote));
            }
        }
        assert!(
            after_escape > 10,
            "{format}: {after_escape} spans after an escaped quote"
        );
        assert!(
            format != LogFormat::Json || multiline > 10,
            "stack traces inside JSON strings"
        );
    }
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let err = write_pii(tmp.path(), PiiKind::Clean, 1, Duration::ZERO, SECOND).unwrap_err();
    assert_eq!(err.to_string(), "a PII episode needs at least 30 ticks");
    let err = write_pii(tmp.path(), PiiKind::Clean, 1, RUN, Duration::ZERO).unwrap_err();
    assert!(
        err.to_string().contains("interval must be positive"),
        "{err}"
    );
    let err = "flood".parse::<PiiKind>().unwrap_err().to_string();
    assert!(
        err.contains("unknown pii kind 'flood'") && err.contains("pii_flood"),
        "{err}"
    );
}

//! Shortcuts a detector could learn instead of reading values: a field that is only
//! filled when a line leaks (X-Forwarded-For), a handful of templates to memorise, or a
//! context (logger, message, field name, request path) that only ever surrounds PII.

use super::*;

/// A row, whether it carries PII, and every labelled span in it (PII and lookalike).
struct Seen<'a> {
    row: &'a LogRow,
    pii: bool,
    spans: Vec<Span>,
}

fn seen(r: &Run) -> Vec<Seen<'_>> {
    let joined = r.joined();
    let mut by_row: BTreeMap<(&str, u64), (bool, Vec<Span>)> = BTreeMap::new();
    for l in &joined {
        let e = by_row
            .entry((l.row.source.as_str(), l.row.offset))
            .or_default();
        e.0 |= l.label.kind == "pii";
        e.1.extend(l.spans.iter().cloned());
    }
    r.logs
        .iter()
        .map(|row| {
            let (pii, spans) = by_row
                .remove(&(row.source.as_str(), row.offset))
                .unwrap_or_default();
            Seen { row, pii, spans }
        })
        .collect()
}

fn is_access(row: &LogRow) -> bool {
    row.source.ends_with("/access.log")
}

/// The X-Forwarded-For field of an access line (the last quoted field), and where it
/// starts.
fn xff(line: &str) -> (usize, &str) {
    let at = line.rfind(" \"").unwrap() + 2;
    (at, &line[at..line.len() - 1])
}

/// The line with every span replaced by `<entity>` (or `<v>` when `generic`, so PII
/// and lookalikes read the same) and every run of digits by `#`.
fn masked(row: &LogRow, spans: &[Span], generic: bool) -> String {
    let mut spans = spans.to_vec();
    spans.sort_by_key(|s| s.start);
    let mut out = String::new();
    let mut at = 0;
    for s in &spans {
        out.push_str(&row.line[at..s.start]);
        if generic {
            out.push_str("<v>");
        } else {
            out.push_str(&format!("<{}>", s.entity));
        }
        at = s.end;
    }
    out.push_str(&row.line[at..]);
    // Digit runs, and random tokens (a CSRF state, a signature, a queue id: eight or
    // more letters and digits with a digit among them) read as one number.
    let mut collapsed = String::with_capacity(out.len());
    let mut run = String::new();
    for c in out.chars().chain(['\n']) {
        if c.is_ascii_alphanumeric() {
            run.push(c);
            continue;
        }
        let random = run.len() >= 8 && run.bytes().any(|b| b.is_ascii_digit());
        let mut prev_digit = false;
        for r in run.drain(..) {
            if random || r.is_ascii_digit() {
                if !prev_digit {
                    collapsed.push('#');
                }
                prev_digit = true;
            } else {
                collapsed.push(r);
                prev_digit = false;
            }
        }
        collapsed.push(c);
    }
    collapsed.pop();
    collapsed
}

/// What a record says, without the envelope its writer puts on every line (timestamp,
/// level, service, host, pid, thread, logger, trace id, stack frames; for an access
/// line: address, time, status, size, referrer, user agent).
fn message(row: &LogRow, t: &str) -> String {
    let service = row.source.split('/').nth(3).unwrap_or_default();
    let package: String = service
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let t = t.replace(&format!("com.example.{package}."), "com.example.");
    let after = |t: &str, pat: &str| t.find(pat).map_or(t.to_string(), |i| t[i..].to_string());
    if is_access(row) {
        let user = &t[t.find(" - ").unwrap() + 3..t.find(" [").unwrap()];
        let request = &t[t.find("] \"").unwrap() + 3..t.find(" HTTP/").unwrap()];
        return format!("{user} \"{request}\" {}", xff(&t).1);
    }
    if t.starts_with('{') {
        let mut m = after(&t, "\"msg\":\"");
        for id in ["<request_id>", "<v>"] {
            m = m.replace(&format!(",\"trace_id\":\"{id}\""), "");
        }
        if let Some(i) = m.find(",\"stack\":\"") {
            m = format!("{}}}}}", &m[..i]);
        }
        return m;
    }
    if t.starts_with("ts=") {
        let m = after(&t, " msg=");
        return m
            .replace(" trace_id=<request_id>", "")
            .replace(" trace_id=<v>", "");
    }
    if t.starts_with('<') {
        return after(&t, "]: ");
    }
    if t.contains(" --- [") {
        return after(&t, " : ");
    }
    t
}

#[test]
fn x_forwarded_for_is_filled_on_most_requests_and_only_a_public_client_is_pii() {
    // (lines with XFF filled, of those the ones carrying PII)
    let (mut filled, mut filled_pii, mut public) = (0usize, 0usize, 0usize);
    let mut chains = BTreeSet::new();
    for seed in 1..=3 {
        for kind in PiiKind::ALL {
            let r = run(kind, seed, STANDARD);
            let rows = seen(&r);
            let mut per_file: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            for s in rows.iter().filter(|s| is_access(s.row)) {
                let (at, x) = xff(&s.row.line);
                let e = per_file.entry(&s.row.source).or_default();
                e.0 += 1;
                if x == "-" {
                    continue;
                }
                e.1 += 1;
                filled += 1;
                filled_pii += usize::from(s.pii);
                let hops: Vec<&str> = x.split(", ").collect();
                chains.insert((kind.leaks(), hops.len()));
                // Every address in the field is labelled: a public one as PII, a
                // private one as a lookalike.
                let mut from = at;
                for hop in hops {
                    let span = s.spans.iter().find(|sp| sp.start == from);
                    let span = span.unwrap_or_else(|| panic!("unlabelled {hop}: {}", s.row.line));
                    assert_eq!(span.end, from + hop.len(), "{}", s.row.line);
                    if validate::private_ip(hop) {
                        assert_eq!(span.entity, "private_ip", "{}", s.row.line);
                    } else {
                        assert!(kind.leaks(), "{kind} {seed}: public {hop} in a negative");
                        assert!(
                            ["ipv4", "ipv6"].contains(&span.entity.as_str()),
                            "{}",
                            s.row.line
                        );
                        assert!(s.pii);
                        public += 1;
                    }
                    from += hop.len() + 2;
                }
            }
            assert!(!per_file.is_empty());
            for (file, (n, x)) in per_file {
                let share = x as f64 / n as f64;
                if !kind.leaks() {
                    // Configured per writer in 30 to 90 %; a 10 min file has thousands
                    // of lines, so the share sits within a few points of its draw.
                    assert!(
                        (0.27..=0.93).contains(&share),
                        "{kind} {seed} {file}: XFF on {share:.2} of {n} lines"
                    );
                }
            }
            if !kind.leaks() {
                assert!(
                    !rows
                        .iter()
                        .any(|s| is_access(s.row) && xff(&s.row.line).1 != "-" && s.pii),
                    "{kind} {seed}: an XFF line carries PII"
                );
            }
        }
    }
    let precision = filled_pii as f64 / filled as f64;
    eprintln!("'XFF present' as a PII detector: precision {precision:.3} over {filled} lines");
    assert!(precision < 0.2, "XFF present gives PII away: {precision}");
    assert!(public > 0, "leaks put public clients in XFF");
    // Chains of hops in negatives and in leaks alike: the shape says nothing either.
    for leaks in [false, true] {
        assert!(chains.contains(&(leaks, 1)) && chains.contains(&(leaks, 2)));
    }
}

/// Templates of PII lines, three ways: the whole line (every labelled span and digit
/// run replaced by a placeholder), its message (the envelope dropped, so the same
/// record in two services is one template), and the message's word set (so the same
/// record in JSON, logfmt and text is one template).
#[derive(Default)]
struct Templates {
    lines: usize,
    whole: BTreeMap<String, usize>,
    messages: BTreeMap<String, usize>,
    words: BTreeMap<String, usize>,
}

impl Templates {
    fn add(&mut self, s: &Seen) {
        let t = masked(s.row, &s.spans, false);
        let m = message(s.row, &t);
        self.lines += 1;
        *self.words.entry(word_set(&m)).or_default() += 1;
        *self.messages.entry(m).or_default() += 1;
        *self.whole.entry(t).or_default() += 1;
    }

    /// The commonest template and its share of the lines.
    fn top(&self, m: &BTreeMap<String, usize>) -> (String, f64) {
        m.iter()
            .max_by_key(|(_, n)| **n)
            .map(|(t, n)| (t.clone(), *n as f64 / self.lines as f64))
            .unwrap()
    }
}

/// A sample's size: the quietest 10 min flood still leaks more lines than this.
const SAMPLE: usize = 100;

#[test]
fn pii_lines_come_in_many_templates() {
    // Words around each entity (placeholders dropped), across the runs.
    let mut around: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for seed in 1..=3 {
        let r = run(PiiKind::PiiFlood, seed, STANDARD);
        let rows = seen(&r);
        let pii: Vec<&Seen> = rows.iter().filter(|s| s.pii).collect();
        assert!(pii.len() >= SAMPLE, "{seed}: {} PII lines", pii.len());
        let (mut all, mut sample) = (Templates::default(), Templates::default());
        for (i, s) in pii.iter().enumerate() {
            all.add(s);
            // Evenly spaced, so the count does not grow with the leak's volume.
            if i * SAMPLE / pii.len() != (i + 1) * SAMPLE / pii.len() {
                sample.add(s);
            }
            let t = masked(s.row, &s.spans, false);
            let set = word_set(&message(s.row, &t));
            let words: Vec<&str> = set
                .split(' ')
                .filter(|w| !w.starts_with('<'))
                .map(|w| w.trim_end_matches('#'))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for sp in &s.spans {
                around
                    .entry(sp.entity.clone())
                    .or_default()
                    .insert(words.join(" "));
            }
        }
        let (top_w, top_share) = all.top(&all.words);
        eprintln!(
            "seed {seed}: {} PII lines; line templates {} (top {:.3}); message templates \
             {} (top {:.3}); word sets {} (top {top_share:.3}: {top_w}); in {} evenly \
             spaced lines: {} messages, {} word sets",
            all.lines,
            all.whole.len(),
            all.top(&all.whole).1,
            all.messages.len(),
            all.top(&all.messages).1,
            all.words.len(),
            sample.lines,
            sample.messages.len(),
            sample.words.len(),
        );
        // Some 58 application and 20 request contexts in all, and a leaker's 6 to 12
        // entity types: 100 lines drawn from them read at least 40 ways (46 to 65 over
        // seeds 1 to 12; 28 to 35 before the contexts were added).
        assert!(
            sample.words.len() >= 40,
            "{seed}: {} word sets in {SAMPLE} lines",
            sample.words.len()
        );
        assert!(
            top_share <= 0.15,
            "{seed}: {top_share:.3} of PII lines read {top_w}"
        );
        // The plain measure (whole lines) is weaker still: no template near 15 % either.
        assert!(all.top(&all.whole).1 <= 0.15);
    }
    let counts: Vec<String> = around
        .iter()
        .map(|(e, c)| format!("{e} {}", c.len()))
        .collect();
    eprintln!("contexts around each entity: {}", counts.join(", "));
    for (entity, contexts) in &around {
        // Skip lookalikes that ride beside PII.
        if Entity::ALL.iter().any(|e| e.name() == entity) {
            assert!(
                contexts.len() >= 4,
                "{entity}: {} contexts: {contexts:?}",
                contexts.len()
            );
        }
    }
    let entities = Entity::ALL.iter().filter(|e| around.contains_key(e.name()));
    assert!(entities.count() >= 10, "{:?}", around.keys());
}

#[test]
fn no_context_gives_the_label_away() {
    // Contexts: the message with every labelled value (PII or lookalike alike) masked.
    let mut contexts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut loggers: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for seed in 1..=2 {
        for kind in PiiKind::ALL {
            let r = run(kind, seed, STANDARD);
            for s in seen(&r) {
                let t = masked(s.row, &s.spans, true);
                let e = contexts.entry(message(s.row, &t)).or_default();
                e.0 += 1;
                e.1 += usize::from(s.pii);
                if let Some(l) = logger(&s.row.line) {
                    let e = loggers.entry(l).or_default();
                    e.0 += 1;
                    e.1 += usize::from(s.pii);
                }
            }
        }
    }
    let pii_total: usize = contexts.values().map(|(_, p)| p).sum();
    // How sure the context alone makes a reader that a PII line is one: P(PII | its
    // context), averaged over the PII lines.
    let sureness: f64 = contexts
        .values()
        .map(|&(n, p)| (p * p) as f64 / n as f64)
        .sum::<f64>()
        / pii_total as f64;
    let mut only_pii: Vec<(usize, &String)> = contexts
        .iter()
        .filter(|(_, (n, p))| p == n)
        .map(|(c, (_, p))| (*p, c))
        .collect();
    only_pii.sort();
    let lonely: usize = only_pii.iter().map(|(p, _)| p).sum();
    let lonely_share = lonely as f64 / pii_total as f64;
    eprintln!(
        "{pii_total} PII lines: P(PII | context) averages {sureness:.3} over them; {} \
         contexts only ever around PII hold {lonely_share:.3} of them",
        only_pii.len()
    );
    for (p, c) in only_pii.iter().rev().take(5) {
        eprintln!("  {p} {c}");
    }
    assert!(sureness < 0.5, "context alone: {sureness:.3}");
    assert!(
        lonely_share < 0.1,
        "{lonely_share:.3} of PII in PII-only contexts"
    );
    // Every logger that writes PII also writes lines without it.
    for (l, (n, p)) in &loggers {
        let share = *p as f64 / *n as f64;
        assert!(share < 0.5, "logger {l}: {p} of its {n} lines carry PII");
    }
}

/// The words of a message, sorted and deduplicated: the same record in JSON, logfmt
/// and text reads the same.
fn word_set(m: &str) -> String {
    let words: BTreeSet<&str> = m
        .split(|c: char| !(c.is_alphanumeric() || "<>_#".contains(c)))
        .filter(|w| !w.is_empty() && !["msg", "err", "error", "type", "message"].contains(w))
        .collect();
    words.into_iter().collect::<Vec<_>>().join(" ")
}

/// The logger of a JSON, logfmt or Spring line.
fn logger(line: &str) -> Option<String> {
    let field = |key: &str, end: char| {
        line.find(key).map(|i| {
            let rest = &line[i + key.len()..];
            rest[..rest.find(end).unwrap_or(rest.len())].to_string()
        })
    };
    if line.starts_with('{') {
        return field("\"logger\":\"", '"').map(|l| l.rsplit('.').next().unwrap().to_string());
    }
    if line.starts_with("ts=") {
        return field(" logger=", ' ');
    }
    if line.contains(" --- [") {
        let head = &line[..line.find(" : ")?];
        return head.rsplit('.').next().map(str::to_string);
    }
    None
}

//! From slow-path findings to learned fast-path rules.
//!
//! A finding becomes a **proposal**: a regex made of the context keyword(s) just
//! before the value (one word, or up to three while they are all short or stop words;
//! case-insensitive, punctuation literal, whitespace `[ \t]+`) and the value's shape
//! (digit runs `[0-9]{n}`, separators literal; key-like runs `[A-Za-z0-9]{n}`; name
//! words a capitalised-word class; obfuscated-email words `[A-Za-z0-9]+` with their
//! `at`/`dot` markers literal), the value in group `v` so only it is redacted.
//!
//! The **gate** promotes a proposal only if (a) it matches at most `clean_allowance`
//! lines (default 0) of a corpus of PII-free logs, and (b) on a labelled set its
//! matches are at least `min_support` (default 5) and at least `min_precision`
//! (default 0.95) of them overlap a label of its entity. Matches are counted as the
//! detector would run the rule: leftmost, validated by the entity's validator.

use std::collections::BTreeMap;
use std::ops::Range;

use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::{Input, PatternID};

use crate::entity::Entity;
use crate::learned::{LearnedRule, learned_value_ok};
use crate::slow::SlowFinding;

/// A rule the slow path suggests, and how many findings suggested it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub entity: Entity,
    pub pattern: String,
    pub support: u64,
}

/// A labelled line: byte ranges of its PII and their entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledLine {
    pub text: String,
    pub spans: Vec<(Range<usize>, Entity)>,
}

/// Words too common to anchor a rule alone.
const STOP: [&str; 24] = [
    "at", "to", "on", "in", "is", "of", "for", "the", "a", "an", "me", "by", "my", "no", "id",
    "as", "and", "or", "with", "from", "via", "set", "it", "be",
];

const NAME_WORD: &str = r"[A-ZÀ-ÞĀ-Ž][a-zA-Zß-ÿĀ-ž'\-]+";

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

fn escape_char(c: char, out: &mut String) {
    if c == ' ' || c == '\t' {
        out.push_str(r"[ \t]+");
    } else if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        out.push_str(&regex_syntax_escape(c));
    }
}

fn regex_syntax_escape(c: char) -> String {
    if r"\.+*?()|[]{}^$#&-~".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

/// The context before `start`: from the k-th word back, k = 1 to 3, growing while
/// the words are stop words or shorter than three letters in all. None without a word
/// within 40 bytes.
fn context(line: &str, start: usize) -> Option<String> {
    let b = line.as_bytes();
    let floor = start.saturating_sub(40);
    let mut words: Vec<Range<usize>> = Vec::new();
    let mut i = start;
    while i > floor && words.len() < 3 {
        while i > floor && !is_word(b[i - 1]) {
            i -= 1;
        }
        let end = i;
        while i > 0 && is_word(b[i - 1]) {
            i -= 1;
        }
        if end == i || i < floor {
            break;
        }
        words.push(i..end);
        let strong = words.iter().any(|w| {
            let t = line[w.clone()].to_ascii_lowercase();
            t.len() >= 3 && !STOP.contains(&t.as_str()) && !t.bytes().all(|c| c.is_ascii_digit())
        });
        if strong {
            break;
        }
    }
    let first = words.last()?;
    let text = line.get(first.start..start)?;
    // Whitespace runs collapse to one class; words are case-insensitive.
    let mut out = String::from(r"(?-u:\b)");
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' || c == '\t' {
            while matches!(chars.peek(), Some(' ' | '\t')) {
                chars.next();
            }
            out.push_str(r"[ \t]+");
        } else if c.is_alphanumeric() {
            let mut w = String::from(c);
            while let Some(n) = chars.peek().copied().filter(|n| n.is_alphanumeric()) {
                w.push(n);
                chars.next();
            }
            if w.bytes().all(|c| c.is_ascii_digit()) {
                // A number in the context (`ward 4`) generalises to its length.
                out.push_str(&format!("[0-9]{{{}}}", w.len()));
            } else {
                out.push_str(&format!("(?i:{w})"));
            }
        } else {
            escape_char(c, &mut out);
        }
    }
    Some(out)
}

/// The value's shape as a regex.
fn shape(entity: Entity, value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    let keyish = matches!(
        entity,
        Entity::ApiKey
            | Entity::BearerToken
            | Entity::Jwt
            | Entity::AwsAccessKey
            | Entity::AwsSecretKey
    );
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            let mut run = String::from(c);
            while let Some(n) = chars.peek().copied().filter(|n| n.is_alphanumeric()) {
                run.push(n);
                chars.next();
            }
            let n = run.chars().count();
            let lower = run.to_ascii_lowercase();
            let digits = run.bytes().all(|b| b.is_ascii_digit());
            if keyish && !digits {
                out.push_str(&format!("[A-Za-z0-9]{{{n}}}"));
            } else if digits {
                out.push_str(&format!("[0-9]{{{n}}}"));
            } else if entity == Entity::Email && ["at", "dot"].contains(&lower.as_str()) {
                out.push_str(&format!("(?i:{lower})"));
            } else if entity == Entity::Email {
                out.push_str("[A-Za-z0-9]+");
            } else if entity == Entity::PersonName {
                out.push_str(NAME_WORD);
                // The word class already takes apostrophes and dashes.
                while matches!(chars.peek(), Some('\'' | '-')) {
                    chars.next();
                    while chars.peek().is_some_and(|n| n.is_alphanumeric()) {
                        chars.next();
                    }
                }
            } else {
                out.push_str("[A-Za-z]+");
            }
        } else if c == ' ' {
            out.push_str("[ ]");
        } else {
            out.push_str(&regex_syntax_escape(c));
        }
    }
    out
}

/// The rule a finding suggests; None when nothing before the value can anchor it.
pub fn propose(line: &str, finding: &SlowFinding) -> Option<String> {
    let value = line.get(finding.range.clone())?;
    let prefix = context(line, finding.range.start)?;
    let end = if value
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && finding.entity != Entity::PersonName
    {
        r"(?-u:\b)"
    } else {
        ""
    };
    Some(format!(
        "{prefix}(?P<v>{}){end}",
        shape(finding.entity, value)
    ))
}

/// Collects proposals from findings, counting the findings behind each.
#[derive(Debug, Default)]
pub struct Learner {
    proposals: BTreeMap<(Entity, String), u64>,
}

impl Learner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a finding's proposal; returns its pattern.
    pub fn add(&mut self, line: &str, finding: &SlowFinding) -> Option<String> {
        let pattern = propose(line, finding)?;
        *self
            .proposals
            .entry((finding.entity, pattern.clone()))
            .or_default() += 1;
        Some(pattern)
    }

    /// The proposals, most supported first (ties by pattern).
    pub fn proposals(&self) -> Vec<Proposal> {
        let mut v: Vec<Proposal> = self
            .proposals
            .iter()
            .map(|((entity, pattern), support)| Proposal {
                entity: *entity,
                pattern: pattern.clone(),
                support: *support,
            })
            .collect();
        v.sort_by(|a, b| b.support.cmp(&a.support).then(a.pattern.cmp(&b.pattern)));
        v
    }
}

/// The promotion gate's corpora and thresholds.
#[derive(Debug, Clone)]
pub struct Gate<'a> {
    /// PII-free log lines.
    pub clean: &'a [String],
    pub labelled: &'a [LabelledLine],
    /// Clean lines a rule may match (default 0).
    pub clean_allowance: u64,
    /// Least share of labelled matches that are right (default 0.95).
    pub min_precision: f64,
    /// Least labelled matches (default 5).
    pub min_support: u64,
}

impl<'a> Gate<'a> {
    pub fn new(clean: &'a [String], labelled: &'a [LabelledLine]) -> Self {
        Gate {
            clean,
            labelled,
            clean_allowance: 0,
            min_precision: 0.95,
            min_support: 5,
        }
    }
}

/// What the gate decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accepted(LearnedRule),
    Rejected { proposal: Proposal, reason: String },
}

/// One compiled rule, run as the detector runs it.
struct Single {
    regex: Regex,
    group: usize,
    entity: Entity,
}

impl Single {
    fn new(entity: Entity, pattern: &str) -> Result<Self, String> {
        crate::learned::check_pattern(pattern)?;
        let regex = Regex::new(pattern).map_err(|e| e.to_string())?;
        let group = regex
            .group_info()
            .to_index(PatternID::ZERO, "v")
            .ok_or("no v group")?;
        Ok(Single {
            regex,
            group,
            entity,
        })
    }

    /// Validated value ranges in `line`.
    fn matches(&self, line: &str, caps: &mut Captures, out: &mut Vec<Range<usize>>) {
        out.clear();
        let mut at = 0;
        while at < line.len() {
            self.regex
                .search_captures(&Input::new(line).range(at..), caps);
            let Some(m) = caps.get_match() else {
                break;
            };
            let r = caps.get_group(self.group).map_or(m.range(), |s| s.range());
            let ok = line
                .get(r.clone())
                .is_some_and(|v| learned_value_ok(self.entity, v));
            if ok {
                out.push(r);
                at = m.end().max(at + 1);
            } else {
                at = m.start() + 1;
            }
            while at < line.len() && !line.is_char_boundary(at) {
                at += 1;
            }
        }
    }
}

impl Gate<'_> {
    /// Accepts `p` as a learned rule (stamped `now_unix`) or says why not.
    pub fn check(&self, p: &Proposal, now_unix: u64) -> Verdict {
        let reject = |reason: String| Verdict::Rejected {
            proposal: p.clone(),
            reason,
        };
        let single = match Single::new(p.entity, &p.pattern) {
            Ok(s) => s,
            Err(e) => return reject(format!("does not compile: {e}")),
        };
        let mut caps = single.regex.create_captures();
        let mut found = Vec::new();
        let mut clean_matches = 0u64;
        for line in self.clean {
            single.matches(line, &mut caps, &mut found);
            clean_matches += u64::from(!found.is_empty());
            if clean_matches > self.clean_allowance {
                return reject(format!(
                    "false positives: matches PII-free lines (more than the {} allowed of {} checked)",
                    self.clean_allowance,
                    self.clean.len()
                ));
            }
        }
        let (mut matched, mut correct) = (0u64, 0u64);
        for line in self.labelled {
            single.matches(&line.text, &mut caps, &mut found);
            for r in &found {
                matched += 1;
                correct += u64::from(
                    line.spans
                        .iter()
                        .any(|(s, e)| *e == p.entity && s.start < r.end && r.start < s.end),
                );
            }
        }
        if matched < self.min_support {
            return reject(format!(
                "too little support in the labelled set: {matched} matches, {} needed",
                self.min_support
            ));
        }
        let precision = correct as f64 / matched as f64;
        if precision < self.min_precision {
            return reject(format!(
                "precision {precision:.3} on the labelled set ({correct} of {matched}), {} needed",
                self.min_precision
            ));
        }
        Verdict::Accepted(LearnedRule {
            name: LearnedRule::name_for(p.entity, &p.pattern),
            entity: p.entity,
            pattern: p.pattern.clone(),
            learned_at_unix: now_unix,
            support: p.support,
            clean_lines: self.clean.len() as u64,
            clean_matches,
            labelled_matches: matched,
            labelled_correct: correct,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(line: &str, value: &str, entity: Entity) -> SlowFinding {
        let start = line.find(value).unwrap_or(0);
        SlowFinding {
            entity,
            range: start..start + value.len(),
            probability: 0.99,
        }
    }

    #[test]
    fn proposals_generalise_context_and_shape() {
        let line = "INFO KycService - tax id 123.45.6789 verified";
        let p = propose(line, &finding(line, "123.45.6789", Entity::Ssn));
        assert_eq!(
            p.as_deref(),
            Some(r"(?-u:\b)(?i:tax)[ \t]+(?i:id)[ \t]+(?P<v>[0-9]{3}\.[0-9]{2}\.[0-9]{4})(?-u:\b)")
        );
        let line = "customer says call me at 555 0199 after 5pm";
        let p = propose(line, &finding(line, "555 0199", Entity::Phone));
        assert_eq!(
            p.as_deref(),
            Some(
                r"(?-u:\b)(?i:call)[ \t]+(?i:me)[ \t]+(?i:at)[ \t]+(?P<v>[0-9]{3}[ ][0-9]{4})(?-u:\b)"
            )
        );
        let line = "patient: José García admitted";
        let p = propose(line, &finding(line, "José García", Entity::PersonName));
        assert!(
            p.as_deref()
                .is_some_and(|p| p.starts_with(r"(?-u:\b)(?i:patient):[ \t]+(?P<v>")),
            "{p:?}"
        );
        let line = "ticket note: contact john dot smith at gmail dot com for details";
        let p = propose(
            line,
            &finding(line, "john dot smith at gmail dot com", Entity::Email),
        );
        assert!(
            p.as_deref()
                .is_some_and(|p| p.contains("(?i:at)") && p.contains("(?i:contact)")),
            "{p:?}"
        );
        // No word before the value: nothing to anchor a rule.
        let line = "123.45.6789";
        assert_eq!(propose(line, &finding(line, line, Entity::Ssn)), None);
    }

    #[test]
    fn the_gate_rejects_broad_rules_and_accepts_precise_ones() {
        let clean: Vec<String> = vec![
            "order 123456789 shipped".into(),
            "tax id lookup took 12 ms".into(),
        ];
        let labelled: Vec<LabelledLine> = (0..10)
            .map(|i| {
                let text = format!("tax id 123.45.{:04} verified, order 55566{i:04}", 1000 + i);
                LabelledLine {
                    spans: vec![(7..18, Entity::Ssn)],
                    text,
                }
            })
            .collect();
        let gate = Gate::new(&clean, &labelled);
        let broad = Proposal {
            entity: Entity::Ssn,
            pattern: r"(?P<v>[0-9]{9})".into(),
            support: 10,
        };
        match gate.check(&broad, 7) {
            Verdict::Rejected { reason, .. } => {
                assert!(reason.starts_with("false positives"), "{reason}")
            }
            v => panic!("{v:?}"),
        }
        let precise = Proposal {
            entity: Entity::Ssn,
            pattern: r"(?i:tax)[ \t]+(?i:id)[ \t]+(?P<v>[0-9]{3}\.[0-9]{2}\.[0-9]{4})".into(),
            support: 10,
        };
        match gate.check(&precise, 7) {
            Verdict::Accepted(r) => {
                assert_eq!(
                    (r.labelled_matches, r.labelled_correct, r.clean_matches),
                    (10, 10, 0)
                );
                assert_eq!(r.learned_at_unix, 7);
            }
            v => panic!("{v:?}"),
        }
        let unsupported = Gate {
            min_support: 11,
            ..gate.clone()
        };
        assert!(
            matches!(unsupported.check(&precise, 7), Verdict::Rejected { reason, .. } if reason.contains("support"))
        );
        let bad = Proposal {
            pattern: "(?P<v>[".into(),
            ..precise
        };
        assert!(
            matches!(gate.check(&bad, 7), Verdict::Rejected { reason, .. } if reason.contains("compile"))
        );
    }
}

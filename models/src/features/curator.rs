//! The Curator's slow path: candidate spans of a log line and their hashed features,
//! shared by the trainer (`qb_trainer::curator`) and the runtime (`qb_curator::slow`).
//!
//! Candidates come from a small tokenizer: digit runs with separators (`123.45.6789`,
//! `(415) 555-0132`), spelled-digit runs (`five five five ...`), `@` words and
//! obfuscated addresses (`john dot smith at gmail dot com`), long alphanumeric runs
//! (keys), and runs of two to four capitalised words (names). Features of a candidate:
//! lower-cased words within four tokens on either side with position buckets, the
//! punctuation that joins them to the span, the span's shape (`d3.d2.d4`, coarse and
//! fine), length and character classes, and whether its digits pass Luhn or the SSN
//! and NANP rules. Every feature is a string hashed (FNV-1a) into `BUCKETS`, so the
//! model needs no vocabulary. Changing any template changes [`CURATOR`]'s names, hence
//! its hash, so an old artifact is refused.

use std::ops::Range;

use qb_signals::Fnv64;

use super::FeatureSet;

/// Hash buckets (2^14): weights are `BUCKETS * CLASSES.len()` f32s, ~0.85 MB.
pub const BUCKETS: usize = 1 << 14;

/// Classes of a candidate: none, then the fast path's entities (by their label names).
pub const CLASSES: [&str; 13] = [
    "none",
    "credit_card",
    "ssn",
    "phone",
    "email",
    "api_key",
    "bearer_token",
    "jwt",
    "aws_access_key",
    "aws_secret_key",
    "ipv4",
    "ipv6",
    "person_name",
];
/// Index of "none" in [`CLASSES`].
pub const NONE: usize = 0;

/// The feature templates and the bucket count, in order: their hash identifies the
/// feature set.
pub const CURATOR: FeatureSet = FeatureSet {
    name: "curator",
    names: &[
        "bias",
        "source",
        "shape_fine",
        "shape_coarse",
        "len_log2",
        "digits",
        "letters_log2",
        "classes",
        "luhn",
        "ssn_rule",
        "nanp_rule",
        "left_pos_1_2_34",
        "right_pos_1_2_34",
        "left_bag_4",
        "right_bag_4",
        "pre_punct_3",
        "post_punct_3",
        "left1_x_coarse",
        "buckets_16384",
        "candidates_v1",
    ],
    window: 0,
};

/// How a candidate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Digits with separators (`-./ _()`), 7 to 19 digits.
    Number,
    /// Seven or more spelled digits.
    Spelled,
    /// A word with `@`.
    Email,
    /// `x at y dot z`, `x [at] y`, `x(at)y.z`.
    Obfuscated,
    /// 16 or more of `[A-Za-z0-9_-+/=.~]` with letters and digits.
    Key,
    /// Two to four capitalised words.
    Name,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Number => "number",
            Source::Spelled => "spelled",
            Source::Email => "email",
            Source::Obfuscated => "obfuscated",
            Source::Key => "key",
            Source::Name => "name",
        }
    }
}

/// A span of a line that might be PII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub range: Range<usize>,
    pub source: Source,
}

/// Reusable buffers for [`candidates`] and [`features`].
#[derive(Debug, Default)]
pub struct LineScratch {
    pub tokens: Vec<Range<usize>>,
    pub candidates: Vec<Candidate>,
    pub features: Vec<u32>,
}

/// Byte ranges of the line's words: runs of ASCII alphanumerics and non-ASCII bytes
/// (whole UTF-8 sequences, so ranges sit on char boundaries).
pub fn tokens(line: &str, out: &mut Vec<Range<usize>>) {
    out.clear();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if is_word(b[i]) {
            let s = i;
            while i < b.len() && is_word(b[i]) {
                i += 1;
            }
            out.push(s..i);
        } else {
            i += 1;
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Every candidate of `line`, sorted by start (candidates of different sources may
/// overlap).
pub fn candidates(line: &str, tokens: &[Range<usize>], out: &mut Vec<Candidate>) {
    out.clear();
    numbers(line.as_bytes(), out);
    spelled(line, tokens, out);
    emails(line.as_bytes(), out);
    obfuscated(line.as_bytes(), out);
    keys(line.as_bytes(), out);
    names(line, out);
    out.sort_by_key(|c| (c.range.start, c.range.end, c.source));
    out.dedup_by(|a, b| a.range == b.range);
}

fn push(out: &mut Vec<Candidate>, range: Range<usize>, source: Source) {
    out.push(Candidate { range, source });
}

const NUM_SEPS: &[u8] = b"-./ _()";

fn numbers(b: &[u8], out: &mut Vec<Candidate>) {
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !(is_word(b[i - 1]) || b[i - 1] == b'_');
        if !(b[i].is_ascii_digit() && boundary) {
            i += 1;
            continue;
        }
        let start = if i > 0 && matches!(b[i - 1], b'+' | b'(') {
            i - 1
        } else {
            i
        };
        let (mut j, mut end, mut digits) = (i, i, 0usize);
        let mut spaces = Vec::new();
        loop {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
                digits += 1;
            }
            end = end.max(j);
            // One or two separators, then a digit.
            let mut k = j;
            while k < b.len() && k < j + 2 && NUM_SEPS.contains(&b[k]) {
                k += 1;
            }
            if k > j && k < b.len() && b[k].is_ascii_digit() {
                if b[j..k].contains(&b' ') {
                    spaces.push(j);
                }
                j = k;
            } else {
                break;
            }
        }
        let identifier = b
            .get(end)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
        if !identifier {
            if (7..=19).contains(&digits) {
                push(out, start..end, Source::Number);
            } else if digits > 19 {
                // Space-joined groups too long for one value: each group on its own.
                let mut s = start;
                for &sp in spaces.iter().chain(std::iter::once(&end)) {
                    let n = b[s..sp].iter().filter(|c| c.is_ascii_digit()).count();
                    if (7..=19).contains(&n) {
                        push(out, s..sp, Source::Number);
                    }
                    s = sp + 1;
                }
            }
        }
        i = end.max(i + 1);
    }
}

const DIGIT_WORDS: [&str; 11] = [
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

fn spelled(line: &str, tokens: &[Range<usize>], out: &mut Vec<Candidate>) {
    let b = line.as_bytes();
    let is_digit_word = |r: &Range<usize>| {
        DIGIT_WORDS
            .iter()
            .any(|w| line[r.clone()].eq_ignore_ascii_case(w))
    };
    let mut i = 0;
    while i < tokens.len() {
        if !is_digit_word(&tokens[i]) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < tokens.len()
            && is_digit_word(&tokens[j + 1])
            && b[tokens[j].end..tokens[j + 1].start]
                .iter()
                .all(|c| matches!(c, b' ' | b',' | b'-'))
        {
            j += 1;
        }
        if j + 1 - i >= 7 {
            push(out, tokens[i].start..tokens[j].end, Source::Spelled);
        }
        i = j + 1;
    }
}

fn email_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn emails(b: &[u8], out: &mut Vec<Candidate>) {
    for (at, _) in b.iter().enumerate().filter(|(_, c)| **c == b'@') {
        let mut s = at;
        while s > 0 && email_char(b[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < b.len() && email_char(b[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if s < at && e > at + 1 {
            push(out, s..e, Source::Email);
        }
    }
}

/// `x at y`, `x [at] y`, `x(at)y`, `x{at}y`; dots spelled ` dot `, `[dot]`, `(dot)`.
const AT_MARKS: [&[u8]; 7] = [
    b" at ", b" [at] ", b"[at]", b" (at) ", b"(at)", b"{at}", b" {at} ",
];
const DOT_MARKS: [&[u8]; 6] = [b" dot ", b" [dot] ", b"[dot]", b" (dot) ", b"(dot)", b"."];

fn local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'+' | b'-')
}

fn obfuscated(b: &[u8], out: &mut Vec<Candidate>) {
    let lower = b.to_ascii_lowercase();
    let mut i = 0;
    while i < lower.len() {
        let Some(mark) = AT_MARKS.iter().find(|m| lower[i..].starts_with(m)) else {
            i += 1;
            continue;
        };
        let (m0, m1) = (i, i + mark.len());
        i += 1;
        // Left: words joined by dot marks.
        let mut s = m0;
        loop {
            let w_end = s;
            while s > 0 && local_char(lower[s - 1]) {
                s -= 1;
            }
            if s == w_end {
                break;
            }
            match DOT_MARKS.iter().find(|d| {
                lower[..s].ends_with(d) && s > d.len() && local_char(lower[s - d.len() - 1])
            }) {
                Some(d) => s -= d.len(),
                None => break,
            }
        }
        // Right: words joined by dot marks, at least one dot.
        let (mut e, mut dots) = (m1, 0);
        loop {
            let w_start = e;
            while e < lower.len() && local_char(lower[e]) {
                e += 1;
            }
            if e == w_start {
                break;
            }
            match DOT_MARKS.iter().find(|d| {
                lower[e..].starts_with(d) && lower.get(e + d.len()).is_some_and(|c| local_char(*c))
            }) {
                Some(d) => {
                    e += d.len();
                    dots += 1;
                }
                None => break,
            }
        }
        let tld_letters = lower[..e]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        if s < m0 && dots > 0 && tld_letters >= 2 && e > m1 {
            push(out, s..e, Source::Obfuscated);
        }
    }
}

fn key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'/' | b'=' | b'.' | b'~')
}

fn keys(b: &[u8], out: &mut Vec<Candidate>) {
    let mut i = 0;
    while i < b.len() {
        if !key_char(b[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && key_char(b[i]) {
            i += 1;
        }
        let mut e = i;
        while e > s && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let v = &b[s..e];
        let letters = v.iter().any(u8::is_ascii_alphabetic);
        let digits = v.iter().any(u8::is_ascii_digit);
        let glued = i < b.len() && b[i] >= 0x80;
        if v.len() >= 16 && letters && digits && !glued {
            push(out, s..e, Source::Key);
        }
    }
}

/// A capitalised word: an upper-case letter, then letters, `'` or `-`, with at least
/// one lower-case letter.
fn name_word(w: &str) -> bool {
    let mut cs = w.chars();
    let Some(first) = cs.next() else {
        return false;
    };
    let rest: Vec<char> = cs.collect();
    first.is_uppercase()
        && !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_alphabetic() || *c == '\'' || *c == '-')
        && rest.iter().any(|c| c.is_lowercase())
        && rest.last().is_some_and(|c| c.is_alphabetic())
}

fn names(line: &str, out: &mut Vec<Candidate>) {
    // Words split at anything but letters, apostrophes and dashes.
    let mut words: Vec<Range<usize>> = Vec::new();
    let mut start = None;
    for (i, c) in line
        .char_indices()
        .chain(std::iter::once((line.len(), ' ')))
    {
        let inside = c.is_alphabetic() || c == '\'' || c == '-';
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    let b = line.as_bytes();
    let mut i = 0;
    while i < words.len() {
        if !name_word(&line[words[i].clone()]) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < words.len()
            && words[j + 1].start == words[j].end + 1
            && b[words[j].end] == b' '
            && name_word(&line[words[j + 1].clone()])
        {
            j += 1;
        }
        let n = j + 1 - i;
        // Not glued to a word or a dotted path (`com.example.Foo`).
        let before = words[i].start.checked_sub(1).map(|k| b[k]);
        let after = b.get(words[j].end).copied();
        let glued = matches!(before, Some(c) if c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
            || matches!(after, Some(c) if c.is_ascii_alphanumeric() || c == b'_');
        if (2..=4).contains(&n) && !glued {
            push(out, words[i].start..words[j].end, Source::Name);
        }
        i = j + 1;
    }
}

/// A character's class in a shape: `d` digit, `a` lower, `A` upper, `u` other letter,
/// `_` whitespace, else the character itself.
fn class_of(c: char) -> char {
    if c.is_ascii_digit() {
        'd'
    } else if c.is_ascii_lowercase() {
        'a'
    } else if c.is_ascii_uppercase() {
        'A'
    } else if c.is_alphabetic() {
        'u'
    } else if c.is_whitespace() {
        '_'
    } else {
        c
    }
}

/// `d3.d2.d4` (fine: run lengths, capped) and `d.d.d` (coarse), at most 12 runs each
/// (longer shapes end in `~`).
pub fn shapes(value: &str) -> (String, String) {
    let mut runs: Vec<(char, usize)> = Vec::new();
    for c in value.chars().map(class_of) {
        match runs.last_mut() {
            Some((k, n)) if *k == c => *n += 1,
            _ => runs.push((c, 1)),
        }
    }
    let (mut fine, mut coarse) = (String::new(), String::new());
    for (i, (k, n)) in runs.iter().enumerate() {
        if i == 12 {
            fine.push('~');
            coarse.push('~');
            break;
        }
        fine.push(*k);
        coarse.push(*k);
        if matches!(k, 'd' | 'a' | 'A' | 'u') {
            fine.push_str(&(*n).min(20).to_string());
        }
    }
    (fine, coarse)
}

fn luhn(ds: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in ds.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !ds.is_empty() && sum.is_multiple_of(10)
}

fn num(ds: &[u8]) -> u32 {
    ds.iter().fold(0, |n, d| n * 10 + u32::from(*d))
}

fn ssn_rule(ds: &[u8]) -> bool {
    ds.len() == 9 && {
        let (a, g, s) = (num(&ds[..3]), num(&ds[3..5]), num(&ds[5..]));
        a != 0 && a != 666 && a < 900 && g != 0 && s != 0
    }
}

fn nanp_rule(ds: &[u8]) -> bool {
    let ds = if ds.len() == 11 && ds[0] == 1 {
        &ds[1..]
    } else {
        ds
    };
    ds.len() == 10 && ds[0] >= 2 && ds[3] >= 2
}

/// A context word: lower-cased, digits folded (`#3` for a three-digit number).
fn word(line: &str, r: &Range<usize>) -> String {
    let w = &line[r.clone()];
    if w.bytes().all(|c| c.is_ascii_digit()) {
        format!("#{}", w.len().min(9))
    } else {
        let mut w = w.to_lowercase();
        w.truncate(24);
        w
    }
}

/// The non-word characters between two positions, at most 3 (whitespace as `_`).
fn punct(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_alphanumeric())
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .take(3)
        .collect()
}

fn bucket(template: &str, value: &str) -> u32 {
    let mut h = Fnv64::new();
    h.write(template.as_bytes());
    h.write(&[0]);
    h.write(value.as_bytes());
    (h.finish() as usize % BUCKETS) as u32
}

/// The hashed features of candidate `c` of `line` (`tokens` from [`tokens`]).
pub fn features(line: &str, tokens: &[Range<usize>], c: &Candidate, out: &mut Vec<u32>) {
    out.clear();
    let value = &line[c.range.clone()];
    let (fine, coarse) = shapes(value);
    let ds: Vec<u8> = value
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|d| d - b'0')
        .collect();
    let letters = value.chars().filter(|c| c.is_alphabetic()).count();
    let mut classes = String::new();
    for (k, on) in [
        ('d', !ds.is_empty()),
        ('a', value.bytes().any(|b| b.is_ascii_lowercase())),
        ('A', value.bytes().any(|b| b.is_ascii_uppercase())),
        (
            'u',
            value.chars().any(|c| c.is_alphabetic() && !c.is_ascii()),
        ),
        ('p', value.chars().any(|c| !c.is_alphanumeric())),
    ] {
        if on {
            classes.push(k);
        }
    }
    out.push(bucket("bias", ""));
    out.push(bucket("source", c.source.name()));
    out.push(bucket("shape_fine", &fine));
    out.push(bucket("shape_coarse", &coarse));
    out.push(bucket("len_log2", &value.len().max(1).ilog2().to_string()));
    out.push(bucket("digits", &ds.len().min(40).to_string()));
    out.push(bucket("letters_log2", &(letters + 1).ilog2().to_string()));
    out.push(bucket("classes", &classes));
    if (13..=19).contains(&ds.len()) && luhn(&ds) {
        out.push(bucket("luhn", ""));
    }
    if ssn_rule(&ds) {
        out.push(bucket("ssn_rule", ""));
    }
    if nanp_rule(&ds) {
        out.push(bucket("nanp_rule", ""));
    }
    // Tokens wholly before and after the span, nearest first.
    let left: Vec<&Range<usize>> = tokens
        .iter()
        .rev()
        .filter(|t| t.end <= c.range.start)
        .take(4)
        .collect();
    let right: Vec<&Range<usize>> = tokens
        .iter()
        .filter(|t| t.start >= c.range.end)
        .take(4)
        .collect();
    let pos = |k: usize| match k {
        0 => "1",
        1 => "2",
        _ => "34",
    };
    for (k, t) in left.iter().enumerate() {
        let w = word(line, t);
        out.push(bucket(&format!("left_pos_{}", pos(k)), &w));
        out.push(bucket("left_bag_4", &w));
        if k == 0 {
            out.push(bucket("left1_x_coarse", &format!("{w}|{coarse}")));
        }
    }
    if left.is_empty() {
        out.push(bucket("left_pos_1", "^"));
    }
    for (k, t) in right.iter().enumerate() {
        let w = word(line, t);
        out.push(bucket(&format!("right_pos_{}", pos(k)), &w));
        out.push(bucket("right_bag_4", &w));
    }
    if right.is_empty() {
        out.push(bucket("right_pos_1", "$"));
    }
    let pre_from = left.first().map_or(0, |t| t.end);
    let post_to = right.first().map_or(line.len(), |t| t.start);
    out.push(bucket(
        "pre_punct_3",
        &punct(&line[pre_from..c.range.start]),
    ));
    out.push(bucket("post_punct_3", &punct(&line[c.range.end..post_to])));
}

/// One classified candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub range: Range<usize>,
    pub source: Source,
    /// Index into [`CLASSES`].
    pub class: usize,
    pub probability: f32,
}

/// Multinomial logistic regression over hashed features: `scores = bias + sum of the
/// rows of the candidate's buckets`, softmax over [`CLASSES`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContextClassifier {
    /// `BUCKETS * CLASSES.len()`, bucket-major (a bucket's class weights are adjacent).
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl ContextClassifier {
    pub fn zeros() -> Self {
        ContextClassifier {
            weights: vec![0.0; BUCKETS * CLASSES.len()],
            bias: vec![0.0; CLASSES.len()],
        }
    }

    /// Class probabilities of a candidate with these features.
    pub fn probabilities(&self, features: &[u32], out: &mut [f32; CLASSES.len()]) {
        let k = CLASSES.len();
        out.copy_from_slice(&self.bias);
        for &f in features {
            let row = f as usize * k;
            if let Some(w) = self.weights.get(row..row + k) {
                for (o, w) in out.iter_mut().zip(w) {
                    *o += w;
                }
            }
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for o in out.iter_mut() {
            *o = (*o - max).exp();
            sum += *o;
        }
        for o in out.iter_mut() {
            *o /= sum;
        }
    }

    /// Every candidate of `line` whose most likely class is not "none".
    pub fn classify(&self, line: &str, scratch: &mut LineScratch, out: &mut Vec<Prediction>) {
        out.clear();
        tokens(line, &mut scratch.tokens);
        candidates(line, &scratch.tokens, &mut scratch.candidates);
        let mut p = [0.0f32; CLASSES.len()];
        for c in &scratch.candidates {
            features(line, &scratch.tokens, c, &mut scratch.features);
            self.probabilities(&scratch.features, &mut p);
            let (class, prob) = p.iter().enumerate().fold((NONE, f32::MIN), |best, (i, v)| {
                if *v > best.1 { (i, *v) } else { best }
            });
            if class != NONE {
                out.push(Prediction {
                    range: c.range.clone(),
                    source: c.source,
                    class,
                    probability: prob,
                });
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = crate::codec::Encoder::new();
        e.u32(BUCKETS as u32).u32(CLASSES.len() as u32);
        for c in CLASSES {
            e.str(c);
        }
        e.f32s(&self.weights).f32s(&self.bias);
        e.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, crate::ModelError> {
        let bad = |what: String| crate::ModelError::Corrupt(format!("curator classifier: {what}"));
        let mut d = crate::codec::Decoder::new(bytes);
        let buckets = d.u32("buckets")? as usize;
        let k = d.u32("classes")? as usize;
        if buckets != BUCKETS || k != CLASSES.len() {
            return Err(bad(format!(
                "{buckets} buckets and {k} classes, this build has {BUCKETS} and {}",
                CLASSES.len()
            )));
        }
        for want in CLASSES {
            let got = d.str("class name")?;
            if got != want {
                return Err(bad(format!("class '{got}' where '{want}' was expected")));
            }
        }
        let weights = d.f32s("weights")?;
        let bias = d.f32s("bias")?;
        d.finish()?;
        if weights.len() != BUCKETS * k || bias.len() != k {
            return Err(bad(format!(
                "{} weights and {} biases",
                weights.len(),
                bias.len()
            )));
        }
        if weights.iter().chain(&bias).any(|w| !w.is_finite()) {
            return Err(bad("a weight is not finite".into()));
        }
        Ok(ContextClassifier { weights, bias })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(line: &str) -> Vec<(&str, Source)> {
        let mut s = LineScratch::default();
        tokens(line, &mut s.tokens);
        candidates(line, &s.tokens, &mut s.candidates);
        s.candidates
            .iter()
            .map(|c| (&line[c.range.clone()], c.source))
            .collect()
    }

    #[test]
    fn finds_the_novel_spellings() {
        let got = cands(
            "tax id 123.45.6789 call me at 555 0199, mail john dot smith at gmail dot com \
             or j.doe(at)mail.example.org; patient: María García; key=Zx8KqP2mW9vLr4Tn7YbC1dEf",
        );
        for want in [
            ("123.45.6789", Source::Number),
            ("555 0199", Source::Number),
            ("john dot smith at gmail dot com", Source::Obfuscated),
            ("j.doe(at)mail.example.org", Source::Obfuscated),
            ("María García", Source::Name),
            // A known weakness: the key-like run takes its `key=` with it.
            ("key=Zx8KqP2mW9vLr4Tn7YbC1dEf", Source::Key),
        ] {
            assert!(got.contains(&want), "{want:?} not in {got:?}");
        }
        let got = cands("(415) 555-0132 five five five one two three four and 1-2-3-4-5-6-7-8-9");
        assert!(got.contains(&("(415) 555-0132", Source::Number)), "{got:?}");
        assert!(
            got.contains(&("five five five one two three four", Source::Spelled)),
            "{got:?}"
        );
        assert!(
            got.contains(&("1-2-3-4-5-6-7-8-9", Source::Number)),
            "{got:?}"
        );
    }

    #[test]
    fn leaves_identifiers_and_paths_alone() {
        let got = cands("blk_4532015112830366 at com.example.Foo.bar(Foo.java:12) v1234567abc");
        assert!(
            got.iter()
                .all(|(_, s)| *s != Source::Number && *s != Source::Name),
            "{got:?}"
        );
        // Arbitrary bytes never panic.
        for line in [
            "",
            "@",
            " at ",
            "é at é.é",
            "((((",
            "a [at] b [dot]",
            "\u{0} 1\u{0}2",
        ] {
            let _ = cands(line);
        }
    }

    #[test]
    fn shapes_and_features_are_stable() {
        assert_eq!(shapes("123.45.6789"), ("d3.d2.d4".into(), "d.d.d".into()));
        assert_eq!(shapes("John Smith").1, "Aa_Aa");
        let line = "tax id 123.45.6789 verified";
        let mut s = LineScratch::default();
        tokens(line, &mut s.tokens);
        candidates(line, &s.tokens, &mut s.candidates);
        features(line, &s.tokens, &s.candidates[0], &mut s.features);
        let a = s.features.clone();
        features(line, &s.tokens, &s.candidates[0], &mut s.features);
        assert_eq!(a, s.features);
        assert!(a.iter().all(|&f| (f as usize) < BUCKETS));
    }

    #[test]
    fn the_classifier_round_trips_and_rejects_corruption() {
        let mut m = ContextClassifier::zeros();
        m.weights[7] = 0.5;
        m.bias[2] = -1.0;
        let bytes = m.encode();
        assert_eq!(ContextClassifier::decode(&bytes).ok(), Some(m));
        let e = ContextClassifier::decode(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(e.to_string().contains("bias"), "{e}");
        let mut p = [0.0; CLASSES.len()];
        ContextClassifier::zeros().probabilities(&[1, 2, 3], &mut p);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

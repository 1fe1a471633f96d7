//! TF-IDF novelty: document frequencies of line-template tokens learned from ordinary
//! logs; a line scores the mean inverse document frequency of its distinct tokens, so a
//! line made of words the vocabulary rarely or never saw ranks high. Numbers, hex ids,
//! UUIDs and IPs are masked first, so "request 8812 took 3ms" is a common template,
//! not a novel line.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::ArchivistError;

/// Tokens per line and characters per token that count (bounds work on hostile lines).
const MAX_TOKENS: usize = 64;
const MAX_TOKEN_CHARS: usize = 48;

/// Lowercased tokens of a line with variable parts masked: `<num>`, `<hex>`, `<uuid>`, `<ip>`.
pub fn tokens(line: &str) -> Vec<String> {
    line.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | ':' | '-' | '_')))
        .map(|t| t.trim_matches(|c| matches!(c, '.' | ':' | '-' | '_')))
        .filter(|t| !t.is_empty())
        .take(MAX_TOKENS)
        .map(mask)
        .collect()
}

fn mask(t: &str) -> String {
    let lower: String = t
        .chars()
        .take(MAX_TOKEN_CHARS)
        .flat_map(char::to_lowercase)
        .collect();
    let has_digit = lower.bytes().any(|b| b.is_ascii_digit());
    if !has_digit {
        return lower;
    }
    if is_ip(&lower) {
        "<ip>".into()
    } else if is_uuid(&lower) {
        "<uuid>".into()
    } else if lower
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b':' | b'-' | b'_'))
    {
        "<num>".into()
    } else if lower.len() >= 8 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        "<hex>".into()
    } else {
        // Units and mixed ids: "12ms" -> "<num>ms", "pod-7f9c" keeps its letters.
        let mut out = String::new();
        let mut in_num = false;
        for c in lower.chars() {
            if c.is_ascii_digit() {
                if !in_num {
                    out.push_str("<num>");
                }
                in_num = true;
            } else {
                in_num = false;
                out.push(c);
            }
        }
        out
    }
}

fn is_ip(t: &str) -> bool {
    let host = match t.rsplit_once(':') {
        Some((h, port)) if h.contains('.') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => t,
    };
    let v4 = host.split('.').count() == 4
        && host
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    let v6 = t.matches(':').count() >= 2 && t.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    v4 || v6
}

fn is_uuid(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Document frequencies of tokens over a corpus of lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// Lines the frequencies were counted over.
    pub docs: u64,
    /// Lines each kept token appeared in (BTreeMap: byte-stable serialisation).
    pub df: BTreeMap<String, u64>,
}

/// Counts lines into a `Vocabulary`.
#[derive(Debug, Default)]
pub struct VocabularyBuilder {
    docs: u64,
    df: HashMap<String, u64>,
}

impl VocabularyBuilder {
    pub fn add(&mut self, line: &str) {
        self.docs += 1;
        let distinct: HashSet<String> = tokens(line).into_iter().collect();
        for t in distinct {
            *self.df.entry(t).or_default() += 1;
        }
    }

    /// Keeps the `max_terms` most frequent tokens seen in at least `min_df` lines (ties by
    /// token, so the result is deterministic); what is dropped scores as never seen.
    pub fn finish(self, min_df: u64, max_terms: usize) -> Vocabulary {
        let mut terms: Vec<(String, u64)> =
            self.df.into_iter().filter(|(_, n)| *n >= min_df).collect();
        terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        terms.truncate(max_terms);
        Vocabulary {
            docs: self.docs,
            df: terms.into_iter().collect(),
        }
    }
}

impl Vocabulary {
    /// Smoothed idf: ln((1 + N) / (1 + df)) + 1; an unseen token gets the largest.
    pub fn idf(&self, token: &str) -> f64 {
        let df = self.df.get(token).copied().unwrap_or(0);
        ((1.0 + self.docs as f64) / (1.0 + df as f64)).ln() + 1.0
    }

    /// Mean idf of the line's distinct tokens; 0 for a line without tokens.
    pub fn score(&self, line: &str) -> f64 {
        let distinct: HashSet<String> = tokens(line).into_iter().collect();
        if distinct.is_empty() {
            return 0.0;
        }
        distinct.iter().map(|t| self.idf(t)).sum::<f64>() / distinct.len() as f64
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ArchivistError> {
        serde_json::from_slice(bytes).map_err(|e| ArchivistError::Vocabulary(e.to_string()))
    }
}

/// Indices of the lines to keep: the top `keep_fraction` by score (rounded up, ties to
/// the earlier line), returned in original order.
pub fn keep_top(scores: &[f64], keep_fraction: f64) -> Vec<usize> {
    let keep = ((scores.len() as f64) * keep_fraction).ceil() as usize;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(keep.min(scores.len()));
    order.sort_unstable();
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking() {
        assert_eq!(
            tokens(
                "GET /api/v2/orders/8812 from 10.0.3.7:443 took 12ms id=3f2a9c81d0 req=123e4567-e89b-12d3-a456-426614174000"
            ),
            [
                "get", "api", "v<num>", "orders", "<num>", "from", "<ip>", "took", "<num>ms", "id",
                "<hex>", "req", "<uuid>"
            ]
        );
        assert!(tokens("").is_empty());
        assert_eq!(tokens(&"x ".repeat(10_000)).len(), MAX_TOKENS);
    }

    #[test]
    fn novel_lines_score_high_and_round_trip() {
        let mut b = VocabularyBuilder::default();
        for i in 0..1000 {
            b.add(&format!(
                "INFO request {i} path=/api/orders status=200 took {}ms",
                i % 50
            ));
        }
        let v = b.finish(2, 10_000);
        let common = v.score("INFO request 99999 path=/api/orders status=200 took 3ms");
        let novel = v.score("ERROR connection pool exhausted (max=50)");
        assert!(novel > common + 1.0, "{novel} {common}");
        let back = Vocabulary::from_bytes(&v.to_bytes());
        assert_eq!(back.ok().as_ref(), Some(&v));
        assert!(Vocabulary::from_bytes(b"\xff garbage").is_err());
        assert_eq!(v.score(""), 0.0);
    }

    #[test]
    fn keep_top_keeps_order() {
        assert_eq!(keep_top(&[1.0, 5.0, 3.0, 0.5], 0.5), [1, 2]);
        assert_eq!(keep_top(&[1.0, 1.0, 1.0], 0.9), [0, 1, 2]);
        assert!(keep_top(&[], 0.9).is_empty());
        assert!(keep_top(&[2.0], 0.0).is_empty());
    }
}

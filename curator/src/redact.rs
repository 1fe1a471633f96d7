//! Per-entity policies applied to a line's findings.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::detector::{BuildError, Detector, Finding, Scratch};
use crate::entity::{Category, Entity};

/// What to do with a finding of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The category's token (emails keep their domain, keys a short prefix and last 4).
    #[default]
    Redact,
    /// Leave the value (still alerted).
    Keep,
    /// A keyed 64-bit FNV-1a digest: joins values across lines without showing them.
    /// Not a secure pseudonym for small spaces (SSNs) unless the key is secret.
    Hash,
}

/// Redaction settings, e.g. from TOML: `hash_key = "..."` and
/// `[policy] email = "hash"`, `ip_address = "keep"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactConfig {
    pub policy: BTreeMap<Category, Policy>,
    pub hash_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("curator config: {0}")]
    Toml(#[from] toml::de::Error),
}

impl RedactConfig {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    pub fn policy(&self, category: Category) -> Policy {
        self.policy.get(&category).copied().unwrap_or_default()
    }
}

/// Detector plus policies.
#[derive(Debug)]
pub struct Redactor {
    detector: Detector,
    config: RedactConfig,
}

/// A redacted line and what was found in the original.
#[derive(Debug)]
pub struct Redacted<'a> {
    /// Borrowed when nothing changed.
    pub text: Cow<'a, str>,
    pub findings: &'a [Finding],
}

impl Redactor {
    pub fn new(config: RedactConfig) -> Result<Self, BuildError> {
        Self::with_rules(config, &[])
    }

    /// A redactor whose detector also runs `learned` rules (see `learned.rs`).
    pub fn with_rules(
        config: RedactConfig,
        learned: &[crate::learned::LearnedRule],
    ) -> Result<Self, BuildError> {
        Ok(Redactor {
            detector: Detector::with_rules(learned)?,
            config,
        })
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    pub fn scratch(&self) -> LineScratch {
        LineScratch {
            search: self.detector.scratch(),
            findings: Vec::new(),
            recheck: Vec::new(),
        }
    }

    /// Redacts one line (no newline expected, but any text is safe).
    pub fn redact<'a>(&self, line: &'a str, scratch: &'a mut LineScratch) -> Redacted<'a> {
        self.detector
            .detect(line, &mut scratch.search, &mut scratch.findings);
        let findings = &scratch.findings[..];
        let mut out = String::new();
        let mut copied = 0;
        for f in findings {
            let value = &line[f.range.clone()];
            let replacement = match self.config.policy(f.entity.category()) {
                Policy::Keep => continue,
                Policy::Redact => redacted_value(f.entity, value),
                Policy::Hash => format!(
                    "[{}_HASH:{:016x}]",
                    category_label(f.entity.category()),
                    fnv1a(self.config.hash_key.as_bytes(), value.as_bytes())
                ),
            };
            if out.is_empty() {
                out.reserve(line.len() + 32);
            }
            out.push_str(&line[copied..f.range.start]);
            out.push_str(&replacement);
            copied = f.range.end;
        }
        let text = if copied == 0 && out.is_empty() {
            Cow::Borrowed(line)
        } else {
            out.push_str(&line[copied..]);
            Cow::Owned(self.settle(out, &mut scratch.search, &mut scratch.recheck))
        };
        Redacted { text, findings }
    }

    /// What a redaction keeps (an email's domain, a key's first and last 4) can join
    /// its neighbours into a new finding (`…ntsa` + `@i.example` is an address; found by
    /// cargo fuzz). Such joins, in categories that are not kept, get the bare token,
    /// which joins nothing, until none is left. Only changed lines pay for this pass.
    fn settle(&self, mut text: String, search: &mut Scratch, found: &mut Vec<Finding>) -> String {
        for _ in 0..MAX_SETTLE_PASSES {
            self.detector.detect(&text, search, found);
            found.retain(|f| self.config.policy(f.entity.category()) != Policy::Keep);
            if found.is_empty() {
                break;
            }
            let mut next = String::with_capacity(text.len());
            let mut copied = 0;
            for f in found.iter() {
                next.push_str(&text[copied..f.range.start]);
                next.push_str(f.entity.category().token());
                copied = f.range.end;
            }
            next.push_str(&text[copied..]);
            text = next;
        }
        text
    }
}

/// A bare token cannot take part in a finding, so each pass removes the ones it sees;
/// more than two passes would mean a detector bug, and the text is returned as it is.
const MAX_SETTLE_PASSES: usize = 4;

/// Search state and findings buffer reused across lines.
#[derive(Debug)]
pub struct LineScratch {
    search: Scratch,
    findings: Vec<Finding>,
    /// Findings in the redacted text (see `Redactor::settle`).
    recheck: Vec<Finding>,
}

fn category_label(c: Category) -> &'static str {
    let token = c.token();
    token
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches("_REDACTED")
}

/// The spec's redaction: tokens; emails keep the domain; keys keep a short prefix and
/// their last four characters (enough to tell keys apart, not to use one).
fn redacted_value(entity: Entity, value: &str) -> String {
    let token = entity.category().token();
    match entity.category() {
        Category::Email => match value.rfind('@') {
            Some(at) => format!("{token}{}", &value[at..]),
            None => token.to_string(),
        },
        Category::ApiKey if value.len() >= 20 && value.is_ascii() => {
            format!("{}…{token}…{}", &value[..4], &value[value.len() - 4..])
        }
        _ => token.to_string(),
    }
}

fn fnv1a(key: &[u8], value: &[u8]) -> u64 {
    key.iter()
        .chain(value)
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(config: RedactConfig) -> Redactor {
        match Redactor::new(config) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn tokens_domain_and_key_tails() {
        let r = redactor(RedactConfig::default());
        let mut s = r.scratch();
        let line = "card 4532015112830366 mail maria.garcia@gmail.com key sk_live_IqxVkHsGGuBq8IIWuR2y1a2b";
        let got = r.redact(line, &mut s).text.into_owned();
        assert_eq!(
            got,
            "card [CREDIT_CARD_REDACTED] mail [EMAIL_REDACTED]@gmail.com key sk_l…[API_KEY_REDACTED]…1a2b"
        );
    }

    #[test]
    fn a_chained_address_loses_its_domain_too() {
        // Found by cargo fuzz: the kept domain `i.web` joins `@i.example.com`.
        let r = redactor(RedactConfig::default());
        let mut s = r.scratch();
        let got = r
            .redact("to x@i.web@i.example.com", &mut s)
            .text
            .into_owned();
        assert!(got.starts_with("to [EMAIL_REDACTED]"), "{got}");
        assert!(!got.contains("i.example.com"), "{got}");
        let mut found = Vec::new();
        let mut ds = r.detector().scratch();
        r.detector().detect(&got, &mut ds, &mut found);
        assert!(found.is_empty(), "{got}: {found:?}");
    }

    #[test]
    fn a_kept_key_tail_cannot_join_a_domain() {
        let r = redactor(RedactConfig::default());
        let mut s = r.scratch();
        let got = r
            .redact(
                "GET /ws?access_token=ya92AbCdEfGhIjKlMnOpntsa@i.example.com",
                &mut s,
            )
            .text
            .into_owned();
        assert!(!got.contains("ntsa@"), "{got}");
        let kept = RedactConfig::from_toml("[policy]\nemail = \"keep\"").unwrap();
        let r = redactor(kept);
        let mut s = r.scratch();
        let got = r
            .redact("mail maria.garcia@gmail.com", &mut s)
            .text
            .into_owned();
        assert_eq!(
            got, "mail maria.garcia@gmail.com",
            "a kept category stays kept"
        );
    }

    #[test]
    fn clean_lines_are_borrowed() {
        let r = redactor(RedactConfig::default());
        let mut s = r.scratch();
        assert!(matches!(
            r.redact("GET /health 200 v1.2.3", &mut s).text,
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn policies_from_toml() {
        let Ok(config) = RedactConfig::from_toml(
            "hash_key = \"k\"\n[policy]\nemail = \"hash\"\nssn = \"keep\"\n",
        ) else {
            panic!("parses")
        };
        let r = redactor(config);
        let mut s = r.scratch();
        let got = r
            .redact("ssn 289-58-6539 mail a.b@web.de", &mut s)
            .text
            .into_owned();
        assert!(
            got.starts_with("ssn 289-58-6539 mail [EMAIL_HASH:"),
            "{got}"
        );
        assert!(RedactConfig::from_toml("[policy]\nemail = \"shred\"").is_err());
    }
}

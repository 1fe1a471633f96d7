//! The compiled fast path: one multi-pattern meta regex (lazy DFA with a large cache)
//! finds candidates; per-rule validation and context decide which are findings.

use std::ops::Range;

use regex_automata::meta::{self, Regex};
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, PatternID};

use crate::entity::Entity;
use crate::learned::{self, LearnedRule};
use crate::patterns::{self, Check, Rule};
use crate::validate;

/// One piece of PII found in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub entity: Entity,
    /// Byte range of the value in the scanned line.
    pub range: Range<usize>,
    /// The rule that matched (safe to log: never the value).
    pub rule: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("compiling the fast-path patterns: {0}")]
    Regex(#[from] Box<meta::BuildError>),
    #[error("learned rule '{name}': {problem}")]
    Learned { name: String, problem: String },
}

/// Lazy-DFA cache per search cache: large, so a mixed log stream does not thrash it.
const DFA_CACHE_BYTES: usize = 16 << 20;

/// The compiled detector. Cheap to share; each thread keeps its own `Scratch`.
#[derive(Debug)]
pub struct Detector {
    regex: Regex,
    rules: Vec<Rule>,
    value_group: Vec<Option<usize>>,
}

/// Per-thread search state (the lazy DFA's cache and capture slots).
#[derive(Debug)]
pub struct Scratch {
    cache: meta::Cache,
    caps: Captures,
}

impl Detector {
    pub fn new() -> Result<Self, BuildError> {
        Self::with_rules(&[])
    }

    /// The built-in patterns, then `learned` ones (lower priority at the same start;
    /// each validated by its entity's validator). With no learned rules this is
    /// exactly [`Detector::new`].
    pub fn with_rules(learned: &[LearnedRule]) -> Result<Self, BuildError> {
        let mut rules = patterns::rules();
        for r in learned {
            learned::check_pattern(&r.pattern).map_err(|problem| BuildError::Learned {
                name: r.name.clone(),
                problem,
            })?;
            rules.push((
                Rule {
                    name: learned::intern(&r.name),
                    check: Check::Learned(r.entity),
                    pattern: "",
                },
                r.pattern.clone(),
            ));
        }
        let sources: Vec<&str> = rules.iter().map(|(_, p)| p.as_str()).collect();
        let regex = Regex::builder()
            .configure(
                Regex::config()
                    .hybrid_cache_capacity(DFA_CACHE_BYTES)
                    .match_kind(regex_automata::MatchKind::LeftmostFirst),
            )
            .build_many(&sources)
            .map_err(Box::new)?;
        let info = regex.group_info();
        let value_group = (0..rules.len())
            .map(|i| info.to_index(PatternID::new_unchecked(i), "v"))
            .collect();
        Ok(Detector {
            regex,
            rules: rules.into_iter().map(|(r, _)| r).collect(),
            value_group,
        })
    }

    pub fn scratch(&self) -> Scratch {
        Scratch {
            cache: self.regex.create_cache(),
            caps: self.regex.create_captures(),
        }
    }

    /// Every finding in `line`, in order, non-overlapping.
    pub fn detect(&self, line: &str, scratch: &mut Scratch, out: &mut Vec<Finding>) {
        out.clear();
        let hay = line.as_bytes();
        let mut at = 0;
        while at < hay.len() {
            // The lazy DFA alone finds the match; the slower capture engines run only
            // over a match whose pattern has a value group, anchored to its span.
            let input = Input::new(hay).range(at..);
            let Some(m) = self.regex.search_with(&mut scratch.cache, &input) else {
                break;
            };
            let pid = m.pattern().as_usize();
            let value = match self.value_group[pid] {
                None => m.range(),
                Some(g) => {
                    let exact = Input::new(hay)
                        .range(m.range())
                        .anchored(Anchored::Pattern(m.pattern()));
                    self.regex
                        .search_captures_with(&mut scratch.cache, &exact, &mut scratch.caps);
                    scratch.caps.get_group(g).map_or(m.range(), |s| s.range())
                }
            };
            match self.validate(line, value, self.rules[pid].check) {
                Some((entity, range)) => {
                    at = m.end().max(range.end).max(at + 1);
                    out.push(Finding {
                        entity,
                        range,
                        rule: self.rules[pid].name,
                    });
                }
                // A rejected candidate may hide a real one inside it: retry one char on.
                None => at = next_char(line, m.start()),
            }
        }
    }

    fn validate(
        &self,
        line: &str,
        r: Range<usize>,
        check: Check,
    ) -> Option<(Entity, Range<usize>)> {
        let hay = line.as_bytes();
        let value = &hay[r.clone()];
        let before = &hay[r.start.saturating_sub(32)..r.start];
        let found = |e: Entity| Some((e, r.clone()));
        match check {
            // `blk_-4206060356630634188`: a negative id, not a card.
            Check::Card
                if r.start >= 2
                    && hay[r.start - 1] == b'-'
                    && (hay[r.start - 2].is_ascii_alphanumeric() || hay[r.start - 2] == b'_') =>
            {
                None
            }
            Check::Card => card(hay, r),
            Check::SsnSeparated => {
                let digits: Vec<u8> = value.iter().copied().filter(u8::is_ascii_digit).collect();
                let named = keyword_near(before, &[b"ssn", b"social", b"tin"]);
                (validate::ssn_ok(&digits) && (named || !reference_context(before)))
                    .then(|| (Entity::Ssn, r.clone()))
            }
            Check::SsnBare => validate::ssn_ok(value).then(|| (Entity::Ssn, r.clone())),
            Check::PhoneNanp => {
                let digits: Vec<u8> = value.iter().copied().filter(u8::is_ascii_digit).collect();
                (validate::nanp_ok(&digits) && !reference_context(before))
                    .then(|| (Entity::Phone, r.clone()))
            }
            // `30+20221128-1`: a `+` inside a token is a version's, not a country code's.
            Check::PhoneIntl
                if r.start > 0
                    && (hay[r.start - 1].is_ascii_alphanumeric()
                        || matches!(hay[r.start - 1], b'.' | b'~' | b'_' | b'-')) =>
            {
                None
            }
            Check::PhoneIntl => {
                let digits: Vec<u8> = value.iter().copied().filter(u8::is_ascii_digit).collect();
                let ok = if digits.first() == Some(&b'1') {
                    validate::nanp_ok(&digits)
                } else {
                    (9..=13).contains(&digits.len())
                };
                ok.then(|| (Entity::Phone, r.clone()))
            }
            Check::PhoneSpelled => found(Entity::Phone),
            Check::Email => (email_ok(value) && !matches!(before.last(), Some(b'*')))
                .then(|| (Entity::Email, r.clone())),
            Check::FixedKey => (!continues_token(hay, r.end) && looks_keyish(value))
                .then(|| (Entity::ApiKey, r.clone())),
            Check::Jwt => found(Entity::Jwt),
            Check::Bearer => {
                if value.starts_with(b"eyJ") {
                    // A JWT's shape or nothing: `eyJhbGci...J9.REDACTED` is a masked one.
                    let segments: Vec<&[u8]> = value.split(|b| *b == b'.').collect();
                    let jwt = segments.len() == 3
                        && segments.iter().all(|s| s.len() >= 8)
                        && segments[1].starts_with(b"eyJ");
                    jwt.then(|| (Entity::Jwt, r.clone()))
                } else if value.starts_with(b"ya29.") || validate::looks_random(value) {
                    found(Entity::BearerToken)
                } else {
                    None
                }
            }
            Check::AwsAccessKey => found(Entity::AwsAccessKey),
            Check::AwsSecretKey => {
                let after = hay.get(r.end).copied();
                let bounded = !matches!(after, Some(b) if b.is_ascii_alphanumeric() || b == b'/' || b == b'+' || b == b'=');
                (bounded && validate::looks_random(value))
                    .then(|| (Entity::AwsSecretKey, r.clone()))
            }
            Check::KeywordSecret => (validate::looks_random(value)
                && !value.starts_with(b"req_")
                && !value.starts_with(b"eyJ"))
            .then(|| (Entity::ApiKey, r.clone())),
            Check::Ipv4 => {
                let ip: std::net::Ipv4Addr = line.get(r.clone())?.parse().ok()?;
                let prev = r.start.checked_sub(1).map(|i| hay[i]);
                let version_position =
                    matches!(prev, Some(b'/' | b'v' | b'V' | b'.' | b'-' | b'_'))
                        || matches!(hay.get(r.end), Some(b'.' | b'-'))
                            && hay.get(r.end + 1).is_some_and(u8::is_ascii_alphanumeric);
                (validate::ipv4_public(ip) && !version_position && ip_context(hay, r.clone()))
                    .then(|| (Entity::Ipv4, r.clone()))
            }
            Check::Ipv6 => {
                let mut r = r;
                // `from 2a00::1: velocity rule`: a trailing colon is punctuation.
                if hay[..r.end].ends_with(b":") && !hay[..r.end].ends_with(b"::") {
                    r.end -= 1;
                }
                let text = line.get(r.clone())?;
                // `2802:a1df::` is an anonymised prefix, like `81.2.69.0`.
                if text.ends_with("::") {
                    return None;
                }
                let ip: std::net::Ipv6Addr = text.parse().ok()?;
                let prev = r.start.checked_sub(1).map(|i| hay[i]);
                let inside_other = matches!(prev, Some(b':' | b'.'))
                    || prev.is_some_and(|b| b.is_ascii_alphanumeric());
                let bounded = !matches!(hay.get(r.end), Some(b) if b.is_ascii_alphanumeric() || *b == b':' && hay.get(r.end + 1).is_some_and(u8::is_ascii_hexdigit));
                (validate::ipv6_global(ip)
                    && bounded
                    && !inside_other
                    && ip_context(hay, r.clone()))
                .then(|| (Entity::Ipv6, r.clone()))
            }
            Check::Learned(entity) => {
                learned::learned_value_ok(entity, line.get(r.clone())?).then(|| (entity, r.clone()))
            }
            Check::Name => {
                // `name='O'Brien'`: the class admits apostrophes, the closing quote is not one.
                let mut r = r;
                while r.end > r.start && matches!(hay[r.end - 1], b'\'' | b'-') {
                    r.end -= 1;
                }
                // `NAME:LDAPException REASON:...`: two capitals in a row (acronyms, shouted
                // words) are code, not a person (`McDonald`, `O'Brien` have none).
                let shouting = hay[r.clone()]
                    .windows(2)
                    .any(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase());
                (!shouting).then_some((Entity::PersonName, r))
            }
        }
    }
}

/// An address is a person's only where a client, login or lookup is logged (or in the
/// X-Forwarded-For field closing an access line); elsewhere it is a version or a host.
fn ip_context(hay: &[u8], r: Range<usize>) -> bool {
    let before = &hay[r.start.saturating_sub(40)..r.start];
    let lower = before.to_ascii_lowercase();
    let keyword = [
        &b"from"[..],
        b"client",
        b"ip",
        b"geoip",
        b"lookup",
        b"login",
        b"user",
        b"remote",
        b"addr",
        b"src",
        b"peer",
        b"unknown[",
        b"forwarded",
        b"visitor",
        b"customer",
    ]
    .iter()
    .any(|k| lower.windows(k.len()).any(|w| w == *k));
    let versioned = [&b"release"[..], b"version", b"upgraded", b"agent", b"build"]
        .iter()
        .any(|k| lower.windows(k.len()).any(|w| w == *k));
    (keyword && !versioned) || xff_tail(hay, r)
}

/// The last quoted field of an access line, holding addresses only:
/// `... "curl/8.5.0" "81.2.69.160, 10.4.0.12"`. The field must follow another quoted
/// field, so a message ending in an address (`msg="upgraded agent to 27.2.198.2"`) is
/// not one.
fn xff_tail(hay: &[u8], r: Range<usize>) -> bool {
    let addressy = |b: &u8| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b',' | b' ');
    let after_ok =
        hay[r.end..].iter().all(|b| addressy(b) || *b == b'"') && hay.last() == Some(&b'"');
    let Some(open) = hay[..r.start].iter().rposition(|b| *b == b'"') else {
        return false;
    };
    after_ok && hay[open + 1..r.start].iter().all(addressy) && hay[..open].ends_with(b"\" ")
}

fn next_char(line: &str, from: usize) -> usize {
    let mut i = from + 1;
    while i < line.len() && !line.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn keyword_near(before: &[u8], keywords: &[&[u8]]) -> bool {
    let tail = before[before.len().saturating_sub(12)..].to_ascii_lowercase();
    keywords
        .iter()
        .any(|k| tail.windows(k.len()).any(|w| w == *k))
}

/// Invoice, order and reference numbers share the SSN and phone shapes.
fn reference_context(before: &[u8]) -> bool {
    let tail = &before[before.len().saturating_sub(20)..];
    let lower: Vec<u8> = tail.to_ascii_lowercase();
    [
        &b"invoice"[..],
        b"inv",
        b"order",
        b"ref",
        b"ticket",
        b"case",
        b"build",
        b"sku",
    ]
    .iter()
    .any(|k| lower.windows(k.len()).any(|w| w == *k))
}

fn continues_token(hay: &[u8], end: usize) -> bool {
    hay.get(end).is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A vendor-prefixed key is real only if its random part is (not `sk_live_xxxxxxxx...`).
fn looks_keyish(value: &[u8]) -> bool {
    let mut seen = [false; 256];
    value.iter().for_each(|b| seen[usize::from(*b)] = true);
    seen.iter().filter(|s| **s).count() >= 10
}

/// Machine mailboxes (`root@localhost`, `nagios@mail.internal`) are not a person's.
fn email_ok(value: &[u8]) -> bool {
    let Some(at) = value.iter().position(|b| *b == b'@') else {
        return false;
    };
    let (local, domain) = (&value[..at], &value[at + 1..]);
    let domain = domain.to_ascii_lowercase();
    let machine_domain = [
        &b".internal"[..],
        b".local",
        b".localdomain",
        b".lan",
        b".cluster",
        b".svc",
        // systemd template units: `getty@tty1.service`, `openvpn@office.socket`.
        b".service",
        b".socket",
        b".target",
        b".timer",
        b".mount",
        b".slice",
        b".scope",
        b".path",
        b".device",
    ]
    .iter()
    .any(|s| domain.ends_with(s))
        || domain == b"localhost";
    let local = local.to_ascii_lowercase();
    let machine_local = [
        &b"root"[..],
        b"postmaster",
        b"mailer-daemon",
        b"nagios",
        b"noreply",
        b"no-reply",
        b"daemon",
        b"admin",
        b"cron",
        b"www-data",
        b"nobody",
    ]
    .contains(&local.as_slice());
    !machine_domain && !machine_local && !local.is_empty()
}

/// A digit run with spaces or dashes: the longest prefix, cut at a separator, that
/// passes Luhn and an issuer range (a card may be followed by a status code or size).
fn card(hay: &[u8], r: Range<usize>) -> Option<(Entity, Range<usize>)> {
    let value = &hay[r.clone()];
    let mut digits = Vec::with_capacity(19);
    let mut cuts = Vec::new();
    for (i, b) in value.iter().enumerate() {
        if b.is_ascii_digit() {
            digits.push(*b);
            if value.get(i + 1).is_none_or(|n| !n.is_ascii_digit()) {
                cuts.push((i + 1, digits.len()));
            }
        }
    }
    cuts.iter().rev().find_map(|&(end, n)| {
        let d = &digits[..n];
        ((13..=19).contains(&n) && validate::luhn(d) && validate::card_brand_ok(d))
            .then(|| (Entity::CreditCard, r.start..r.start + end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(line: &str) -> Vec<(Entity, String)> {
        let Ok(d) = Detector::new() else {
            panic!("detector builds")
        };
        let mut s = d.scratch();
        let mut out = Vec::new();
        d.detect(line, &mut s, &mut out);
        out.iter()
            .map(|f| (f.entity, line[f.range.clone()].to_string()))
            .collect()
    }

    #[test]
    fn an_access_lines_forwarded_for_is_a_client() {
        let line = "10.0.0.2 - - [01/Jan/2026:00:01:00 +0000] \"GET / HTTP/1.1\" 200 877 \"-\" \"curl/8.5.0\" \"81.2.69.160, 10.4.0.12\"";
        let got = found(line);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].1, "81.2.69.160");
    }

    #[test]
    fn finds_the_curator_dump() {
        let got = found(
            "Payment failed for user: User{id=8471, name='John Smith', email='john@example.com', SSN: 123 45 6789}",
        );
        let entities: Vec<Entity> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            entities,
            [Entity::PersonName, Entity::Email, Entity::Ssn],
            "{got:?}"
        );
    }

    #[test]
    fn leaves_log_noise_alone() {
        for line in [
            "blk_4532015112830366 replicated at 1768054973123 v2.14.0 Chrome/120.0.0.0",
            "invoice #744-14-2704 paid by order 2975067975 trace 550e8400-e29b-41d4-a716-446655440000",
            "from 10.3.0.17 port 51234 sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 at 00:01:31",
            "user deploy logged in; mail to root@localhost; card ************4242 ***-**-6789",
            // A message that ends in a version, not an access line's X-Forwarded-For.
            "level=info logger=Updater msg=\"upgraded agent to 27.2.198.2\"",
            // Debian versions and systemd template units (real dpkg and apt logs).
            "2025-06-24 14:37:38 install libkmod2:amd64 <none> 30+20221128-1",
            "Created symlink /etc/systemd/system/getty.target.wants/getty@tty1.service",
            "SOGo[1234]: Login from 10.0.0.4 NAME:LDAPException REASON:operation bind failed",
        ] {
            assert!(found(line).is_empty(), "{line}: {:?}", found(line));
        }
    }

    #[test]
    fn finds_cards_phones_and_keys() {
        let got = found(
            "Card 4532 0151 1283 0366 200 877 call (415) 555-0132 key sk_live_IqxVkHsGGuBq8IIWuR2y9B1V from 81.2.69.160",
        );
        let values: Vec<&str> = got.iter().map(|g| g.1.as_str()).collect();
        assert_eq!(
            values,
            [
                "4532 0151 1283 0366",
                "(415) 555-0132",
                "sk_live_IqxVkHsGGuBq8IIWuR2y9B1V",
                "81.2.69.160"
            ]
        );
    }
}

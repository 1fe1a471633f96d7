//! Learned fast-path rules: what the slow path proposed and the promotion gate
//! accepted, persisted in a TOML file and compiled into the `Detector` after the
//! built-in patterns.
//!
//! ```toml
//! [[rule]]
//! name = "learned_ssn_5f0c2a91"
//! entity = "ssn"
//! pattern = '(?-u:\b)(?i:tax)[ \t]+(?i:id)[ \t]+(?P<v>[0-9]{3}\.[0-9]{2}\.[0-9]{4})(?-u:\b)'
//! learned_at_unix = 1795000000
//! support = 12            # slow-path findings that proposed it
//! clean_lines = 120000    # PII-free lines it was checked against
//! clean_matches = 0
//! labelled_matches = 57   # matches in the labelled set
//! labelled_correct = 57
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::entity::Entity;
use crate::validate;

/// One learned rule. `pattern` puts the value in a group named `v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnedRule {
    pub name: String,
    pub entity: Entity,
    pub pattern: String,
    pub learned_at_unix: u64,
    pub support: u64,
    pub clean_lines: u64,
    pub clean_matches: u64,
    pub labelled_matches: u64,
    pub labelled_correct: u64,
}

impl LearnedRule {
    /// The stable name of a rule for `entity` with `pattern`.
    pub fn name_for(entity: Entity, pattern: &str) -> String {
        let h = pattern.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("learned_{}_{:08x}", entity.name(), h as u32)
    }

    pub fn precision(&self) -> f64 {
        if self.labelled_matches == 0 {
            0.0
        } else {
            self.labelled_correct as f64 / self.labelled_matches as f64
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesToml {
    #[serde(default)]
    rule: Vec<LearnedRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a learned-rules file: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("{path}: rule '{name}': {problem}")]
    Rule {
        path: PathBuf,
        name: String,
        problem: String,
    },
}

/// Where `qbranch curator` keeps learned rules unless told otherwise.
pub const DEFAULT_RULES_FILE: &str = "curator-rules.toml";

/// Reads a rules file; a missing file is an empty list. Every rule must compile with
/// a `v` group, and names must be unique.
pub fn load_rules(path: &Path) -> Result<Vec<LearnedRule>, RulesError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RulesError::Io {
                path: path.into(),
                source,
            });
        }
    };
    parse_rules(&text, path)
}

/// Parses rules from TOML text; `path` names it in errors.
pub fn parse_rules(text: &str, path: &Path) -> Result<Vec<LearnedRule>, RulesError> {
    let parsed: RulesToml = toml::from_str(text).map_err(|e| RulesError::Toml {
        path: path.into(),
        message: e.to_string(),
    })?;
    let mut names = BTreeSet::new();
    for r in &parsed.rule {
        let problem = |problem: String| RulesError::Rule {
            path: path.into(),
            name: r.name.clone(),
            problem,
        };
        if !names.insert(r.name.as_str()) {
            return Err(problem("the name is used twice".into()));
        }
        check_pattern(&r.pattern).map_err(problem)?;
    }
    Ok(parsed.rule)
}

/// A pattern compiles on its own and has a `v` group.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    let re = regex_automata::meta::Regex::new(pattern).map_err(|e| format!("pattern: {e}"))?;
    if re
        .group_info()
        .to_index(regex_automata::PatternID::ZERO, "v")
        .is_none()
    {
        return Err("pattern has no (?P<v>...) group".into());
    }
    if re.is_match("") {
        return Err("pattern matches the empty string".into());
    }
    Ok(())
}

/// Writes `rules` to `path` (through a temporary file, so a crash leaves the old one).
pub fn save_rules(path: &Path, rules: &[LearnedRule]) -> Result<(), RulesError> {
    let io = |source| RulesError::Io {
        path: path.into(),
        source,
    };
    let body = toml::to_string_pretty(&RulesToml {
        rule: rules.to_vec(),
    })
    .map_err(|e| RulesError::Toml {
        path: path.into(),
        message: e.to_string(),
    })?;
    let text = format!(
        "# qbranch curator: learned fast-path rules (`qbranch curator learn`, `qbranch curator rules`)\n\n{body}"
    );
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Whether a learned rule's match of `entity` is plausible: the entity's validator
/// where it has one (Luhn and issuer for cards, area/group/serial for SSNs, a digit
/// count for phones, randomness for keys, public addresses for IPs).
pub fn learned_value_ok(entity: Entity, value: &str) -> bool {
    let digits: Vec<u8> = value.bytes().filter(u8::is_ascii_digit).collect();
    match entity {
        Entity::CreditCard => {
            (13..=19).contains(&digits.len())
                && validate::luhn(&digits)
                && validate::card_brand_ok(&digits)
        }
        Entity::Ssn => digits.len() == 9 && validate::ssn_ok(&digits),
        Entity::Phone => (7..=15).contains(&digits.len()),
        Entity::ApiKey
        | Entity::BearerToken
        | Entity::AwsAccessKey
        | Entity::AwsSecretKey
        | Entity::Jwt => validate::looks_random(value.as_bytes()),
        Entity::Ipv4 => value
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(validate::ipv4_public),
        Entity::Ipv6 => value
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(validate::ipv6_global),
        Entity::Email | Entity::PersonName => !value.trim().is_empty(),
    }
}

/// A `&'static str` for a learned rule's name (findings and alerts carry static
/// names). Each distinct name is leaked once, so reloading the same rules costs
/// nothing more.
pub(crate) fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    let set = NAMES.get_or_init(|| Mutex::new(BTreeSet::new()));
    let mut set = match set.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(s) = set.get(name) {
        return s;
    }
    let s: &'static str = Box::leak(name.to_string().into_boxed_str());
    set.insert(s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, pattern: &str) -> LearnedRule {
        LearnedRule {
            name: name.into(),
            entity: Entity::Ssn,
            pattern: pattern.into(),
            learned_at_unix: 1,
            support: 3,
            clean_lines: 10,
            clean_matches: 0,
            labelled_matches: 9,
            labelled_correct: 9,
        }
    }

    #[test]
    fn rules_round_trip_through_a_file() {
        let dir = std::env::temp_dir().join(format!("qb-curator-rules-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("rules.toml");
        assert_eq!(
            load_rules(&path).ok(),
            Some(Vec::new()),
            "missing file: no rules"
        );
        let rules = vec![rule("a", r"tax id (?P<v>[0-9]{3}\.[0-9]{2}\.[0-9]{4})")];
        assert!(save_rules(&path, &rules).is_ok());
        assert_eq!(load_rules(&path).ok(), Some(rules));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_files_name_the_file_and_the_problem() {
        let p = Path::new("/etc/rules.toml");
        let e = parse_rules("[[rule]]\nname = 1", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/rules.toml: not a learned-rules file"),
            "{e}"
        );
        for (pattern, problem) in [
            ("tax (?P<v>[0-9", "pattern:"),
            ("tax [0-9]{9}", "no (?P<v>"),
            ("(?P<v>x*)", "empty string"),
        ] {
            let text = match toml::to_string(&RulesToml {
                rule: vec![rule("r1", pattern)],
            }) {
                Ok(t) => t,
                Err(e) => panic!("{e}"),
            };
            let e = parse_rules(&text, p).unwrap_err().to_string();
            assert!(e.contains("rule 'r1'") && e.contains(problem), "{e}");
        }
        let text = match toml::to_string(&RulesToml {
            rule: vec![rule("r", "a(?P<v>b)"), rule("r", "c(?P<v>d)")],
        }) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert!(
            parse_rules(&text, p)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn validators_guard_learned_matches() {
        assert!(learned_value_ok(Entity::Ssn, "123.45.6789"));
        assert!(!learned_value_ok(Entity::Ssn, "666.45.6789"));
        assert!(learned_value_ok(Entity::CreditCard, "4532.0151.1283.0366"));
        assert!(!learned_value_ok(Entity::CreditCard, "4532.0151.1283.0367"));
        assert!(learned_value_ok(Entity::Phone, "555 0199"));
        assert!(std::ptr::eq(intern("x_rule"), intern("x_rule")));
    }
}

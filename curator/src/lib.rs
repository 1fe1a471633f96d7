//! The Curator's fast path: finds PII in log lines with one multi-pattern regex and
//! per-entity validation, redacts it by policy, and emits alerts that name the entity,
//! source, line and rule but never the value. The slow path (`slow`, `learn`,
//! `learned`) classifies a sample of lines, proposes rules for what the fast path
//! missed, and promotes them through a false-positive gate into a rules file.
//!
//! ```no_run
//! use qb_curator::{RedactConfig, Redactor};
//! let redactor = Redactor::new(RedactConfig::default())?;
//! let mut scratch = redactor.scratch();
//! let out = redactor.redact("user \"John Smith\" not found", &mut scratch);
//! assert_eq!(out.text, "user \"[NAME_REDACTED]\" not found");
//! # Ok::<(), qb_curator::BuildError>(())
//! ```

mod alert;
mod detector;
mod entity;
pub mod learn;
pub mod learned;
mod patterns;
mod redact;
pub mod slow;
mod stream;
mod validate;

pub use alert::Alert;
pub use detector::{BuildError, Detector, Finding, Scratch};
pub use entity::{Category, Entity};
pub use learn::{Gate, LabelledLine, Learner, Proposal, Verdict, propose};
pub use learned::{
    DEFAULT_RULES_FILE, LearnedRule, RulesError, load_rules, parse_rules, save_rules,
};
pub use redact::{ConfigError, LineScratch, Policy, RedactConfig, Redacted, Redactor};
pub use slow::{SlowAlert, SlowConfig, SlowError, SlowFinding, SlowPath, SlowScratch};
pub use stream::{MAX_LINE_BYTES, StreamStats, redact_stream};
/// The candidate patterns' sources, in priority order (for comparing engines).
pub fn candidate_patterns() -> Vec<String> {
    patterns::rules().into_iter().map(|(_, p)| p).collect()
}

pub use validate::{card_brand_ok, luhn, ssn_ok};

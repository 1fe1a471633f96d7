//! The Curator's fast path: finds PII in log lines with one multi-pattern regex and
//! per-entity validation, redacts it by policy, and emits alerts that name the entity,
//! source, line and rule but never the value.
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
mod patterns;
mod redact;
mod stream;
mod validate;

pub use alert::Alert;
pub use detector::{BuildError, Detector, Finding, Scratch};
pub use entity::{Category, Entity};
pub use redact::{ConfigError, LineScratch, Policy, RedactConfig, Redacted, Redactor};
pub use stream::{MAX_LINE_BYTES, StreamStats, redact_stream};
/// The candidate patterns' sources, in priority order (for comparing engines).
pub fn candidate_patterns() -> Vec<String> {
    patterns::rules().into_iter().map(|(_, p)| p).collect()
}

pub use validate::{card_brand_ok, luhn, ssn_ok};

//! The slow path: a sampled fraction of lines (default 1 %, chosen by a seeded hash of
//! the line, so the same stream samples the same lines) goes through qb-models'
//! context classifier; what it finds that no fast-path finding overlaps is reported
//! (entity, span, probability; never the value) and can be turned into a proposed
//! fast-path rule (`learn.rs`). It never changes the fast path's output by itself.

use std::ops::Range;

use qb_models::features::curator::{CLASSES, ContextClassifier, LineScratch, Prediction};
use qb_models::registry::{CURATOR_CLASSIFIER, Registry};
use serde::Serialize;

use crate::detector::Finding;
use crate::entity::{Category, Entity};

/// Default share of lines the slow path looks at.
pub const DEFAULT_SAMPLE: f64 = 0.01;
/// Default least probability of a slow-path finding.
pub const DEFAULT_MIN_PROBABILITY: f32 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowConfig {
    /// Share of lines sampled, 0 to 1.
    pub sample: f64,
    /// Seed of the sampling hash.
    pub seed: u64,
    /// Least class probability for a finding.
    pub min_probability: f32,
}

impl Default for SlowConfig {
    fn default() -> Self {
        SlowConfig {
            sample: DEFAULT_SAMPLE,
            seed: 0,
            min_probability: DEFAULT_MIN_PROBABILITY,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SlowError {
    #[error("slow path: sample share {0} is not within 0 and 1")]
    Sample(f64),
    #[error("slow path: the curator classifier is unusable")]
    Model(#[from] qb_models::ModelError),
}

/// PII the classifier found and the fast path did not.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowFinding {
    pub entity: Entity,
    pub range: Range<usize>,
    pub probability: f32,
}

/// An alert for a slow-path finding: where and what, never the value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowAlert {
    pub entity: Entity,
    pub category: Category,
    pub source: String,
    pub line: u64,
    pub column: usize,
    pub probability: f32,
    /// Always "slow_path": the fast path missed it.
    pub rule: &'static str,
}

impl SlowAlert {
    pub fn new(f: &SlowFinding, source: &str, line: u64) -> Self {
        SlowAlert {
            entity: f.entity,
            category: f.entity.category(),
            source: source.into(),
            line,
            column: f.range.start,
            probability: f.probability,
            rule: "slow_path",
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Per-thread buffers of the slow path.
#[derive(Debug, Default)]
pub struct SlowScratch {
    line: LineScratch,
    predictions: Vec<Prediction>,
}

#[derive(Debug, Clone)]
pub struct SlowPath {
    classifier: ContextClassifier,
    config: SlowConfig,
    /// `sample` as a threshold on a 64-bit hash.
    threshold: u64,
}

impl SlowPath {
    pub fn new(classifier: ContextClassifier, config: SlowConfig) -> Result<Self, SlowError> {
        if !(0.0..=1.0).contains(&config.sample) {
            return Err(SlowError::Sample(config.sample));
        }
        let threshold = if config.sample >= 1.0 {
            u64::MAX
        } else {
            (config.sample * u64::MAX as f64) as u64
        };
        Ok(SlowPath {
            classifier,
            config,
            threshold,
        })
    }

    /// With the classifier compiled into this build (qb-models' registry).
    pub fn embedded(config: SlowConfig) -> Result<Self, SlowError> {
        let registry = Registry::embedded()?;
        let artifact = registry.artifact(&CURATOR_CLASSIFIER)?;
        Self::new(ContextClassifier::decode(&artifact.payload)?, config)
    }

    pub fn config(&self) -> SlowConfig {
        self.config
    }

    /// Whether `line` is in the sample (a seeded FNV-1a hash of its bytes).
    pub fn sampled(&self, line: &str) -> bool {
        if self.threshold == u64::MAX {
            return true;
        }
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ self.config.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in line.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        // FNV's low bits mix poorly: finish with a murmur-style avalanche.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h < self.threshold
    }

    /// Classifies every candidate of `line` (no sampling): findings of at least the
    /// configured probability that overlap no fast-path finding.
    pub fn check(
        &self,
        line: &str,
        fast: &[Finding],
        scratch: &mut SlowScratch,
        out: &mut Vec<SlowFinding>,
    ) {
        out.clear();
        self.classifier
            .classify(line, &mut scratch.line, &mut scratch.predictions);
        for p in &scratch.predictions {
            if p.probability < self.config.min_probability {
                continue;
            }
            let Some(entity) = Entity::from_name(CLASSES[p.class]) else {
                continue;
            };
            let overlaps_fast = fast
                .iter()
                .any(|f| f.range.start < p.range.end && p.range.start < f.range.end);
            let overlaps_kept = out
                .iter()
                .any(|f: &SlowFinding| f.range.start < p.range.end && p.range.start < f.range.end);
            if !overlaps_fast && !overlaps_kept {
                out.push(SlowFinding {
                    entity,
                    range: p.range.clone(),
                    probability: p.probability,
                });
            }
        }
    }

    /// [`SlowPath::check`] on sampled lines; false (and `out` empty) otherwise.
    pub fn observe(
        &self,
        line: &str,
        fast: &[Finding],
        scratch: &mut SlowScratch,
        out: &mut Vec<SlowFinding>,
    ) -> bool {
        out.clear();
        if !self.sampled(line) {
            return false;
        }
        self.check(line, fast, scratch, out);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_deterministic_and_near_the_share() {
        let slow = match SlowPath::new(ContextClassifier::zeros(), SlowConfig::default()) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let lines: Vec<String> = (0..100_000).map(|i| format!("GET /item/{i} 200")).collect();
        let n = lines.iter().filter(|l| slow.sampled(l)).count();
        assert!((700..1300).contains(&n), "{n} of 100000 sampled at 1 %");
        assert_eq!(n, lines.iter().filter(|l| slow.sampled(l)).count());
        assert!(
            SlowPath::new(
                ContextClassifier::zeros(),
                SlowConfig {
                    sample: 1.5,
                    ..Default::default()
                }
            )
            .is_err()
        );
        let all = SlowPath::new(
            ContextClassifier::zeros(),
            SlowConfig {
                sample: 1.0,
                ..Default::default()
            },
        );
        assert!(all.is_ok_and(|s| s.sampled("x")));
    }

    #[test]
    fn the_embedded_classifier_finds_a_novel_ssn() {
        let slow = match SlowPath::embedded(SlowConfig {
            sample: 1.0,
            ..Default::default()
        }) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let mut s = SlowScratch::default();
        let mut out = Vec::new();
        let line = "2026-01-01 INFO KycService - tax id 123.45.6789 verified against registry";
        slow.check(line, &[], &mut s, &mut out);
        assert!(
            out.iter()
                .any(|f| f.entity == Entity::Ssn && &line[f.range.clone()] == "123.45.6789"),
            "{out:?}"
        );
        // A fast-path finding over the same span suppresses it.
        let at = line.find("123.45.6789").unwrap_or(0);
        let fast = [Finding {
            entity: Entity::Ssn,
            range: at..at + 11,
            rule: "x",
        }];
        slow.check(line, &fast, &mut s, &mut out);
        assert!(out.iter().all(|f| f.entity != Entity::Ssn), "{out:?}");
        let alert = SlowAlert::new(
            &SlowFinding {
                entity: Entity::Ssn,
                range: 37..48,
                probability: 0.99,
            },
            "app.log",
            3,
        );
        assert!(!alert.to_json().contains("6789"));
    }
}

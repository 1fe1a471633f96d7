//! The reward: throughput minus drops minus latency, each divided by a reference so the
//! three are comparable and a good setting scores near 1. The weights say how many
//! units of throughput one unit of drops or of latency is worth.

use serde::Deserialize;

use crate::TunerError;

/// What one evaluation period measured under one setting.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Items delivered per second (log lines forwarded, frames recorded).
    pub throughput: f64,
    /// Items lost per second (dropped lines, skipped ticks).
    pub drops: f64,
    /// Seconds from an event to its delivery (freshness, tick latency).
    pub latency_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardWeights {
    /// Throughput (and drops) are divided by this: items per second at full load.
    pub throughput_ref: f64,
    /// Latency is divided by this.
    pub latency_ref_s: f64,
    /// A dropped item costs this many delivered ones.
    pub drops: f64,
    pub latency: f64,
}

impl Default for RewardWeights {
    fn default() -> Self {
        RewardWeights {
            throughput_ref: 1000.0,
            latency_ref_s: 1.0,
            drops: 2.0,
            latency: 1.0,
        }
    }
}

impl RewardWeights {
    pub fn validate(&self) -> Result<(), TunerError> {
        for (field, v, positive) in [
            ("reward.throughput_ref", self.throughput_ref, true),
            ("reward.latency_ref_s", self.latency_ref_s, true),
            ("reward.drops", self.drops, false),
            ("reward.latency", self.latency, false),
        ] {
            let ok = v.is_finite() && if positive { v > 0.0 } else { v >= 0.0 };
            if !ok {
                return Err(TunerError::BadConfig {
                    field,
                    problem: format!(
                        "{v} must be a finite number {}",
                        if positive { "above 0" } else { "of 0 or more" }
                    ),
                });
            }
        }
        Ok(())
    }

    /// `throughput - w_d * drops - w_l * latency`, normalised. NaN in means NaN out:
    /// the tuner refuses it by name rather than learning from it.
    pub fn reward(&self, s: &Sample) -> f64 {
        s.throughput / self.throughput_ref
            - self.drops * s.drops / self.throughput_ref
            - self.latency * s.latency_s / self.latency_ref_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_and_latency_cost_what_the_weights_say() {
        let w = RewardWeights::default();
        let clean = Sample {
            throughput: 1000.0,
            drops: 0.0,
            latency_s: 0.0,
        };
        assert_eq!(w.reward(&clean), 1.0);
        let lossy = Sample {
            drops: 100.0,
            latency_s: 0.5,
            ..clean
        };
        assert!((w.reward(&lossy) - (1.0 - 0.2 - 0.5)).abs() < 1e-12);
        let bad = RewardWeights {
            throughput_ref: 0.0,
            ..w
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("throughput_ref")
        );
        let bad = RewardWeights {
            latency: f64::NAN,
            ..w
        };
        assert!(bad.validate().is_err());
    }
}

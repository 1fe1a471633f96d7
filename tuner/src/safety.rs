//! The spec's safety rules, as checks the tuner's state machine consults: bounds (in
//! `ParamSpec::clamp`), a cooldown per parameter, rollback on a reward drop, and a pause
//! while the agent itself is under pressure or the operator's pause file exists.

use serde::Deserialize;

use crate::TunerError;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyConfig {
    /// At most one change per parameter per this many seconds (the spec: 5 min).
    pub cooldown_s: f64,
    /// Roll back when a trial's reward falls more than this share below the incumbent's.
    pub rollback_drop: f64,
    /// Pause while the agent uses more CPU than this, in cores.
    pub max_cpu_cores: f64,
    /// Pause while the agent's memory is above this share of its budget.
    pub max_memory_fraction: f64,
    /// The drop is taken of `max(|incumbent reward|, this)`: rewards are normalised so
    /// a good setting scores near 1, and 10 % of a reward near 0 would be noise.
    pub reward_scale: f64,
    /// Consecutive drops of the held setting itself before the tuner concludes the
    /// environment changed and searches again (one noisy period is not a change).
    pub confirm_drops: u32,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig {
            cooldown_s: 300.0,
            rollback_drop: 0.10,
            max_cpu_cores: 0.5,
            max_memory_fraction: 0.8,
            reward_scale: 0.5,
            confirm_drops: 3,
        }
    }
}

impl SafetyConfig {
    pub fn validate(&self) -> Result<(), TunerError> {
        for (field, v, max) in [
            ("safety.cooldown_s", self.cooldown_s, f64::MAX),
            ("safety.rollback_drop", self.rollback_drop, 1.0),
            ("safety.max_cpu_cores", self.max_cpu_cores, f64::MAX),
            ("safety.max_memory_fraction", self.max_memory_fraction, 1.0),
            ("safety.reward_scale", self.reward_scale, f64::MAX),
        ] {
            if !(v.is_finite() && v >= 0.0 && v <= max) {
                return Err(TunerError::BadConfig {
                    field,
                    problem: format!("{v} must be a finite number in [0, {max}]"),
                });
            }
        }
        if self.confirm_drops == 0 {
            return Err(TunerError::BadConfig {
                field: "safety.confirm_drops",
                problem: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// Whether `reward` is more than `rollback_drop` below `reference`. Relative to
    /// `|reference|`, floored at `reward_scale` so a reference near 0 is no hair trigger.
    pub fn dropped(&self, reference: f64, reward: f64) -> bool {
        reference - reward > self.rollback_drop * reference.abs().max(self.reward_scale)
    }

    /// Why tuning must pause now, if it must.
    pub fn pause_reason(&self, load: &Load) -> Option<Pause> {
        if load.pause_file {
            Some(Pause::PauseFile)
        } else if load.cpu_cores > self.max_cpu_cores {
            Some(Pause::Cpu(load.cpu_cores))
        } else if load.memory_fraction > self.max_memory_fraction {
            Some(Pause::Memory(load.memory_fraction))
        } else {
            None
        }
    }
}

/// The agent's own load over the period, from the caller (gadgetd reads /proc/self).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Load {
    /// CPU used by the agent, in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    /// Resident memory as a share of the agent's memory budget.
    pub memory_fraction: f64,
    /// The operator's pause file exists.
    pub pause_file: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pause {
    PauseFile,
    Cpu(f64),
    Memory(f64),
}

impl Pause {
    /// A short label for metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Pause::PauseFile => "pause_file",
            Pause::Cpu(_) => "cpu",
            Pause::Memory(_) => "memory",
        }
    }
}

impl std::fmt::Display for Pause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pause::PauseFile => f.write_str("the pause file exists"),
            Pause::Cpu(c) => write!(f, "the agent uses {c:.2} cores"),
            Pause::Memory(m) => write!(f, "the agent uses {:.0} % of its memory budget", m * 100.0),
        }
    }
}

/// When each parameter last changed, to hold the cooldown.
#[derive(Debug, Clone)]
pub struct Cooldown {
    last: Vec<Option<f64>>,
    cooldown_s: f64,
}

impl Cooldown {
    pub fn new(params: usize, cooldown_s: f64) -> Self {
        Cooldown {
            last: vec![None; params],
            cooldown_s,
        }
    }

    /// Whether parameter `i` may change at `t_s`.
    pub fn ready(&self, i: usize, t_s: f64) -> bool {
        self.last
            .get(i)
            .copied()
            .flatten()
            .is_none_or(|last| t_s - last >= self.cooldown_s)
    }

    pub fn all_ready(&self, t_s: f64) -> bool {
        (0..self.last.len()).all(|i| self.ready(i, t_s))
    }

    pub fn changed(&mut self, i: usize, t_s: f64) {
        if let Some(slot) = self.last.get_mut(i) {
            *slot = Some(t_s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_relative_with_a_floor() {
        let s = SafetyConfig::default();
        assert!(s.dropped(1.0, 0.89));
        assert!(!s.dropped(1.0, 0.91));
        assert!(s.dropped(-1.0, -1.2));
        assert!(!s.dropped(0.0, -0.04) && s.dropped(0.0, -0.06));
    }

    #[test]
    fn pause_reasons_in_order() {
        let s = SafetyConfig::default();
        let calm = Load {
            cpu_cores: 0.2,
            memory_fraction: 0.5,
            pause_file: false,
        };
        assert_eq!(s.pause_reason(&calm), None);
        let hot = Load {
            cpu_cores: 0.6,
            ..calm
        };
        assert_eq!(s.pause_reason(&hot).map(|p| p.name()), Some("cpu"));
        let full = Load {
            memory_fraction: 0.9,
            ..calm
        };
        assert_eq!(s.pause_reason(&full).map(|p| p.name()), Some("memory"));
        let paused = Load {
            pause_file: true,
            ..hot
        };
        assert_eq!(s.pause_reason(&paused), Some(Pause::PauseFile));
    }

    #[test]
    fn cooldown_is_per_parameter() {
        let mut c = Cooldown::new(2, 300.0);
        assert!(c.all_ready(0.0));
        c.changed(0, 100.0);
        assert!(!c.ready(0, 399.0) && c.ready(0, 400.0) && c.ready(1, 101.0));
        assert!(!c.all_ready(399.0));
    }
}

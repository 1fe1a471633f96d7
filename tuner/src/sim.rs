//! Simulated environments for the tuner's tests and cases: closed-form models of the
//! trade-offs the daemon's parameters make, with seeded noise, and a driver that runs a
//! tuner against one in virtual time. Each model turns a setting into a [`Sample`]
//! (throughput, drops, latency) and so into a reward by the same [`RewardWeights`] the
//! daemon uses; the true optimum is found by a fine grid over the noise-free reward.

use crate::reward::{RewardWeights, Sample};
use crate::rng::SplitMix64;
use crate::safety::Load;
use crate::{Change, Observation, ParamSpec, Phase, Scale, Tuner, TunerError};

/// Environment names, for cases and error messages.
pub const ENVIRONMENTS: [&str; 6] = [
    "log_batch",
    "socket_buffer",
    "recorder_interval",
    "gadgetd",
    "log_forward",
    "flat",
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Degrade {
    /// Every reward falls to this share (a sudden 20 % drop is 0.8).
    Scale(f64),
    /// The offered load is multiplied by this: the optimum moves.
    Load(f64),
}

#[derive(Debug, Clone)]
pub struct Env {
    name: &'static str,
    noise_sd: f64,
    rng: SplitMix64,
    /// The agent's load reported with every sample (the pause rule reads it).
    pub load: Load,
    /// From this time on, the environment is degraded.
    pub degrade: Option<(f64, Degrade)>,
}

impl Env {
    /// `noise_sd` is the standard deviation of the reward noise, in reward units.
    pub fn new(name: &str, seed: u64, noise_sd: f64) -> Result<Env, TunerError> {
        let name = ENVIRONMENTS
            .iter()
            .find(|n| **n == name)
            .copied()
            .ok_or_else(|| TunerError::BadConfig {
                field: "environment",
                problem: format!("unknown {name:?}, expected one of {ENVIRONMENTS:?}"),
            })?;
        if !(noise_sd.is_finite() && noise_sd >= 0.0) {
            return Err(TunerError::BadConfig {
                field: "noise",
                problem: format!("{noise_sd} must be a finite number of 0 or more"),
            });
        }
        Ok(Env {
            name,
            noise_sd,
            rng: SplitMix64::new(seed ^ 0x005E_ED0F_E4F1),
            load: Load {
                cpu_cores: 0.1,
                memory_fraction: 0.3,
                pause_file: false,
            },
            degrade: None,
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The tuned parameters, with the operator's (deliberately poor) initial values.
    pub fn params(&self) -> Vec<ParamSpec> {
        let batch = ParamSpec::new("batch_lines", 16.0, 16384.0, Scale::Log, 64.0).integer();
        let buffer =
            ParamSpec::new("sndbuf_bytes", 4096.0, 4194304.0, Scale::Log, 16384.0).integer();
        let interval = ParamSpec::new("interval_s", 0.25, 10.0, Scale::Log, 5.0);
        match self.name {
            "log_batch" => vec![batch],
            "socket_buffer" => vec![buffer],
            "recorder_interval" => vec![interval],
            "gadgetd" => vec![
                ParamSpec::new("interval_s", 0.25, 4.0, Scale::Log, 1.0),
                ParamSpec::new(
                    "max_bytes_per_tick",
                    262144.0,
                    33554432.0,
                    Scale::Log,
                    524288.0,
                )
                .integer(),
            ],
            "log_forward" => vec![batch, buffer],
            _ => vec![
                ParamSpec::new("a", 1.0, 100.0, Scale::Log, 10.0),
                ParamSpec::new("b", 0.0, 1.0, Scale::Linear, 0.5),
            ],
        }
    }

    fn degradation(&self, t_s: f64) -> Option<Degrade> {
        self.degrade.filter(|(at, _)| t_s >= *at).map(|(_, d)| d)
    }

    /// The noise-free reward of `setting` at `t_s`.
    pub fn expected(&self, setting: &[f64], t_s: f64) -> f64 {
        let load = match self.degradation(t_s) {
            Some(Degrade::Load(f)) => f,
            _ => 1.0,
        };
        let r = match (self.name, setting) {
            ("log_batch", [b]) => log_batch(*b, load),
            ("socket_buffer", [s]) => socket_buffer(*s, load),
            ("recorder_interval", [i]) => recorder_interval(*i, load),
            ("gadgetd", [i, b]) => gadgetd(*i, *b, load),
            ("log_forward", [b, s]) => 0.5 * (log_batch(*b, load) + socket_buffer(*s, load)),
            ("flat", _) => 1.0,
            _ => f64::NAN,
        };
        match self.degradation(t_s) {
            // Scaled toward minus infinity whatever the sign, so it is always a drop.
            Some(Degrade::Scale(f)) => r - (1.0 - f) * r.abs(),
            _ => r,
        }
    }

    /// One period's noisy reward and the agent's load.
    pub fn sample(&mut self, setting: &[f64], t_s: f64) -> (f64, Load) {
        let r = self.expected(setting, t_s) + self.noise_sd * self.rng.normal();
        (r, self.load)
    }

    /// The true best setting and reward at `t_s`, by a grid over the unit cube (4097
    /// points in 1-D, 257 x 257 in 2-D, on each parameter's scale).
    pub fn best(&self, t_s: f64) -> (Vec<f64>, f64) {
        let params = self.params();
        let steps: usize = if params.len() == 1 { 4096 } else { 256 };
        let mut best = (Vec::new(), f64::NEG_INFINITY);
        let mut idx = vec![0usize; params.len()];
        loop {
            let s: Vec<f64> = params
                .iter()
                .zip(&idx)
                .map(|(p, i)| p.from_unit(*i as f64 / steps as f64))
                .collect();
            let r = self.expected(&s, t_s);
            if r > best.1 {
                best = (s, r);
            }
            // Odometer over the grid.
            let mut d = 0;
            loop {
                if d == idx.len() {
                    return best;
                }
                idx[d] += 1;
                if idx[d] <= steps {
                    break;
                }
                idx[d] = 0;
                d += 1;
            }
        }
    }
}

/// A log forwarder: each batch costs 20 ms plus 20 us a line, the queue holds 10
/// batches, 10 000 lines/s arrive. Small batches overflow the queue (M/M/1/K
/// blocking), large ones wait to fill.
fn log_batch(b: f64, load: f64) -> f64 {
    let lambda = 10_000.0 * load;
    let service = 0.02 + 2e-5 * b;
    let rho = lambda * service / b;
    let k = 10;
    let blocking = if (rho - 1.0).abs() < 1e-9 {
        1.0 / (k as f64 + 1.0)
    } else {
        (1.0 - rho) * rho.powi(k) / (1.0 - rho.powi(k + 1))
    };
    let w = RewardWeights {
        throughput_ref: lambda,
        latency_ref_s: 0.2,
        drops: 2.0,
        latency: 1.0,
    };
    w.reward(&Sample {
        throughput: lambda * (1.0 - blocking),
        drops: lambda * blocking,
        latency_s: b / (2.0 * lambda) + service,
    })
}

/// A socket send buffer under bursty traffic: drops fall with its size (bursts of
/// 256 KiB on average), queueing delay grows with it at 10 MB/s.
fn socket_buffer(s: f64, load: f64) -> f64 {
    let burst = 262_144.0 * load;
    let drop = (-s / burst).exp();
    let w = RewardWeights {
        throughput_ref: 1.0,
        latency_ref_s: 0.2,
        drops: 2.0,
        latency: 1.0,
    };
    w.reward(&Sample {
        throughput: 1.0 - drop,
        drops: drop,
        latency_s: 0.5 * s / 1e7,
    })
}

/// A recorder's interval: a tick takes 0.3 s on average (exponential), an overrun
/// loses the frame; the data is half an interval plus a tick old.
fn recorder_interval(i: f64, load: f64) -> f64 {
    let tick = 0.3 * load;
    let drop = (-i / tick).exp();
    let w = RewardWeights {
        throughput_ref: 1.0,
        latency_ref_s: 2.0,
        drops: 2.0,
        latency: 1.0,
    };
    w.reward(&Sample {
        throughput: 1.0 - drop,
        drops: drop,
        latency_s: i / 2.0 + tick,
    })
}

/// gadgetd itself: logs written at 4 MB/s, read at most `b` bytes a tick every `i`
/// seconds. Reading less than is written leaves a backlog (counted as drops); a tick
/// costs 50 ms plus its bytes at 20 MB/s, and one tick in ten meets a burst of a
/// full budget, which can overrun the interval (a lost frame).
fn gadgetd(i: f64, b: f64, load: f64) -> f64 {
    let write = 4e6 * load;
    let ratio = write * i / b;
    // A smooth min(1, b / (write * i)).
    let read = 1.0 / (1.0 + ratio.powi(4)).powf(0.25);
    let tick = 0.05 + read * write * i / 2e7;
    let peak = 0.05 + b / 2e7;
    let overrun = 0.9 * (-i / tick).exp() + 0.1 * (-i / peak).exp();
    let w = RewardWeights {
        throughput_ref: 1.0,
        latency_ref_s: 2.0,
        drops: 2.0,
        latency: 1.0,
    };
    w.reward(&Sample {
        throughput: read * (1.0 - overrun),
        drops: (1.0 - read) + overrun,
        latency_s: i / 2.0 + tick,
    })
}

/// One period of a simulated run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub t_s: f64,
    /// The setting in force during the period.
    pub setting: Vec<f64>,
    pub reward: f64,
    /// What the tuner asked for at the end of the period (applied before the next).
    pub change: Option<Change>,
    /// The tuner's best setting after this period.
    pub best: Option<Vec<f64>>,
    /// The tuner's phase and trials so far, after this period.
    pub phase: Phase,
    pub trials: u64,
}

/// Runs `tuner` against `env` for `periods` periods of `period_s`, applying every
/// change; the time goes on from the tuner's last observation.
pub fn run(
    tuner: &mut Tuner,
    env: &mut Env,
    periods: usize,
    period_s: f64,
) -> Result<Vec<Step>, TunerError> {
    let mut steps = Vec::with_capacity(periods);
    let start = tuner.last_time().unwrap_or(0.0);
    for k in 1..=periods {
        let t_s = start + k as f64 * period_s;
        let setting = tuner.current().to_vec();
        let (reward, load) = env.sample(&setting, t_s);
        let change = tuner.observe(&Observation { t_s, reward, load })?;
        steps.push(Step {
            t_s,
            setting,
            reward,
            change,
            best: tuner.best().map(<[f64]>::to_vec),
            phase: tuner.phase(),
            trials: tuner.stats().trials,
        });
    }
    Ok(steps)
}

/// How often the applied setting reverses direction (per parameter, summed) over
/// `steps`: zero for a setting that only moves one way or not at all.
pub fn direction_changes(steps: &[Step]) -> usize {
    let Some(first) = steps.first() else {
        return 0;
    };
    let dims = first.setting.len();
    let mut total = 0;
    for d in 0..dims {
        let mut last_sign = 0.0f64;
        for w in steps.windows(2) {
            let delta = w[1].setting[d] - w[0].setting[d];
            if delta == 0.0 {
                continue;
            }
            let sign = delta.signum();
            if last_sign != 0.0 && sign != last_sign {
                total += 1;
            }
            last_sign = sign;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_optima_are_interior_and_positive() {
        for name in ENVIRONMENTS {
            let env = Env::new(name, 1, 0.0).unwrap();
            let (s, r) = env.best(0.0);
            assert!(r.is_finite() && r > 0.0, "{name}: {r}");
            let params = env.params();
            for (p, v) in params.iter().zip(&s) {
                if name != "flat" {
                    assert!(*v > p.min && *v < p.max, "{name}: {} = {v}", p.name);
                }
            }
            let initial: Vec<f64> = params.iter().map(|p| p.initial).collect();
            if name != "flat" {
                // The operator's setting leaves room to improve.
                assert!(env.expected(&initial, 0.0) < 0.9 * r, "{name}");
            }
        }
        assert!(
            Env::new("nope", 1, 0.0)
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }
}

//! The tuner's state machine. The caller measures a reward per evaluation period and
//! calls [`Tuner::observe`]; the tuner answers with at most one [`Change`] to apply.
//! Time comes only from the observations, never from a clock, so a simulated day runs
//! in milliseconds and a run is reproducible from its seed.
//!
//! Phases: *exploring* (an initial design around the operator's setting, then the
//! expected-improvement maximiser, each trial at least one cooldown long), then
//! *holding* the best setting once the expected improvement is negligible or the trial
//! budget is spent. A held setting whose reward drops for `confirm_drops` trials in a
//! row means the environment changed: the tuner searches again from there (a retune).

use serde::Deserialize;

use crate::acquisition::{candidates, maximise};
use crate::gp::Gp;
use crate::param::ParamSpec;
use crate::rng::{SplitMix64, halton};
use crate::safety::{Cooldown, Load, Pause, SafetyConfig};
use crate::{TunerError, validate_params};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Trials (settings evaluated, rollbacks included) before holding the best.
    pub max_trials: usize,
    /// Trials of the initial design, the operator's setting first (0: 2 per parameter + 1).
    pub initial_points: usize,
    /// Stop exploring once the best expected improvement is below this share of the
    /// best reward's magnitude.
    pub ei_threshold: f64,
    /// Exploration margin of expected improvement, in standard deviations of the
    /// rewards seen.
    pub xi: f64,
    /// Quasi-random candidates over the whole cube per proposal (local ones are added).
    pub candidates: usize,
    pub seed: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            max_trials: 25,
            initial_points: 0,
            ei_threshold: 0.001,
            xi: 0.01,
            candidates: 256,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunerConfig {
    pub params: Vec<ParamSpec>,
    #[serde(default)]
    pub search: SearchConfig,
    #[serde(default)]
    pub safety: SafetyConfig,
}

impl TunerConfig {
    pub fn validate(&self) -> Result<(), TunerError> {
        validate_params(&self.params)?;
        self.safety.validate()?;
        let s = &self.search;
        if s.max_trials < 2 {
            return Err(bad("search.max_trials", "must be at least 2"));
        }
        if s.candidates == 0 || s.candidates > 100_000 {
            return Err(bad("search.candidates", "must be in [1, 100000]"));
        }
        for (field, v) in [("search.ei_threshold", s.ei_threshold), ("search.xi", s.xi)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(field, "must be a finite number of 0 or more"));
            }
        }
        Ok(())
    }

    fn initial_points(&self) -> usize {
        match self.search.initial_points {
            0 => 2 * self.params.len() + 1,
            n => n,
        }
    }
}

/// Rewards below the lower quartile are raised to it. A search's worst trials can be
/// far worse than its good ones (an overrunning interval costs more than any buffer
/// gains); left alone they set the process's scale, and the differences among good
/// settings, the ones that matter, shrink toward the noise.
fn clip_low(mut ys: Vec<f64>) -> Vec<f64> {
    let mut sorted = ys.clone();
    sorted.sort_by(f64::total_cmp);
    if let Some(&floor) = sorted.get(sorted.len() / QUANTILE) {
        for y in &mut ys {
            *y = y.max(floor);
        }
    }
    ys
}
const QUANTILE: usize = 4;

/// Held trials before their own mean replaces the process's as the hold's reference.
const HELD_REFERENCE: u32 = 3;

fn bad(field: &'static str, problem: &str) -> TunerError {
    TunerError::BadConfig {
        field,
        problem: problem.into(),
    }
}

/// One evaluation period's result under the setting in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// End of the period, in seconds on the caller's clock.
    pub t_s: f64,
    pub reward: f64,
    pub load: Load,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A trial: the next point of the design or of expected improvement.
    Explore,
    /// Back to the last good setting after a trial's reward dropped.
    Rollback,
    /// Exploration is over: the best setting, held from now on.
    Converge,
    /// The held setting degraded: searching again.
    Retune,
}

impl Reason {
    pub fn name(&self) -> &'static str {
        match self {
            Reason::Explore => "explore",
            Reason::Rollback => "rollback",
            Reason::Converge => "converge",
            Reason::Retune => "retune",
        }
    }
}

/// A new setting to apply: every value within its parameter's bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub t_s: f64,
    pub reason: Reason,
    pub from: Vec<f64>,
    pub to: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Exploring,
    Holding,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunerStats {
    pub observations: u64,
    pub trials: u64,
    pub changes: u64,
    pub rollbacks: u64,
    pub retunes: u64,
    /// Observations ignored because tuning was paused.
    pub paused: u64,
}

#[derive(Debug, Clone)]
struct Trial {
    x: Vec<f64>,
    setting: Vec<f64>,
    reward: f64,
}

#[derive(Debug)]
pub struct Tuner {
    config: TunerConfig,
    current: Vec<f64>,
    /// Rewards of the current trial so far (a trial lasts at least one cooldown).
    sum: f64,
    samples: u32,
    history: Vec<Trial>,
    /// The best setting known and its expected reward (the GP's mean there).
    incumbent: Option<(Vec<f64>, f64)>,
    phase: Phase,
    cooldown: Cooldown,
    rng: SplitMix64,
    /// Rotation and next index of the Halton sequence of the initial design.
    shift: Vec<f64>,
    design: u64,
    /// Consecutive drops of the incumbent itself.
    strikes: u32,
    /// Rewards seen while holding (not dropped ones): their mean becomes the reference.
    held: (f64, u32),
    last_t: Option<f64>,
    last_pause: Option<Pause>,
    last_ei: Option<f64>,
    stats: TunerStats,
}

impl Tuner {
    pub fn new(config: TunerConfig) -> Result<Tuner, TunerError> {
        config.validate()?;
        let current: Vec<f64> = config.params.iter().map(|p| p.clamp(p.initial)).collect();
        let mut rng = SplitMix64::new(config.search.seed);
        let shift = (0..current.len()).map(|_| rng.unit()).collect();
        Ok(Tuner {
            cooldown: Cooldown::new(current.len(), config.safety.cooldown_s),
            config,
            current,
            sum: 0.0,
            samples: 0,
            history: Vec::new(),
            incumbent: None,
            phase: Phase::Exploring,
            rng,
            shift,
            design: 1,
            strikes: 0,
            held: (0.0, 0),
            last_t: None,
            last_pause: None,
            last_ei: None,
            stats: TunerStats::default(),
        })
    }

    pub fn params(&self) -> &[ParamSpec] {
        &self.config.params
    }

    /// The setting in force (as far as the tuner knows: the caller applies changes).
    pub fn current(&self) -> &[f64] {
        &self.current
    }

    /// The value in force of the parameter called `name`.
    pub fn value_of(&self, name: &str) -> Result<f64, TunerError> {
        self.config
            .params
            .iter()
            .position(|p| p.name == name)
            .map(|i| self.current[i])
            .ok_or_else(|| TunerError::UnknownParameter(name.to_string()))
    }

    /// The best setting known, once there is one.
    pub fn best(&self) -> Option<&[f64]> {
        self.incumbent.as_ref().map(|(s, _)| s.as_slice())
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn stats(&self) -> TunerStats {
        self.stats
    }

    /// The time of the last observation.
    pub fn last_time(&self) -> Option<f64> {
        self.last_t
    }

    /// Why the last observation was ignored, if it was.
    pub fn last_pause(&self) -> Option<Pause> {
        self.last_pause
    }

    /// The best expected improvement of the last proposal, in reward units.
    pub fn last_ei(&self) -> Option<f64> {
        self.last_ei
    }

    /// Takes one period's reward; returns the change to apply now, if any.
    pub fn observe(&mut self, obs: &Observation) -> Result<Option<Change>, TunerError> {
        self.check(obs)?;
        self.last_t = Some(obs.t_s);
        self.stats.observations += 1;
        self.last_pause = self.config.safety.pause_reason(&obs.load);
        if self.last_pause.is_some() {
            // Under pressure the reward says little about the setting, and any change
            // could add to the pressure: nothing is learnt and nothing moves.
            self.stats.paused += 1;
            return Ok(None);
        }
        self.sum += obs.reward;
        self.samples += 1;
        if !self.cooldown.all_ready(obs.t_s) {
            return Ok(None);
        }
        let reward = self.sum / f64::from(self.samples);
        self.sum = 0.0;
        self.samples = 0;
        let proposal = match self.phase {
            Phase::Exploring => self.explore(reward)?,
            Phase::Holding => self.hold(reward),
        };
        Ok(proposal.and_then(|(to, reason)| self.apply(obs.t_s, to, reason)))
    }

    fn check(&self, obs: &Observation) -> Result<(), TunerError> {
        for (field, value) in [
            ("time", obs.t_s),
            ("reward", obs.reward),
            ("cpu_cores", obs.load.cpu_cores),
            ("memory_fraction", obs.load.memory_fraction),
        ] {
            if !value.is_finite() {
                return Err(TunerError::NotFinite {
                    field,
                    value,
                    t_s: obs.t_s,
                });
            }
        }
        match self.last_t {
            Some(last_s) if obs.t_s < last_s => Err(TunerError::TimeWentBackwards {
                t_s: obs.t_s,
                last_s,
            }),
            _ => Ok(()),
        }
    }

    fn unit(&self, setting: &[f64]) -> Vec<f64> {
        self.config
            .params
            .iter()
            .zip(setting)
            .map(|(p, v)| p.to_unit(*v))
            .collect()
    }

    fn setting_at(&self, x: &[f64]) -> Vec<f64> {
        self.config
            .params
            .iter()
            .zip(x)
            .map(|(p, u)| p.from_unit(*u))
            .collect()
    }

    /// Closes an exploration trial and proposes the next setting.
    fn explore(&mut self, reward: f64) -> Result<Option<(Vec<f64>, Reason)>, TunerError> {
        let safety = self.config.safety;
        let previous = self.incumbent.clone();
        let at_incumbent = previous.as_ref().is_some_and(|(s, _)| *s == self.current);
        let dropped = previous
            .as_ref()
            .is_some_and(|(_, r)| safety.dropped(*r, reward));
        self.history.push(Trial {
            x: self.unit(&self.current),
            setting: self.current.clone(),
            reward,
        });
        self.stats.trials += 1;
        if dropped && at_incumbent {
            self.strikes += 1;
            if self.strikes >= safety.confirm_drops {
                return Ok(Some(self.retune(reward)));
            }
        } else if !dropped {
            self.strikes = 0;
        }
        let gp = self.fit()?;
        let n = self.history.len();
        let budget_spent = n >= self.config.search.max_trials;
        // With the budget spent, converging onto the best is the way back anyway.
        if dropped
            && !at_incumbent
            && !budget_spent
            && let Some((last_good, _)) = previous
        {
            self.stats.rollbacks += 1;
            return Ok(Some((last_good, Reason::Rollback)));
        }
        if n < self.config.initial_points() {
            let x = halton(self.design, &self.shift);
            self.design += 1;
            return Ok(Some((self.setting_at(&x), Reason::Explore)));
        }
        let (best_x, best_mean) = self.incumbent_point(&gp);
        let cands = candidates(
            best_x.len(),
            self.config.search.candidates,
            &best_x,
            &mut self.rng,
        );
        let (next, ei) = maximise(&gp, &cands, best_mean, self.config.search.xi)
            .ok_or_else(|| TunerError::Numerical("no candidates".into()))?;
        // In reward units, against the reward itself: "the most the model still hopes to
        // gain is a negligible share of what we have".
        let ei = ei * gp.y_std();
        self.last_ei = Some(ei);
        let reference = self
            .incumbent
            .as_ref()
            .map_or(0.0, |(_, r)| r.abs().max(1e-6));
        let settled = n >= self.config.initial_points() + 5 * self.current.len()
            && ei < self.config.search.ei_threshold * reference;
        if budget_spent || settled {
            self.phase = Phase::Holding;
            self.held = (0.0, 0);
            self.strikes = 0;
            let best = self.incumbent.as_ref().map(|(s, _)| s.clone());
            return Ok(best.map(|b| (b, Reason::Converge)));
        }
        Ok(Some((self.setting_at(&next), Reason::Explore)))
    }

    /// Fits the process to the trials and updates the incumbent: the tried setting with
    /// the highest posterior mean (not the highest raw reward, which favours luck).
    fn fit(&mut self) -> Result<Gp, TunerError> {
        let xs: Vec<Vec<f64>> = self.history.iter().map(|t| t.x.clone()).collect();
        let ys = clip_low(self.history.iter().map(|t| t.reward).collect());
        let gp = Gp::fit(&xs, &ys)?;
        let (i, mean) = self.best_trial(&gp);
        self.incumbent = Some((self.history[i].setting.clone(), gp.unstandardise(mean)));
        Ok(gp)
    }

    fn best_trial(&self, gp: &Gp) -> (usize, f64) {
        let mut best = (0, f64::NEG_INFINITY);
        for (i, t) in self.history.iter().enumerate() {
            let (m, _) = gp.predict_std(&t.x);
            if m > best.1 {
                best = (i, m);
            }
        }
        best
    }

    fn incumbent_point(&self, gp: &Gp) -> (Vec<f64>, f64) {
        let (i, mean) = self.best_trial(gp);
        (self.history[i].x.clone(), mean)
    }

    /// A held trial: nothing moves unless the held setting keeps dropping.
    /// The reference is the process's mean at the held setting until a few held trials
    /// give their own mean: the best of a noisy search tends to be its luckiest, and
    /// measuring against that luck would call noise a degradation.
    fn hold(&mut self, reward: f64) -> Option<(Vec<f64>, Reason)> {
        let (sum, n) = self.held;
        let reference = if n >= HELD_REFERENCE {
            sum / f64::from(n)
        } else {
            self.incumbent.as_ref().map(|(_, r)| *r)?
        };
        if self.config.safety.dropped(reference, reward) {
            self.strikes += 1;
            if self.strikes >= self.config.safety.confirm_drops {
                return Some(self.retune(reward));
            }
        } else {
            self.strikes = 0;
            self.held = (sum + reward, n + 1);
        }
        None
    }

    /// The environment changed under the best setting: forget the old trials (they
    /// describe another world), keep this one, and start a new design from here.
    fn retune(&mut self, reward: f64) -> (Vec<f64>, Reason) {
        self.stats.retunes += 1;
        self.strikes = 0;
        self.phase = Phase::Exploring;
        self.history = vec![Trial {
            x: self.unit(&self.current),
            setting: self.current.clone(),
            reward,
        }];
        self.incumbent = Some((self.current.clone(), reward));
        let x = halton(self.design, &self.shift);
        self.design += 1;
        (self.setting_at(&x), Reason::Retune)
    }

    /// Bounds and cooldown, then the change; None when nothing would move.
    fn apply(&mut self, t_s: f64, to: Vec<f64>, reason: Reason) -> Option<Change> {
        let to: Vec<f64> = self
            .config
            .params
            .iter()
            .zip(&to)
            .map(|(p, v)| p.clamp(*v))
            .collect();
        let moved: Vec<usize> = (0..to.len())
            .filter(|&i| to[i] != self.current[i])
            .collect();
        // Trials close only when every parameter is ready, so this holds by
        // construction; checked anyway, as the rule is the promise.
        if moved.is_empty() || moved.iter().any(|&i| !self.cooldown.ready(i, t_s)) {
            return None;
        }
        for &i in &moved {
            self.cooldown.changed(i, t_s);
        }
        self.stats.changes += 1;
        let change = Change {
            t_s,
            reason,
            from: std::mem::replace(&mut self.current, to.clone()),
            to,
        };
        Some(change)
    }
}

//! Tuner case files: a simulated environment (its noise, load and degradation), the
//! tuner's settings and what must happen, run one seed at a time. qb-scenarios loads
//! them from `scenarios/cases/tuner/` (a file whose `source.kind` is `"tuner"`) and runs
//! one trial per seed beside the gadgets' cases; see `scenarios/README.md`.
//!
//! Not the gadgets' replay: that runner feeds frames through the engine and checks
//! decisions against labels, open loop. Tuning is closed loop (each setting changes
//! what is measured next), so the environment has to answer the tuner.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::sim::{Degrade, Env, Step, direction_changes, run};
use crate::{Load, Phase, SafetyConfig, SearchConfig, Tuner, TunerConfig, TunerError};

/// What `source.kind` says in a tuner case.
pub const SOURCE_KIND: &str = "tuner";

/// One case file, checked: every value usable as is.
#[derive(Debug, Clone, PartialEq)]
pub struct TunerCase {
    pub description: String,
    /// One of [`crate::sim::ENVIRONMENTS`].
    pub environment: String,
    pub seeds: Vec<u64>,
    /// Standard deviation of the reward noise, in reward units.
    pub noise: f64,
    pub periods: usize,
    pub period_s: f64,
    /// Overrides the environment's initial values, in parameter order.
    pub initial: Option<Vec<f64>>,
    pub load: Option<CaseLoad>,
    /// From `at_s` on, the environment degrades so.
    pub degrade: Option<(f64, Degrade)>,
    pub search: SearchConfig,
    pub safety: SafetyConfig,
    pub expect: Expect,
    /// A must-fail case: it passes only when it fails with this text in the message.
    pub expect_failure: Option<String>,
    /// Trial (`seed-N`) -> why it is known to fail.
    pub known_failure: BTreeMap<String, String>,
}

/// The agent's load reported with every sample (the pause rule reads it).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseLoad {
    #[serde(default)]
    pub cpu_cores: f64,
    #[serde(default)]
    pub memory_fraction: f64,
    #[serde(default)]
    pub pause_file: bool,
}

/// What must (or must not) happen in a run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The held setting's true reward is within this % of the true best (at the end).
    pub converges_within_pct: Option<f64>,
    /// The tuner first holds after at most this many trials.
    pub max_trials: Option<u64>,
    /// Reversals of direction, per parameter summed, once the tuner holds for good.
    pub max_direction_changes: Option<usize>,
    /// Changes once the tuner holds for good.
    pub max_changes_after_hold: Option<usize>,
    /// No change at all, ever.
    #[serde(default)]
    pub must_not_change: bool,
    pub min_rollbacks: Option<u64>,
    pub max_rollbacks: Option<u64>,
    pub min_retunes: Option<u64>,
    pub max_retunes: Option<u64>,
}

impl Expect {
    fn is_empty(&self) -> bool {
        *self == Expect::default()
    }

    /// Whether the case wants the tuner to *do* something: reach a good setting, roll
    /// back, retune. A case that only bounds activity (no change, no retune, at most N
    /// trials or changes) wants it to stay quiet. `max_trials` alone is a bound: a
    /// flat reward must still hold in time, and holding is not acting.
    pub fn wants_action(&self) -> bool {
        self.converges_within_pct.is_some()
            || self.min_rollbacks.is_some_and(|n| n > 0)
            || self.min_retunes.is_some_and(|n| n > 0)
    }
}

/// Why a case file is refused: the TOML itself, or a field that parsed but makes no
/// sense. The caller adds the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseError {
    #[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Toml {
        line: Option<usize>,
        message: String,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

/// Why a seed of a case failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseFailure {
    #[error("the tuner refused: {0}")]
    Tuner(#[from] TunerError),
    /// What went wrong, and the run's numbers.
    #[error("{} ({summary})", problems.join("; "))]
    Expectations {
        problems: Vec<String>,
        summary: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    description: String,
    source: RawSource,
    #[serde(default)]
    config: RawConfig,
    expect: Expect,
    expect_failure: Option<String>,
    #[serde(default)]
    known_failure: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: String,
    environment: String,
    seeds: Vec<u64>,
    #[serde(default = "default_noise")]
    noise: f64,
    #[serde(default = "default_periods")]
    periods: usize,
    #[serde(default = "default_period_s")]
    period_s: f64,
    initial: Option<Vec<f64>>,
    load: Option<CaseLoad>,
    degrade: Option<RawDegrade>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    search: SearchConfig,
    #[serde(default)]
    safety: SafetyConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDegrade {
    at_s: f64,
    /// Every reward falls to this share.
    scale: Option<f64>,
    /// The offered load is multiplied by this.
    load: Option<f64>,
}

fn default_noise() -> f64 {
    0.01
}
fn default_periods() -> usize {
    60
}
fn default_period_s() -> f64 {
    300.0
}

fn invalid(field: &str, message: impl Into<String>) -> CaseError {
    CaseError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks `text` as a tuner case.
pub fn parse(text: &str) -> Result<TunerCase, CaseError> {
    let raw: RawCase = toml::from_str(text).map_err(|e| CaseError::Toml {
        line: e
            .span()
            .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1),
        message: e.message().to_string(),
    })?;
    let s = raw.source;
    if s.kind != SOURCE_KIND {
        return Err(invalid(
            "source.kind",
            format!("{:?} is not a tuner case ({SOURCE_KIND:?})", s.kind),
        ));
    }
    if raw.description.trim().is_empty() {
        return Err(invalid("description", "say what the case proves"));
    }
    if s.seeds.is_empty() {
        return Err(invalid("source.seeds", "no seeds: nothing to run"));
    }
    let mut sorted = s.seeds.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != s.seeds.len() {
        return Err(invalid("source.seeds", "a seed is listed twice"));
    }
    // The environment checks its own name and noise.
    let env = Env::new(&s.environment, 0, s.noise).map_err(|e| match e {
        TunerError::BadConfig { field, problem } => invalid(&format!("source.{field}"), problem),
        other => invalid("source", other.to_string()),
    })?;
    if s.periods == 0 {
        return Err(invalid("source.periods", "at least one period"));
    }
    if !(s.period_s.is_finite() && s.period_s > 0.0) {
        return Err(invalid(
            "source.period_s",
            format!("{} must be a positive number of seconds", s.period_s),
        ));
    }
    if let Some(initial) = &s.initial {
        let want = env.params().len();
        if initial.len() != want {
            return Err(invalid(
                "source.initial",
                format!("{} values for {want} parameters", initial.len()),
            ));
        }
    }
    let degrade = match s.degrade {
        None => None,
        Some(d) => {
            let how = match (d.scale, d.load) {
                (Some(s), None) => Degrade::Scale(s),
                (None, Some(l)) => Degrade::Load(l),
                _ => {
                    return Err(invalid(
                        "source.degrade",
                        "needs exactly one of scale and load",
                    ));
                }
            };
            Some((d.at_s, how))
        }
    };
    if raw.expect.is_empty() {
        return Err(invalid("expect", "[expect] names nothing to check"));
    }
    Ok(TunerCase {
        description: raw.description,
        environment: s.environment,
        seeds: s.seeds,
        noise: s.noise,
        periods: s.periods,
        period_s: s.period_s,
        initial: s.initial,
        load: s.load,
        degrade,
        search: raw.config.search,
        safety: raw.config.safety,
        expect: raw.expect,
        expect_failure: raw.expect_failure,
        known_failure: raw.known_failure,
    })
}

/// One seed of a case: a note with the run's numbers, or what went wrong.
pub fn run_seed(case: &TunerCase, seed: u64) -> Result<String, CaseFailure> {
    let mut env = Env::new(&case.environment, seed, case.noise)?;
    if let Some(l) = &case.load {
        env.load = Load {
            cpu_cores: l.cpu_cores,
            memory_fraction: l.memory_fraction,
            pause_file: l.pause_file,
        };
    }
    env.degrade = case.degrade;
    let mut params = env.params();
    if let Some(initial) = &case.initial {
        if initial.len() != params.len() {
            return Err(TunerError::WrongArity {
                got: initial.len(),
                want: params.len(),
            }
            .into());
        }
        for (p, v) in params.iter_mut().zip(initial) {
            p.initial = *v;
        }
    }
    let mut tuner = Tuner::new(TunerConfig {
        params,
        search: SearchConfig {
            seed,
            ..case.search
        },
        safety: case.safety,
    })?;
    let steps = run(&mut tuner, &mut env, case.periods, case.period_s)?;
    check(&case.expect, &env, &tuner, &steps)
}

fn check(e: &Expect, env: &Env, tuner: &Tuner, steps: &[Step]) -> Result<String, CaseFailure> {
    let stats = tuner.stats();
    let mut problems = Vec::new();
    let changes = steps.iter().filter(|s| s.change.is_some()).count();
    if e.must_not_change && changes > 0 {
        problems.push(format!(
            "changed {changes} times, expected no change at all"
        ));
    }
    // Held for good: from the last entry into Holding to the end.
    let settled = steps
        .iter()
        .rposition(|s| s.phase != Phase::Holding)
        .map_or(0, |i| i + 1);
    let held_for_good = settled < steps.len();
    if let Some(max) = e.max_trials {
        match steps.iter().find(|s| s.phase == Phase::Holding) {
            Some(s) if s.trials <= max => {}
            Some(s) => problems.push(format!("held after {} trials, expected <= {max}", s.trials)),
            None => problems.push(format!("never held, expected by trial {max}")),
        }
    }
    if e.max_direction_changes.is_some() || e.max_changes_after_hold.is_some() {
        if !held_for_good {
            problems.push("still exploring at the end".into());
        } else {
            // The step that entered Holding made the converging change itself.
            let after = steps.get(settled + 1..).unwrap_or_default();
            let n = after.iter().filter(|s| s.change.is_some()).count();
            if e.max_changes_after_hold.is_some_and(|max| n > max) {
                problems.push(format!("{n} changes after holding"));
            }
            let d = direction_changes(after);
            if e.max_direction_changes.is_some_and(|max| d > max) {
                problems.push(format!("{d} direction changes after holding"));
            }
        }
    }
    let t_end = steps.last().map_or(0.0, |s| s.t_s);
    let (best_setting, best) = env.best(t_end);
    let got = env.expected(tuner.current(), t_end);
    let gap = 100.0 * (best - got) / best.abs().max(1e-9);
    if let Some(pct) = e.converges_within_pct
        && gap > pct
    {
        problems.push(format!(
            "held {:?} worth {got:.4}, {gap:.1} % below the best {best:.4} at {best_setting:?}",
            tuner.current()
        ));
    }
    for (what, value, min, max) in [
        (
            "rollbacks",
            stats.rollbacks,
            e.min_rollbacks,
            e.max_rollbacks,
        ),
        ("retunes", stats.retunes, e.min_retunes, e.max_retunes),
    ] {
        if min.is_some_and(|m| value < m) || max.is_some_and(|m| value > m) {
            problems.push(format!("{value} {what}, expected [{min:?}, {max:?}]"));
        }
    }
    let first_within = steps
        .iter()
        .find(|s| {
            s.best
                .as_deref()
                .is_some_and(|b| best - env.expected(b, s.t_s) <= 0.05 * best.abs())
        })
        .map_or("never".to_string(), |s| format!("trial {}", s.trials));
    let summary = format!(
        "{}: gap {gap:.2} %, best within 5 % from {first_within}, {} trials, {changes} changes, \
         {} rollbacks, {} retunes, {} paused",
        env.name(),
        stats.trials,
        stats.rollbacks,
        stats.retunes,
        stats.paused
    );
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(CaseFailure::Expectations { problems, summary })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAT: &str = r#"
description = "d"
[source]
kind = "tuner"
environment = "flat"
seeds = [1]
periods = 120
[expect]
max_trials = 16
max_changes_after_hold = 0
max_rollbacks = 0
"#;

    #[test]
    fn a_case_parses_with_defaults_and_runs() {
        let c = parse(FLAT).unwrap();
        assert_eq!((c.noise, c.periods, c.period_s), (0.01, 120, 300.0));
        assert_eq!(c.search, SearchConfig::default());
        assert!(!c.expect.wants_action());
        let note = run_seed(&c, 1).unwrap();
        assert!(note.starts_with("flat: gap 0.00 %"), "{note}");
    }

    #[test]
    fn mistakes_name_the_field() {
        let cases: &[(String, &str)] = &[
            (FLAT.replace("periods", "period"), "unknown field `period`"),
            (
                FLAT.replace("\"flat\"", "\"flit\""),
                "source.environment: unknown \"flit\"",
            ),
            (FLAT.replace("[1]", "[]"), "source.seeds: no seeds"),
            (
                FLAT.replace("[1]", "[2, 2]"),
                "source.seeds: a seed is listed twice",
            ),
            (
                FLAT.replace("\"tuner\"", "\"simulate\""),
                "source.kind: \"simulate\"",
            ),
            (
                FLAT.replace("periods = 120", "periods = 120\nnoise = -1"),
                "source.noise:",
            ),
            (
                FLAT.replace("periods = 120", "periods = 120\ninitial = [1.0]"),
                "source.initial: 1 values for 2 parameters",
            ),
            (
                FLAT.replace("[expect]", "[source.degrade]\nat_s = 1\n[expect]"),
                "source.degrade: needs exactly one of scale and load",
            ),
            (
                FLAT.replace(
                    "max_trials = 16\nmax_changes_after_hold = 0\nmax_rollbacks = 0\n",
                    "",
                ),
                "expect: [expect] names nothing to check",
            ),
            (
                format!("{FLAT}\n[config.search]\nbogus = 1"),
                "unknown field `bogus`",
            ),
        ];
        for (text, needle) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "wanted {needle:?} in: {e}");
        }
        let e = parse(&FLAT.replace("periods", "period")).unwrap_err();
        assert!(matches!(e, CaseError::Toml { line: Some(7), .. }), "{e:?}");
    }

    #[test]
    fn wanting_action_is_converging_rolling_back_or_retuning() {
        let quiet = Expect {
            max_trials: Some(16),
            max_retunes: Some(0),
            must_not_change: true,
            min_rollbacks: Some(0),
            ..Expect::default()
        };
        assert!(!quiet.wants_action());
        for fires in [
            Expect {
                converges_within_pct: Some(5.0),
                ..quiet.clone()
            },
            Expect {
                min_rollbacks: Some(1),
                ..quiet.clone()
            },
            Expect {
                min_retunes: Some(1),
                ..quiet.clone()
            },
        ] {
            assert!(fires.wants_action(), "{fires:?}");
        }
    }

    #[test]
    fn a_failed_expectation_names_it_and_keeps_the_numbers() {
        let c = parse(&FLAT.replace("max_trials = 16", "max_trials = 3")).unwrap();
        let e = run_seed(&c, 1).unwrap_err().to_string();
        assert!(e.contains("expected <= 3 (flat: gap"), "{e}");
    }
}

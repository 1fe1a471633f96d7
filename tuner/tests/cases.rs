//! Every case under `tuner/cases`, one trial per file and seed, named `<file>/seed-<n>`,
//! and every case under `tuner/cases/must-fail`, each of which must fail with its
//! `expect_failure` text (proof that the runner can fail). A case names a simulated
//! environment, its noise, load and degradation, the tuner's settings, and what must
//! happen: `cargo test -p qb-tuner --test cases -- flat` runs a subset.
//!
//! Not qb-scenarios' runner: that one replays frames through the gadget engine and
//! checks decisions against labels, open loop. Tuning is closed loop (each setting
//! changes what is measured next), so the environment has to answer the tuner.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use qb_tuner::sim::{Degrade, Env, Step, direction_changes, run};
use qb_tuner::{Load, Phase, SafetyConfig, SearchConfig, Tuner, TunerConfig};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    environment: String,
    seeds: Vec<u64>,
    #[serde(default = "default_noise")]
    noise: f64,
    #[serde(default = "default_periods")]
    periods: usize,
    #[serde(default = "default_period_s")]
    period_s: f64,
    /// Overrides the environment's initial values, in parameter order.
    initial: Option<Vec<f64>>,
    #[serde(default)]
    search: SearchConfig,
    #[serde(default)]
    safety: SafetyConfig,
    load: Option<CaseLoad>,
    degrade: Option<CaseDegrade>,
    expect: Expect,
    /// Only under must-fail/: the failure message must contain this.
    expect_failure: Option<String>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseLoad {
    #[serde(default)]
    cpu_cores: f64,
    #[serde(default)]
    memory_fraction: f64,
    #[serde(default)]
    pause_file: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseDegrade {
    at_s: f64,
    /// Every reward falls to this share.
    scale: Option<f64>,
    /// The offered load is multiplied by this.
    load: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// The held setting's true reward is within this % of the true best (at the end).
    converges_within_pct: Option<f64>,
    /// The tuner first holds after at most this many trials.
    max_trials: Option<u64>,
    /// Reversals of direction, per parameter summed, once the tuner holds for good.
    max_direction_changes: Option<usize>,
    /// Changes once the tuner holds for good.
    max_changes_after_hold: Option<usize>,
    /// No change at all, ever.
    #[serde(default)]
    must_not_change: bool,
    min_rollbacks: Option<u64>,
    max_rollbacks: Option<u64>,
    min_retunes: Option<u64>,
    max_retunes: Option<u64>,
}

impl Expect {
    fn is_empty(&self) -> bool {
        self.converges_within_pct.is_none()
            && self.max_trials.is_none()
            && self.max_direction_changes.is_none()
            && self.max_changes_after_hold.is_none()
            && !self.must_not_change
            && self.min_rollbacks.is_none()
            && self.max_rollbacks.is_none()
            && self.min_retunes.is_none()
            && self.max_retunes.is_none()
    }
}

fn load(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let case: Case = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if case.expect.is_empty() {
        return Err(format!(
            "{}: [expect] names nothing to check",
            path.display()
        ));
    }
    if case.seeds.is_empty() || case.description.trim().is_empty() {
        return Err(format!("{}: needs a description and seeds", path.display()));
    }
    Ok(case)
}

/// One seed of a case: Ok, or what went wrong.
fn run_case(case: &Case, seed: u64) -> Result<String, String> {
    let mut env = Env::new(&case.environment, seed, case.noise).map_err(|e| e.to_string())?;
    if let Some(l) = &case.load {
        env.load = Load {
            cpu_cores: l.cpu_cores,
            memory_fraction: l.memory_fraction,
            pause_file: l.pause_file,
        };
    }
    if let Some(d) = &case.degrade {
        let how = match (d.scale, d.load) {
            (Some(s), None) => Degrade::Scale(s),
            (None, Some(l)) => Degrade::Load(l),
            _ => return Err("[degrade] needs exactly one of scale and load".into()),
        };
        env.degrade = Some((d.at_s, how));
    }
    let mut params = env.params();
    if let Some(initial) = &case.initial {
        if initial.len() != params.len() {
            return Err(format!(
                "initial: {} values for {} parameters",
                initial.len(),
                params.len()
            ));
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
    })
    .map_err(|e| e.to_string())?;
    let steps =
        run(&mut tuner, &mut env, case.periods, case.period_s).map_err(|e| e.to_string())?;
    check(case, &env, &tuner, &steps)
}

fn check(case: &Case, env: &Env, tuner: &Tuner, steps: &[Step]) -> Result<String, String> {
    let e = &case.expect;
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
            let after = &steps[(settled + 1).min(steps.len())..];
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
        "gap {gap:.2} %, best within 5 % from {first_within}, {} trials, {changes} changes, \
         {} rollbacks, {} retunes, {} paused",
        stats.trials, stats.rollbacks, stats.retunes, stats.paused
    );
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(format!("{} ({summary})", problems.join("; ")))
    }
}

fn folder(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(sub)
}

fn trials(dir: &str, must_fail: bool) -> Vec<Trial> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder(dir))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let stem = path
            .file_stem()
            .map_or(String::new(), |s| s.to_string_lossy().into_owned());
        let name = if must_fail {
            format!("must-fail/{stem}")
        } else {
            stem
        };
        let case = match load(&path) {
            Ok(c) => Arc::new(c),
            // A broken case file is one failing trial that names it, not a panic.
            Err(message) => {
                out.push(Trial::test(format!("{name}/load"), move || {
                    Err(message.into())
                }));
                continue;
            }
        };
        if must_fail != case.expect_failure.is_some() {
            let message = format!(
                "{}: cases under must-fail/ need expect_failure, and only they may have it",
                path.display()
            );
            out.push(Trial::test(format!("{name}/layout"), move || {
                Err(message.into())
            }));
            continue;
        }
        for &seed in &case.seeds {
            let case = Arc::clone(&case);
            out.push(Trial::test(format!("{name}/seed-{seed}"), move || {
                match (run_case(&case, seed), &case.expect_failure) {
                    (Ok(summary), None) => {
                        // Shown with --nocapture: the numbers behind README.md.
                        println!("{}: {summary}", case.environment);
                        Ok(())
                    }
                    (Err(e), None) => Err(Failed::from(e)),
                    (Err(e), Some(want)) if e.contains(want.as_str()) => Ok(()),
                    (Err(e), Some(want)) => {
                        Err(format!("failed, but not with {want:?}: {e}").into())
                    }
                    (Ok(summary), Some(want)) => {
                        Err(format!("expected to fail with {want:?}, passed: {summary}").into())
                    }
                }
            }));
        }
    }
    out
}

fn main() {
    let args = Arguments::from_args();
    let mut all = trials("cases", false);
    all.extend(trials("cases/must-fail", true));
    libtest_mimic::run(&args, all).exit();
}

//! Running a case: one trial per seed (or replay), every frame through one engine in
//! virtual time, then the expectations. Nothing here reads a clock but the timing of
//! the trial itself, so a trial's verdict and incidents are the same on every run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use qb_gadgets::{DaemonIds, Engine, ManualPause, RecordingActuator};
use qb_models::registry::Registry;

use crate::checks::{Outcomes, gadget_checks, tuner_check};
use crate::error::{Result, ScenarioError};
use crate::expect::{Observed, assess_expect, check_quiet, seen_kind, subject, worth_keeping};
use crate::format::{Case, Source, load, trial_names};
pub use crate::results::{Check, Status, TrialResult};
use crate::source::{episode_label, open};

/// Why live trials do not run here.
pub const LIVE_SKIP: &str = "live sources are run by the live end-to-end tests";

/// One trial: a case and one of its seeds.
#[derive(Debug, Clone)]
pub struct Trial<'a> {
    pub case: &'a Case,
    /// `seed-N`, `replay` or `live`.
    pub suffix: String,
    pub seed: Option<u64>,
}

impl Trial<'_> {
    /// `<area>/<name>/seed-<n>`
    pub fn name(&self) -> String {
        format!("{}/{}", self.case.name, self.suffix)
    }
}

/// What the expectations concluded, before known and expected failures are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// One note per check: what matched (times, leads, confidences).
    Pass(Vec<String>),
    Fail(String),
    Skipped(String),
}

/// Every trial of `case`.
pub fn trials(case: &Case) -> Vec<Trial<'_>> {
    let seeds: Vec<Option<u64>> = match &case.source {
        Source::Simulate { seeds, .. } => seeds.iter().copied().map(Some).collect(),
        Source::Tuner(t) => t.seeds.iter().copied().map(Some).collect(),
        _ => vec![None],
    };
    trial_names(&case.source)
        .into_iter()
        .zip(seeds)
        .map(|(suffix, seed)| Trial { case, suffix, seed })
        .collect()
}

/// The case files under each path (a file, or a folder searched recursively), sorted.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| ScenarioError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| ScenarioError::Io {
        path: dir.into(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads every case file under `paths`.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Case>> {
    discover(paths)?.iter().map(|p| load(p)).collect()
}

/// Runs every frame of a trial through one engine and keeps what the checks need.
pub fn observe(trial: &Trial) -> Result<Option<Observed>> {
    let case = trial.case;
    let Some(mut episode) = open(case, trial.seed)? else {
        return Ok(None);
    };
    let registry = Registry::embedded().map_err(|e| ScenarioError::Registry(e.to_string()))?;
    let mut config = case.config.clone();
    // The guard refuses this process's own pid and its parent's; a replay is not the
    // daemon, and a simulated pid that happens to equal the test runner's must not
    // change the verdict.
    config.policy.daemon = DaemonIds {
        pid: u32::MAX,
        ppid: u32::MAX,
    };
    let mut engine: Engine<RecordingActuator, ManualPause> = qb_gadgets::engine(
        &config,
        &registry,
        RecordingActuator::default(),
        ManualPause::default(),
    );
    let mut obs = Observed::default();
    while let Some(frame) = episode.next_frame().map_err(|e| ScenarioError::Source {
        path: case.path.clone(),
        message: e.to_string(),
    })? {
        if obs.frames == 0 {
            obs.start_ns = frame.ts_ns;
        }
        obs.end_ns = frame.ts_ns;
        obs.frames += 1;
        let report = engine.step(&frame);
        for d in &report.decisions {
            note(&mut obs, d, false);
        }
        for h in &report.suppressed {
            note(&mut obs, &h.decision, true);
        }
        obs.decisions.extend(
            report
                .decisions
                .into_iter()
                .filter(|d| worth_keeping(d, false, &case.expects, &case.quiets)),
        );
        obs.suppressed.extend(
            report
                .suppressed
                .into_iter()
                .filter(|h| worth_keeping(&h.decision, true, &case.expects, &case.quiets)),
        );
        obs.incidents.extend(report.incidents);
    }
    let wanted = match &case.source {
        Source::Simulate { label, .. } | Source::Replay { label, .. } => label.as_deref(),
        Source::Live { .. } | Source::Tuner(_) => None,
    };
    obs.label = episode_label(episode.labels(), wanted);
    if wanted.is_some() && obs.label.is_none() {
        return Err(ScenarioError::invalid(
            &case.path,
            "source.label",
            format!("the run has no {:?} label", wanted.unwrap_or_default()),
        ));
    }
    Ok(Some(obs))
}

/// Counts a decision (or a suppressed one) in the summary failures quote.
fn note(obs: &mut Observed, d: &qb_gadgets::Decision, suppressed: bool) {
    let key = (
        d.gadget.to_string(),
        seen_kind(d.kind, suppressed),
        subject(d),
    );
    let seen = obs.seen.entry(key).or_default();
    seen.count += 1;
    if d.confidence > seen.max_confidence || seen.count == 1 {
        seen.max_confidence = d.confidence;
        seen.max_at_ns = d.ts_ns;
    }
}

/// The expectations' verdict on a trial.
pub fn verdict(trial: &Trial) -> Verdict {
    evaluate(trial).0
}

/// The verdict, and one check per gadget the case speaks about (none when skipped).
pub fn evaluate(trial: &Trial) -> (Verdict, Vec<Check>) {
    let case = trial.case;
    if let Source::Tuner(t) = &case.source {
        let Some(seed) = trial.seed else {
            let why = format!("{}: a tuner trial needs a seed", case.path.display());
            return (Verdict::Fail(why), tuner_check(case, false));
        };
        return match qb_tuner::cases::run_seed(t, seed) {
            Ok(note) => (Verdict::Pass(vec![note]), tuner_check(case, true)),
            Err(e) => (Verdict::Fail(e.to_string()), tuner_check(case, false)),
        };
    }
    let obs = match observe(trial) {
        Ok(Some(obs)) => obs,
        Ok(None) => return (Verdict::Skipped(LIVE_SKIP.into()), Vec::new()),
        Err(e) => return (Verdict::Fail(e.to_string()), gadget_checks(case, None)),
    };
    if obs.frames == 0 {
        let why = format!("{}: the source gave no frames", case.path.display());
        return (Verdict::Fail(why), gadget_checks(case, None));
    }
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    let mut outcomes = Outcomes::default();
    for e in &case.expects {
        let outcome = assess_expect(e, &obs);
        outcomes
            .expects
            .push((outcome.result.is_ok(), outcome.lead_s));
        match outcome.result {
            Ok(note) => notes.push(note),
            Err(why) => failures.push(why),
        }
    }
    for q in &case.quiets {
        let result = check_quiet(q, &obs);
        outcomes.quiets.push(result.is_ok());
        match result {
            Ok(note) => notes.push(note),
            Err(why) => failures.push(why),
        }
    }
    let checks = gadget_checks(case, Some(&outcomes));
    if failures.is_empty() {
        (Verdict::Pass(notes), checks)
    } else {
        (Verdict::Fail(failures.join("\n")), checks)
    }
}

/// Runs a trial and applies the case's known and expected failures.
pub fn run(trial: &Trial) -> TrialResult {
    let started = Instant::now();
    let (verdict, checks) = evaluate(trial);
    let case = trial.case;
    let known = case.known_failures.get(&trial.suffix);
    let (status, message) = match (verdict, &case.expect_failure, known) {
        (Verdict::Skipped(why), _, _) => (Status::Skip, format!("skipped: {why}")),
        (Verdict::Fail(why), Some(wanted), _) if why.contains(wanted.as_str()) => {
            (Status::Pass, format!("failed as it must: {why}"))
        }
        (Verdict::Fail(why), Some(wanted), _) => (
            Status::Fail,
            format!("a must-fail case failed, but not with {wanted:?}: {why}"),
        ),
        (Verdict::Pass(notes), Some(wanted), _) => (
            Status::Fail,
            format!(
                "a must-fail case passed (wanted a failure with {wanted:?}): {}",
                notes.join("; ")
            ),
        ),
        (Verdict::Fail(why), None, Some(known)) => {
            (Status::Known, format!("known failure ({known}): {why}"))
        }
        (Verdict::Pass(notes), None, Some(known)) => (
            Status::Fail,
            format!(
                "listed as a known failure ({known}) but passes now: remove known_failure.{} from {}; {}",
                trial.suffix,
                case.path.display(),
                notes.join("; ")
            ),
        ),
        (Verdict::Fail(why), None, None) => (Status::Fail, why),
        (Verdict::Pass(notes), None, None) => (Status::Pass, notes.join("; ")),
    };
    TrialResult {
        name: trial.name(),
        case: case.name.clone(),
        source: case.source.kind(),
        seed: trial.seed,
        must_fail: case.expect_failure.is_some(),
        status,
        message,
        elapsed: started.elapsed(),
        checks,
    }
}

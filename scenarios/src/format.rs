//! The case file format (`scenarios/cases/<area>/<name>.toml`): parsed strictly (unknown
//! keys are errors), then checked into a [`Case`] whose every value is usable as is.
//! A file whose `source.kind` is `"tuner"` is a Tuner case, in qb-tuner's own format
//! (`qb_tuner::cases`). See `scenarios/README.md` for every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qb_gadgets::Config;
use qb_simulator::{IncidentKind, MemoryKind, PiiKind, RoutineKind, StuckKind, ToxicKind};
use qb_tuner::cases::{CaseError, TunerCase};
use serde::Deserialize;

use crate::error::{Result, ScenarioError};
use crate::results::SourceKind;

/// Decision kinds the gadgets emit (a typo in a case would otherwise just never match).
pub const DECISION_KINDS: &[&str] = &[
    "oom_forecast",
    "oom_confirmed",
    "oom_averted",
    "false_positive",
    "stuck",
    "toxic_connection",
    "toxic_protected",
    "pii_detected",
    "log_flush",
    "metric_spike",
    "routine",
];
/// Incident actions: the rules' actions and the restart's escalation.
pub const ACTIONS: &[&str] = &[
    "report",
    "sample_faster",
    "drop_caches",
    "runtime_hook",
    "restart",
    "kill",
    "end_connection",
    "sigkill_after_grace",
];
/// Incident outcomes, as `qb_gadgets::Outcome` names them.
pub const OUTCOMES: &[&str] = &qb_gadgets::Outcome::NAMES;

/// One case file, checked.
#[derive(Debug, Clone)]
pub struct Case {
    pub path: PathBuf,
    /// `<area>/<name>`: the folder and the file stem.
    pub name: String,
    pub description: String,
    pub source: Source,
    pub config: Config,
    pub expects: Vec<Expect>,
    pub quiets: Vec<Quiet>,
    /// A must-fail case: it passes only when it fails with this text in the message.
    pub expect_failure: Option<String>,
    /// Trial (`seed-N`, `replay`) -> why it is known to fail.
    pub known_failures: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Simulate {
        generator: GeneratorKind,
        seeds: Vec<u64>,
        duration: Duration,
        interval: Duration,
        label: Option<String>,
    },
    /// A recorded or simulated dataset directory (absolute, resolved from the case file).
    Replay {
        path: PathBuf,
        label: Option<String>,
    },
    /// Parsed, not run here: the live end-to-end tests run real workloads.
    Live { workload: String },
    /// The Tuner against a simulated environment, closed loop: no frames, no engine.
    Tuner(Box<TunerCase>),
}

impl Source {
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Simulate { .. } => SourceKind::Simulate,
            Source::Replay { .. } => SourceKind::Replay,
            Source::Live { .. } => SourceKind::Live,
            Source::Tuner(_) => SourceKind::Tuner,
        }
    }
}

/// The gadget name a Tuner case's checks report.
pub const TUNER: &str = "tuner";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorKind {
    Memory(MemoryKind),
    Stuck(StuckKind),
    Toxic(ToxicKind),
    Pii(PiiKind),
    Incident(IncidentKind),
    Routine(RoutineKind),
}

impl GeneratorKind {
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let (family, kind) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not <family>/<kind> (e.g. memory/linear_leak)"))?;
        let err = |e: qb_simulator::SimError| e.to_string();
        Ok(match family {
            "memory" => GeneratorKind::Memory(kind.parse().map_err(err)?),
            "stuck" => GeneratorKind::Stuck(kind.parse().map_err(err)?),
            "toxic" => GeneratorKind::Toxic(kind.parse().map_err(err)?),
            "pii" => GeneratorKind::Pii(kind.parse().map_err(err)?),
            "incident" => GeneratorKind::Incident(kind.parse().map_err(err)?),
            "routine" => GeneratorKind::Routine(kind.parse().map_err(err)?),
            other => {
                return Err(format!(
                    "unknown family {other:?} (families: memory, stuck, toxic, pii, incident, routine)"
                ));
            }
        })
    }

    /// A memory episode needs the time to leak to its kill; a routine, three weekly
    /// jobs (16 days); the others unfold in minutes.
    pub fn default_duration(self) -> Duration {
        match self {
            GeneratorKind::Memory(_) => Duration::from_secs(30 * 60),
            GeneratorKind::Routine(_) => Duration::from_secs(16 * 86_400),
            _ => Duration::from_secs(10 * 60),
        }
    }

    /// Weeks of a routine at 60 s ticks (~23k frames); everything else at 1 s.
    pub fn default_interval(self) -> Duration {
        match self {
            GeneratorKind::Routine(_) => Duration::from_secs(60),
            _ => Duration::from_secs(1),
        }
    }

    pub fn name(self) -> String {
        match self {
            GeneratorKind::Memory(k) => format!("memory/{k}"),
            GeneratorKind::Stuck(k) => format!("stuck/{k}"),
            GeneratorKind::Toxic(k) => format!("toxic/{k}"),
            GeneratorKind::Pii(k) => format!("pii/{k}"),
            GeneratorKind::Incident(k) => format!("incident/{k}"),
            GeneratorKind::Routine(k) => format!("routine/{k}"),
        }
    }
}

/// Whose decisions or incidents an expectation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    Any,
    /// The labelled episode's target: its cgroup (memory) or `pid:N` (stuck).
    Label,
    /// Anything but the label's target (the bystanders).
    Other,
    Cgroup(String),
    Pid(u32),
}

impl TargetSpec {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        match text {
            "label" => Ok(TargetSpec::Label),
            "other" => Ok(TargetSpec::Other),
            t if t.starts_with('/') => Ok(TargetSpec::Cgroup(t.to_string())),
            t => match t.strip_prefix("pid:").map(str::parse::<u32>) {
                Some(Ok(pid)) => Ok(TargetSpec::Pid(pid)),
                _ => Err(format!(
                    "{t:?} is not a target (label, other, a cgroup path /..., or pid:N)"
                )),
            },
        }
    }
}

/// A time window: from the run's first frame, or from the label's onset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    FromStart(Duration, Duration),
    AfterOnset(Duration, Duration),
}

/// What an expectation looks for: a decision, or an incident of one of some actions.
#[derive(Debug, Clone, PartialEq)]
pub enum Wanted {
    Decision(String),
    Incident {
        actions: Vec<String>,
        outcome: Option<String>,
        stacks: Option<bool>,
    },
}

/// Something that must happen.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// `expect[N]` (1-based) in messages.
    pub index: usize,
    pub gadget: String,
    pub wanted: Wanted,
    pub target: TargetSpec,
    pub min_confidence: f64,
    /// At least this long before the label's event (`attributes.oom_ns`).
    pub lead: Option<Duration>,
    pub windows: Vec<Window>,
    /// A decision the engine's filter held back from the rules (a recognised routine),
    /// instead of one that reached them.
    pub suppressed: bool,
}

/// Something that must not happen: a gadget's decisions (of a kind, above a confidence)
/// or, with `actions_only`, its incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct Quiet {
    pub index: usize,
    pub gadget: String,
    pub decision: Option<String>,
    pub min_confidence: f64,
    pub actions_only: bool,
    pub target: TargetSpec,
    pub windows: Vec<Window>,
    /// Only decisions the engine's filter held back (no suppression may happen).
    pub suppressed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    description: String,
    source: RawSource,
    config: Option<toml::Table>,
    #[serde(default)]
    expect: Vec<RawExpect>,
    #[serde(default)]
    quiet: Vec<RawQuiet>,
    expect_failure: Option<String>,
    #[serde(default)]
    known_failure: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: String,
    generator: Option<String>,
    seeds: Option<Vec<u64>>,
    duration: Option<String>,
    interval: Option<String>,
    path: Option<String>,
    workload: Option<String>,
    label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    gadget: String,
    decision: Option<String>,
    action: Option<OneOrMany>,
    outcome: Option<String>,
    stacks: Option<bool>,
    target: Option<String>,
    min_confidence: Option<f64>,
    lead: Option<String>,
    within: Option<Vec<String>>,
    after_onset: Option<Vec<String>>,
    #[serde(default)]
    suppressed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuiet {
    gadget: String,
    decision: Option<String>,
    min_confidence: Option<f64>,
    #[serde(default)]
    actions: bool,
    target: Option<String>,
    within: Option<Vec<String>>,
    after_onset: Option<Vec<String>>,
    #[serde(default)]
    suppressed: bool,
}

/// Reads and checks one case file.
pub fn load(path: &Path) -> Result<Case> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        path: path.into(),
        source,
    })?;
    parse(path, &text)
}

/// Just enough of a file to tell a Tuner case from a gadget case.
#[derive(Debug, Deserialize)]
struct Peek {
    source: Option<PeekSource>,
}

#[derive(Debug, Deserialize)]
struct PeekSource {
    kind: Option<String>,
}

fn is_tuner_case(text: &str) -> bool {
    toml::from_str::<Peek>(text).is_ok_and(|p| {
        p.source
            .and_then(|s| s.kind)
            .is_some_and(|k| k == qb_tuner::cases::SOURCE_KIND)
    })
}

/// Checks `text` as the case file `path` (relative paths in it resolve from its folder).
pub fn parse(path: &Path, text: &str) -> Result<Case> {
    if is_tuner_case(text) {
        return parse_tuner(path, text);
    }
    let raw: RawCase = toml::from_str(text).map_err(|e| ScenarioError::Parse {
        path: path.into(),
        line: e
            .span()
            .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1),
        message: e.message().to_string(),
    })?;
    let invalid = |key: &str, message: String| ScenarioError::invalid(path, key, message);
    if raw.expect.is_empty() && raw.quiet.is_empty() {
        return Err(invalid(
            "expect",
            "a case needs at least one [[expect]] or [[quiet]]".into(),
        ));
    }
    let source = source(path, raw.source)?;
    let config = match raw.config {
        Some(table) => Config::from_table(table).map_err(|e| invalid("config", e.to_string()))?,
        None => Config::default(),
    };
    let expects = raw
        .expect
        .into_iter()
        .enumerate()
        .map(|(i, e)| expect(path, i + 1, e))
        .collect::<Result<Vec<_>>>()?;
    let quiets = raw
        .quiet
        .into_iter()
        .enumerate()
        .map(|(i, q)| quiet(path, i + 1, q))
        .collect::<Result<Vec<_>>>()?;
    check_failures(
        path,
        &source,
        raw.expect_failure.as_deref(),
        &raw.known_failure,
    )?;
    Ok(Case {
        path: path.into(),
        name: case_name(path),
        description: raw.description,
        source,
        config,
        expects,
        quiets,
        expect_failure: raw.expect_failure,
        known_failures: raw.known_failure,
    })
}

/// A Tuner case: qb-tuner checks its own keys, this file names the file.
fn parse_tuner(path: &Path, text: &str) -> Result<Case> {
    let tuner = qb_tuner::cases::parse(text).map_err(|e| match e {
        CaseError::Toml { line, message } => ScenarioError::Parse {
            path: path.into(),
            line,
            message,
        },
        CaseError::Invalid { field, message } => ScenarioError::invalid(path, field, message),
    })?;
    let description = tuner.description.clone();
    let expect_failure = tuner.expect_failure.clone();
    let known_failures = tuner.known_failure.clone();
    let source = Source::Tuner(Box::new(tuner));
    check_failures(path, &source, expect_failure.as_deref(), &known_failures)?;
    Ok(Case {
        path: path.into(),
        name: case_name(path),
        description,
        source,
        config: Config::default(),
        expects: Vec::new(),
        quiets: Vec::new(),
        expect_failure,
        known_failures,
    })
}

/// A must-fail text is not empty and excludes known failures; a known failure names a
/// trial of the case and says why.
fn check_failures(
    path: &Path,
    source: &Source,
    expect_failure: Option<&str>,
    known_failure: &BTreeMap<String, String>,
) -> Result<()> {
    let invalid = |key: &str, message: String| ScenarioError::invalid(path, key, message);
    if let Some(text) = expect_failure {
        if text.trim().is_empty() {
            return Err(invalid("expect_failure", "must not be empty".into()));
        }
        if !known_failure.is_empty() {
            return Err(invalid(
                "known_failure",
                "a must-fail case (expect_failure) has no known failures".into(),
            ));
        }
    }
    let trials = trial_names(source);
    for (trial, why) in known_failure {
        if !trials.contains(trial) {
            return Err(invalid(
                &format!("known_failure.{trial}"),
                format!("no such trial (trials: {})", trials.join(", ")),
            ));
        }
        if why.trim().is_empty() {
            return Err(invalid(
                &format!("known_failure.{trial}"),
                "say why it fails".into(),
            ));
        }
    }
    Ok(())
}

/// `<folder>/<stem>` of a case file.
pub fn case_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match path.parent().and_then(Path::file_name) {
        Some(area) => format!("{}/{stem}", area.to_string_lossy()),
        None => stem,
    }
}

/// One trial per seed, or one for a replay or live source.
pub fn trial_names(source: &Source) -> Vec<String> {
    match source {
        Source::Simulate { seeds, .. } => seeds.iter().map(|s| format!("seed-{s}")).collect(),
        Source::Tuner(t) => t.seeds.iter().map(|s| format!("seed-{s}")).collect(),
        Source::Replay { .. } => vec!["replay".into()],
        Source::Live { .. } => vec!["live".into()],
    }
}

fn duration(path: &Path, key: &str, text: &str) -> Result<Duration> {
    humantime::parse_duration(text)
        .map_err(|e| ScenarioError::invalid(path, key, format!("bad duration {text:?}: {e}")))
}

fn window(path: &Path, key: &str, pair: &[String]) -> Result<(Duration, Duration)> {
    let [from, to] = pair else {
        return Err(ScenarioError::invalid(
            path,
            key,
            format!("a window is [from, to], got {} values", pair.len()),
        ));
    };
    let (from, to) = (duration(path, key, from)?, duration(path, key, to)?);
    if to < from {
        return Err(ScenarioError::invalid(
            path,
            key,
            format!("the window ends ({to:?}) before it starts ({from:?})"),
        ));
    }
    Ok((from, to))
}

fn windows(
    path: &Path,
    prefix: &str,
    within: Option<Vec<String>>,
    after_onset: Option<Vec<String>>,
) -> Result<Vec<Window>> {
    let mut out = Vec::new();
    if let Some(w) = within {
        let (a, b) = window(path, &format!("{prefix}.within"), &w)?;
        out.push(Window::FromStart(a, b));
    }
    if let Some(w) = after_onset {
        let (a, b) = window(path, &format!("{prefix}.after_onset"), &w)?;
        out.push(Window::AfterOnset(a, b));
    }
    Ok(out)
}

fn source(path: &Path, raw: RawSource) -> Result<Source> {
    let invalid = |key: &str, message: String| ScenarioError::invalid(path, key, message);
    // Keys that belong to another kind of source are mistakes, not decoration.
    let refuse = |key: &str, present: bool, kind: &str| {
        if present {
            Err(invalid(
                &format!("source.{key}"),
                format!("not a key of a {kind} source"),
            ))
        } else {
            Ok(())
        }
    };
    match raw.kind.as_str() {
        "simulate" => {
            refuse("path", raw.path.is_some(), "simulate")?;
            refuse("workload", raw.workload.is_some(), "simulate")?;
            let text = raw
                .generator
                .ok_or_else(|| invalid("source.generator", "missing".into()))?;
            let generator =
                GeneratorKind::parse(&text).map_err(|e| invalid("source.generator", e))?;
            let seeds = raw
                .seeds
                .ok_or_else(|| invalid("source.seeds", "missing".into()))?;
            if seeds.is_empty() {
                return Err(invalid("source.seeds", "no seeds: nothing to run".into()));
            }
            let mut sorted = seeds.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != seeds.len() {
                return Err(invalid("source.seeds", "a seed is listed twice".into()));
            }
            let run_for = match raw.duration {
                Some(t) => duration(path, "source.duration", &t)?,
                None => generator.default_duration(),
            };
            let interval = match raw.interval {
                Some(t) => duration(path, "source.interval", &t)?,
                None => generator.default_interval(),
            };
            if interval.is_zero() || interval > run_for {
                return Err(invalid(
                    "source.interval",
                    format!("{interval:?} must be positive and within the duration"),
                ));
            }
            Ok(Source::Simulate {
                generator,
                seeds,
                duration: run_for,
                interval,
                label: raw.label,
            })
        }
        "replay" => {
            for (key, present) in [
                ("generator", raw.generator.is_some()),
                ("seeds", raw.seeds.is_some()),
                ("duration", raw.duration.is_some()),
                ("interval", raw.interval.is_some()),
                ("workload", raw.workload.is_some()),
            ] {
                refuse(key, present, "replay")?;
            }
            let rel = raw
                .path
                .ok_or_else(|| invalid("source.path", "missing".into()))?;
            let base = path.parent().unwrap_or(Path::new("."));
            Ok(Source::Replay {
                path: base.join(rel),
                label: raw.label,
            })
        }
        "live" => {
            for (key, present) in [
                ("generator", raw.generator.is_some()),
                ("seeds", raw.seeds.is_some()),
                ("path", raw.path.is_some()),
            ] {
                refuse(key, present, "live")?;
            }
            if let Some(t) = &raw.duration {
                duration(path, "source.duration", t)?;
            }
            let workload = raw
                .workload
                .ok_or_else(|| invalid("source.workload", "missing".into()))?;
            Ok(Source::Live { workload })
        }
        other => Err(invalid(
            "source.kind",
            format!("unknown source kind {other:?} (simulate, replay, live, tuner)"),
        )),
    }
}

fn gadget(path: &Path, key: &str, name: String) -> Result<String> {
    if qb_gadgets::GADGETS.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(ScenarioError::invalid(
            path,
            key,
            format!(
                "unknown gadget {name:?} (gadgets: {})",
                qb_gadgets::GADGETS.join(", ")
            ),
        ))
    }
}

fn one_of(path: &Path, key: &str, value: &str, known: &[&str]) -> Result<()> {
    if known.contains(&value) {
        Ok(())
    } else {
        Err(ScenarioError::invalid(
            path,
            key,
            format!("unknown value {value:?} (known: {})", known.join(", ")),
        ))
    }
}

fn confidence(path: &Path, key: &str, value: Option<f64>) -> Result<f64> {
    let value = value.unwrap_or(0.0);
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ScenarioError::invalid(
            path,
            key,
            format!("{value} is outside [0, 1]"),
        ))
    }
}

fn target(path: &Path, key: &str, text: Option<String>) -> Result<TargetSpec> {
    match text {
        None => Ok(TargetSpec::Any),
        Some(t) => TargetSpec::parse(&t).map_err(|e| ScenarioError::invalid(path, key, e)),
    }
}

fn expect(path: &Path, index: usize, raw: RawExpect) -> Result<Expect> {
    let key = |k: &str| format!("expect[{index}].{k}");
    let invalid = |k: &str, message: &str| ScenarioError::invalid(path, key(k), message);
    let gadget = gadget(path, &key("gadget"), raw.gadget)?;
    let wanted = match (raw.decision, raw.action) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "action",
                "an expectation is a decision or an action, not both",
            ));
        }
        (None, None) => return Err(invalid("decision", "name a decision or an action")),
        (Some(kind), None) => {
            if raw.outcome.is_some() {
                return Err(invalid("outcome", "only an action has an outcome"));
            }
            if raw.stacks.is_some() {
                return Err(invalid("stacks", "only an action carries stacks"));
            }
            one_of(path, &key("decision"), &kind, DECISION_KINDS)?;
            Wanted::Decision(kind)
        }
        (None, Some(_)) if raw.suppressed => {
            return Err(invalid(
                "suppressed",
                "only a decision is suppressed; its actions never happen",
            ));
        }
        (None, Some(actions)) => {
            let actions = match actions {
                OneOrMany::One(a) => vec![a],
                OneOrMany::Many(a) => a,
            };
            if actions.is_empty() {
                return Err(invalid("action", "no actions listed"));
            }
            for a in &actions {
                one_of(path, &key("action"), a, ACTIONS)?;
            }
            if let Some(o) = &raw.outcome {
                one_of(path, &key("outcome"), o, OUTCOMES)?;
            }
            Wanted::Incident {
                actions,
                outcome: raw.outcome,
                stacks: raw.stacks,
            }
        }
    };
    Ok(Expect {
        index,
        gadget,
        wanted,
        target: target(path, &key("target"), raw.target)?,
        min_confidence: confidence(path, &key("min_confidence"), raw.min_confidence)?,
        lead: raw
            .lead
            .map(|t| duration(path, &key("lead"), &t))
            .transpose()?,
        windows: windows(
            path,
            &format!("expect[{index}]"),
            raw.within,
            raw.after_onset,
        )?,
        suppressed: raw.suppressed,
    })
}

fn quiet(path: &Path, index: usize, raw: RawQuiet) -> Result<Quiet> {
    let key = |k: &str| format!("quiet[{index}].{k}");
    if let Some(kind) = &raw.decision {
        one_of(path, &key("decision"), kind, DECISION_KINDS)?;
    }
    if raw.suppressed && raw.actions {
        return Err(ScenarioError::invalid(
            path,
            key("suppressed"),
            "only decisions are suppressed, not actions",
        ));
    }
    Ok(Quiet {
        index,
        gadget: gadget(path, &key("gadget"), raw.gadget)?,
        decision: raw.decision,
        min_confidence: confidence(path, &key("min_confidence"), raw.min_confidence)?,
        actions_only: raw.actions,
        target: target(path, &key("target"), raw.target)?,
        windows: windows(
            path,
            &format!("quiet[{index}]"),
            raw.within,
            raw.after_onset,
        )?,
        suppressed: raw.suppressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
description = "d"
[source]
kind = "simulate"
generator = "memory/linear_leak"
seeds = [10001]
[[expect]]
gadget = "oracle"
decision = "oom_forecast"
"#;

    fn error(text: &str) -> String {
        parse(Path::new("cases/oracle/x.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_good_case_parses_with_defaults() {
        let c = parse(Path::new("/s/cases/oracle/x.toml"), GOOD).unwrap();
        assert_eq!(c.name, "oracle/x");
        assert_eq!(
            c.source,
            Source::Simulate {
                generator: GeneratorKind::Memory(MemoryKind::LinearLeak),
                seeds: vec![10001],
                duration: Duration::from_secs(1800),
                interval: Duration::from_secs(1),
                label: None,
            }
        );
        assert_eq!(c.config, Config::default());
        assert_eq!(c.expects[0].target, TargetSpec::Any);
        assert_eq!(trial_names(&c.source), ["seed-10001"]);
    }

    #[test]
    fn a_routine_runs_weeks_at_60_s_ticks_and_suppressed_parses() {
        let text = GOOD
            .replace("memory/linear_leak", "routine/backup_shifted")
            .replace("gadget = \"oracle\"", "gadget = \"timekeeper\"")
            .replace("oom_forecast\"", "metric_spike\"\nsuppressed = true");
        let c = parse(Path::new("cases/timekeeper/x.toml"), &text).unwrap();
        let Source::Simulate {
            duration, interval, ..
        } = c.source
        else {
            panic!("{:?}", c.source);
        };
        assert_eq!((duration.as_secs(), interval.as_secs()), (16 * 86_400, 60));
        assert!(c.expects[0].suppressed);
    }

    #[test]
    fn replay_paths_resolve_from_the_case_file_and_live_parses() {
        let text = "description = \"d\"\n[source]\nkind = \"replay\"\npath = \"fixtures/x\"\n[[quiet]]\ngadget = \"oracle\"";
        let c = parse(Path::new("/s/cases/oracle/x.toml"), text).unwrap();
        assert_eq!(
            c.source,
            Source::Replay {
                path: "/s/cases/oracle/fixtures/x".into(),
                label: None
            }
        );
        let text = "description = \"d\"\n[source]\nkind = \"live\"\nworkload = \"leak\"\n[[quiet]]\ngadget = \"oracle\"";
        let c = parse(Path::new("x.toml"), text).unwrap();
        assert_eq!(trial_names(&c.source), ["live"]);
    }

    #[test]
    fn mistakes_are_named_by_file_and_key() {
        let cases: &[(String, &str)] = &[
            (
                GOOD.replace("description", "descripton"),
                "unknown field `descripton`",
            ),
            (
                GOOD.replace("gadget = \"oracle\"", "gadget = \"oracle\"\nleed = \"60s\""),
                "unknown field `leed`",
            ),
            (
                GOOD.replace(
                    "[[expect]]\ngadget = \"oracle\"\ndecision = \"oom_forecast\"",
                    "",
                ),
                "expect: a case needs at least one [[expect]] or [[quiet]]",
            ),
            (
                GOOD.replace("memory/linear_leak", "memory/linear_leek"),
                "source.generator: unknown memory kind 'linear_leek'",
            ),
            (
                GOOD.replace("memory/linear_leak", "disk/full"),
                "source.generator: unknown family \"disk\"",
            ),
            (GOOD.replace("[10001]", "[]"), "source.seeds: no seeds"),
            (
                GOOD.replace("[10001]", "[1, 1]"),
                "source.seeds: a seed is listed twice",
            ),
            (
                GOOD.replace("seeds = [10001]", "seeds = [1]\nduration = \"30 parsecs\""),
                "source.duration: bad duration \"30 parsecs\"",
            ),
            (
                GOOD.replace(
                    "decision = \"oom_forecast\"",
                    "decision = \"oom_forecast\"\nwithin = [\"5m\", \"1m\"]",
                ),
                "expect[1].within: the window ends",
            ),
            (
                GOOD.replace(
                    "decision = \"oom_forecast\"",
                    "decision = \"oom_forecast\"\nafter_onset = [\"5m\"]",
                ),
                "expect[1].after_onset: a window is [from, to]",
            ),
            (
                GOOD.replace("decision = \"oom_forecast\"", "decision = \"oom_forcast\""),
                "expect[1].decision: unknown value \"oom_forcast\"",
            ),
            (
                GOOD.replace("decision = \"oom_forecast\"", "action = \"reboot\""),
                "expect[1].action: unknown value \"reboot\"",
            ),
            (
                GOOD.replace(
                    "decision = \"oom_forecast\"",
                    "decision = \"stuck\"\naction = \"kill\"",
                ),
                "expect[1].action: an expectation is a decision or an action",
            ),
            (
                GOOD.replace("gadget = \"oracle\"", "gadget = \"oracel\""),
                "expect[1].gadget: unknown gadget \"oracel\"",
            ),
            (
                GOOD.replace(
                    "decision = \"oom_forecast\"",
                    "decision = \"stuck\"\ntarget = \"pid:x\"",
                ),
                "expect[1].target: \"pid:x\" is not a target",
            ),
            (
                GOOD.replace(
                    "decision = \"oom_forecast\"",
                    "decision = \"stuck\"\nmin_confidence = 1.5",
                ),
                "expect[1].min_confidence: 1.5 is outside [0, 1]",
            ),
            (
                GOOD.replace("simulate", "imagine"),
                "source.kind: unknown source kind \"imagine\"",
            ),
            (
                GOOD.replace("seeds = [10001]", "seeds = [1]\npath = \"x\""),
                "source.path: not a key of a simulate source",
            ),
            (
                GOOD.replace(
                    "decision = \"oom_forecast\"",
                    "action = \"kill\"\nsuppressed = true",
                ),
                "expect[1].suppressed: only a decision is suppressed",
            ),
            (
                format!(
                    "{GOOD}\n[[quiet]]\ngadget = \"oracle\"\nactions = true\nsuppressed = true"
                ),
                "quiet[1].suppressed: only decisions are suppressed",
            ),
            (
                GOOD.replace("memory/linear_leak", "routine/backups"),
                "source.generator: unknown routine kind 'backups'",
            ),
            (
                format!("{GOOD}\n[config.timekeeper]\nsimilarity = 0"),
                "timekeeper.similarity",
            ),
            (
                format!("{GOOD}\n[config]\nmode = \"yolo\""),
                "config: config: unknown variant `yolo`",
            ),
            (
                format!("{GOOD}\n[known_failure]\nseed-2 = \"why\""),
                "known_failure.seed-2: no such trial (trials: seed-10001)",
            ),
            (
                format!("expect_failure = \"x\"\n{GOOD}\n[known_failure]\nseed-10001 = \"why\""),
                "known_failure: a must-fail case",
            ),
        ];
        for (text, needle) in cases {
            let e = error(text);
            assert!(e.starts_with("cases/oracle/x.toml"), "{e}");
            assert!(e.contains(needle), "wanted {needle:?} in: {e}");
        }
    }

    const TUNER_CASE: &str = r#"
description = "d"
[source]
kind = "tuner"
environment = "log_batch"
seeds = [1, 2]
[expect]
converges_within_pct = 5.0
"#;

    #[test]
    fn a_tuner_case_is_recognised_by_its_source_kind() {
        let c = parse(Path::new("/s/cases/tuner/x.toml"), TUNER_CASE).unwrap();
        assert_eq!(c.name, "tuner/x");
        assert_eq!(c.source.kind(), SourceKind::Tuner);
        let Source::Tuner(t) = &c.source else {
            panic!("{:?}", c.source);
        };
        assert_eq!(t.environment, "log_batch");
        assert_eq!(trial_names(&c.source), ["seed-1", "seed-2"]);
        assert!(c.expects.is_empty() && c.quiets.is_empty());
    }

    #[test]
    fn tuner_case_mistakes_are_named_by_file_and_key() {
        for (text, needle) in [
            (
                TUNER_CASE.replace("log_batch", "log_botch"),
                "cases/oracle/x.toml: source.environment: unknown \"log_botch\"",
            ),
            (
                TUNER_CASE.replace("converges_within_pct", "converge_within_pct"),
                "cases/oracle/x.toml:8: unknown field `converge_within_pct`",
            ),
            (
                format!("{TUNER_CASE}\n[known_failure]\nseed-3 = \"why\""),
                "known_failure.seed-3: no such trial (trials: seed-1, seed-2)",
            ),
            (
                format!("expect_failure = \" \"\n{TUNER_CASE}"),
                "expect_failure: must not be empty",
            ),
        ] {
            let e = error(&text);
            assert!(e.contains(needle), "wanted {needle:?} in: {e}");
        }
    }

    #[test]
    fn toml_errors_carry_the_line() {
        let e = error(&GOOD.replace("seeds = [10001]", "seeds = [10001]\nbogus = 1"));
        assert!(
            e.starts_with("cases/oracle/x.toml:7: unknown field `bogus`"),
            "{e}"
        );
    }
}

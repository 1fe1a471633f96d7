//! A trial's frames and labels: a seeded generator in virtual time, or a recorded
//! dataset replayed in order with its labels table.

use std::path::Path;
use std::time::Duration;

use qb_signals::{Dataset, Frame, LabelRow, ReplaySource, SignalSource, Table};
use qb_simulator::{
    Clock, Generator, IncidentGenerator, MemoryGenerator, PiiGenerator, RoutineGenerator,
    StuckGenerator, ToxicGenerator,
};

use crate::error::{Result, ScenarioError};
use crate::format::{Case, GeneratorKind, Source};

/// Frames in time order, then the labels (a generator's are complete only at the end).
pub enum Episode {
    Generated(Box<dyn Generator>),
    Replayed {
        frames: Box<ReplaySource>,
        labels: Vec<LabelRow>,
    },
}

impl std::fmt::Debug for Episode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Episode::Generated(_) => f.write_str("Episode::Generated"),
            Episode::Replayed { labels, .. } => f
                .debug_struct("Episode::Replayed")
                .field("labels", &labels.len())
                .finish_non_exhaustive(),
        }
    }
}

impl Episode {
    pub fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        match self {
            Episode::Generated(g) => g.next_frame(),
            Episode::Replayed { frames, .. } => frames.next_frame(),
        }
    }

    pub fn labels(&self) -> &[LabelRow] {
        match self {
            Episode::Generated(g) => g.labels(),
            Episode::Replayed { labels, .. } => labels,
        }
    }
}

/// The episode of one trial of `case` (`seed` for a simulated source). `None` for a live
/// source, which this runner does not start.
pub fn open(case: &Case, seed: Option<u64>) -> Result<Option<Episode>> {
    let fail = |message: String| ScenarioError::Source {
        path: case.path.clone(),
        message,
    };
    match &case.source {
        Source::Simulate {
            generator,
            duration,
            interval,
            ..
        } => {
            let seed = seed.ok_or_else(|| fail("a simulated trial needs a seed".into()))?;
            let g = generate(*generator, seed, *duration, *interval)
                .map_err(|e| fail(format!("{}: {e}", generator.name())))?;
            Ok(Some(Episode::Generated(g)))
        }
        Source::Replay { path, .. } => replay(path)
            .map(|(frames, labels)| {
                Some(Episode::Replayed {
                    frames: Box::new(frames),
                    labels,
                })
            })
            .map_err(|e| fail(format!("source.path {}: {e}", path.display()))),
        Source::Live { .. } => Ok(None),
        Source::Tuner(_) => Err(fail(
            "a tuner case runs closed loop against its environment, not from frames".into(),
        )),
    }
}

fn generate(
    kind: GeneratorKind,
    seed: u64,
    duration: Duration,
    interval: Duration,
) -> Result<Box<dyn Generator>, qb_simulator::SimError> {
    let clock = Clock::new(duration, interval)?;
    Ok(match kind {
        GeneratorKind::Memory(k) => Box::new(MemoryGenerator::new(k, seed, clock)?),
        GeneratorKind::Stuck(k) => Box::new(StuckGenerator::new(k, seed, clock)?),
        GeneratorKind::Toxic(k) => Box::new(ToxicGenerator::new(k, seed, clock)?),
        GeneratorKind::Pii(k) => Box::new(PiiGenerator::new(k, seed, clock)?),
        GeneratorKind::Incident(k) => Box::new(IncidentGenerator::new(k, seed, clock)?),
        GeneratorKind::Routine(k) => Box::new(RoutineGenerator::new(k, seed, clock)?),
    })
}

fn replay(path: &Path) -> qb_signals::Result<(ReplaySource, Vec<LabelRow>)> {
    let dataset = Dataset::open(path)?;
    let labels = if dataset.manifest().is_recorded(Table::Labels) {
        dataset.read_table::<LabelRow>()?
    } else {
        Vec::new()
    };
    Ok((dataset.replay()?, labels))
}

/// What the expectations know of the labelled episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Episodic {
    pub kind: String,
    pub target: LabelTarget,
    pub start_ns: i64,
    /// The event a lead is measured to: a memory leak's OOM kill (`attributes.oom_ns`).
    pub event_ns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelTarget {
    Cgroup(String),
    Pid(u32),
    /// Neither (a connection, a log stream): matched against the decision's cgroup.
    Other(String),
}

impl std::fmt::Display for LabelTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelTarget::Cgroup(c) => write!(f, "cgroup {c}"),
            LabelTarget::Pid(p) => write!(f, "pid {p}"),
            LabelTarget::Other(o) => f.write_str(o),
        }
    }
}

/// The label the case is about: the first of kind `wanted`, or the first of all.
pub fn episode_label(labels: &[LabelRow], wanted: Option<&str>) -> Option<Episodic> {
    let row = match wanted {
        Some(kind) => labels.iter().find(|l| l.kind == kind)?,
        None => labels.first()?,
    };
    let target = if row.target.starts_with('/') {
        LabelTarget::Cgroup(row.target.clone())
    } else if let Some(Ok(pid)) = row.target.strip_prefix("pid:").map(str::parse) {
        LabelTarget::Pid(pid)
    } else {
        LabelTarget::Other(row.target.clone())
    };
    let event_ns = serde_json::from_str::<serde_json::Value>(&row.attributes)
        .ok()
        .and_then(|a| a.get("oom_ns").and_then(serde_json::Value::as_i64));
    Some(Episodic {
        kind: row.kind.clone(),
        target,
        start_ns: row.start_ns,
        event_ns,
    })
}

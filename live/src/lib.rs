//! qb-live: real misbehaving processes recorded by the real recorder, with labels.
//!
//! Each scenario is a [`Workload`]: it starts its processes inside scratch cgroups,
//! watches every recorded frame (to trigger its fault at the onset and notice what the
//! kernel did, such as an OOM kill), and states at the end what happened as `labels`
//! rows. Cleanup is ownership: the cgroups, processes and data directories of a run
//! belong to its workload value and go when it is dropped, whether the run finished,
//! failed or was interrupted. Leftovers of a run killed with SIGKILL are swept by the
//! next run.

pub mod cgroup;
mod leak;
mod net;
pub mod pii;
pub mod postgres;
mod scratch;
mod session;
mod spawn;
mod stuck;
mod toxic;
pub mod worker;

use std::path::Path;

use qb_signals::{Frame, LabelRow, Table};

pub use leak::{Leak, LeakOptions, LeakTool};
pub use postgres::ToxicMode;
pub use session::{LiveOptions, LiveSummary, run};
pub use spawn::{Worker, WorkerLauncher, set_worker_launcher};
pub use stuck::{Stuck, StuckFault};
pub use toxic::ToxicOptions;

/// What `qbranch simulate live` can run.
#[derive(Debug, Clone)]
pub enum LiveScenario {
    Leak(LeakOptions),
    Stuck(StuckFault),
    Toxic(ToxicOptions),
    Pii(pii::PiiOptions),
}

impl LiveScenario {
    pub fn name(&self) -> String {
        match self {
            LiveScenario::Leak(o) => match o.tool {
                LeakTool::Builtin => "leak".into(),
                LeakTool::StressNg => "leak/stress-ng".into(),
            },
            LiveScenario::Stuck(f) => f.name().into(),
            LiveScenario::Toxic(o) => format!("toxic/{}", o.mode.name()),
            LiveScenario::Pii(_) => "pii".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot start {0}")]
    Spawn(String),
    #[error("workload: {0}")]
    Worker(String),
    #[error(transparent)]
    Recorder(#[from] qb_recorder::Error),
    #[error(transparent)]
    Signals(#[from] qb_signals::Error),
}

impl LiveError {
    fn io(what: impl AsRef<Path>, source: std::io::Error) -> Self {
        LiveError::Io {
            what: what.as_ref().display().to_string(),
            source,
        }
    }
}

/// What a running scenario needs recorded.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub tables: Vec<Table>,
    /// Log files to tail (read from their start).
    pub log_globs: Vec<String>,
}

/// Whether the run goes on after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// The episode is over (e.g. the OOM kill happened and was recorded long enough).
    Done,
}

/// A live scenario in progress. Dropping it removes everything it started.
pub trait Workload {
    fn plan(&self) -> Plan;
    /// Sees each frame right after it was recorded: triggers the fault at the onset,
    /// notices what the kernel did.
    fn tick(&mut self, frame: &Frame) -> Result<Step, LiveError>;
    /// The ground truth of the run, once it is over.
    fn labels(&self, end_ns: i64) -> Vec<LabelRow>;
    /// What happened, one line each, for the end-of-run summary.
    fn summary(&self) -> Vec<String>;
}

/// Live runs start real processes in new cgroups: root only.
fn require_root() -> Result<(), LiveError> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid != 0 {
        return Err(LiveError::Unsupported(format!(
            "live workloads need root and a memory cgroup (running as uid {uid})"
        )));
    }
    Ok(())
}

/// Nanoseconds since `from`, where `to` is the later frame time.
fn after(from: Option<i64>, to: i64) -> std::time::Duration {
    std::time::Duration::from_nanos(from.map_or(0, |f| (to - f).max(0) as u64))
}

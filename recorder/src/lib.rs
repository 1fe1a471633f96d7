//! qb-recorder: live signal sources. One `Recorder` collects a `Frame` per tick from
//! /proc (system and processes) and the cgroup filesystem (v1, v2 or hybrid).
//!
//! All roots are configurable (as oomd's `--cgroup-fs`), so tests run the same code
//! against fake trees built in temp dirs. Entries that vanish mid-read are skipped and
//! counted; missing kernel features degrade a table or its columns with a stated reason.

pub mod cgroup;
pub mod container;
mod fsread;
pub mod parse;
pub mod process;
pub mod system;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use qb_signals::{Frame, SignalSource, Table};

pub use cgroup::{CgroupCollector, CgroupLayout, CgroupStats};
pub use process::{ProcessCollector, ProcessStats};
pub use system::SystemCollector;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {what}", path.display())]
    Parse { path: PathBuf, what: String },
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for qb_signals::Error {
    fn from(e: Error) -> Self {
        qb_signals::Error::Source(Box::new(e))
    }
}

/// Tables this recorder has a live source for.
pub const LIVE_TABLES: [Table; 3] = [Table::System, Table::Process, Table::Cgroup];

#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// procfs mount, normally `/proc`.
    pub proc_root: PathBuf,
    /// cgroup filesystem root, normally `/sys/fs/cgroup`.
    pub cgroup_root: PathBuf,
    /// Record only this cgroup subtree (relative to the memory hierarchy), e.g. `/system.slice`.
    pub cgroup_scope: Option<String>,
    pub tables: Vec<Table>,
    /// Host name written with every row; read from `<proc>/sys/kernel/hostname` if unset.
    pub host: Option<String>,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            proc_root: "/proc".into(),
            cgroup_root: "/sys/fs/cgroup".into(),
            cgroup_scope: None,
            tables: LIVE_TABLES.to_vec(),
            host: None,
        }
    }
}

/// Cumulative counts over all ticks, for the end-of-recording summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecorderStats {
    pub ticks: u64,
    pub processes: ProcessStats,
    pub cgroups: CgroupStats,
    /// Ticks whose system row could not be read.
    pub system_errors: u64,
}

#[derive(Debug)]
pub struct Recorder {
    host: String,
    system: Option<SystemCollector>,
    process: Option<ProcessCollector>,
    cgroup: Option<CgroupCollector>,
    methods: BTreeMap<Table, String>,
    unavailable: BTreeMap<Table, String>,
    notes: BTreeMap<Table, String>,
    stats: RecorderStats,
}

impl Recorder {
    /// Probes the roots. Tables that cannot be recorded here are listed by
    /// [`Recorder::unavailable`] with the reason; a missing /proc is an error.
    pub fn new(config: &RecorderConfig) -> Result<Self> {
        let proc_root = &config.proc_root;
        let boot = system::boot_time(proc_root)?;
        let host = match &config.host {
            Some(h) => h.clone(),
            None => read_hostname(proc_root),
        };
        let mut r = Recorder {
            host,
            system: None,
            process: None,
            cgroup: None,
            methods: BTreeMap::new(),
            unavailable: BTreeMap::new(),
            notes: BTreeMap::new(),
            stats: RecorderStats::default(),
        };
        for &table in &config.tables {
            match table {
                Table::System => {
                    let s = SystemCollector::new(proc_root);
                    if let Some(note) = s.degraded() {
                        r.notes.insert(table, note);
                    }
                    r.methods
                        .insert(table, format!("procfs {}", proc_root.display()));
                    r.system = Some(s);
                }
                Table::Process => {
                    r.methods
                        .insert(table, format!("procfs {}/PID", proc_root.display()));
                    r.process = Some(ProcessCollector::new(proc_root, boot));
                }
                Table::Cgroup => {
                    match CgroupCollector::new(&config.cgroup_root, config.cgroup_scope.as_deref())
                    {
                        Ok(c) => {
                            r.methods.insert(table, c.layout().describe());
                            r.cgroup = Some(c);
                        }
                        // A scope the user named must exist: that is a usage error, not a degradation.
                        Err(e @ cgroup::CgroupError::NoSuchScope { .. }) => return Err(e.into()),
                        Err(e) => {
                            r.unavailable.insert(table, e.to_string());
                        }
                    }
                }
                Table::Syscalls | Table::Connections | Table::Logs => {
                    r.unavailable
                        .insert(table, "no live source in this build yet".into());
                }
                Table::Labels => {
                    r.unavailable.insert(
                        table,
                        "labels are simulator ground truth; a live host has none".into(),
                    );
                }
            }
        }
        Ok(r)
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Tables being recorded and how.
    pub fn methods(&self) -> &BTreeMap<Table, String> {
        &self.methods
    }

    /// Requested tables that cannot be recorded, with the reason.
    pub fn unavailable(&self) -> &BTreeMap<Table, String> {
        &self.unavailable
    }

    /// Recorded tables with degraded columns, with the reason.
    pub fn notes(&self) -> &BTreeMap<Table, String> {
        &self.notes
    }

    pub fn stats(&self) -> RecorderStats {
        self.stats
    }

    /// Collects one frame stamped `ts_ns`. Never fails: what cannot be read is counted.
    pub fn collect(&mut self, ts_ns: i64) -> Frame {
        let mut frame = Frame::new(ts_ns, self.host.clone());
        self.stats.ticks += 1;
        if let Some(s) = &mut self.system {
            match s.collect(ts_ns) {
                Ok(row) => frame.system = Some(row),
                Err(e) => {
                    self.stats.system_errors += 1;
                    tracing::warn!("system row skipped: {e}");
                }
            }
        }
        if let Some(p) = &mut self.process {
            match p.collect(ts_ns, &mut frame.processes) {
                Ok(s) => {
                    self.stats.processes.rows += s.rows;
                    self.stats.processes.vanished += s.vanished;
                    self.stats.processes.unreadable += s.unreadable;
                }
                Err(e) => tracing::warn!("process table skipped this tick: {e}"),
            }
        }
        if let Some(c) = &mut self.cgroup {
            let s = c.collect(ts_ns, &mut frame.cgroups);
            self.stats.cgroups.rows += s.rows;
            self.stats.cgroups.vanished += s.vanished;
        }
        frame
    }
}

/// The live recorder as a source: each call collects one frame stamped with the wall
/// clock. Pacing (the interval) is the caller's business.
impl SignalSource for Recorder {
    fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        Ok(Some(self.collect(now_ns())))
    }
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn read_hostname(proc_root: &Path) -> String {
    std::fs::read_to_string(proc_root.join("sys/kernel/hostname"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

//! qb-recorder: live signal sources. One `Recorder` collects a `Frame` per tick from
//! /proc (system and processes) and the cgroup filesystem (v1, v2 or hybrid).
//!
//! All roots are configurable (as oomd's `--cgroup-fs`), so tests run the same code
//! against fake trees built in temp dirs. Entries that vanish mid-read are skipped and
//! counted; missing kernel features degrade a table or its columns with a stated reason.

pub mod cgroup;
pub mod connections;
pub mod container;
mod fsread;
pub mod logs;
pub mod measure;
pub mod parse;
pub mod process;
pub mod syscalls;
pub mod system;
mod ticker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use qb_signals::{Frame, SignalSource, Table};

pub use cgroup::{CgroupCollector, CgroupLayout, CgroupStats};
pub use connections::{ConnStats, ConnectionCollector};
pub use logs::{LogTailer, TailConfig, TailStats};
pub use process::{ProcessCollector, ProcessStats};
pub use syscalls::{SyscallCollector, SyscallStats};
pub use system::SystemCollector;
pub use ticker::Ticker;

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
    #[error(transparent)]
    Logs(#[from] logs::LogError),
    #[error("the logs table needs at least one --logs GLOB")]
    NoLogGlobs,
    #[error(transparent)]
    Traces(#[from] qb_traces::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for qb_signals::Error {
    fn from(e: Error) -> Self {
        qb_signals::Error::Source(Box::new(e))
    }
}

/// Tables recorded by default (syscalls need privileges, logs need globs).
pub const LIVE_TABLES: [Table; 4] = [
    Table::System,
    Table::Process,
    Table::Cgroup,
    Table::Connections,
];

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
    /// Count syscalls with eBPF when possible; false forces the /proc sampling fallback.
    pub ebpf: bool,
    /// Log files to tail (globs), for the `logs` table.
    pub log_globs: Vec<String>,
    pub tail: TailConfig,
    /// OTLP/HTTP intake for the `traces` and `requests` tables (loopback unless allowed).
    pub traces: Option<qb_traces::IntakeConfig>,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            proc_root: "/proc".into(),
            cgroup_root: "/sys/fs/cgroup".into(),
            cgroup_scope: None,
            tables: LIVE_TABLES.to_vec(),
            host: None,
            ebpf: true,
            log_globs: Vec::new(),
            tail: TailConfig::default(),
            traces: None,
        }
    }
}

/// Cumulative counts over all ticks, for the end-of-recording summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecorderStats {
    pub ticks: u64,
    pub processes: ProcessStats,
    pub cgroups: CgroupStats,
    pub syscalls: SyscallStats,
    pub connections: ConnStats,
    /// Log lines, bytes, cut lines and unrecoverable truncations, summed over ticks.
    pub logs: TailStats,
    /// Ticks whose system row could not be read.
    pub system_errors: u64,
    /// The OTLP intake's counters, when the traces tables are recorded.
    pub traces: TraceCounters,
}

/// Span intake counters (cumulative).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TraceCounters {
    /// Spans decoded from accepted requests.
    pub spans: u64,
    /// Spans refused with 503 because the queue to the tick was full.
    pub spans_dropped_queue: u64,
    /// Spans not aggregated: late for a closed bucket, too far ahead, or over the key cap.
    pub spans_dropped_aggregation: u64,
    /// Request body bytes accepted.
    pub bytes: u64,
    /// Requests refused as malformed, too large, or of the wrong type or path.
    pub bad_requests: u64,
    /// Decoded spans waiting for the next tick.
    pub queued_spans: u64,
}

#[derive(Debug)]
pub struct Recorder {
    host: String,
    system: Option<SystemCollector>,
    process: Option<ProcessCollector>,
    cgroup: Option<CgroupCollector>,
    syscalls: Option<SyscallCollector>,
    connections: Option<ConnectionCollector>,
    logs: Option<LogTailer>,
    traces: Option<qb_traces::TraceFeed>,
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
            syscalls: None,
            connections: None,
            logs: None,
            traces: None,
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
                Table::Syscalls => {
                    let c = SyscallCollector::new(proc_root, !config.ebpf);
                    if !c.is_exact() {
                        r.notes.insert(table, c.method().to_string());
                    }
                    r.methods.insert(table, c.method().to_string());
                    r.syscalls = Some(c);
                }
                Table::Connections => {
                    let c = ConnectionCollector::new(proc_root);
                    if c.method().contains("fallback") {
                        r.notes.insert(table, c.method().to_string());
                    }
                    r.methods.insert(table, c.method().to_string());
                    r.connections = Some(c);
                }
                Table::Logs => {
                    if config.log_globs.is_empty() {
                        return Err(Error::NoLogGlobs);
                    }
                    r.logs = Some(LogTailer::new(&config.log_globs, config.tail.clone())?);
                    r.methods
                        .insert(table, format!("tailing {}", config.log_globs.join(", ")));
                }
                Table::Traces | Table::Requests => match &config.traces {
                    Some(intake) => {
                        if r.traces.is_none() {
                            r.traces = Some(qb_traces::TraceFeed::start(
                                intake.clone(),
                                qb_traces::ConcentratorConfig::default(),
                            )?);
                        }
                        let addr = r.traces.as_ref().map(qb_traces::TraceFeed::local_addr);
                        let addr = addr.map(|a| a.to_string()).unwrap_or_default();
                        r.methods
                            .insert(table, format!("OTLP/HTTP intake on {addr}"));
                    }
                    None => {
                        r.unavailable.insert(
                            table,
                            "no OTLP intake configured (--traces-listen ADDR)".into(),
                        );
                    }
                },
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

    /// Log paths that matched but could not be read, with the reason.
    pub fn log_problems(&self) -> Vec<String> {
        self.logs
            .as_ref()
            .map(LogTailer::problems)
            .unwrap_or_default()
    }

    pub fn stats(&self) -> RecorderStats {
        self.stats
    }

    /// Changes the most bytes read from one log file per tick (gadgetd's tuner); a
    /// no-op without the logs table.
    pub fn set_log_bytes_per_tick(&mut self, bytes: u64) {
        if let Some(t) = &mut self.logs {
            t.set_max_bytes_per_poll(bytes);
        }
    }

    /// Where the OTLP intake listens, when the traces tables are recorded.
    pub fn traces_addr(&self) -> Option<std::net::SocketAddr> {
        self.traces.as_ref().map(qb_traces::TraceFeed::local_addr)
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
        if let Some(c) = &mut self.syscalls {
            let s = c.collect(ts_ns, &mut frame.syscalls);
            self.stats.syscalls.rows += s.rows;
            self.stats.syscalls.calls += s.calls;
            self.stats.syscalls.errors += s.errors;
        }
        if let Some(c) = &mut self.connections {
            self.stats.connections += c.collect(ts_ns, &mut frame.connections);
        }
        if let Some(t) = &mut self.logs {
            let s = t.poll(ts_ns, &mut frame.logs);
            let total = &mut self.stats.logs;
            total.lines += s.lines;
            total.bytes += s.bytes;
            total.truncated_lines += s.truncated_lines;
            total.truncations_without_copy += s.truncations_without_copy;
            (total.files, total.unreadable, total.backlog_bytes) =
                (s.files, s.unreadable, s.backlog_bytes);
        }
        if let Some(t) = &mut self.traces {
            t.fill(&mut frame);
            let intake = t.intake_stats();
            let get = qb_traces::IntakeStats::get;
            self.stats.traces = TraceCounters {
                spans: get(&intake.spans_received),
                spans_dropped_queue: get(&intake.spans_dropped),
                spans_dropped_aggregation: t.concentrator_stats().dropped(),
                bytes: get(&intake.bytes),
                bad_requests: get(&intake.bad_requests),
                queued_spans: t.queued_spans() as u64,
            };
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

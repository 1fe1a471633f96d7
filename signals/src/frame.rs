//! `Frame`, one tick of every table, and the `SignalSource` seam.

use crate::error::Result;
use crate::tables::*;

/// Everything observed at one instant. Gadgets read time only from `ts_ns`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub ts_ns: i64,
    pub host: String,
    pub system: Option<SystemRow>,
    pub processes: Vec<ProcessRow>,
    pub cgroups: Vec<CgroupRow>,
    pub syscalls: Vec<SyscallRow>,
    pub connections: Vec<ConnectionRow>,
    /// Log lines read since the previous frame (their own `ts_ns` may be earlier).
    pub logs: Vec<LogRow>,
    /// Trace statistics of the 10 s buckets that closed since the previous frame.
    pub traces: Vec<TraceRow>,
    /// The latest request per client endpoint that completed since the previous frame.
    pub requests: Vec<RequestRow>,
}

impl Frame {
    pub fn new(ts_ns: i64, host: impl Into<String>) -> Self {
        Frame {
            ts_ns,
            host: host.into(),
            ..Frame::default()
        }
    }

    /// Rows held, all tables together.
    pub fn row_count(&self) -> usize {
        usize::from(self.system.is_some())
            + self.processes.len()
            + self.cgroups.len()
            + self.syscalls.len()
            + self.connections.len()
            + self.logs.len()
            + self.traces.len()
            + self.requests.len()
    }
}

/// Anything that yields frames in time order: the live recorder, a replayed recording,
/// the simulator. `Ok(None)` means the source is exhausted.
pub trait SignalSource {
    fn next_frame(&mut self) -> Result<Option<Frame>>;
}

impl<S: SignalSource + ?Sized> SignalSource for Box<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        (**self).next_frame()
    }
}

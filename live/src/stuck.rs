//! `live deadlock | livelock | dstate`: a real server on loopback with clients waiting,
//! healthy until the onset, then stuck: a lock-order deadlock, a polite livelock, or
//! frozen in D state by the cgroup freezer.

use std::time::Duration;

use qb_recorder::now_ns;
use qb_signals::{Frame, LabelRow, Table};

use crate::cgroup::ScratchCgroup;
use crate::net::Clients;
use crate::spawn::{Worker, worker_command};
use crate::{LiveError, LiveOptions, Plan, Step, Workload, after};

const CLIENTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StuckFault {
    /// Two threads take two locks in opposite orders; every handler then waits forever.
    Deadlock,
    /// Every thread retries politely forever: futex spam, CPU, nothing served.
    Livelock,
    /// The whole process is frozen by the cgroup freezer: uninterruptible sleep.
    Dstate,
}

impl StuckFault {
    pub fn name(self) -> &'static str {
        match self {
            StuckFault::Deadlock => "deadlock",
            StuckFault::Livelock => "livelock",
            StuckFault::Dstate => "dstate",
        }
    }
}

#[derive(Debug)]
pub struct Stuck {
    fault: StuckFault,
    onset: Duration,
    // Drop order: clients stop first, then the cgroup takes the server with it.
    clients: Clients,
    cgroup: ScratchCgroup,
    server: Worker,
    pid: u32,
    started_ns: Option<i64>,
    onset_ns: Option<i64>,
    served_at_onset: u64,
    threads_at_onset: u64,
}

impl Stuck {
    pub fn start(fault: StuckFault, live: &LiveOptions) -> Result<Self, LiveError> {
        let cgroup = ScratchCgroup::create(&live.cgroup_root, fault.name())?;
        match fault {
            // Probe the freezer now rather than fail at the onset.
            StuckFault::Dstate => cgroup.set_frozen(false)?,
            // A livelock spins every thread; half a core shows that as well as two
            // cores would, without starving the host (or the recorder).
            StuckFault::Livelock => cgroup.set_cpu_quota(0.5)?,
            StuckFault::Deadlock => {}
        }
        let mut server = Worker::spawn("server", worker_command(&["server".into()])?, &[&cgroup])?;
        let port: u16 = server
            .expect("port ", Duration::from_secs(10))?
            .parse()
            .map_err(|_| LiveError::Worker("server printed a bad port".into()))?;
        Ok(Stuck {
            fault,
            onset: live.onset(),
            clients: Clients::start(port, CLIENTS),
            pid: server.pid(),
            cgroup,
            server,
            started_ns: None,
            onset_ns: None,
            served_at_onset: 0,
            threads_at_onset: 0,
        })
    }

    fn break_it(&mut self) -> Result<(), LiveError> {
        match self.fault {
            StuckFault::Deadlock | StuckFault::Livelock => {
                self.server.send(self.fault.name())?;
                self.server.expect("faulted", Duration::from_secs(10))?;
            }
            StuckFault::Dstate => self.cgroup.set_frozen(true)?,
        }
        self.onset_ns = Some(now_ns());
        self.served_at_onset = self.clients.served();
        self.threads_at_onset = threads(self.pid);
        Ok(())
    }
}

/// For a caller driving the server tick by tick (a test acting on it).
impl Stuck {
    /// The server process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's cgroup.
    pub fn cgroup(&self) -> &ScratchCgroup {
        &self.cgroup
    }

    /// When the fault was triggered (wall clock, as the recorder stamps frames).
    pub fn onset_ns(&self) -> Option<i64> {
        self.onset_ns
    }

    /// Responses the clients got so far.
    pub fn served(&self) -> u64 {
        self.clients.served()
    }

    /// Whether the server has exited (reaped here, so it does not linger as a zombie).
    pub fn exited(&mut self) -> bool {
        self.server.exited().is_some()
    }
}

fn threads(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count() as u64)
}

impl Workload for Stuck {
    fn plan(&self) -> Plan {
        Plan {
            tables: vec![
                Table::System,
                Table::Process,
                Table::Cgroup,
                Table::Syscalls,
                Table::Connections,
            ],
            log_globs: Vec::new(),
        }
    }

    fn tick(&mut self, frame: &Frame) -> Result<Step, LiveError> {
        self.started_ns.get_or_insert(frame.ts_ns);
        if self.onset_ns.is_none() && after(self.started_ns, frame.ts_ns) >= self.onset {
            self.break_it()?;
        }
        self.server.ensure_alive()?;
        Ok(Step::Continue)
    }

    fn labels(&self, _end_ns: i64) -> Vec<LabelRow> {
        let Some(onset) = self.onset_ns else {
            return Vec::new();
        };
        vec![LabelRow {
            ts_ns: onset,
            kind: "stuck".into(),
            target: format!("pid:{}", self.pid),
            start_ns: onset,
            end_ns: None,
            attributes: format!(
                r#"{{"flavour":"{}","runtime":"rust","threads":{},"cgroup":"{}"}}"#,
                self.fault.name(),
                self.threads_at_onset,
                self.cgroup.path()
            ),
        }]
    }

    fn summary(&self) -> Vec<String> {
        let served = self.clients.served();
        match self.onset_ns {
            Some(_) => vec![format!(
                "{} at the onset: {} responses before it, {} after",
                self.fault.name(),
                self.served_at_onset,
                served - self.served_at_onset
            )],
            None => vec![format!(
                "the run ended before the onset ({served} responses, no fault)"
            )],
        }
    }
}

//! `live leak`: a real leaking process in a memory cgroup with a hard limit, recorded
//! until the kernel's OOM killer ends it.

use std::process::Command;
use std::time::Duration;

use qb_signals::{Frame, LabelRow, Table};

use crate::cgroup::ScratchCgroup;
use crate::scratch::ScratchDir;
use crate::spawn::{Worker, worker_command};
use crate::{LiveError, LiveOptions, Plan, Step, Workload, after};

/// Below this a process cannot even start in the cgroup.
const MIN_LIMIT: u64 = 16 << 20;
/// How long the run goes on recording after the OOM kill.
const AFTERMATH: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakTool {
    /// Our own leaker: allocates and touches `rate` bytes a second.
    Builtin,
    /// `stress-ng --bigheap`, slowed down by a CPU quota (its growth rate is set by the
    /// quota, not by `rate`).
    StressNg,
}

#[derive(Debug, Clone)]
pub struct LeakOptions {
    /// Hard memory limit of the cgroup, in bytes.
    pub limit: u64,
    /// Leak rate of the builtin leaker, bytes per second.
    pub rate: u64,
    pub tool: LeakTool,
    /// CPU quota in cores (stress-ng default 0.02: a slow, minutes-long leak).
    pub cpu: Option<f64>,
}

impl LeakOptions {
    fn validate(&self) -> Result<(), LiveError> {
        if self.limit < MIN_LIMIT {
            return Err(LiveError::Usage(format!(
                "--limit {} MiB is below the {} MiB a process needs to start in the cgroup",
                self.limit >> 20,
                MIN_LIMIT >> 20
            )));
        }
        if let Some(avail) = mem_available()
            && self.limit >= avail
        {
            return Err(LiveError::Usage(format!(
                "--limit {} MiB is not below this host's available memory ({} MiB): the leak would pressure the whole host",
                self.limit >> 20,
                avail >> 20
            )));
        }
        if self.tool == LeakTool::Builtin && self.rate == 0 {
            return Err(LiveError::Usage("--rate must be above zero".into()));
        }
        if self.cpu.is_some_and(|c| !(c > 0.0 && c <= 64.0)) {
            return Err(LiveError::Usage(
                "--cpu must be a positive number of cores (e.g. 0.05)".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct Leak {
    opts: LeakOptions,
    // Field order is drop order: the cgroup (kill everything, remove) goes first.
    cgroup: ScratchCgroup,
    worker: Worker,
    _dir: ScratchDir,
    pid: u32,
    started_ns: Option<i64>,
    oom_ns: Option<i64>,
    oom_kills_before: u64,
}

impl Leak {
    pub fn start(opts: &LeakOptions, live: &LiveOptions) -> Result<Self, LiveError> {
        Self::start_named(opts, live, "leak")
    }

    /// As [`Leak::start`], with `name` in its cgroup and scratch directory names, so one
    /// process can run several leaks side by side.
    pub fn start_named(
        opts: &LeakOptions,
        live: &LiveOptions,
        name: &str,
    ) -> Result<Self, LiveError> {
        opts.validate()?;
        let dir = ScratchDir::create(name)?;
        let cmd = match opts.tool {
            // A service with a working set (a quarter of the limit) and hot page cache
            // (an eighth), as the synthetic family has, leaking on top.
            LeakTool::Builtin => worker_command(&[
                "leak".into(),
                format!("rate={}", opts.rate),
                format!("base={}", opts.limit / 4),
                format!("cache={}", opts.limit / 8),
                format!("file={}", dir.path().join("data").display()),
            ])?,
            LeakTool::StressNg => stress_ng(live.duration)?,
        };
        let cgroup = ScratchCgroup::create(&live.cgroup_root, name)?;
        cgroup.set_memory_limit(opts.limit)?;
        let cpu = opts
            .cpu
            .or((opts.tool == LeakTool::StressNg).then_some(0.02));
        if let Some(cores) = cpu {
            cgroup.set_cpu_quota(cores)?;
        }
        let oom_kills_before = cgroup.oom_kills().unwrap_or(0);
        let worker = Worker::spawn("leaker", cmd, &[&cgroup])?;
        Ok(Leak {
            opts: opts.clone(),
            pid: worker.pid(),
            cgroup,
            worker,
            _dir: dir,
            started_ns: None,
            oom_ns: None,
            oom_kills_before,
        })
    }
}

/// For a caller driving the leak tick by tick (a test acting on it).
impl Leak {
    /// The leaking process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its memory cgroup: path, usage, OOM kill count.
    pub fn cgroup(&self) -> &ScratchCgroup {
        &self.cgroup
    }

    /// The frame time the leak started (the leaker's warm-up over), once seen by `tick`.
    pub fn started_ns(&self) -> Option<i64> {
        self.started_ns
    }

    /// Whether the leaker has exited (reaped here, so it does not linger as a zombie).
    pub fn exited(&mut self) -> bool {
        self.worker.exited().is_some()
    }
}

fn stress_ng(duration: Duration) -> Result<Command, LiveError> {
    if !on_path("stress-ng") {
        return Err(LiveError::Unsupported(
            "stress-ng is not installed (scripts/setup installs it)".into(),
        ));
    }
    let mut cmd = Command::new("stress-ng");
    cmd.args([
        "--bigheap",
        "1",
        "--bigheap-growth",
        "64K",
        "--quiet",
        "--timeout",
    ])
    .arg(format!("{}s", duration.as_secs() + 30));
    Ok(cmd)
}

pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Workload for Leak {
    fn plan(&self) -> Plan {
        Plan {
            tables: vec![Table::System, Table::Process, Table::Cgroup],
            log_globs: Vec::new(),
        }
    }

    fn tick(&mut self, frame: &Frame) -> Result<Step, LiveError> {
        let ts = frame.ts_ns;
        // Our leaker says when its warm-up is over; stress-ng leaks from the start.
        if self.started_ns.is_none()
            && (self.opts.tool == LeakTool::StressNg
                || self.worker.drain().iter().any(|l| l == "leaking"))
        {
            self.started_ns = Some(ts);
        }
        if self.oom_ns.is_none() {
            let killed = self
                .cgroup
                .oom_kills()
                .is_some_and(|n| n > self.oom_kills_before);
            let died = self.worker.exited().is_some();
            if killed || died {
                self.oom_ns = Some(ts);
            }
        }
        Ok(match self.oom_ns {
            Some(oom) if after(Some(oom), ts) >= AFTERMATH => Step::Done,
            _ => Step::Continue,
        })
    }

    fn labels(&self, end_ns: i64) -> Vec<LabelRow> {
        let Some(start) = self.started_ns else {
            return Vec::new();
        };
        // The first tick that showed the kill; a leak cut short by the end of the run
        // ends there, unresolved (`oom_ns` null).
        let flavour = match self.opts.tool {
            LeakTool::Builtin => "live_leak",
            LeakTool::StressNg => "live_stress_ng",
        };
        let oom = self.oom_ns.map_or("null".into(), |t| t.to_string());
        vec![LabelRow {
            ts_ns: start,
            kind: "memory_leak".into(),
            target: self.cgroup.path().into(),
            start_ns: start,
            end_ns: Some(self.oom_ns.unwrap_or(end_ns)),
            attributes: format!(
                r#"{{"flavour":"{flavour}","oom_ns":{oom},"limit_bytes":{},"rate_bytes_per_s":{},"pid":{},"cgroup_version":{}}}"#,
                self.opts.limit,
                self.opts.rate,
                self.pid,
                self.cgroup.version()
            ),
        }]
    }

    fn summary(&self) -> Vec<String> {
        let usage = self
            .cgroup
            .memory_usage()
            .map_or("unknown".into(), |u| format!("{} MiB", u >> 20));
        match (self.started_ns, self.oom_ns) {
            (Some(s), Some(o)) => vec![format!(
                "OOM kill in {} after {:.1} s (limit {} MiB)",
                self.cgroup.path(),
                after(Some(s), o).as_secs_f64(),
                self.opts.limit >> 20
            )],
            _ => vec![format!(
                "no OOM kill before the run ended (usage {usage} of {} MiB)",
                self.opts.limit >> 20
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_before_anything_starts() {
        let ok = LeakOptions {
            limit: 64 << 20,
            rate: 1 << 20,
            tool: LeakTool::Builtin,
            cpu: None,
        };
        assert!(ok.validate().is_ok());
        let bad = [
            LeakOptions {
                limit: 8 << 20,
                ..ok.clone()
            },
            LeakOptions {
                limit: u64::MAX / 2,
                ..ok.clone()
            },
            LeakOptions {
                rate: 0,
                ..ok.clone()
            },
            LeakOptions {
                cpu: Some(0.0),
                ..ok.clone()
            },
            LeakOptions {
                cpu: Some(f64::NAN),
                ..ok.clone()
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
    }

    #[test]
    fn tools_are_looked_up_on_the_path() {
        assert!(on_path("sh"));
        assert!(!on_path("qbranch-no-such-tool"));
    }
}

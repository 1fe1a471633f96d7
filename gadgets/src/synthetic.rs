//! A synthetic busy host for measuring the engine: the fixture of the tick bench
//! (`benches/tick.rs`) and of `qbranch perf`'s `engine tick` probe, so both time the
//! same work.
//!
//! 500 processes (workers, idle daemons, sleepers) each with a few syscall rows per
//! tick, 40 cgroups of which 10 have limits and sit at 40-70 % of them, so the LSTM runs
//! on every one of those (the worst case; cgroups far from any limit are not
//! forecast), and one slowly leaking so ARIMA runs too. After `WARM_TICKS` frames every
//! window is full.

use qb_signals::rng::Rng;
use qb_signals::{CgroupRow, Frame, ProcessRow, SyscallRow, SystemRow};

use crate::{Config, Engine, ManualPause, RecordingActuator};
use qb_models::registry::Registry;

pub const PROCESSES: u32 = 500;
pub const CGROUPS: usize = 40;
/// Cgroups with a memory limit (the first ones), near enough to it to be forecast.
pub const LIMITED: usize = 10;
/// Frames after which every gadget's window is full.
pub const WARM_TICKS: usize = 90;
const SEC: i64 = 1_000_000_000;
const GIB: u64 = 1 << 30;

/// One line saying what the fixture is, for reports.
pub fn describe() -> String {
    format!(
        "{PROCESSES} synthetic processes, {CGROUPS} cgroups ({LIMITED} at 40-70 % of their limits), windows full"
    )
}

/// The engine the bench and the probe measure: the default config (its enabled gadgets,
/// their embedded models, the default rules, dry run) acting on nothing.
pub fn engine(registry: &Registry) -> Engine<RecordingActuator, ManualPause> {
    crate::engine(
        &Config::default(),
        registry,
        RecordingActuator::default(),
        ManualPause::default(),
    )
}

/// The gadgets `Config::default()` enables, in the engine's order (the `what` of a
/// measurement).
pub fn default_gadget_names() -> Vec<&'static str> {
    let c = Config::default();
    [
        ("Oracle", c.oracle.enabled),
        ("Pathologist", c.pathologist.enabled),
        ("Equalizer", c.equalizer.enabled),
        ("Curator", c.curator.enabled),
        ("Timekeeper", c.timekeeper.enabled),
        ("Archivist", c.archivist.enabled),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

/// Frames of the synthetic host, one per call, 1 s apart, deterministic (seed 7).
#[derive(Debug)]
pub struct SyntheticHost {
    rng: Rng,
    tick: i64,
    cpu: Vec<u64>,
    calls: Vec<u64>,
}

impl Default for SyntheticHost {
    fn default() -> Self {
        Self::new()
    }
}

impl SyntheticHost {
    pub fn new() -> SyntheticHost {
        SyntheticHost {
            rng: Rng::new(7),
            tick: 0,
            cpu: vec![0; PROCESSES as usize],
            calls: vec![0; PROCESSES as usize],
        }
    }

    pub fn frame(&mut self) -> Frame {
        let ts = 1_767_225_600 * SEC + self.tick * SEC;
        self.tick += 1;
        let mut f = Frame::new(ts, "bench");
        f.system = Some(SystemRow {
            ts_ns: ts,
            mem_total_bytes: 64 * GIB,
            mem_free_bytes: 20 * GIB,
            mem_available_bytes: 40 * GIB,
            cpu_count: 16,
            ..SystemRow::default()
        });
        for c in 0..CGROUPS {
            let limited = c < LIMITED;
            let limit = 2 * GIB;
            let level = 0.4 + 0.03 * c as f64 + 0.01 * self.rng.unit();
            let leak = if c == 0 {
                self.tick as f64 * 0.001
            } else {
                0.0
            };
            let usage = ((level + leak).min(0.99) * limit as f64) as u64;
            f.cgroups.push(CgroupRow {
                ts_ns: ts,
                path: format!("/system.slice/svc{c}.service"),
                version: 1,
                memory_usage_bytes: if limited { usage } else { usage / 64 },
                memory_limit_bytes: limited.then_some(limit),
                anon_bytes: usage / 2,
                file_bytes: usage / 2,
                working_set_bytes: usage * 3 / 4,
                inactive_file_bytes: usage / 4,
                ..CgroupRow::default()
            });
        }
        for pid in 0..PROCESSES {
            let i = pid as usize;
            let busy = pid % 5 == 0;
            if busy {
                self.cpu[i] += 50 + (self.rng.unit() * 20.0) as u64;
                self.calls[i] += 300;
            } else if pid % 5 == 1 {
                self.calls[i] += 2;
            }
            f.processes.push(ProcessRow {
                ts_ns: ts,
                pid: 1000 + pid,
                ppid: 1,
                comm: format!("worker{}", pid % 37),
                cmdline_hash: 1 + u64::from(pid),
                state: if busy { "R" } else { "S" }.to_string(),
                utime_ticks: self.cpu[i],
                rss_bytes: 100 << 20,
                voluntary_ctxt_switches: self.calls[i],
                fd_count: Some(12),
                threads: 4,
                start_time_ns: 1_767_000_000 * SEC + i64::from(pid),
                cgroup: format!("/system.slice/svc{}.service", i % CGROUPS),
                ..ProcessRow::default()
            });
            for nr in [0u32, 1, 202, 232] {
                f.syscalls.push(SyscallRow {
                    ts_ns: ts,
                    pid: 1000 + pid,
                    syscall_nr: nr,
                    count: if busy { 100 } else { u64::from(pid % 3) },
                });
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_described_shape_and_are_deterministic() {
        let (mut a, mut b) = (SyntheticHost::new(), SyntheticHost::new());
        let (fa, fb) = (a.frame(), b.frame());
        assert_eq!(fa.processes.len(), PROCESSES as usize);
        assert_eq!(fa.cgroups.len(), CGROUPS);
        let limited = fa
            .cgroups
            .iter()
            .filter(|c| c.memory_limit_bytes.is_some())
            .count();
        assert_eq!(limited, LIMITED);
        assert_eq!(fa.cgroups, fb.cgroups);
        assert_eq!(a.frame().ts_ns - fa.ts_ns, SEC);
    }

    #[test]
    fn default_gadgets_are_the_oracle_and_the_pathologist() {
        assert_eq!(default_gadget_names(), ["Oracle", "Pathologist"]);
    }
}

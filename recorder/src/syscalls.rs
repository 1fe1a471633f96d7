//! The `syscalls` table: per-process syscall counts per tick, from the eBPF probe
//! (exact), or where it cannot load, by sampling what each thread is blocked in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qb_bpf::{SyscallCount, SyscallCounter};
use qb_signals::SyscallRow;

use crate::fsread::read_into;
use crate::parse::current_syscall;

#[derive(Debug)]
enum Source {
    // Boxed: the loaded program is much larger than the sampler.
    Ebpf(Box<SyscallCounter>),
    Sampling(Sampler),
}

#[derive(Debug)]
pub struct SyscallCollector {
    source: Source,
    method: String,
    counts: Vec<SyscallCount>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyscallStats {
    pub rows: u64,
    pub calls: u64,
    /// Ticks whose eBPF map could not be read.
    pub errors: u64,
}

impl SyscallCollector {
    /// Loads the eBPF probe unless `sample_only`; on failure samples /proc and says why.
    pub fn new(proc_root: &Path, sample_only: bool) -> Self {
        let fallback = |reason: String| SyscallCollector {
            source: Source::Sampling(Sampler::new(proc_root)),
            method: format!(
                "sampling {}/PID/task/*/syscall once per tick (counts are threads seen in the call, not calls): {reason}",
                proc_root.display()
            ),
            counts: Vec::new(),
        };
        if sample_only {
            return fallback("eBPF not requested".into());
        }
        match SyscallCounter::load() {
            Ok(counter) => SyscallCollector {
                source: Source::Ebpf(Box::new(counter)),
                method: "eBPF raw_syscalls:sys_enter, exact counts per interval".into(),
                counts: Vec::new(),
            },
            Err(e) => fallback(e.to_string()),
        }
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn is_exact(&self) -> bool {
        matches!(self.source, Source::Ebpf(_))
    }

    pub fn collect(&mut self, ts_ns: i64, out: &mut Vec<SyscallRow>) -> SyscallStats {
        let mut stats = SyscallStats::default();
        self.counts.clear();
        match &mut self.source {
            Source::Ebpf(counter) => {
                if let Err(e) = counter.drain(&mut self.counts) {
                    tracing::warn!("syscall counts skipped this tick: {e}");
                    stats.errors += 1;
                }
            }
            Source::Sampling(sampler) => sampler.sample(&mut self.counts),
        }
        for c in &self.counts {
            out.push(SyscallRow {
                ts_ns,
                pid: c.pid,
                syscall_nr: c.syscall_nr,
                count: c.count,
            });
            stats.rows += 1;
            stats.calls += c.count;
        }
        stats
    }
}

/// Reads the syscall every thread is blocked in: cheap, needs no privilege beyond
/// ptrace-read of the target, and sees deadlocks (a thread parked in futex) well.
#[derive(Debug)]
struct Sampler {
    proc_root: PathBuf,
    buf: String,
}

impl Sampler {
    fn new(proc_root: &Path) -> Self {
        Sampler {
            proc_root: proc_root.into(),
            buf: String::new(),
        }
    }

    fn sample(&mut self, out: &mut Vec<SyscallCount>) {
        let Ok(entries) = std::fs::read_dir(&self.proc_root) else {
            return;
        };
        let mut pids: Vec<u32> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        for pid in pids {
            let tasks = self.proc_root.join(pid.to_string()).join("task");
            let Ok(tasks) = std::fs::read_dir(&tasks) else {
                continue;
            };
            let mut per_nr: BTreeMap<u32, u64> = BTreeMap::new();
            for task in tasks.flatten() {
                if read_into(&task.path().join("syscall"), &mut self.buf).is_err() {
                    continue; // exited, or not permitted
                }
                if let Some(nr) = current_syscall(&self.buf).and_then(|n| u32::try_from(n).ok()) {
                    *per_nr.entry(nr).or_default() += 1;
                }
            }
            out.extend(per_nr.into_iter().map(|(syscall_nr, count)| SyscallCount {
                pid,
                syscall_nr,
                count,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_counts_threads_per_syscall_in_a_fake_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let put = |rel: &str, text: &str| {
            let p = tmp.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put(
            "10/task/10/syscall",
            "202 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8\n",
        );
        put(
            "10/task/11/syscall",
            "202 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8\n",
        );
        put("10/task/12/syscall", "running\n");
        put("10/task/13/syscall", "-1 0x7ffd 0x7f00\n");
        put("20/task/20/syscall", "7 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8\n");
        std::fs::create_dir_all(tmp.path().join("30/task/30")).unwrap(); // vanished
        let mut c = SyscallCollector::new(tmp.path(), true);
        assert!(c.method().starts_with("sampling") && !c.is_exact());
        let mut rows = Vec::new();
        let stats = c.collect(5, &mut rows);
        let got: Vec<(u32, u32, u64)> = rows
            .iter()
            .map(|r| (r.pid, r.syscall_nr, r.count))
            .collect();
        assert_eq!(got, [(10, 202, 2), (20, 7, 1)]);
        assert_eq!((stats.rows, stats.calls), (2, 3));
    }
}

//! qb-bpf: the eBPF programs qbranch loads, written in C (`bpf/c/*.bpf.c`), compiled by
//! clang in `build.rs`, embedded in the binary and loaded with aya from stable Rust.
//!
//! Without clang at build time, or without privileges or kernel support at run time,
//! loading returns an error whose message says why; callers fall back and record it.

use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("eBPF programs were not built: {0}")]
    NotBuilt(&'static str),
    #[error("cannot load the eBPF program: {0}")]
    Load(String),
    #[error("reading the eBPF map: {0}")]
    Map(String),
}

/// One (process, syscall) count over the interval since the previous drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallCount {
    pub pid: u32,
    pub syscall_nr: u32,
    pub count: u64,
}

#[cfg(qb_bpf_object)]
mod loaded {
    use aya::maps::{MapData, PerCpuHashMap};
    use aya::programs::RawTracePoint;
    use aya::{Ebpf, Pod, include_bytes_aligned};

    use super::BpfError;

    pub static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syscalls.bpf.o"));

    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Key {
        pub pid: u32,
        pub id: u32,
    }
    // SAFETY: plain old data, no padding (two u32).
    unsafe impl Pod for Key {}

    pub struct Probe {
        // Dropping the Ebpf detaches the program: keep it alive with the map.
        _ebpf: Ebpf,
        pub map: PerCpuHashMap<MapData, Key, u64>,
    }

    pub fn load() -> Result<Probe, BpfError> {
        let load = |e: &dyn std::fmt::Display| BpfError::Load(e.to_string());
        let mut ebpf = Ebpf::load(OBJECT).map_err(|e| load(&e))?;
        let program: &mut RawTracePoint = ebpf
            .program_mut("count_sys_enter")
            .ok_or_else(|| BpfError::Load("program count_sys_enter missing from object".into()))?
            .try_into()
            .map_err(|e| load(&e))?;
        program.load().map_err(|e| load(&e))?;
        program.attach("sys_enter").map_err(|e| load(&e))?;
        let map = ebpf
            .take_map("SYSCALL_COUNTS")
            .ok_or_else(|| BpfError::Load("map SYSCALL_COUNTS missing from object".into()))?;
        let map = PerCpuHashMap::try_from(map).map_err(|e| load(&e))?;
        Ok(Probe { _ebpf: ebpf, map })
    }
}

/// Counts every syscall on the host per (process, syscall number), in the kernel.
///
/// The kernel map holds running totals; `drain` reports the increase since the last
/// drain and deletes entries that stayed idle for a whole interval, so exited processes
/// do not fill the map. (A call landing between the read and the delete of an idle
/// entry is lost: at most a handful per idle key.)
pub struct SyscallCounter {
    #[cfg(qb_bpf_object)]
    probe: loaded::Probe,
    previous: HashMap<(u32, u32), u64>,
}

impl std::fmt::Debug for SyscallCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyscallCounter")
            .field("keys", &self.previous.len())
            .finish()
    }
}

impl SyscallCounter {
    /// Loads and attaches the probe (needs CAP_BPF and CAP_PERFMON, or root).
    pub fn load() -> Result<Self, BpfError> {
        #[cfg(qb_bpf_object)]
        {
            Ok(SyscallCounter {
                probe: loaded::load()?,
                previous: HashMap::new(),
            })
        }
        #[cfg(not(qb_bpf_object))]
        {
            Err(BpfError::NotBuilt(env!("QB_BPF_UNAVAILABLE")))
        }
    }

    /// Appends the counts accumulated since the previous call.
    pub fn drain(&mut self, out: &mut Vec<SyscallCount>) -> Result<(), BpfError> {
        #[cfg(qb_bpf_object)]
        {
            let start = out.len();
            let mut current = HashMap::with_capacity(self.previous.len());
            for entry in self.probe.map.iter() {
                let (key, per_cpu) = entry.map_err(|e| BpfError::Map(e.to_string()))?;
                current.insert((key.pid, key.id), per_cpu.iter().sum::<u64>());
            }
            for (&(pid, syscall_nr), &total) in &current {
                let before = self.previous.get(&(pid, syscall_nr)).copied().unwrap_or(0);
                match total.checked_sub(before) {
                    Some(0) => {
                        // Idle for a whole interval: free the slot.
                        let _ = self.probe.map.remove(&loaded::Key {
                            pid,
                            id: syscall_nr,
                        });
                    }
                    Some(count) => out.push(SyscallCount {
                        pid,
                        syscall_nr,
                        count,
                    }),
                    // The entry was removed and re-created since: all of it is new.
                    None => out.push(SyscallCount {
                        pid,
                        syscall_nr,
                        count: total,
                    }),
                }
            }
            current.retain(|k, total| self.previous.get(k) != Some(total));
            self.previous = current;
            out[start..].sort_unstable_by_key(|c| (c.pid, c.syscall_nr));
            Ok(())
        }
        #[cfg(not(qb_bpf_object))]
        {
            let _ = out;
            Err(BpfError::NotBuilt(env!("QB_BPF_UNAVAILABLE")))
        }
    }
}

/// Whether the eBPF object was compiled into this build, and why not.
pub fn built() -> Result<(), &'static str> {
    #[cfg(qb_bpf_object)]
    {
        Ok(())
    }
    #[cfg(not(qb_bpf_object))]
    {
        Err(env!("QB_BPF_UNAVAILABLE"))
    }
}

/// Why loading failed, said the way an operator acts on it: the object was not built,
/// this is not root, the kernel has no BTF, or the loader's own message.
pub fn explain(error: &BpfError) -> String {
    match error {
        BpfError::NotBuilt(why) => format!("no eBPF object built ({why})"),
        // SAFETY: geteuid has no arguments and cannot fail.
        _ if unsafe { libc::geteuid() } != 0 => {
            format!("not root (loading needs CAP_BPF and CAP_PERFMON): {error}")
        }
        _ if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() => {
            format!("no BTF (/sys/kernel/btf/vmlinux is missing): {error}")
        }
        _ => error.to_string(),
    }
}

/// `n` getppid calls: the worst case for a probe that runs on every syscall (a pure
/// syscall loop), timed by the overhead bench and by `qbranch perf`.
pub fn getppid_loop(n: usize) {
    for _ in 0..n {
        // SAFETY: getppid has no arguments and cannot fail.
        std::hint::black_box(unsafe { libc::syscall(libc::SYS_getppid) });
    }
}

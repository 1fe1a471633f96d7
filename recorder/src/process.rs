//! The `process` table: one row per /proc/PID.
//!
//! Per tick and process it reads stat, status, io, syscall, oom_score_adj and cgroup,
//! and stats the fd directory (whose size is the fd count on Linux 6.2+). The command
//! line is read once per process lifetime (pid + start time + comm).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use qb_signals::{Fnv64, ProcessRow};

use crate::container::container_id;
use crate::fsread::{denied, is_procfs, read_into, vanished};
use crate::parse::{current_syscall, first_number, for_each_kv, pid_stat};

const PF_KTHREAD: u64 = 0x0020_0000;

/// Per-tick counts of entries that could not be read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStats {
    pub rows: u64,
    /// Processes that exited between listing /proc and reading their files.
    pub vanished: u64,
    /// Processes whose stat file could not be parsed or read for another reason.
    pub unreadable: u64,
}

/// What stays fixed for a process until it execs: cached so cmdline is read once.
#[derive(Debug)]
struct Identity {
    start_ticks: u64,
    comm: String,
    cmdline_hash: u64,
    seen_tick: u64,
}

#[derive(Debug)]
pub struct ProcessCollector {
    proc_root: PathBuf,
    page_size: u64,
    ns_per_tick: u64,
    boot_ns: i64,
    buf: String,
    path: PathBuf,
    /// The root is a real procfs, whose fd directory size is the fd count.
    procfs: bool,
    tick: u64,
    identities: HashMap<u32, Identity>,
    containers: HashMap<String, Option<String>>,
}

enum Skip {
    Vanished,
    Unreadable,
}

impl ProcessCollector {
    pub fn new(proc_root: &Path, boot_time_s: u64) -> Self {
        // SAFETY: sysconf has no preconditions.
        let (page, hz) = unsafe {
            (
                libc::sysconf(libc::_SC_PAGESIZE),
                libc::sysconf(libc::_SC_CLK_TCK),
            )
        };
        ProcessCollector {
            proc_root: proc_root.into(),
            page_size: u64::try_from(page).unwrap_or(4096),
            ns_per_tick: 1_000_000_000 / u64::try_from(hz).unwrap_or(100).max(1),
            boot_ns: (boot_time_s as i64).saturating_mul(1_000_000_000),
            buf: String::with_capacity(4096),
            path: PathBuf::new(),
            procfs: is_procfs(proc_root),
            tick: 0,
            identities: HashMap::new(),
            containers: HashMap::new(),
        }
    }

    /// Pids currently listed under the proc root.
    pub fn pids(&self) -> std::io::Result<Vec<u32>> {
        let mut pids: Vec<u32> = std::fs::read_dir(&self.proc_root)?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    pub fn collect(
        &mut self,
        ts_ns: i64,
        out: &mut Vec<ProcessRow>,
    ) -> std::io::Result<ProcessStats> {
        let mut stats = ProcessStats::default();
        self.tick += 1;
        for pid in self.pids()? {
            match self.read_process(ts_ns, pid) {
                Ok(row) => {
                    out.push(row);
                    stats.rows += 1;
                }
                Err(Skip::Vanished) => stats.vanished += 1,
                Err(Skip::Unreadable) => stats.unreadable += 1,
            }
        }
        let tick = self.tick;
        self.identities.retain(|_, id| id.seen_tick == tick);
        if self.containers.len() > 4 * self.identities.len().max(1024) {
            self.containers.clear();
        }
        Ok(stats)
    }

    /// Reads `/proc/<pid>/<file>` into the shared buffer.
    fn read(&mut self, pid: u32, file: &str) -> std::io::Result<()> {
        self.path.clear();
        self.path.push(&self.proc_root);
        self.path.push(pid.to_string());
        self.path.push(file);
        read_into(&self.path, &mut self.buf)
    }

    /// Optional files: None when denied or gone (the stat read decides about vanishing).
    fn read_optional(&mut self, pid: u32, file: &str) -> bool {
        self.read(pid, file).is_ok()
    }

    fn read_process(&mut self, ts_ns: i64, pid: u32) -> Result<ProcessRow, Skip> {
        let skip = |e: std::io::Error| {
            if vanished(&e) {
                Skip::Vanished
            } else {
                Skip::Unreadable
            }
        };
        self.read(pid, "stat").map_err(skip)?;
        let stat = pid_stat(&self.buf).ok_or(Skip::Unreadable)?;
        let kernel_thread = stat.flags & PF_KTHREAD != 0;
        let mut row = ProcessRow {
            ts_ns,
            pid,
            ppid: stat.ppid,
            comm: stat.comm.to_string(),
            state: stat.state.to_string(),
            kernel_thread,
            utime_ticks: stat.utime,
            stime_ticks: stat.stime,
            rss_bytes: stat.rss_pages * self.page_size,
            vms_bytes: stat.vsize,
            minflt: stat.minflt,
            majflt: stat.majflt,
            threads: stat.threads,
            start_time_ns: self.boot_ns + (stat.starttime * self.ns_per_tick) as i64,
            ..ProcessRow::default()
        };
        let start_ticks = stat.starttime;

        // status: everything else may fail individually without losing the row, but a
        // process that is gone by now is gone: count it as vanished, not half-read.
        match self.read(pid, "status") {
            Ok(()) => apply_status(&self.buf, &mut row),
            Err(e) if vanished(&e) => return Err(Skip::Vanished),
            Err(_) => {}
        }
        if self.read_optional(pid, "io") {
            apply_io(&self.buf, &mut row);
        }
        match self.read(pid, "syscall") {
            Ok(()) => row.syscall = current_syscall(&self.buf),
            Err(e) if denied(&e) => row.wchan = self.wchan(pid),
            Err(_) => {}
        }
        if row.state == "D" && row.wchan.is_none() {
            row.wchan = self.wchan(pid);
        }
        if self.read_optional(pid, "oom_score_adj") {
            row.oom_score_adj = first_number(&self.buf).unwrap_or(0);
        }
        row.fd_count = self.fd_count(pid);
        if self.read_optional(pid, "cgroup") {
            row.cgroup = memory_cgroup(&self.buf).to_string();
            row.container_id = self
                .containers
                .entry(row.cgroup.clone())
                .or_insert_with_key(|path| container_id(path))
                .clone();
        }
        row.cmdline_hash = self.cmdline_hash(pid, start_ticks, &row.comm, kernel_thread);
        Ok(row)
    }

    fn wchan(&mut self, pid: u32) -> Option<String> {
        self.read(pid, "wchan").ok()?;
        let w = self.buf.trim();
        (!w.is_empty() && w != "0").then(|| w.to_string())
    }

    fn fd_count(&mut self, pid: u32) -> Option<u32> {
        self.path.clear();
        self.path.push(&self.proc_root);
        self.path.push(pid.to_string());
        self.path.push("fd");
        // procfs on Linux 6.2+ reports the number of open fds as the directory size; older
        // kernels report 0, so fall back to listing (costly for processes with many fds).
        if self.procfs {
            let size = std::fs::metadata(&self.path).ok()?.len();
            if size > 0 {
                return u32::try_from(size).ok();
            }
        }
        let n = std::fs::read_dir(&self.path).ok()?.count();
        u32::try_from(n).ok()
    }

    fn cmdline_hash(&mut self, pid: u32, start_ticks: u64, comm: &str, kernel_thread: bool) -> u64 {
        if kernel_thread {
            return 0;
        }
        if let Some(id) = self.identities.get_mut(&pid)
            && id.start_ticks == start_ticks
            && id.comm == comm
        {
            id.seen_tick = self.tick;
            return id.cmdline_hash;
        }
        // exec keeps pid and start time but changes comm: re-read then.
        self.path.clear();
        self.path.push(&self.proc_root);
        self.path.push(pid.to_string());
        self.path.push("cmdline");
        let hash = std::fs::read(&self.path)
            .map(|bytes| {
                let mut h = Fnv64::new();
                h.write(&bytes);
                h.finish()
            })
            .unwrap_or(0);
        let identity = Identity {
            start_ticks,
            comm: comm.to_string(),
            cmdline_hash: hash,
            seen_tick: self.tick,
        };
        self.identities.insert(pid, identity);
        hash
    }
}

fn apply_status(text: &str, row: &mut ProcessRow) {
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let value = || {
            rest.split_ascii_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        };
        match key {
            "Uid" => row.uid = value().unwrap_or(0) as u32,
            "VmSwap" => row.swap_bytes = value().map(|kb| kb * 1024),
            "voluntary_ctxt_switches" => row.voluntary_ctxt_switches = value().unwrap_or(0),
            "nonvoluntary_ctxt_switches" => row.nonvoluntary_ctxt_switches = value().unwrap_or(0),
            _ => {}
        }
    }
}

fn apply_io(text: &str, row: &mut ProcessRow) {
    for_each_kv(text, |key, v| match key {
        "rchar" => row.rchar = Some(v),
        "wchar" => row.wchar = Some(v),
        "syscr" => row.syscr = Some(v),
        "syscw" => row.syscw = Some(v),
        "read_bytes" => row.read_bytes = Some(v),
        "write_bytes" => row.write_bytes = Some(v),
        _ => {}
    });
}

/// The memory controller's path from /proc/PID/cgroup: the v1 line naming `memory`,
/// else the v2 `0::` line.
pub fn memory_cgroup(text: &str) -> &str {
    let mut v2 = "/";
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory") {
            return path;
        }
        if id == "0" && controllers.is_empty() {
            v2 = path;
        }
    }
    v2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cgroup_prefers_v1_memory_line() {
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/user.slice\n";
        assert_eq!(memory_cgroup(hybrid), "/process_api/abc");
        assert_eq!(
            memory_cgroup("0::/system.slice/x.service\n"),
            "/system.slice/x.service"
        );
        assert_eq!(memory_cgroup("4:cpu,memory:/a\n"), "/a");
        assert_eq!(memory_cgroup(""), "/");
    }
}

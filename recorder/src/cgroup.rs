//! The `cgroup` table: memory (and CPU) accounting of every memory cgroup, from
//! cgroup v1 (also in a hybrid hierarchy) or v2.

use std::path::{Path, PathBuf};

use qb_signals::CgroupRow;

use crate::fsread::read_into;
use crate::parse::{first_number, for_each_kv, psi, v1_limit, v2_limit};

/// Where each hierarchy is mounted under a cgroup root (normally /sys/fs/cgroup).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// v1 memory controller (`<root>/memory`).
    pub v1_memory: Option<PathBuf>,
    /// v1 cpu controller, often co-mounted with cpuacct (`<root>/cpu,cpuacct`).
    pub v1_cpu: Option<PathBuf>,
    pub v1_cpuacct: Option<PathBuf>,
    /// The unified (v2) hierarchy: the root itself, or `<root>/unified` in hybrid mode.
    pub v2: Option<PathBuf>,
    /// The memory controller is enabled in the v2 hierarchy.
    pub v2_memory: bool,
}

impl CgroupLayout {
    pub fn detect(root: &Path) -> Self {
        if root.join("cgroup.controllers").exists() {
            return CgroupLayout {
                v2: Some(root.into()),
                v2_memory: controllers(root).any(|c| c == "memory"),
                ..CgroupLayout::default()
            };
        }
        let existing = |names: &[&str], probe: &str| {
            names
                .iter()
                .map(|n| root.join(n))
                .find(|p| p.join(probe).exists())
        };
        let unified = root.join("unified");
        let v2 = unified
            .join("cgroup.controllers")
            .exists()
            .then_some(unified);
        CgroupLayout {
            v1_memory: existing(&["memory"], "memory.usage_in_bytes"),
            v1_cpu: existing(&["cpu", "cpu,cpuacct", "cpuacct,cpu"], "cpu.stat"),
            v1_cpuacct: existing(&["cpuacct", "cpu,cpuacct", "cpuacct,cpu"], "cpuacct.usage"),
            v2_memory: v2
                .as_ref()
                .is_some_and(|p| controllers(p).any(|c| c == "memory")),
            v2,
        }
    }

    /// The hierarchy the memory table comes from, and its version.
    pub fn memory_hierarchy(&self) -> Option<(&Path, u32)> {
        match (&self.v1_memory, &self.v2) {
            (Some(v1), _) => Some((v1, 1)),
            (None, Some(v2)) if self.v2_memory => Some((v2, 2)),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self.memory_hierarchy() {
            Some((p, 1)) if self.v2.is_some() => {
                format!("cgroup v1 memory at {} (hybrid)", p.display())
            }
            Some((p, v)) => format!("cgroup v{v} at {}", p.display()),
            None => "no memory cgroup hierarchy".into(),
        }
    }
}

fn controllers(dir: &Path) -> impl Iterator<Item = String> {
    std::fs::read_to_string(dir.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CgroupStats {
    pub rows: u64,
    /// Cgroups removed between listing and reading.
    pub vanished: u64,
}

#[derive(Debug)]
pub struct CgroupCollector {
    layout: CgroupLayout,
    hierarchy: PathBuf,
    version: u32,
    /// Relative path of the recorded subtree ("/" for all).
    scope: String,
    buf: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no memory cgroup hierarchy under {0} (neither v1 memory nor v2 with the memory controller)"
    )]
    NoHierarchy(PathBuf),
    #[error("cgroup {scope} not found under {}", hierarchy.display())]
    NoSuchScope { scope: String, hierarchy: PathBuf },
}

impl CgroupCollector {
    pub fn new(root: &Path, scope: Option<&str>) -> Result<Self, CgroupError> {
        let layout = CgroupLayout::detect(root);
        let Some((hierarchy, version)) = layout.memory_hierarchy() else {
            return Err(CgroupError::NoHierarchy(root.into()));
        };
        let hierarchy = hierarchy.to_path_buf();
        let scope = format!("/{}", scope.unwrap_or("/").trim_matches('/'));
        if !hierarchy.join(scope.trim_start_matches('/')).is_dir() {
            return Err(CgroupError::NoSuchScope { scope, hierarchy });
        }
        Ok(CgroupCollector {
            layout,
            hierarchy,
            version,
            scope,
            buf: String::new(),
        })
    }

    pub fn layout(&self) -> &CgroupLayout {
        &self.layout
    }

    pub fn collect(&mut self, ts_ns: i64, out: &mut Vec<CgroupRow>) -> CgroupStats {
        let mut stats = CgroupStats::default();
        let mut stack = vec![self.scope.clone()];
        while let Some(rel) = stack.pop() {
            let dir = self.hierarchy.join(rel.trim_start_matches('/'));
            let row = if self.version == 1 {
                self.read_v1(ts_ns, &rel, &dir)
            } else {
                self.read_v2(ts_ns, &rel, &dir)
            };
            match row {
                Some(row) => {
                    out.push(row);
                    stats.rows += 1;
                }
                // The v2 root has no memory.current: not a vanished cgroup.
                None if self.version == 2 && rel == "/" => {}
                None => {
                    stats.vanished += 1;
                    continue;
                }
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut children: Vec<String> = entries
                .filter_map(|e| {
                    let e = e.ok()?;
                    e.file_type()
                        .ok()?
                        .is_dir()
                        .then(|| e.file_name().to_str().map(str::to_owned))?
                })
                .map(|name| {
                    if rel == "/" {
                        format!("/{name}")
                    } else {
                        format!("{rel}/{name}")
                    }
                })
                .collect();
            // Depth-first in name order: stable row order for byte-stable recordings.
            children.sort_unstable_by(|a, b| b.cmp(a));
            stack.extend(children);
        }
        stats
    }

    /// Reads a file of the cgroup; None when it does not exist (or the cgroup vanished).
    fn read(&mut self, dir: &Path, file: &str) -> Option<&str> {
        read_into(&dir.join(file), &mut self.buf).ok()?;
        Some(&self.buf)
    }

    fn read_v1(&mut self, ts_ns: i64, rel: &str, dir: &Path) -> Option<CgroupRow> {
        let mut row = CgroupRow {
            ts_ns,
            path: rel.to_string(),
            version: 1,
            ..CgroupRow::default()
        };
        row.memory_usage_bytes = first_number(self.read(dir, "memory.usage_in_bytes")?)?;
        row.memory_limit_bytes = self.read(dir, "memory.limit_in_bytes").and_then(v1_limit);
        row.memory_high_bytes = self
            .read(dir, "memory.soft_limit_in_bytes")
            .and_then(v1_limit);
        row.memory_max_usage_bytes = self
            .read(dir, "memory.max_usage_in_bytes")
            .and_then(first_number);
        row.failcnt = self
            .read(dir, "memory.failcnt")
            .and_then(first_number)
            .unwrap_or(0);
        let mut swap = None;
        for_each_kv(self.read(dir, "memory.stat")?, |k, v| match k {
            "total_rss" => row.anon_bytes = v,
            "total_cache" => row.file_bytes = v,
            "total_active_file" => row.active_file_bytes = v,
            "total_inactive_file" => row.inactive_file_bytes = v,
            "total_shmem" => row.shmem_bytes = v,
            "total_swap" => swap = Some(v),
            "total_pgmajfault" => row.pgmajfault = v,
            _ => {}
        });
        row.swap_bytes = swap;
        if let Some(text) = self.read(dir, "memory.oom_control") {
            for_each_kv(text, |k, v| {
                if k == "oom_kill" {
                    row.oom_kill_events = v;
                }
            });
        }
        let sub = rel.trim_start_matches('/');
        if let Some(cpu) = self.layout.v1_cpu.clone()
            && let Some(text) = self.read(&cpu.join(sub), "cpu.stat")
        {
            apply_cpu_stat(text, &mut row, 1);
        }
        if let Some(acct) = self.layout.v1_cpuacct.clone() {
            row.cpu_usage_ns = self
                .read(&acct.join(sub), "cpuacct.usage")
                .and_then(first_number);
        }
        // Hybrid hosts: the same path in the unified tree carries PSI.
        if let Some(v2) = self.layout.v2.clone()
            && rel != "/"
        {
            self.apply_pressure(&v2.join(sub), &mut row);
        }
        row.procs = self.count_procs(dir);
        row.working_set_bytes = row
            .memory_usage_bytes
            .saturating_sub(row.inactive_file_bytes);
        Some(row)
    }

    fn read_v2(&mut self, ts_ns: i64, rel: &str, dir: &Path) -> Option<CgroupRow> {
        let mut row = CgroupRow {
            ts_ns,
            path: rel.to_string(),
            version: 2,
            ..CgroupRow::default()
        };
        row.memory_usage_bytes = first_number(self.read(dir, "memory.current")?)?;
        row.memory_limit_bytes = self.read(dir, "memory.max").and_then(v2_limit);
        row.memory_high_bytes = self.read(dir, "memory.high").and_then(v2_limit);
        row.memory_max_usage_bytes = self.read(dir, "memory.peak").and_then(first_number);
        for_each_kv(self.read(dir, "memory.stat")?, |k, v| match k {
            "anon" => row.anon_bytes = v,
            "file" => row.file_bytes = v,
            "active_file" => row.active_file_bytes = v,
            "inactive_file" => row.inactive_file_bytes = v,
            "shmem" => row.shmem_bytes = v,
            "pgmajfault" => row.pgmajfault = v,
            _ => {}
        });
        row.swap_bytes = self.read(dir, "memory.swap.current").and_then(first_number);
        if let Some(text) = self.read(dir, "memory.events") {
            let mut oom = 0;
            for_each_kv(text, |k, v| match k {
                "max" => row.failcnt = v,
                "oom" => oom = v,
                "oom_kill" => row.oom_kill_events = v,
                _ => {}
            });
            row.oom_events = Some(oom);
        }
        if let Some(text) = self.read(dir, "cpu.stat") {
            apply_cpu_stat(text, &mut row, 2);
        }
        self.apply_pressure(dir, &mut row);
        row.procs = self.count_procs(dir);
        row.working_set_bytes = row
            .memory_usage_bytes
            .saturating_sub(row.inactive_file_bytes);
        Some(row)
    }

    fn apply_pressure(&mut self, dir: &Path, row: &mut CgroupRow) {
        let Some(text) = self.read(dir, "memory.pressure") else {
            return;
        };
        let p = psi(text);
        if let Some(s) = p.some {
            row.psi_memory_some_avg10 = Some(s.avg10);
            row.psi_memory_some_avg60 = Some(s.avg60);
            row.psi_memory_some_avg300 = Some(s.avg300);
            row.psi_memory_some_total_us = Some(s.total_us);
        }
        if let Some(f) = p.full {
            row.psi_memory_full_avg10 = Some(f.avg10);
            row.psi_memory_full_total_us = Some(f.total_us);
        }
    }

    fn count_procs(&mut self, dir: &Path) -> u32 {
        self.read(dir, "cgroup.procs")
            .map_or(0, |t| t.lines().count() as u32)
    }
}

/// cpu.stat: v1 reports throttled_time in ns; v2 reports usage and throttling in µs.
fn apply_cpu_stat(text: &str, row: &mut CgroupRow, version: u32) {
    for_each_kv(text, |k, v| match (k, version) {
        ("nr_periods", _) => row.cpu_periods = Some(v),
        ("nr_throttled", _) => row.cpu_throttled_periods = Some(v),
        ("throttled_time", 1) => row.cpu_throttled_ns = Some(v),
        ("throttled_usec", 2) => row.cpu_throttled_ns = Some(v * 1000),
        ("usage_usec", 2) => row.cpu_usage_ns = Some(v * 1000),
        _ => {}
    });
}

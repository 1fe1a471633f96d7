//! The `system` table: /proc/stat, loadavg, meminfo, vmstat and /proc/pressure.

use std::path::{Path, PathBuf};

use qb_signals::SystemRow;

use crate::fsread::read_into;
use crate::parse::{Psi, for_each_kv, psi};
use crate::{Error, Result};

#[derive(Debug)]
pub struct SystemCollector {
    proc_root: PathBuf,
    buf: String,
    /// False once /proc/pressure proved missing (kernel without PSI, or psi=0).
    psi: bool,
}

impl SystemCollector {
    pub fn new(proc_root: &Path) -> Self {
        let psi = proc_root.join("pressure/memory").exists();
        SystemCollector {
            proc_root: proc_root.into(),
            buf: String::new(),
            psi,
        }
    }

    /// Why PSI columns are null, if they are.
    pub fn degraded(&self) -> Option<String> {
        (!self.psi).then(|| {
            format!(
                "PSI unavailable: {} missing (kernel without CONFIG_PSI or booted with psi=0); psi_* columns are null",
                self.proc_root.join("pressure").display()
            )
        })
    }

    pub fn collect(&mut self, ts_ns: i64) -> Result<SystemRow> {
        let mut row = SystemRow {
            ts_ns,
            ..SystemRow::default()
        };
        self.read("stat")?;
        apply_stat(&self.buf, &mut row);
        self.read("loadavg")?;
        let mut loads = self
            .buf
            .split_ascii_whitespace()
            .map(|w| w.parse().unwrap_or(0.0));
        (row.load1, row.load5, row.load15) = (
            loads.next().unwrap_or(0.0),
            loads.next().unwrap_or(0.0),
            loads.next().unwrap_or(0.0),
        );
        self.read("meminfo")?;
        apply_meminfo(&self.buf, &mut row);
        self.read("vmstat")?;
        apply_vmstat(&self.buf, &mut row);
        if self.psi {
            for (file, apply) in [
                (
                    "pressure/memory",
                    apply_psi_memory as fn(&Psi, &mut SystemRow),
                ),
                ("pressure/cpu", apply_psi_cpu),
                ("pressure/io", apply_psi_io),
            ] {
                // A missing pressure file degrades its columns to null, never the row.
                if self.read(file).is_ok() {
                    apply(&psi(&self.buf), &mut row);
                }
            }
        }
        Ok(row)
    }

    fn read(&mut self, file: &str) -> Result<()> {
        let path = self.proc_root.join(file);
        read_into(&path, &mut self.buf).map_err(|source| Error::Io { path, source })
    }
}

fn apply_stat(text: &str, row: &mut SystemRow) {
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let Some(key) = words.next() else { continue };
        let mut nums = words.map(|w| w.parse::<u64>().unwrap_or(0));
        let mut next = || nums.next().unwrap_or(0);
        match key {
            "cpu" => {
                row.cpu_user = next();
                row.cpu_nice = next();
                row.cpu_system = next();
                row.cpu_idle = next();
                row.cpu_iowait = next();
                row.cpu_irq = next();
                row.cpu_softirq = next();
                row.cpu_steal = next();
                row.cpu_guest = next();
                row.cpu_guest_nice = next();
            }
            k if k.starts_with("cpu") => row.cpu_count += 1,
            "ctxt" => row.context_switches = next(),
            "processes" => row.forks = next(),
            "procs_running" => row.procs_running = next() as u32,
            "procs_blocked" => row.procs_blocked = next() as u32,
            _ => {}
        }
    }
}

/// Boot time in seconds since the epoch, from the `btime` line of /proc/stat.
pub fn boot_time(proc_root: &Path) -> Result<u64> {
    let path = proc_root.join("stat");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let mut btime = None;
    for_each_kv(&text, |k, v| {
        if k == "btime" {
            btime = Some(v);
        }
    });
    btime.ok_or_else(|| Error::Parse {
        path,
        what: "no btime line".into(),
    })
}

fn apply_meminfo(text: &str, row: &mut SystemRow) {
    for_each_kv(text, |key, kb| {
        let bytes = kb.saturating_mul(1024);
        let slot = match key {
            "MemTotal" => &mut row.mem_total_bytes,
            "MemFree" => &mut row.mem_free_bytes,
            "MemAvailable" => &mut row.mem_available_bytes,
            "Buffers" => &mut row.buffers_bytes,
            "Cached" => &mut row.cached_bytes,
            "Active(file)" => &mut row.active_file_bytes,
            "Inactive(file)" => &mut row.inactive_file_bytes,
            "Active(anon)" => &mut row.active_anon_bytes,
            "Inactive(anon)" => &mut row.inactive_anon_bytes,
            "Shmem" => &mut row.shmem_bytes,
            "Slab" => &mut row.slab_bytes,
            "PageTables" => &mut row.page_tables_bytes,
            "Dirty" => &mut row.dirty_bytes,
            "SwapTotal" => &mut row.swap_total_bytes,
            "SwapFree" => &mut row.swap_free_bytes,
            _ => return,
        };
        *slot = bytes;
    });
}

fn apply_vmstat(text: &str, row: &mut SystemRow) {
    for_each_kv(text, |key, v| match key {
        "pswpin" => row.pswpin = v,
        "pswpout" => row.pswpout = v,
        "pgfault" => row.pgfault = v,
        "pgmajfault" => row.pgmajfault = v,
        "pgscan_kswapd" | "pgscan_direct" | "pgscan_khugepaged" => row.pgscan += v,
        "pgsteal_kswapd" | "pgsteal_direct" | "pgsteal_khugepaged" => row.pgsteal += v,
        "oom_kill" => row.oom_kill = v,
        _ => {}
    });
}

macro_rules! psi_apply {
    ($name:ident, $some10:ident, $some60:ident, $some300:ident, $some_total:ident,
     $full10:ident, $full60:ident, $full300:ident, $full_total:ident) => {
        fn $name(p: &Psi, row: &mut SystemRow) {
            if let Some(s) = p.some {
                row.$some10 = Some(s.avg10);
                row.$some60 = Some(s.avg60);
                row.$some300 = Some(s.avg300);
                row.$some_total = Some(s.total_us);
            }
            if let Some(f) = p.full {
                row.$full10 = Some(f.avg10);
                row.$full60 = Some(f.avg60);
                row.$full300 = Some(f.avg300);
                row.$full_total = Some(f.total_us);
            }
        }
    };
}

psi_apply!(
    apply_psi_memory,
    psi_memory_some_avg10,
    psi_memory_some_avg60,
    psi_memory_some_avg300,
    psi_memory_some_total_us,
    psi_memory_full_avg10,
    psi_memory_full_avg60,
    psi_memory_full_avg300,
    psi_memory_full_total_us
);
psi_apply!(
    apply_psi_cpu,
    psi_cpu_some_avg10,
    psi_cpu_some_avg60,
    psi_cpu_some_avg300,
    psi_cpu_some_total_us,
    psi_cpu_full_avg10,
    psi_cpu_full_avg60,
    psi_cpu_full_avg300,
    psi_cpu_full_total_us
);
psi_apply!(
    apply_psi_io,
    psi_io_some_avg10,
    psi_io_some_avg60,
    psi_io_some_avg300,
    psi_io_some_total_us,
    psi_io_full_avg10,
    psi_io_full_avg60,
    psi_io_full_avg300,
    psi_io_full_total_us
);

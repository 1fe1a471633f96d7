//! The memory family: leaks that end in an OOM kill, and hard negatives that look like
//! them for a while. One target cgroup (with its process) misbehaves; two to four
//! background services with their own processes add realistic noise.
//!
//! Positives get a `memory_leak` label from leak start to the OOM kill (the first tick
//! whose usage reaches the limit); negatives get a `memory_negative` label over their
//! episode, so the trainer knows what the hard negative was.

use qb_signals::{CgroupRow, Frame, LabelRow, ProcessRow, SignalSource, SystemRow};

use crate::kinds::kinds;
use crate::rng::Rng;
use crate::{Clock, Generator, START_NS, SimError};

const MIB: f64 = 1024.0 * 1024.0;
const SEC: i64 = 1_000_000_000;

kinds! {
    /// Memory scenarios: four leaks, four hard negatives.
    MemoryKind, family "memory" {
        /// Constant leak rate until the OOM kill.
        LinearLeak => "linear_leak",
        /// Leak rate growing linearly (usage quadratic).
        AcceleratingLeak => "accelerating_leak",
        /// Java-like: a GC sawtooth whose post-GC floor creeps up.
        GcSawtoothLeak => "gc_sawtooth_leak",
        /// Leak that first evicts the page cache, with rising memory pressure.
        CacheEvictionLeak => "cache_eviction_leak",
        /// Leak on a host with swap: pages go to swap (swap-in stalls raise PSI) until
        /// the cgroup's swap allowance is full too.
        SwapLeak => "swap_leak",
        /// Negative: a large allocation held for a while, then freed.
        BurstThenFree => "burst_then_free",
        /// Negative: a GC sawtooth with a stable floor.
        StableSawtooth => "stable_sawtooth",
        /// Negative: page cache filling the cgroup near its limit, anon flat.
        HighFlatCache => "high_flat_cache",
        /// Negative: growth that saturates well below the limit.
        PlateauGrowth => "plateau_growth",
    }
}

impl MemoryKind {
    pub fn is_leak(self) -> bool {
        matches!(
            self,
            MemoryKind::LinearLeak
                | MemoryKind::AcceleratingLeak
                | MemoryKind::GcSawtoothLeak
                | MemoryKind::CacheEvictionLeak
                | MemoryKind::SwapLeak
        )
    }
}

/// A background service: flat usage with noise.
#[derive(Debug, Clone)]
struct Service {
    path: String,
    pid: u32,
    comm: &'static str,
    anon: f64,
    file: f64,
    limit: Option<f64>,
}

/// Generates one memory episode, tick by tick, in virtual time.
#[derive(Debug)]
pub struct MemoryGenerator {
    kind: MemoryKind,
    host: String,
    rng: Rng,
    clock: Clock,
    mem_total: f64,
    // Target cgroup.
    path: String,
    pid: u32,
    comm: &'static str,
    limit: f64,
    base_anon: f64,
    file: f64,
    /// Episode start (leak start, burst start, ...) and, for leaks, the tick the
    /// drawn parameters aim the OOM at; the label uses the tick it really happens.
    start_tick: i64,
    target_oom_tick: i64,
    gc_period: i64,
    plateau: f64,
    /// How much of the target may be swapped out (memory.swap.max); 0 without swap.
    swap_limit: f64,
    /// How far below the limit reclaim holds usage (a share of the limit).
    margin: f64,
    /// Page cache reclaim cannot take (hot pages, shmem): the kill comes with it left.
    file_floor: f64,
    /// Stall share (%) when all of the page cache has been evicted: measured on a live
    /// leak re-reading a hot file from SSD it stays in single digits; slow disks and
    /// cache-bound services stall far more.
    psi_scale: f64,
    swapped_prev: f64,
    pswpout: u64,
    pswpin: u64,
    oom_kills: u64,
    failcnt: u64,
    pgmajfault: u64,
    psi_total_us: u64,
    psi_avg10: f64,
    killed_at: Option<i64>,
    restarted_pid: u32,
    services: Vec<Service>,
    labels: Vec<LabelRow>,
}

impl MemoryGenerator {
    /// One episode over `clock`, parameters drawn from `seed`.
    pub fn new(kind: MemoryKind, seed: u64, clock: Clock) -> Result<Self, SimError> {
        let clock = clock.require(60, "a memory episode")?;
        let mut rng = Rng::new(seed);
        let mut r = rng.fork(1);
        let limit = r.range(256.0, 4096.0).round() * MIB;
        let base_anon = limit * r.range(0.1, 0.35);
        let file = limit * r.range(0.03, 0.2);
        let comms = ["java", "python3", "node", "postgres", "app-server"];
        let comm = comms[(r.next_u64() % comms.len() as u64) as usize];
        let start_tick = (clock.ticks() as f64 * r.range(0.05, 0.3)) as i64;
        // Leaks last 1.5 to 25 minutes, log-uniformly (fast ones are as common as slow
        // ones, and are what live runs reproduce); the kill lands before the end of the
        // run whatever the drawn length.
        let leak_secs = (r.range(90f64.ln(), 1500f64.ln())).exp();
        let leak_ticks = (leak_secs * SEC as f64 / clock.interval_ns() as f64) as i64;
        let target_oom_tick = (start_tick + leak_ticks)
            .min((clock.ticks() as f64 * 0.9) as i64)
            .max(start_tick + 10);
        let services = (0..2 + r.next_u64() % 3)
            .map(|i| Service {
                path: format!("/system.slice/svc-{i}.service"),
                pid: 1000 + 100 * i as u32,
                comm: ["sshd", "nginx", "redis-server", "cron"][(i % 4) as usize],
                anon: r.range(20.0, 400.0) * MIB,
                file: r.range(5.0, 200.0) * MIB,
                limit: (r.unit() < 0.5).then(|| r.range(512.0, 2048.0) * MIB),
            })
            .collect();
        Ok(MemoryGenerator {
            kind,
            host: format!("sim-{seed}"),
            clock,
            mem_total: (r.range(8.0, 64.0).round()) * 1024.0 * MIB,
            path: format!("/kubepods/burstable/pod{seed:08x}/app"),
            pid: 4000 + (seed % 1000) as u32,
            comm,
            limit,
            base_anon,
            file,
            start_tick,
            target_oom_tick,
            gc_period: 20 + (r.next_u64() % 60) as i64,
            plateau: r.range(0.45, 0.75),
            swap_limit: if kind == MemoryKind::SwapLeak {
                (limit * r.range(0.25, 1.0) / MIB).round() * MIB
            } else {
                0.0
            },
            margin: r.range(0.0, 0.002),
            file_floor: limit * r.range(0.0, 0.04),
            psi_scale: if kind == MemoryKind::CacheEvictionLeak {
                r.range(10.0, 60.0)
            } else {
                r.range(1.0, 15.0)
            },
            swapped_prev: 0.0,
            pswpout: 0,
            pswpin: 0,
            oom_kills: 0,
            failcnt: 0,
            pgmajfault: 0,
            psi_total_us: 0,
            psi_avg10: 0.0,
            killed_at: None,
            restarted_pid: 0,
            services,
            labels: Vec::new(),
            rng,
        })
    }

    pub fn kind(&self) -> MemoryKind {
        self.kind
    }

    /// Labels emitted so far (complete once the generator is exhausted).
    /// Anonymous memory the target wants at `t` (before the limit intervenes).
    fn wanted_anon(&mut self, t: i64) -> f64 {
        let since = (t - self.start_tick).max(0) as f64;
        let span = (self.target_oom_tick - self.start_tick).max(1) as f64;
        let headroom = self.limit - self.base_anon;
        let noise = self.rng.normal() * 0.004 * self.limit;
        let saw = |period: i64, amplitude: f64| (t % period) as f64 / period as f64 * amplitude;
        let anon = match self.kind {
            MemoryKind::LinearLeak => self.base_anon + headroom * since / span,
            MemoryKind::AcceleratingLeak => self.base_anon + headroom * (since / span).powi(2),
            MemoryKind::GcSawtoothLeak => {
                let amplitude = 0.2 * self.limit;
                self.base_anon
                    + (headroom - amplitude) * since / span
                    + saw(self.gc_period, amplitude)
            }
            // The page cache is given up first: the leak reaches the limit at the target
            // tick only after evicting it, so anon alone must fill the headroom.
            MemoryKind::CacheEvictionLeak => self.base_anon + headroom * (since / span).powf(1.3),
            MemoryKind::SwapLeak => self.base_anon + (headroom + self.swap_limit) * since / span,
            MemoryKind::BurstThenFree => {
                let len = (self.gc_period * 3) as f64;
                let held = since > 0.0 && since < len;
                self.base_anon + if held { 0.35 * headroom } else { 0.0 }
            }
            MemoryKind::StableSawtooth => self.base_anon + saw(self.gc_period, 0.3 * headroom),
            MemoryKind::HighFlatCache => self.base_anon,
            MemoryKind::PlateauGrowth => {
                let tau = span / 4.0;
                self.base_anon + self.plateau * headroom * (1.0 - (-since / tau).exp())
            }
        };
        (anon + noise).max(self.base_anon * 0.5)
    }

    fn step(&mut self, t: i64) -> Frame {
        let ts = self.clock.ts(t);
        let mut frame = Frame::new(ts, self.host.clone());

        // The target: after an OOM kill the supervisor restarts it 5 ticks later, healthy.
        let alive = self.killed_at.is_none_or(|k| t >= k + 5);
        let mut anon = if let Some(k) = self.killed_at {
            let noise = self.rng.normal() * 0.004 * self.limit;
            if alive {
                self.base_anon * (1.0 + 0.002 * (t - k) as f64).min(1.05) + noise
            } else {
                0.0
            }
        } else {
            self.wanted_anon(t)
        };
        let wanted_file = if self.kind == MemoryKind::HighFlatCache {
            self.limit * 0.6
        } else {
            self.file
        };
        // Reclaim keeps usage just under the limit by shrinking the cache; pressure builds
        // while it does. Only when anon alone fills the limit does the OOM killer fire.
        let margin = self.margin * self.limit;
        let floor = self.file_floor.min(wanted_file);
        let file = wanted_file.min((self.limit - margin - anon).max(floor));
        // With swap, anon that does not fit in RAM goes to swap instead of killing at once.
        let swapped = if self.swap_limit > 0.0 {
            (anon - (self.limit - margin - file)).max(0.0)
        } else {
            0.0
        };
        anon -= swapped;
        const PAGE: f64 = 4096.0;
        self.pswpout += ((swapped - self.swapped_prev).max(0.0) / PAGE) as u64;
        // The leaker touches a little of what was swapped out: swap-ins, and stalls.
        self.pswpin += (swapped * 0.001 / PAGE) as u64;
        self.swapped_prev = swapped;
        let reclaiming = wanted_file - file > 0.02 * self.limit || swapped > 0.0;
        if reclaiming {
            self.pgmajfault += (200.0 * (wanted_file - file) / wanted_file.max(1.0)) as u64;
        }
        let pressure = if swapped > 0.0 {
            20.0 + 60.0 * (swapped / self.swap_limit).min(1.0)
        } else if reclaiming {
            self.psi_scale * ((wanted_file - file) / wanted_file.max(1.0)).min(1.0)
        } else {
            0.0
        };
        // avg10 is an exponential average over 10 s of stall share.
        let decay = (-(self.clock.interval_ns() as f64) / (10.0 * SEC as f64)).exp();
        self.psi_avg10 = self.psi_avg10 * decay + pressure * (1.0 - decay);
        self.psi_total_us += (pressure / 100.0 * self.clock.interval_ns() as f64 / 1000.0) as u64;

        let full = if self.swap_limit > 0.0 {
            swapped >= self.swap_limit
        } else {
            anon >= self.limit - margin - floor
        };
        if self.killed_at.is_none() && full {
            // Usage reached the limit with nothing left to reclaim: the OOM killer fires.
            anon = self.limit - file;
            self.oom_kills += 1;
            self.failcnt += 1;
            self.killed_at = Some(t);
            self.restarted_pid = self.pid + 7;
            self.labels.push(LabelRow {
                ts_ns: self.clock.ts(self.start_tick),
                kind: "memory_leak".into(),
                target: self.path.clone(),
                start_ns: self.clock.ts(self.start_tick),
                end_ns: Some(ts),
                attributes: format!(
                    r#"{{"flavour":"{}","oom_ns":{ts},"limit_bytes":{},"swap_limit_bytes":{},"pid":{}}}"#,
                    self.kind, self.limit as u64, self.swap_limit as u64, self.pid
                ),
            });
        } else if anon + file > 0.97 * self.limit {
            self.failcnt += 1;
        }
        // At the kill the cgroup is exactly full (no float rounding below the limit).
        let usage = if self.killed_at == Some(t) {
            self.limit
        } else {
            anon + file
        };
        let inactive_file = file * 0.6;
        frame.cgroups.push(CgroupRow {
            ts_ns: ts,
            path: self.path.clone(),
            version: 2,
            memory_usage_bytes: usage as u64,
            memory_limit_bytes: Some(self.limit as u64),
            anon_bytes: anon as u64,
            file_bytes: file as u64,
            active_file_bytes: (file - inactive_file) as u64,
            inactive_file_bytes: inactive_file as u64,
            working_set_bytes: (usage - inactive_file) as u64,
            pgmajfault: self.pgmajfault,
            failcnt: self.failcnt,
            oom_events: Some(self.oom_kills),
            oom_kill_events: self.oom_kills,
            psi_memory_some_avg10: Some(self.psi_avg10),
            psi_memory_some_total_us: Some(self.psi_total_us),
            psi_memory_full_avg10: Some(self.psi_avg10 * 0.4),
            swap_bytes: Some(if self.killed_at == Some(t) {
                self.swap_limit
            } else {
                swapped
            } as u64),
            procs: u32::from(alive),
            ..CgroupRow::default()
        });
        if alive {
            let pid = if self.killed_at.is_some() {
                self.restarted_pid
            } else {
                self.pid
            };
            frame
                .processes
                .push(self.process(ts, pid, self.comm, &self.path, anon * 0.97, t));
        }

        let mut used = usage;
        for i in 0..self.services.len() {
            let s = &mut self.services[i];
            s.anon = (s.anon * (1.0 + 0.002 * self.rng.normal())).max(MIB);
            let (anon, file) = (s.anon, s.file);
            used += anon + file;
            let s = self.services[i].clone();
            frame.cgroups.push(CgroupRow {
                ts_ns: ts,
                path: s.path.clone(),
                version: 2,
                memory_usage_bytes: (anon + file) as u64,
                memory_limit_bytes: s.limit.map(|l| l as u64),
                anon_bytes: anon as u64,
                file_bytes: file as u64,
                inactive_file_bytes: (file * 0.5) as u64,
                active_file_bytes: (file * 0.5) as u64,
                working_set_bytes: (anon + file * 0.5) as u64,
                oom_events: Some(0),
                psi_memory_some_avg10: Some(0.0),
                psi_memory_some_total_us: Some(0),
                psi_memory_full_avg10: Some(0.0),
                procs: 1,
                ..CgroupRow::default()
            });
            frame
                .processes
                .push(self.process(ts, s.pid, s.comm, &s.path, anon, t));
        }
        frame.system = Some(SystemRow {
            ts_ns: ts,
            cpu_count: 4,
            mem_total_bytes: self.mem_total as u64,
            mem_available_bytes: (self.mem_total - used).max(0.0) as u64,
            mem_free_bytes: (self.mem_total - used * 1.1).max(0.0) as u64,
            cached_bytes: (used - usage + file) as u64,
            oom_kill: self.oom_kills,
            pgmajfault: self.pgmajfault,
            swap_total_bytes: if self.swap_limit > 0.0 { 4 << 30 } else { 0 },
            swap_free_bytes: if self.swap_limit > 0.0 {
                (4u64 << 30).saturating_sub(self.swapped_prev as u64)
            } else {
                0
            },
            pswpout: self.pswpout,
            pswpin: self.pswpin,
            psi_memory_some_avg10: Some(self.psi_avg10 * 0.5),
            psi_memory_some_total_us: Some(self.psi_total_us / 2),
            ..SystemRow::default()
        });
        frame
    }

    fn process(&self, ts: i64, pid: u32, comm: &str, cgroup: &str, rss: f64, t: i64) -> ProcessRow {
        ProcessRow {
            ts_ns: ts,
            pid,
            ppid: 1,
            comm: comm.into(),
            cmdline_hash: u64::from(pid).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            state: "S".into(),
            uid: 1000,
            utime_ticks: (t as u64) * 3,
            stime_ticks: t as u64,
            rss_bytes: rss.max(0.0) as u64,
            vms_bytes: (rss * 2.5).max(0.0) as u64,
            threads: 8,
            start_time_ns: START_NS - 3600 * SEC,
            cgroup: cgroup.into(),
            swap_bytes: Some(0),
            ..ProcessRow::default()
        }
    }

    fn finish_labels(&mut self) {
        if self.kind.is_leak() || !self.labels.is_empty() {
            return;
        }
        self.labels.push(LabelRow {
            ts_ns: self.clock.ts(self.start_tick),
            kind: "memory_negative".into(),
            target: self.path.clone(),
            start_ns: self.clock.ts(self.start_tick),
            end_ns: Some(self.clock.end_ts()),
            attributes: format!(
                r#"{{"flavour":"{}","limit_bytes":{}}}"#,
                self.kind, self.limit as u64
            ),
        });
    }
}

impl SignalSource for MemoryGenerator {
    fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        let Some(t) = self.clock.advance() else {
            self.finish_labels();
            return Ok(None);
        };
        Ok(Some(self.step(t)))
    }
}

impl Generator for MemoryGenerator {
    fn labels(&self) -> &[LabelRow] {
        &self.labels
    }
}

//! The stuck-process family: a server process that deadlocks, livelocks, hangs in D
//! state or exhausts its thread pool, and hard negatives that share one symptom each
//! (an idle server, a GC pause, a busy worker, a sleeping batch job). Java-, Python- and
//! Go-like runtimes differ in threads and syscall mix, so no single artefact gives the
//! answer away. Alongside: a few healthy background processes.
//!
//! Each run carries one label on the target pid: `stuck` from onset on (open-ended) for
//! positives, `stuck_negative` over the episode for negatives.

use qb_signals::{ConnectionRow, Frame, LabelRow, ProcessRow, SignalSource, SyscallRow, SystemRow};

use crate::kinds::kinds;
use crate::rng::Rng;
use crate::{Clock, Generator, START_NS, SimError};

// x86_64 syscall numbers.
const READ: u32 = 0;
const WRITE: u32 = 1;
const SENDTO: u32 = 44;
const RECVFROM: u32 = 45;
const FUTEX: u32 = 202;
const CLOCK_NANOSLEEP: u32 = 230;
const EPOLL_WAIT: u32 = 232;
const ACCEPT4: u32 = 288;
const FSYNC: u32 = 74;
const MMAP: u32 = 9;

const HZ: f64 = 100.0;

kinds! {
    /// Stuck-process scenarios: four hangs, four hard negatives.
    StuckKind, family "stuck" {
        /// Lock-order deadlock: no CPU, no syscalls, parked in futex.
        Deadlock => "deadlock",
        /// Futex spam at full CPU, no progress.
        Livelock => "livelock",
        /// Uninterruptible sleep on a failing disk.
        DStateHang => "dstate_hang",
        /// Every worker parked; the acceptor still accepts.
        PoolExhaustion => "pool_exhaustion",
        /// Negative: blocked in epoll with nothing to do.
        IdleServer => "idle_server",
        /// Negative: a futex storm at full CPU that ends.
        GcPause => "gc_pause",
        /// Negative: a core at 100 %, making progress.
        BusyWorker => "busy_worker",
        /// Negative: sleeps between bursts of work.
        BatchSleeper => "batch_sleeper",
    }
}

impl StuckKind {
    pub fn is_stuck(self) -> bool {
        matches!(
            self,
            StuckKind::Deadlock
                | StuckKind::Livelock
                | StuckKind::DStateHang
                | StuckKind::PoolExhaustion
        )
    }
}

/// Runtime flavour: thread count and the syscall a healthy idle worker waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Java,
    Python,
    Go,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::Java => "java",
            Runtime::Python => "python",
            Runtime::Go => "go",
        }
    }
    fn comm(self) -> &'static str {
        match self {
            Runtime::Java => "java",
            Runtime::Python => "python3",
            Runtime::Go => "server",
        }
    }
    /// Healthy per-request syscalls: (nr, count per request).
    fn request_mix(self) -> &'static [(u32, f64)] {
        match self {
            Runtime::Java => &[
                (FUTEX, 6.0),
                (EPOLL_WAIT, 1.0),
                (RECVFROM, 1.0),
                (SENDTO, 1.0),
                (READ, 0.5),
            ],
            Runtime::Python => &[
                (READ, 2.0),
                (WRITE, 1.0),
                (EPOLL_WAIT, 1.0),
                (RECVFROM, 1.0),
                (SENDTO, 1.0),
            ],
            Runtime::Go => &[
                (FUTEX, 2.0),
                (281, 1.0),
                (READ, 1.0),
                (WRITE, 1.0),
                (CLOCK_NANOSLEEP, 0.3),
            ],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Hang {
    Disk,
    Frozen,
    Nfs,
}

/// Generates one stuck-process episode, tick by tick, in virtual time.
#[derive(Debug)]
pub struct StuckGenerator {
    kind: StuckKind,
    runtime: Runtime,
    host: String,
    rng: Rng,
    clock: Clock,
    onset: i64,
    episode_len: i64,
    pid: u32,
    threads: u32,
    rate: f64,
    /// CPU seconds a request costs (light proxies to heavy handlers).
    cost: f64,
    /// A livelock's spin: cores burnt (threads, cores and CPU quotas differ) and futex
    /// calls per second.
    spin_cores: f64,
    spin_futex: f64,
    /// Why a D-state hang is stuck: a failing disk, a frozen cgroup, a dead NFS server.
    hang: Hang,
    /// Where the main thread waits when healthy: futex (a Java main joining its
    /// workers), epoll (an event loop), or accept4 (a thread-per-connection acceptor).
    main_wait: u32,
    backlog_limit: u32,
    clients: u32,
    // Cumulative counters of the target.
    utime: f64,
    stime: f64,
    vol_ctxt: f64,
    invol_ctxt: f64,
    rchar: f64,
    wchar: f64,
    syscr: f64,
    syscw: f64,
    read_bytes: f64,
    backlog: f64,
    unread: f64,
    /// Bytes per request waiting unread: from a 4-byte ping to a 600-byte API call
    /// (log-uniform), so a hang's pile-up is not always tens of kilobytes. A real light
    /// server (4-byte requests) piles up ~10 KB, which a fixed 300 bytes never showed.
    request_bytes: f64,
    labels: Vec<LabelRow>,
}

impl StuckGenerator {
    pub fn new(kind: StuckKind, seed: u64, clock: Clock) -> Result<Self, SimError> {
        let clock = clock.require(120, "a stuck-process episode")?;
        let mut rng = Rng::new(seed ^ 0x5757_0000);
        let mut r = rng.fork(2);
        let runtime = [Runtime::Java, Runtime::Python, Runtime::Go][(r.next_u64() % 3) as usize];
        let threads = match runtime {
            Runtime::Java => 40 + (r.next_u64() % 160) as u32,
            Runtime::Python => 1 + (r.next_u64() % 8) as u32,
            Runtime::Go => 8 + (r.next_u64() % 24) as u32,
        };
        let mut g = StuckGenerator {
            kind,
            runtime,
            host: format!("sim-{seed}"),
            clock,
            onset: (clock.ticks() as f64 * r.range(0.2, 0.5)) as i64,
            episode_len: 5 + (r.next_u64() % 26) as i64,
            pid: 3000 + (seed % 2000) as u32,
            threads,
            rate: r.range(20.0, 200.0),
            backlog_limit: [128, 511, 4096][(r.next_u64() % 3) as usize],
            clients: 2 + (r.next_u64() % 6) as u32,
            cost: r.range(0.0001, 0.004),
            spin_cores: r.range(0.3, 2.0),
            spin_futex: r.range(20_000.0, 150_000.0),
            hang: [Hang::Disk, Hang::Disk, Hang::Frozen, Hang::Nfs][(r.next_u64() % 4) as usize],
            main_wait: match (runtime, r.next_u64() % 2) {
                (Runtime::Go, _) => EPOLL_WAIT,
                (_, 0) => ACCEPT4,
                (Runtime::Java, _) => FUTEX,
                (Runtime::Python, _) => EPOLL_WAIT,
            },
            utime: 0.0,
            stime: 0.0,
            vol_ctxt: 0.0,
            invol_ctxt: 0.0,
            rchar: 0.0,
            wchar: 0.0,
            syscr: 0.0,
            syscw: 0.0,
            read_bytes: 0.0,
            backlog: 0.0,
            unread: 0.0,
            request_bytes: 0.0,
            labels: Vec::new(),
            rng,
        };
        // Drawn last from the parameter stream, so every other draw is as it was.
        g.request_bytes = (4f64.ln() + r.unit() * (600f64 / 4.0).ln()).exp();
        Ok(g)
    }

    /// What the target does this tick: (cpu share of one core, requests served,
    /// requests arriving, state, blocked syscall, wchan, extra syscalls).
    fn behaviour(&mut self, t: i64) -> Tick {
        let after = t >= self.onset;
        let in_episode = after && t < self.onset + self.episode_len;
        let arriving = self.rate * self.clock.seconds() * (1.0 + 0.1 * self.rng.normal()).max(0.0);
        let healthy = Tick {
            cpu: (self.rate * self.cost).min(0.9) * (1.0 + 0.1 * self.rng.normal()).abs(),
            served: arriving,
            arriving,
            state: "S",
            syscall: Some(self.main_wait as i32),
            wchan: None,
            extra: Vec::new(),
        };
        match self.kind {
            StuckKind::Deadlock if after => Tick {
                cpu: 0.0,
                served: 0.0,
                state: "S",
                syscall: Some(FUTEX as i32),
                wchan: Some("futex_wait_queue"),
                ..healthy
            },
            StuckKind::Livelock if after => Tick {
                cpu: self.spin_cores.min(self.threads as f64) * self.rng.range(0.9, 1.0),
                served: 0.0,
                state: "R",
                syscall: None,
                extra: vec![(
                    FUTEX,
                    self.spin_futex * self.rng.range(0.9, 1.1) * self.clock.seconds(),
                )],
                ..healthy
            },
            StuckKind::DStateHang if after => {
                let (syscall, wchan) = match self.hang {
                    Hang::Disk if self.rng.unit() < 0.5 => (READ as i32, "io_schedule"),
                    Hang::Disk => (FSYNC as i32, "io_schedule"),
                    // Frozen where it was: the healthy wait, in the refrigerator.
                    Hang::Frozen => (healthy.syscall.unwrap_or(FUTEX as i32), "__refrigerator"),
                    Hang::Nfs => (READ as i32, "rpc_wait_bit_killable"),
                };
                Tick {
                    cpu: 0.0,
                    served: 0.0,
                    state: "D",
                    syscall: Some(syscall),
                    wchan: Some(wchan),
                    ..healthy
                }
            }
            StuckKind::PoolExhaustion if after => Tick {
                cpu: 0.01,
                served: 0.0,
                extra: vec![(ACCEPT4, arriving), (EPOLL_WAIT, arriving.max(1.0))],
                syscall: Some(FUTEX as i32),
                wchan: Some("futex_wait_queue"),
                ..healthy
            },
            // Hard negatives: each shares one symptom with a positive.
            StuckKind::IdleServer if after => Tick {
                cpu: 0.0,
                served: 0.0,
                arriving: 0.0,
                ..healthy
            },
            StuckKind::GcPause if in_episode => Tick {
                cpu: 1.9,
                served: 0.0,
                state: "R",
                syscall: None,
                extra: vec![
                    (
                        FUTEX,
                        self.rng.range(2_000.0, 20_000.0) * self.clock.seconds(),
                    ),
                    (MMAP, 50.0),
                ],
                ..healthy
            },
            // After a pause the backlog drains: served above arrivals.
            StuckKind::GcPause if after && self.backlog + self.unread > 0.5 => Tick {
                served: arriving + (self.backlog + self.unread).min(arriving * 2.0),
                ..healthy
            },
            StuckKind::BusyWorker if after => Tick {
                cpu: 1.0,
                served: arriving,
                state: "R",
                syscall: None,
                extra: vec![(WRITE, 2.0 * self.clock.seconds())],
                ..healthy
            },
            StuckKind::BatchSleeper => {
                let period = 60 + (self.episode_len * 7);
                let working = t % period < 5;
                Tick {
                    cpu: if working { 0.8 } else { 0.0 },
                    served: 0.0,
                    arriving: 0.0,
                    state: "S",
                    syscall: if working {
                        None
                    } else {
                        Some(CLOCK_NANOSLEEP as i32)
                    },
                    wchan: None,
                    extra: if working {
                        vec![
                            (READ, 400.0 * self.clock.seconds()),
                            (WRITE, 200.0 * self.clock.seconds()),
                        ]
                    } else {
                        vec![]
                    },
                }
            }
            _ => healthy,
        }
    }

    fn step(&mut self, t: i64) -> Frame {
        let ts = self.clock.ts(t);
        let mut frame = Frame::new(ts, self.host.clone());
        let b = self.behaviour(t);
        let dt = self.clock.seconds();

        // Queues: what is not served piles up, first unread in accepted sockets, then in
        // the accept backlog up to its limit.
        let pending = (self.backlog + self.unread + b.arriving - b.served).max(0.0);
        let accepted_cap = 64.0 * self.clients as f64;
        self.unread = pending.min(accepted_cap);
        self.backlog = (pending - self.unread).min(self.backlog_limit as f64);

        let cpu_ticks = b.cpu * HZ * dt;
        self.utime += cpu_ticks * 0.8;
        self.stime += cpu_ticks * 0.2;
        self.vol_ctxt += b.served * 3.0 + b.extra.iter().map(|e| e.1).sum::<f64>() * 0.5;
        self.invol_ctxt += b.cpu * 10.0 * dt;
        let io_requests = b.served;
        self.rchar += io_requests * 800.0;
        self.wchar += io_requests * 4000.0;
        self.syscr += io_requests * 2.0;
        self.syscw += io_requests;
        if self.kind == StuckKind::BatchSleeper && b.cpu > 0.0 {
            self.read_bytes += 4.0e6 * dt;
            self.rchar += 4.0e6 * dt;
            self.syscr += 400.0 * dt;
        }

        // Syscalls of the target this interval.
        let mut counts: Vec<(u32, f64)> = self
            .runtime
            .request_mix()
            .iter()
            .map(|&(nr, per)| (nr, per * b.served))
            .chain(b.extra.iter().copied())
            .collect();
        counts.sort_by_key(|c| c.0);
        counts.dedup_by(|a, b| {
            if a.0 == b.0 {
                b.1 += a.1;
                true
            } else {
                false
            }
        });
        for (nr, n) in counts {
            let n = (n * (1.0 + 0.05 * self.rng.normal())).round();
            if n >= 1.0 {
                frame.syscalls.push(SyscallRow {
                    ts_ns: ts,
                    pid: self.pid,
                    syscall_nr: nr,
                    count: n as u64,
                });
            }
        }

        frame.processes.push(ProcessRow {
            ts_ns: ts,
            pid: self.pid,
            ppid: 1,
            comm: self.runtime.comm().into(),
            cmdline_hash: u64::from(self.pid).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            state: b.state.into(),
            uid: 1000,
            syscall: b.syscall,
            wchan: b.wchan.map(Into::into),
            utime_ticks: self.utime as u64,
            stime_ticks: self.stime as u64,
            rss_bytes: 300 << 20,
            vms_bytes: 2 << 30,
            swap_bytes: Some(0),
            rchar: Some(self.rchar as u64),
            wchar: Some(self.wchar as u64),
            syscr: Some(self.syscr as u64),
            syscw: Some(self.syscw as u64),
            read_bytes: Some(self.read_bytes as u64),
            write_bytes: Some(0),
            voluntary_ctxt_switches: self.vol_ctxt as u64,
            nonvoluntary_ctxt_switches: self.invol_ctxt as u64,
            fd_count: Some(20 + self.clients),
            threads: self.threads,
            start_time_ns: START_NS - 86_400 * 1_000_000_000,
            cgroup: "/system.slice/app.service".into(),
            ..ProcessRow::default()
        });
        if self.kind != StuckKind::BatchSleeper {
            self.connections(ts, &mut frame);
        }
        self.background(ts, t, &mut frame);
        frame.system = Some(SystemRow {
            ts_ns: ts,
            cpu_count: 4,
            procs_running: 1 + u32::from(b.state == "R"),
            procs_blocked: u32::from(b.state == "D"),
            mem_total_bytes: 16 << 30,
            mem_available_bytes: 12 << 30,
            ..SystemRow::default()
        });
        frame
    }

    fn connections(&self, ts: i64, frame: &mut Frame) {
        frame.connections.push(ConnectionRow {
            ts_ns: ts,
            pid: Some(self.pid),
            inode: 90_000,
            family: 4,
            state: "LISTEN".into(),
            local_addr: "0.0.0.0".into(),
            local_port: 8080,
            remote_addr: "0.0.0.0".into(),
            remote_port: 0,
            rx_queue: self.backlog.round() as u32,
            tx_queue: self.backlog_limit,
            ..ConnectionRow::default()
        });
        let per_client = self.unread / self.clients as f64;
        for i in 0..self.clients {
            frame.connections.push(ConnectionRow {
                ts_ns: ts,
                pid: Some(self.pid),
                inode: 90_001 + u64::from(i),
                family: 4,
                state: "ESTABLISHED".into(),
                local_addr: "10.0.0.5".into(),
                local_port: 8080,
                remote_addr: format!("10.0.1.{}", 10 + i),
                remote_port: 40_000 + i,
                rx_queue: (per_client * self.request_bytes).round() as u32,
                tx_queue: 0,
                rtt_us: Some(200 + 50 * i),
                age_ms: Some(((ts - START_NS) / 1_000_000) as u64),
                ..ConnectionRow::default()
            });
        }
    }

    /// Healthy neighbours, so a detector cannot key on "the only process on the host".
    fn background(&mut self, ts: i64, t: i64, frame: &mut Frame) {
        for (i, comm) in ["sshd", "nginx", "cron"].into_iter().enumerate() {
            let pid = 500 + 10 * i as u32;
            let busy = (t as u64)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(i as u64)
                .is_multiple_of(7);
            frame.processes.push(ProcessRow {
                ts_ns: ts,
                pid,
                ppid: 1,
                comm: comm.into(),
                state: if busy { "R" } else { "S" }.into(),
                syscall: (!busy).then_some(EPOLL_WAIT as i32),
                utime_ticks: (t as u64) * (i as u64 + 1) / 3,
                stime_ticks: (t as u64) / 5,
                voluntary_ctxt_switches: (t as u64) * 7,
                threads: 1,
                rss_bytes: 20 << 20,
                start_time_ns: START_NS - 86_400 * 1_000_000_000,
                cgroup: format!("/system.slice/{comm}.service"),
                ..ProcessRow::default()
            });
            let n = (10.0 + 5.0 * self.rng.normal()).max(1.0).round() as u64;
            frame.syscalls.push(SyscallRow {
                ts_ns: ts,
                pid,
                syscall_nr: EPOLL_WAIT,
                count: n,
            });
        }
    }

    fn finish_labels(&mut self) {
        if !self.labels.is_empty() {
            return;
        }
        let (kind, end) = if self.kind.is_stuck() {
            ("stuck", None)
        } else {
            ("stuck_negative", Some(self.clock.end_ts()))
        };
        self.labels.push(LabelRow {
            ts_ns: self.clock.ts(self.onset),
            kind: kind.into(),
            target: format!("pid:{}", self.pid),
            start_ns: self.clock.ts(self.onset),
            end_ns: end,
            attributes: format!(
                r#"{{"flavour":"{}","runtime":"{}","threads":{}}}"#,
                self.kind,
                self.runtime.name(),
                self.threads
            ),
        });
    }
}

#[derive(Debug)]
struct Tick {
    cpu: f64,
    served: f64,
    arriving: f64,
    state: &'static str,
    syscall: Option<i32>,
    wchan: Option<&'static str>,
    extra: Vec<(u32, f64)>,
}

impl SignalSource for StuckGenerator {
    fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        let Some(t) = self.clock.advance() else {
            self.finish_labels();
            return Ok(None);
        };
        Ok(Some(self.step(t)))
    }
}

impl Generator for StuckGenerator {
    fn labels(&self) -> &[LabelRow] {
        &self.labels
    }
}

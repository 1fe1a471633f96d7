//! Engine tick latency at 500 processes with the Oracle and the Pathologist and their
//! embedded models: the target is under 1 ms per tick.
//!
//! Frames are synthetic but shaped like a busy host: 500 processes (workers, idle
//! daemons, sleepers) each with a few syscall rows per tick, 40 cgroups of which 10
//! have limits and sit at 40-70 % of them, so the LSTM runs on every one of those (the
//! worst case; cgroups far from any limit are not forecast), and one slowly leaking so
//! ARIMA runs too. Windows are full before timing starts.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use qb_gadgets::{Config, ManualPause, RecordingActuator};
use qb_models::registry::Registry;
use qb_signals::rng::Rng;
use qb_signals::{CgroupRow, Frame, ProcessRow, SyscallRow, SystemRow};

const PROCESSES: u32 = 500;
const CGROUPS: usize = 40;
const LIMITED: usize = 10;
const SEC: i64 = 1_000_000_000;
const GIB: u64 = 1 << 30;

struct Host {
    rng: Rng,
    tick: i64,
    cpu: Vec<u64>,
    calls: Vec<u64>,
}

impl Host {
    fn new() -> Host {
        Host {
            rng: Rng::new(7),
            tick: 0,
            cpu: vec![0; PROCESSES as usize],
            calls: vec![0; PROCESSES as usize],
        }
    }

    fn frame(&mut self) -> Frame {
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

fn tick(c: &mut Criterion) {
    let registry = Registry::embedded().expect("embedded models");
    let mut engine = qb_gadgets::engine(
        &Config::default(),
        &registry,
        RecordingActuator::default(),
        ManualPause::default(),
    );
    let mut host = Host::new();
    for _ in 0..90 {
        engine.step(&host.frame());
    }
    c.bench_function("engine/tick_500_processes", |b| {
        b.iter_batched(|| host.frame(), |f| engine.step(&f), BatchSize::SmallInput)
    });
}

criterion_group!(benches, tick);
criterion_main!(benches);

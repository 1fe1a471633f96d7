//! One collection tick with 500 extra live processes, next to its floor: the bare cost
//! of opening and reading the same /proc files for the same processes.
//!
//!   cargo bench -p qb-recorder --bench tick
//!
//! `floor` reads, per pid, what the process collector reads every tick (stat, status,
//! io, syscall, oom_score_adj, cgroup, and a stat of fd/). `process_tick` parses them,
//! builds rows and encodes them into an open Parquet segment. `full_tick` is the
//! default tick: the system, cgroup and connections tables too. The ratio process_tick / floor is the recorder's overhead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use qb_recorder::measure::encoding_writer;
use qb_recorder::{LIVE_TABLES, ProcessCollector, Recorder, RecorderConfig, now_ns};
use qb_signals::{Frame, Table};

const EXTRA_PROCESSES: usize = 500;

struct Sleepers(Vec<Child>);

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_sleepers() -> Sleepers {
    Sleepers(
        (0..EXTRA_PROCESSES)
            .map(|_| {
                Command::new("sleep")
                    .arg("3600")
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("spawn sleep")
            })
            .collect(),
    )
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

fn read_floor(pids: &[u32], buf: &mut Vec<u8>) -> usize {
    let mut bytes = 0;
    for pid in pids {
        for file in ["stat", "status", "io", "syscall", "oom_score_adj", "cgroup"] {
            buf.clear();
            if let Ok(mut f) = std::fs::File::open(format!("/proc/{pid}/{file}")) {
                bytes += f.read_to_end(buf).unwrap_or(0);
            }
        }
        bytes += std::fs::metadata(format!("/proc/{pid}/fd")).map_or(0, |m| m.len() as usize);
    }
    bytes
}

fn tick(c: &mut Criterion) {
    let _sleepers = spawn_sleepers();
    std::thread::sleep(Duration::from_millis(300));
    let pids = pids();
    eprintln!("benchmarking with {} processes in /proc", pids.len());

    let mut g = c.benchmark_group(format!("tick_{}_processes", pids.len()));
    g.sample_size(30).measurement_time(Duration::from_secs(8));

    let mut buf = Vec::with_capacity(8192);
    g.bench_function("floor_read_same_files", |b| {
        b.iter(|| black_box(read_floor(&pids, &mut buf)))
    });

    let tmp = tempfile::tempdir().unwrap();
    let mut collector = ProcessCollector::new(
        "/proc".as_ref(),
        qb_recorder::system::boot_time("/proc".as_ref()).unwrap(),
    );
    let mut w = encoding_writer(&tmp.path().join("process"), &[Table::Process]).unwrap();
    g.bench_function("process_tick_parse_rows_encode", |b| {
        b.iter(|| {
            let mut frame = Frame::new(now_ns(), "bench");
            collector
                .collect(frame.ts_ns, &mut frame.processes)
                .unwrap();
            w.write_frame(&frame).unwrap();
            black_box(frame.processes.len())
        })
    });

    let mut recorder = Recorder::new(&RecorderConfig::default()).unwrap();
    // The default tables, connections included (`qbranch perf` measures this tick too).
    let mut w = encoding_writer(&tmp.path().join("all"), &LIVE_TABLES).unwrap();
    g.bench_function("full_tick_all_tables", |b| {
        b.iter(|| {
            let frame = recorder.collect(now_ns());
            w.write_frame(&frame).unwrap();
            black_box(frame.row_count())
        })
    });
    g.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);

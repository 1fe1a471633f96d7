//! Measuring the recorder's own cost, shared by its tick bench (`benches/tick.rs`),
//! `qbranch record`'s CPU summary and `qbranch perf`'s `recorder tick` probe, so they
//! time the same work.

use std::path::Path;
use std::time::{Duration, Instant};

use qb_signals::{DatasetWriter, Origin, Table, WriterOptions};

use crate::{Recorder, now_ns};

/// CPU time of the calling thread in ns: the recorder's own cost, not the wall clock
/// (0 where the clock is unavailable).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// A dataset writer into `dir` for `tables` whose one segment stays open for the whole
/// run: a measurement of a tick then counts the Parquet encoding, never the closing of
/// a segment (which a real recording pays once a minute).
pub fn encoding_writer(dir: &Path, tables: &[Table]) -> qb_signals::Result<DatasetWriter> {
    DatasetWriter::create(
        dir,
        WriterOptions {
            host: "bench".into(),
            origin: Origin::Recorded,
            tables: tables.iter().map(|t| (*t, "bench".to_string())).collect(),
            segment: Duration::from_secs(1 << 30),
            append: false,
        },
    )
}

/// One timed tick: what it cost and what it saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickCost {
    pub wall: Duration,
    /// CPU time of the calling thread (the recorder runs on it).
    pub cpu: Duration,
    pub processes: usize,
    pub rows: usize,
}

/// Collects one frame with `recorder` and encodes it with `writer`, timed.
pub fn timed_tick(
    recorder: &mut Recorder,
    writer: &mut DatasetWriter,
) -> qb_signals::Result<TickCost> {
    let cpu_before = thread_cpu_ns();
    let start = Instant::now();
    let frame = recorder.collect(now_ns());
    writer.write_frame(&frame)?;
    let wall = start.elapsed();
    let cpu = Duration::from_nanos(thread_cpu_ns().saturating_sub(cpu_before));
    Ok(TickCost {
        wall,
        cpu,
        processes: frame.processes.len(),
        rows: frame.row_count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_advances_with_work() {
        let before = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_ns() > before, "{x}");
    }

    #[test]
    fn encoding_writer_keeps_its_segment_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = encoding_writer(&dir.path().join("rec"), &[Table::System]).expect("writer");
        let mut frame = qb_signals::Frame::new(now_ns(), "bench");
        frame.system = Some(qb_signals::SystemRow {
            ts_ns: frame.ts_ns,
            ..Default::default()
        });
        w.write_frame(&frame).expect("write");
        let finished: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        assert!(finished.is_empty(), "a segment was closed: {finished:?}");
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}

//! Training and serving compute the same features: the trainer replays Parquet, the
//! daemon sees live frames; both go through the same extractor, and on the same frames
//! the vectors are bit-for-bit identical.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use qb_models::features::{
    EqualizerExtractor, ORACLE, OracleExtractor, OracleVector, PathologistExtractor,
};
use qb_signals::{Dataset, Frame, SignalSource};
use qb_simulator::{
    Clock, Generator, MemoryGenerator, MemoryKind, StuckGenerator, StuckKind, ToxicGenerator,
    ToxicKind,
};

fn vectors(source: &mut dyn SignalSource) -> Vec<OracleVector> {
    let mut x = OracleExtractor::new();
    let mut out = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        x.observe(&frame, &mut out);
    }
    out
}

#[test]
fn replayed_parquet_gives_the_same_oracle_features_as_the_frames_it_was_written_from() {
    let (duration, interval) = (Duration::from_secs(600), Duration::from_secs(1));
    for kind in [MemoryKind::CacheEvictionLeak, MemoryKind::StableSawtooth] {
        let clock = Clock::new(duration, interval).unwrap();
        let mut generator = MemoryGenerator::new(kind, 5, clock).unwrap();
        let frames: Vec<Frame> = std::iter::from_fn(|| generator.next_frame().unwrap()).collect();
        assert_eq!(generator.labels().len(), 1);
        let live = vectors(&mut FrameList(frames.into_iter()));

        let tmp = tempfile::tempdir().unwrap();
        qb_simulator::write_memory(tmp.path(), kind, 5, duration, interval).unwrap();
        let replayed = vectors(&mut Dataset::open(tmp.path()).unwrap().replay().unwrap());

        assert_eq!(live.len(), replayed.len());
        assert!(live.len() > 500, "{kind}: {} vectors", live.len());
        for (a, b) in live.iter().zip(&replayed) {
            assert_eq!(a.cgroup, b.cgroup);
            assert_eq!(a.ts_ns, b.ts_ns);
            let (a, b) = (a.values.map(f64::to_bits), b.values.map(f64::to_bits));
            assert_eq!(
                a, b,
                "{kind}: features differ between live frames and replay"
            );
        }
        assert!(live.iter().all(|v| v.values.len() == ORACLE.len()));
    }
}

#[test]
fn replayed_parquet_gives_the_same_pathologist_features() {
    let (duration, interval) = (Duration::from_secs(300), Duration::from_secs(1));
    for kind in [
        StuckKind::Deadlock,
        StuckKind::DStateHang,
        StuckKind::BusyWorker,
    ] {
        let clock = Clock::new(duration, interval).unwrap();
        let mut generator = StuckGenerator::new(kind, 3, clock).unwrap();
        let frames: Vec<Frame> = std::iter::from_fn(|| generator.next_frame().unwrap()).collect();
        let tmp = tempfile::tempdir().unwrap();
        qb_simulator::write_stuck(tmp.path(), kind, 3, duration, interval).unwrap();
        let mut replay = Dataset::open(tmp.path()).unwrap().replay().unwrap();

        let (mut a, mut b) = (PathologistExtractor::new(), PathologistExtractor::new());
        let (mut va, mut vb) = (Vec::new(), Vec::new());
        for f in &frames {
            a.observe(f, &mut va);
        }
        while let Some(f) = replay.next_frame().unwrap() {
            b.observe(&f, &mut vb);
        }
        assert!(va.len() > 250, "{kind}: {}", va.len());
        assert_eq!(va.len(), vb.len());
        for (x, y) in va.iter().zip(&vb) {
            assert_eq!((x.pid, x.ts_ns), (y.pid, y.ts_ns));
            assert_eq!(
                x.values.map(f64::to_bits),
                y.values.map(f64::to_bits),
                "{kind}"
            );
        }
    }
}

#[test]
fn replayed_parquet_gives_the_same_equalizer_features() {
    let (duration, interval) = (Duration::from_secs(300), Duration::from_secs(1));
    for kind in [ToxicKind::LockHolder, ToxicKind::SlowClient] {
        let clock = Clock::new(duration, interval).unwrap();
        let mut generator = ToxicGenerator::new(kind, 4, clock).unwrap();
        let frames: Vec<Frame> = std::iter::from_fn(|| generator.next_frame().unwrap()).collect();
        let tmp = tempfile::tempdir().unwrap();
        qb_simulator::write_toxic(tmp.path(), kind, 4, duration, interval).unwrap();
        let mut replay = Dataset::open(tmp.path()).unwrap().replay().unwrap();
        let (mut a, mut b) = (EqualizerExtractor::new(), EqualizerExtractor::new());
        let (mut va, mut vb) = (Vec::new(), Vec::new());
        for f in &frames {
            a.observe(f, &mut va);
        }
        while let Some(f) = replay.next_frame().unwrap() {
            b.observe(&f, &mut vb);
        }
        assert!(va.len() > 1000, "{kind}: {}", va.len());
        assert_eq!(va, vb, "{kind}");
    }
}

/// Frames held in memory, as a source.
struct FrameList(std::vec::IntoIter<Frame>);

impl SignalSource for FrameList {
    fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        Ok(self.0.next())
    }
}

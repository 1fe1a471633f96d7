//! Training and serving compute the same features: the trainer replays Parquet, the
//! daemon sees live frames; both go through the same extractor, and on the same frames
//! the vectors are bit-for-bit identical.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::path::Path;
use std::time::Duration;

use qb_models::features::{EqualizerExtractor, Extractor, OracleExtractor, PathologistExtractor};
use qb_signals::{Dataset, Frame, SignalSource};
use qb_simulator::{
    Clock, MemoryGenerator, MemoryKind, StuckGenerator, StuckKind, ToxicGenerator, ToxicKind,
};

const SECOND: Duration = Duration::from_secs(1);

/// Feeds `frames`, then the dataset at `dir`, to fresh extractors of type `X`, and
/// asserts the vectors are identical to the bit (Debug prints f64 exactly, -0.0 too).
fn assert_same<X: Extractor + Default>(what: &str, frames: Vec<Frame>, dir: &Path, at_least: usize)
where
    X::Vector: Debug,
{
    let run = |source: &mut dyn SignalSource| {
        let (mut x, mut out) = (X::default(), Vec::new());
        while let Some(frame) = source.next_frame().unwrap() {
            x.observe(&frame, &mut out);
        }
        out
    };
    let live = run(&mut FrameList(frames.into_iter()));
    let replayed = run(&mut Dataset::open(dir).unwrap().replay().unwrap());
    assert!(live.len() >= at_least, "{what}: {} vectors", live.len());
    assert_eq!(format!("{live:?}"), format!("{replayed:?}"), "{what}");
}

fn frames(source: &mut dyn SignalSource) -> Vec<Frame> {
    std::iter::from_fn(|| source.next_frame().unwrap()).collect()
}

#[test]
fn oracle_features_are_the_same_from_frames_and_from_replayed_parquet() {
    let duration = Duration::from_secs(600);
    for kind in [MemoryKind::CacheEvictionLeak, MemoryKind::StableSawtooth] {
        let clock = Clock::new(duration, SECOND).unwrap();
        let live = frames(&mut MemoryGenerator::new(kind, 5, clock).unwrap());
        let tmp = tempfile::tempdir().unwrap();
        qb_simulator::write_memory(tmp.path(), kind, 5, duration, SECOND).unwrap();
        assert_same::<OracleExtractor>(kind.name(), live, tmp.path(), 500);
    }
}

#[test]
fn pathologist_features_are_the_same_from_frames_and_from_replayed_parquet() {
    let duration = Duration::from_secs(300);
    for kind in [
        StuckKind::Deadlock,
        StuckKind::DStateHang,
        StuckKind::BusyWorker,
    ] {
        let clock = Clock::new(duration, SECOND).unwrap();
        let live = frames(&mut StuckGenerator::new(kind, 3, clock).unwrap());
        let tmp = tempfile::tempdir().unwrap();
        qb_simulator::write_stuck(tmp.path(), kind, 3, duration, SECOND).unwrap();
        assert_same::<PathologistExtractor>(kind.name(), live, tmp.path(), 250);
    }
}

#[test]
fn equalizer_features_are_the_same_from_frames_and_from_replayed_parquet() {
    let duration = Duration::from_secs(300);
    for kind in [ToxicKind::LockHolder, ToxicKind::SlowClient] {
        let clock = Clock::new(duration, SECOND).unwrap();
        let live = frames(&mut ToxicGenerator::new(kind, 4, clock).unwrap());
        let tmp = tempfile::tempdir().unwrap();
        qb_simulator::write_toxic(tmp.path(), kind, 4, duration, SECOND).unwrap();
        assert_same::<EqualizerExtractor>(kind.name(), live, tmp.path(), 1000);
    }
}

/// Frames held in memory, as a source.
struct FrameList(std::vec::IntoIter<Frame>);

impl SignalSource for FrameList {
    fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        Ok(self.0.next())
    }
}

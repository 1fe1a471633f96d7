//! qb-simulator: seeded synthetic generators that emit frames in exactly the recorder's
//! schema, plus a separate ground-truth `labels` stream. The same seed gives the same
//! frames, labels and Parquet bytes.
//!
//! Families so far: memory (leaks ending in OOM kills and their hard negatives).

pub mod memory;
pub mod rng;

use std::path::Path;
use std::time::Duration;

use qb_signals::{DatasetWriter, Manifest, Origin, SignalSource, Table, WriterOptions};

pub use memory::{MemoryGenerator, MemoryKind};

/// Virtual time of every generated dataset starts here (2026-01-01T00:00:00Z), so
/// datasets are byte-stable whatever the wall clock says.
pub const START_NS: i64 = 1_767_225_600 * 1_000_000_000;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown {family} kind '{kind}' (kinds: {known})")]
    UnknownKind {
        family: &'static str,
        kind: String,
        known: String,
    },
    #[error("{0}")]
    OutOfRange(String),
    #[error(transparent)]
    Signals(#[from] qb_signals::Error),
}

/// Runs a memory generator to the end and writes its frames and labels as a dataset.
pub fn write_memory(
    dir: &Path,
    kind: MemoryKind,
    seed: u64,
    duration: Duration,
    interval: Duration,
) -> Result<Manifest, SimError> {
    let interval_ns = i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX);
    if interval_ns == 0 {
        return Err(SimError::OutOfRange("the interval must be positive".into()));
    }
    let ticks = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX) / interval_ns;
    let mut generator = MemoryGenerator::new(kind, seed, ticks, interval_ns)?;
    let tables = [Table::System, Table::Process, Table::Cgroup, Table::Labels];
    let mut writer = DatasetWriter::create(
        dir,
        WriterOptions {
            host: format!("sim-{seed}"),
            origin: Origin::Simulated,
            tables: tables
                .iter()
                .map(|t| (*t, format!("qb-simulator memory/{kind}")))
                .collect(),
            segment: qb_signals::DEFAULT_SEGMENT,
            append: false,
        },
    )?;
    writer.set_interval(interval);
    writer.set_generator(format!("memory/{kind}"), seed);
    while let Some(frame) = generator.next_frame()? {
        writer.write_frame(&frame)?;
    }
    writer.write_rows(generator.labels())?;
    Ok(writer.finish()?)
}

//! qb-simulator: seeded synthetic generators that emit frames in exactly the recorder's
//! schema, plus a separate ground-truth `labels` stream. The same seed gives the same
//! frames, labels and Parquet bytes.
//!
//! Families so far: memory (leaks ending in OOM kills), stuck processes (deadlock,
//! livelock, D state, pool exhaustion), toxic queries, PII in log files (with
//! byte-exact span labels), each with hard negatives, incidents (a crash with its
//! root-cause line, and a quiet day) for the Archivist, and routines (weeks of host
//! metrics with a weekly job, and an incident that starts like it) for the Timekeeper.

mod clock;
pub mod incident;
mod kinds;
pub mod memory;
pub mod pii;
pub mod routine;
pub use qb_signals::rng;
pub mod standard;
pub mod stuck;
pub mod toxic;
mod toxic_traces;

use std::path::Path;
use std::time::Duration;

use qb_signals::{DatasetWriter, LabelRow, Manifest, Origin, SignalSource, Table, WriterOptions};

pub use clock::Clock;
pub use incident::{IncidentGenerator, IncidentKind};
pub use memory::{MemoryGenerator, MemoryKind};
pub use pii::{PiiGenerator, PiiKind, PiiLine, PiiLineGenerator, PiiMix, PiiSpan};
pub use routine::{RoutineGenerator, RoutineKind};
pub use standard::{HELD_OUT_SEEDS, Scenario, Split, StandardItem, TRAINING_SEEDS, standard_plan};
pub use stuck::{StuckGenerator, StuckKind};
pub use toxic::{ToxicGenerator, ToxicKind};

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

/// A generator: frames in virtual time, plus the labels it collected on the way
/// (complete once `next_frame` returned `None`).
pub trait Generator: SignalSource {
    fn labels(&self) -> &[LabelRow];
}

/// Runs a generator to the end and writes its frames and labels as a dataset.
pub fn write_dataset(
    dir: &Path,
    name: &str,
    seed: u64,
    clock: Clock,
    tables: &[Table],
    generator: &mut dyn Generator,
) -> Result<Manifest, SimError> {
    let segment = qb_signals::DEFAULT_SEGMENT;
    write_segmented(dir, name, seed, clock, tables, generator, segment)
}

/// `write_dataset` with segments of `segment` event time (weeks of 60 s ticks in 60 s
/// segments would be ten thousand files).
fn write_segmented(
    dir: &Path,
    name: &str,
    seed: u64,
    clock: Clock,
    tables: &[Table],
    generator: &mut dyn Generator,
    segment: Duration,
) -> Result<Manifest, SimError> {
    let mut writer = DatasetWriter::create(
        dir,
        WriterOptions {
            host: format!("sim-{seed}"),
            origin: Origin::Simulated,
            tables: tables
                .iter()
                .map(|t| (*t, format!("qb-simulator {name}")))
                .collect(),
            segment,
            append: false,
        },
    )?;
    writer.set_interval(clock.interval());
    writer.set_generator(name, seed);
    while let Some(frame) = generator.next_frame()? {
        writer.write_frame(&frame)?;
    }
    writer.write_rows(generator.labels())?;
    Ok(writer.finish()?)
}

/// A memory episode as a dataset (system, process, cgroup, labels).
pub fn write_memory(
    dir: &Path,
    kind: MemoryKind,
    seed: u64,
    duration: Duration,
    interval: Duration,
) -> Result<Manifest, SimError> {
    let clock = Clock::new(duration, interval)?;
    let mut generator = MemoryGenerator::new(kind, seed, clock)?;
    let tables = [Table::System, Table::Process, Table::Cgroup, Table::Labels];
    write_dataset(
        dir,
        &format!("memory/{kind}"),
        seed,
        clock,
        &tables,
        &mut generator,
    )
}

/// A stuck-process episode as a dataset (system, process, syscalls, connections, labels).
pub fn write_stuck(
    dir: &Path,
    kind: StuckKind,
    seed: u64,
    duration: Duration,
    interval: Duration,
) -> Result<Manifest, SimError> {
    let clock = Clock::new(duration, interval)?;
    let mut generator = StuckGenerator::new(kind, seed, clock)?;
    let tables = [
        Table::System,
        Table::Process,
        Table::Syscalls,
        Table::Connections,
        Table::Labels,
    ];
    write_dataset(
        dir,
        &format!("stuck/{kind}"),
        seed,
        clock,
        &tables,
        &mut generator,
    )
}

/// A toxic-query episode as a dataset (system, process, connections, traces, requests,
/// labels).
pub fn write_toxic(
    dir: &Path,
    kind: ToxicKind,
    seed: u64,
    duration: Duration,
    interval: Duration,
) -> Result<Manifest, SimError> {
    let clock = Clock::new(duration, interval)?;
    let mut generator = ToxicGenerator::new(kind, seed, clock)?;
    let tables = [
        Table::System,
        Table::Process,
        Table::Connections,
        Table::Traces,
        Table::Requests,
        Table::Labels,
    ];
    write_dataset(
        dir,
        &format!("toxic/{kind}"),
        seed,
        clock,
        &tables,
        &mut generator,
    )
}

/// A PII episode as a dataset (system, logs, labels: one per line carrying PII or
/// lookalikes, see `pii`).
pub fn write_pii(
    dir: &Path,
    kind: PiiKind,
    seed: u64,
    duration: Duration,
    interval: Duration,
) -> Result<Manifest, SimError> {
    let clock = Clock::new(duration, interval)?;
    let mut generator = PiiGenerator::new(kind, seed, clock)?;
    let tables = [Table::System, Table::Logs, Table::Labels];
    write_dataset(
        dir,
        &format!("pii/{kind}"),
        seed,
        clock,
        &tables,
        &mut generator,
    )
}

/// An incident episode as a dataset (system, process, cgroup, logs, labels: `root_cause`
/// and `crash`, or one `quiet` marker; see `incident`).
pub fn write_incident(
    dir: &Path,
    kind: IncidentKind,
    seed: u64,
    duration: Duration,
    interval: Duration,
) -> Result<Manifest, SimError> {
    let clock = Clock::new(duration, interval)?;
    let mut generator = IncidentGenerator::new(kind, seed, clock)?;
    let tables = [
        Table::System,
        Table::Process,
        Table::Cgroup,
        Table::Logs,
        Table::Labels,
    ];
    write_dataset(
        dir,
        &format!("incident/{kind}"),
        seed,
        clock,
        &tables,
        &mut generator,
    )
}

/// A routine episode as a dataset (system, logs, labels: the last job as `routine` or
/// `incident`, the earlier ones as `routine_history`; see `routine`). Weeks long: use
/// a coarse interval (60 s).
pub fn write_routine(
    dir: &Path,
    kind: RoutineKind,
    seed: u64,
    duration: Duration,
    interval: Duration,
) -> Result<Manifest, SimError> {
    let clock = Clock::new(duration, interval)?;
    let mut generator = RoutineGenerator::new(kind, seed, clock)?;
    let tables = [Table::System, Table::Logs, Table::Labels];
    // A segment per day (segments never span midnight anyway).
    write_segmented(
        dir,
        &format!("routine/{kind}"),
        seed,
        clock,
        &tables,
        &mut generator,
        Duration::from_secs(86_400),
    )
}

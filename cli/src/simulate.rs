//! `qbranch simulate`: seeded synthetic datasets in the recorder's schema, with labels.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use qb_signals::Manifest;
use qb_simulator::{
    IncidentKind, MemoryKind, PiiKind, RoutineKind, SimError, StuckKind, ToxicKind,
};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(subcommand)]
    family: Family,
}

#[derive(Debug, Subcommand)]
enum Family {
    /// Memory leaks that end in an OOM kill, and hard negatives that look like them
    Memory(MemoryArgs),
    /// Deadlocked, livelocked, D-state and pool-exhausted servers, and hard negatives
    Stuck(StuckArgs),
    /// A PostgreSQL-like service with a toxic session (lock holder, CPU hog), and heavy
    /// but harmless negatives
    Toxic(ToxicArgs),
    /// Services leaking PII into log files (byte-span labels per line), and lookalike
    /// negatives
    Pii(PiiArgs),
    /// A crash preceded by its root-cause log line (then an error climb, an OOM kill or a
    /// restart), and a quiet-day negative: the Archivist's episodes
    Incident(IncidentArgs),
    /// Weeks of host metrics with a weekly job (a backup, shifted, a long batch) and an
    /// incident that starts like it: the Timekeeper's episodes (use --interval 60s)
    Routine(RoutineArgs),
    /// Regenerate the standard training and held-out sets (documented seeds)
    Standard(StandardArgs),
    /// Real misbehaving processes recorded by the real recorder (root)
    Live(crate::live::LiveArgs),
}

#[derive(Debug, Args)]
struct StandardArgs {
    /// Root directory: <out>/<training|held-out>/<family>/<kind>/seed-<n>
    #[arg(long, short, default_value = "datasets/standard")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct StuckArgs {
    /// Scenario kind
    #[arg(long, value_parser = |s: &str| s.parse::<StuckKind>().map_err(|e| e.to_string()),
          long_help = "Scenario kind: deadlock, livelock, dstate_hang, pool_exhaustion (positives); \
                       idle_server, gc_pause, busy_worker, batch_sleeper (negatives)")]
    kind: StuckKind,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct ToxicArgs {
    /// Scenario kind
    #[arg(long, value_parser = |s: &str| s.parse::<ToxicKind>().map_err(|e| e.to_string()),
          long_help = "Scenario kind: lock_holder, cpu_hog (positives); normal_mix, large_download, \
                       slow_client (negatives)")]
    kind: ToxicKind,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct PiiArgs {
    /// Scenario kind
    #[arg(long, value_parser = |s: &str| s.parse::<PiiKind>().map_err(|e| e.to_string()),
          long_help = "Scenario kind: pii_flood, debug_dump (positives); clean, lookalikes (negatives); \
                       novel_formats (spellings the Curator's fast path does not know; not in the standard set)")]
    kind: PiiKind,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct IncidentArgs {
    /// Scenario kind
    #[arg(long, value_parser = |s: &str| s.parse::<IncidentKind>().map_err(|e| e.to_string()),
          long_help = "Scenario kind: crash (positive); quiet_day (negative). Needs at least 400 s.")]
    kind: IncidentKind,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct RoutineArgs {
    /// Scenario kind
    #[arg(long, value_parser = |s: &str| s.parse::<RoutineKind>().map_err(|e| e.to_string()),
          long_help = "Scenario kind: backup, backup_shifted, long_batch (routines); \
                       incident_like_backup (negative). Needs at least 8 days 6 h: \
                       e.g. --duration 16d --interval 60s.")]
    kind: RoutineKind,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct Common {
    /// Seed: the same seed gives a byte-identical dataset
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Virtual time covered, e.g. 30m
    #[arg(long, default_value = "30m", value_parser = crate::record::positive_duration)]
    duration: Duration,
    /// Time between ticks
    #[arg(long, default_value = "1s", value_parser = crate::record::positive_duration)]
    interval: Duration,
    /// Output directory (created; must not exist or be empty)
    #[arg(long, short)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct MemoryArgs {
    /// Scenario kind
    #[arg(long, value_parser = |s: &str| s.parse::<MemoryKind>().map_err(|e| e.to_string()),
          long_help = "Scenario kind: linear_leak, accelerating_leak, gc_sawtooth_leak, cache_eviction_leak \
                       (positives); burst_then_free, stable_sawtooth, high_flat_cache, plateau_growth (negatives)")]
    kind: MemoryKind,
    #[command(flatten)]
    common: Common,
}

pub fn run(args: SimulateArgs) -> Result<()> {
    match args.family {
        Family::Standard(a) => standard(&a.out),
        Family::Live(a) => crate::live::run(a),
        Family::Memory(a) => one("memory", a.kind, a.common, qb_simulator::write_memory),
        Family::Stuck(a) => one("stuck", a.kind, a.common, qb_simulator::write_stuck),
        Family::Toxic(a) => one("toxic", a.kind, a.common, qb_simulator::write_toxic),
        Family::Pii(a) => one("pii", a.kind, a.common, qb_simulator::write_pii),
        Family::Incident(a) => one("incident", a.kind, a.common, qb_simulator::write_incident),
        Family::Routine(a) => one("routine", a.kind, a.common, qb_simulator::write_routine),
    }
}

/// The signature every family's `write_*` shares.
type Write<K> = fn(&Path, K, u64, Duration, Duration) -> std::result::Result<Manifest, SimError>;

/// One seeded episode of `family`/`kind`, written and summarised.
fn one<K: std::fmt::Display + Copy>(
    family: &str,
    kind: K,
    c: Common,
    write: Write<K>,
) -> Result<()> {
    let manifest = write(&c.out, kind, c.seed, c.duration, c.interval)?;
    let labels = manifest
        .table(qb_signals::Table::Labels)
        .map_or(0, |t| t.rows);
    let rows: u64 = manifest.tables.values().map(|t| t.rows).sum();
    println!(
        "simulated {family}/{kind} seed {} over {} into {}: {rows} rows, {labels} label(s)",
        c.seed,
        humantime::format_duration(c.duration),
        c.out.display()
    );
    Ok(())
}

fn standard(root: &Path) -> Result<()> {
    let plan = qb_simulator::standard_plan(root);
    let bar = indicatif::ProgressBar::new(plan.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} simulating [{bar:30}] {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    for item in &plan {
        bar.set_message(format!(
            "{} {} seed {}",
            item.split.name(),
            item.name(),
            item.seed
        ));
        item.write()?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "wrote {} datasets under {} (training seeds {:?}, held-out seeds {:?})",
        plan.len(),
        root.display(),
        qb_simulator::TRAINING_SEEDS,
        qb_simulator::HELD_OUT_SEEDS
    );
    Ok(())
}

//! `qbranch simulate`: seeded synthetic datasets in the recorder's schema, with labels.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use qb_simulator::MemoryKind;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(subcommand)]
    family: Family,
}

#[derive(Debug, Subcommand)]
enum Family {
    /// Memory leaks that end in an OOM kill, and hard negatives that look like them
    Memory(MemoryArgs),
}

#[derive(Debug, Args)]
struct MemoryArgs {
    /// Scenario kind
    #[arg(long, value_parser = |s: &str| s.parse::<MemoryKind>().map_err(|e| e.to_string()),
          long_help = "Scenario kind: linear_leak, accelerating_leak, gc_sawtooth_leak, cache_eviction_leak \
                       (positives); burst_then_free, stable_sawtooth, high_flat_cache, plateau_growth (negatives)")]
    kind: MemoryKind,
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

pub fn run(args: SimulateArgs) -> Result<()> {
    match args.family {
        Family::Memory(a) => {
            let m = qb_simulator::write_memory(&a.out, a.kind, a.seed, a.duration, a.interval)?;
            let labels = m.table(qb_signals::Table::Labels).map_or(0, |t| t.rows);
            let rows: u64 = m.tables.values().map(|t| t.rows).sum();
            println!(
                "simulated memory/{} seed {} over {} into {}: {rows} rows, {labels} label(s)",
                a.kind,
                a.seed,
                humantime::format_duration(a.duration),
                a.out.display()
            );
        }
    }
    Ok(())
}

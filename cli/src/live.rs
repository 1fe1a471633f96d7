//! `qbranch simulate live`: real misbehaving processes, recorded with labels.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use qb_live::{LeakOptions, LeakTool, LiveOptions, LiveScenario, StuckFault, ToxicMode};

use crate::record::positive_duration;

#[derive(Debug, Args)]
#[command(
    about = "Run a real misbehaving workload and record it (root, memory cgroup)",
    after_help = "Examples:\n  qbranch simulate live leak --limit 256MiB --rate 4MiB/s --record rec\n  \
                  qbranch simulate live deadlock --duration 2m --record rec\n  \
                  qbranch simulate live toxic --mode lock_holder --record rec"
)]
pub struct LiveArgs {
    #[command(subcommand)]
    scenario: Scenario,
    /// Dataset directory to record into (created; must not exist or be empty)
    #[arg(long, global = true)]
    record: Option<PathBuf>,
    /// Longest the run records (a leak stops 10 s after its OOM kill)
    #[arg(long, global = true, default_value = "3m", value_parser = positive_duration)]
    duration: Duration,
    /// When the fault starts (stuck, toxic); default a third of --duration
    #[arg(long, global = true, value_parser = positive_duration)]
    onset: Option<Duration>,
    /// Time between recorded ticks
    #[arg(long, global = true, default_value = "1s", value_parser = positive_duration)]
    interval: Duration,
    /// Count syscalls by sampling /proc instead of eBPF
    #[arg(long, global = true)]
    no_ebpf: bool,
    /// cgroup filesystem root
    #[arg(
        long,
        global = true,
        default_value = "/sys/fs/cgroup",
        hide_short_help = true
    )]
    cgroup_root: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// A process leaking memory in a cgroup with a hard limit, until the OOM kill
    Leak {
        /// Memory limit of the cgroup, e.g. 512MiB
        #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
        limit: u64,
        /// Leak rate, e.g. 2MiB/s (builtin leaker)
        #[arg(long, default_value = "4MiB/s", value_parser = parse_rate)]
        rate: u64,
        /// Who leaks: our own leaker, or stress-ng --bigheap slowed by a CPU quota
        #[arg(long, value_enum, default_value_t = Tool::Builtin)]
        tool: Tool,
        /// CPU quota of the cgroup in cores (stress-ng default 0.02)
        #[arg(long)]
        cpu: Option<f64>,
    },
    /// A server whose threads deadlock on two locks, with clients waiting
    Deadlock,
    /// A server whose threads retry forever without progress (futex spam)
    Livelock,
    /// A server frozen in uninterruptible sleep (D state) by the cgroup freezer
    Dstate,
    /// PostgreSQL under pgbench load, and a toxic session in the middle of the run
    Toxic {
        /// What the toxic session does
        #[arg(long, value_enum, default_value_t = Mode::LockHolder)]
        mode: Mode,
        /// pgbench clients
        #[arg(long, default_value_t = 8)]
        clients: u32,
    },
    /// A service flooding its log file with PII (and lookalikes)
    Pii {
        /// Log lines per second
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Seed of the line generator
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Tool {
    Builtin,
    StressNg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Mode {
    LockHolder,
    CpuHog,
}

pub fn run(args: LiveArgs) -> Result<()> {
    let scenario = match args.scenario {
        Scenario::Leak {
            limit,
            rate,
            tool,
            cpu,
        } => LiveScenario::Leak(LeakOptions {
            limit,
            rate,
            tool: match tool {
                Tool::Builtin => LeakTool::Builtin,
                Tool::StressNg => LeakTool::StressNg,
            },
            cpu,
        }),
        Scenario::Deadlock => LiveScenario::Stuck(StuckFault::Deadlock),
        Scenario::Livelock => LiveScenario::Stuck(StuckFault::Livelock),
        Scenario::Dstate => LiveScenario::Stuck(StuckFault::Dstate),
        Scenario::Toxic { mode, clients } => LiveScenario::Toxic(qb_live::ToxicOptions {
            mode: match mode {
                Mode::LockHolder => ToxicMode::LockHolder,
                Mode::CpuHog => ToxicMode::CpuHog,
            },
            clients,
        }),
        Scenario::Pii { rate, seed } => LiveScenario::Pii(qb_live::pii::PiiOptions { rate, seed }),
    };
    let out = args
        .record
        .context("--record DIR is required: where the run is recorded")?;
    let opts = LiveOptions {
        out: out.clone(),
        interval: args.interval,
        duration: args.duration,
        onset: args.onset,
        proc_root: "/proc".into(),
        cgroup_root: args.cgroup_root,
        ebpf: !args.no_ebpf,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let bar = crate::record::progress_bar(Some(args.duration), args.interval);
    let summary = qb_live::run(&scenario, &opts, &stop, &mut |frame| {
        bar.inc(1);
        bar.set_message(format!("{} processes", frame.processes.len()));
    });
    bar.finish_and_clear();
    let summary = summary.with_context(|| format!("live {}", scenario.name()))?;
    println!(
        "recorded live {} for {:.1} s ({} ticks) into {}: {} label(s)",
        scenario.name(),
        summary.elapsed.as_secs_f64(),
        summary.ticks,
        out.display(),
        summary.labels
    );
    for event in &summary.events {
        println!("  {event}");
    }
    for (name, t) in &summary.manifest.tables {
        println!("  {name:<12} {:>9} rows", t.rows);
    }
    Ok(())
}

/// Worker mode (hidden): the body of a live workload's process.
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn workload(args: WorkloadArgs) -> Result<()> {
    Ok(qb_live::worker::main(&args.args)?)
}

/// `512MiB`, `1G`, `4096`: binary units for K/M/G with or without `iB`, decimal for kB/MB/GB.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size; try 512MiB, 2G, 4096"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "'{s}': unknown unit '{other}' (use B, KiB, MiB, GiB)"
            ));
        }
    };
    let bytes = n * mult as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("'{s}' must be a positive size"));
    }
    Ok(bytes as u64)
}

/// `2MiB/s` or `2MiB`: bytes per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    parse_bytes(s.trim().trim_end_matches("/s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("1.5k"), Ok(1536));
        assert_eq!(parse_rate("2MiB/s"), Ok(2 << 20));
        for bad in ["", "-2MiB", "0", "12 parsecs", "MiB", "0.0001"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert!(parse_rate("-1MiB/s").is_err());
    }
}

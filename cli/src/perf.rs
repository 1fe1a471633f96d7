//! `qbranch perf`: quick in-process performance probes, written as JSON for the report
//! (`report.rs` is the file's shape). Each probe times the setup of its criterion bench
//! through the fixture that bench uses; the benches stay the reference numbers.

mod gadgetd;
mod probes;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Args;

pub use report::{Machine, PerfReport};
use report::{Measurement, Skipped};

#[derive(Debug, Args)]
pub struct PerfArgs {
    /// Where to write the measurements (JSON; the report's perf.json)
    #[arg(long)]
    pub out: PathBuf,
    /// Fewer samples: the whole run in about 15 s on 2 cores (the default takes about a minute)
    #[arg(long)]
    pub quick: bool,
    /// The gadgetd binary to measure (default: the one next to this qbranch)
    #[arg(long)]
    pub gadgetd: Option<PathBuf>,
}

/// How many samples each probe takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub engine_ticks: usize,
    pub recorder_warmup: usize,
    pub recorder_ticks: usize,
    /// Loops of 10k syscalls with the probe attached, over `syscall_rounds` rounds of
    /// detached then attached loops; the detached side has one round more, at the end.
    pub syscall_samples: usize,
    pub syscall_rounds: usize,
    pub curator_passes: usize,
    pub gadgetd_run: Duration,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                engine_ticks: 200,
                recorder_warmup: 3,
                recorder_ticks: 30,
                syscall_samples: 30,
                syscall_rounds: 3,
                curator_passes: 5,
                gadgetd_run: Duration::from_secs(10),
            }
        } else {
            Plan {
                engine_ticks: 3000,
                recorder_warmup: 5,
                recorder_ticks: 300,
                syscall_samples: 200,
                syscall_rounds: 10,
                curator_passes: 30,
                gadgetd_run: Duration::from_secs(30),
            }
        }
    }
}

/// A probe: the names of the measurements it gives (all of them skipped, with its
/// reason, when it cannot run) and how it runs.
struct Probe<'a> {
    names: &'static [&'static str],
    run: Box<dyn FnOnce() -> probes::Outcome + 'a>,
}

pub fn run(args: PerfArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "qbranch perf: warning: this is a debug build; its numbers are not comparable to a release build's"
        );
    }
    // Refuse before a minute of probes, not after.
    let parent = args.out.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent.filter(|p| !p.is_dir()) {
        bail!(
            "--out {}: {} is not a directory",
            args.out.display(),
            dir.display()
        );
    }
    let started = Instant::now();
    let report = measure(args.quick, args.gadgetd.clone());
    write(&args.out, &report)?;
    eprintln!(
        "qbranch perf: {} measurements, {} skipped in {:.0?} (load average {:.2} before, {:.2} after); wrote {}",
        report.measurements.len(),
        report.skipped.len(),
        started.elapsed(),
        report.machine.load_avg_1m,
        load_avg_1m(),
        args.out.display()
    );
    Ok(())
}

/// Every probe, with the gadgetd binary given or the one beside this executable.
pub fn measure(quick: bool, gadgetd: Option<PathBuf>) -> PerfReport {
    let plan = Plan::new(quick);
    let gadgetd = match gadgetd {
        Some(path) => Ok(path),
        None => gadgetd::default_path(),
    };
    let mut report = PerfReport {
        created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        quick,
        machine: machine(),
        measurements: Vec::new(),
        skipped: Vec::new(),
    };
    run_probes(probes(&plan, gadgetd), &mut report);
    report
}

/// Runs each probe in turn: its measurements, or its reason under each of its names.
fn run_probes(probes: Vec<Probe<'_>>, report: &mut PerfReport) {
    for probe in probes {
        let start = Instant::now();
        match (probe.run)() {
            Ok(measurements) => {
                for m in &measurements {
                    debug_assert!(report::UNITS.contains(&m.unit.as_str()), "{}", m.unit);
                    eprintln!("  {}", line(m));
                }
                report.measurements.extend(measurements);
            }
            Err(reason) => {
                for name in probe.names {
                    eprintln!("  {name}: skipped: {reason}");
                    report.skipped.push(Skipped {
                        name: name.to_string(),
                        reason: reason.clone(),
                    });
                }
            }
        }
        tracing::info!("probe {} took {:.1?}", probe.names[0], start.elapsed());
    }
}

fn probes<'a>(plan: &'a Plan, gadgetd: Result<PathBuf, String>) -> Vec<Probe<'a>> {
    vec![
        Probe {
            names: &[probes::ENGINE_TICK],
            run: Box::new(|| probes::engine_tick(plan)),
        },
        Probe {
            names: &[probes::CURATOR_LINES, probes::CURATOR_BYTES],
            run: Box::new(|| probes::curator_throughput(plan)),
        },
        Probe {
            names: &[probes::RECORDER_TICK, probes::RECORDER_TICK_CPU],
            run: Box::new(|| probes::recorder_tick(plan)),
        },
        Probe {
            names: &[
                probes::EBPF_PROBE,
                probes::SYSCALL_DETACHED,
                probes::SYSCALL_ATTACHED,
            ],
            run: Box::new(|| probes::ebpf_probe(plan)),
        },
        // Last: a separate process, and the longest.
        Probe {
            names: &[gadgetd::GADGETD_RSS, gadgetd::GADGETD_PEAK],
            run: Box::new(move || gadgetd::rss(&gadgetd?, plan.gadgetd_run)),
        },
    ]
}

fn line(m: &Measurement) -> String {
    let spread = match (m.p10, m.p90) {
        (Some(lo), Some(hi)) => format!(" (p10 {lo:.1}, p90 {hi:.1})"),
        _ => String::new(),
    };
    format!(
        "{}: {:.1} {}{spread}, {} samples",
        m.name, m.median, m.unit, m.samples
    )
}

/// Writes the report whole or not at all (a `.partial` file renamed into place).
fn write(out: &Path, report: &PerfReport) -> Result<()> {
    let text = serde_json::to_string_pretty(report).context("serialising the report")?;
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, text + "\n")
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))
}

pub fn machine() -> Machine {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into())
    };
    Machine {
        host: read("/proc/sys/kernel/hostname"),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: read("/proc/sys/kernel/osrelease"),
        load_avg_1m: load_avg_1m(),
    }
}

/// /proc/loadavg's first field; NaN where it cannot be read (serialised as null).
fn load_avg_1m() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_report() -> PerfReport {
        PerfReport {
            created: "2026-11-26T16:00:00Z".into(),
            quick: true,
            machine: machine(),
            measurements: vec![],
            skipped: vec![],
        }
    }

    #[test]
    fn a_probe_that_cannot_run_lands_in_skipped_under_each_of_its_names() {
        let plan = Plan::new(true);
        let gadgetd_probe: Vec<Probe> = probes(&plan, Ok("/nonexistent/gadgetd".into()))
            .into_iter()
            .filter(|p| p.names.contains(&gadgetd::GADGETD_RSS))
            .collect();
        let mut report = empty_report();
        run_probes(gadgetd_probe, &mut report);
        assert!(report.measurements.is_empty());
        let names: Vec<&str> = report.skipped.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [gadgetd::GADGETD_RSS, gadgetd::GADGETD_PEAK]);
        for s in &report.skipped {
            assert!(s.reason.contains("/nonexistent/gadgetd"), "{}", s.reason);
        }
    }

    #[test]
    fn quick_takes_fewer_samples() {
        let (quick, full) = (Plan::new(true), Plan::new(false));
        assert!(quick.engine_ticks < full.engine_ticks);
        assert!(quick.recorder_ticks < full.recorder_ticks);
        assert!(quick.gadgetd_run <= full.gadgetd_run);
    }

    #[test]
    fn the_report_is_written_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("perf.json");
        let report = empty_report();
        write(&out, &report).expect("write");
        let back: PerfReport =
            serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("parse");
        assert_eq!(back.created, report.created);
        assert!(!dir.path().join("perf.json.partial").exists());
    }
}

//! `qbranch record`: the live recorder loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use qb_recorder::measure::thread_cpu_ns;
use qb_recorder::{LIVE_TABLES, Recorder, RecorderConfig, Ticker, now_ns};
use qb_signals::{DatasetWriter, Origin, Table, WriterOptions};

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Output directory (created; must be empty unless --append)
    #[arg(long, short)]
    out: PathBuf,
    /// Time between ticks, e.g. 1s, 500ms
    #[arg(long, default_value = "1s", value_parser = positive_duration)]
    interval: Duration,
    /// Stop after this long, e.g. 30s, 10m; without it, record until Ctrl-C or SIGTERM
    #[arg(long, value_parser = positive_duration)]
    duration: Option<Duration>,
    /// Tables to record, comma-separated
    #[arg(long, value_delimiter = ',', default_values_t = LIVE_TABLES.map(|t| t.name().to_string()))]
    tables: Vec<String>,
    /// Record only this cgroup subtree, e.g. /system.slice
    #[arg(long = "cgroup", value_name = "PATH")]
    cgroup_scope: Option<String>,
    /// Event time covered by one Parquet segment before the next is started
    #[arg(long, default_value = "60s", value_parser = positive_duration)]
    segment: Duration,
    /// Add to an existing recording of this host instead of refusing a non-empty --out
    #[arg(long)]
    append: bool,
    /// procfs root (for tests and containers)
    #[arg(long, default_value = "/proc", hide_short_help = true)]
    proc_root: PathBuf,
    /// cgroup filesystem root
    #[arg(long, default_value = "/sys/fs/cgroup", hide_short_help = true)]
    cgroup_root: PathBuf,
    /// Host name to record under (default: the kernel's hostname)
    #[arg(long, hide_short_help = true)]
    host: Option<String>,
    /// Tail log files matching this glob into the logs table (repeatable; `*`, `?`, `[..]`)
    #[arg(long = "logs", value_name = "GLOB")]
    log_globs: Vec<String>,
    /// Read log files that exist at start from their beginning, not their end
    #[arg(long)]
    logs_from_start: bool,
    /// Never load eBPF: count syscalls by sampling /proc instead
    #[arg(long, hide_short_help = true)]
    no_ebpf: bool,
    /// Accept OTLP/HTTP spans (POST /v1/traces) on this address into the traces and
    /// requests tables, e.g. 127.0.0.1:4318 (loopback unless --traces-allow-remote)
    #[arg(long, value_name = "ADDR")]
    traces_listen: Option<std::net::SocketAddr>,
    /// Let --traces-listen use a non-loopback address (spans are unauthenticated)
    #[arg(long, requires = "traces_listen", hide_short_help = true)]
    traces_allow_remote: bool,
}

pub fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration ({e}); try 1s, 500ms, 10m"))?;
    if d.is_zero() {
        return Err(format!("'{s}' must be longer than zero"));
    }
    Ok(d)
}

fn parse_tables(names: &[String]) -> Result<Vec<Table>> {
    let mut tables = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let table: Table = name.parse().map_err(anyhow::Error::msg)?;
        if table == Table::Labels {
            bail!("table 'labels' cannot be recorded: labels are simulator ground truth");
        }
        if !tables.contains(&table) {
            tables.push(table);
        }
    }
    if tables.is_empty() {
        bail!("--tables names no table");
    }
    Ok(tables)
}

pub fn run(args: RecordArgs) -> Result<()> {
    let mut tables = parse_tables(&args.tables)?;
    if !args.log_globs.is_empty() && !tables.contains(&Table::Logs) {
        tables.push(Table::Logs);
    }
    if args.traces_listen.is_some() {
        for t in [Table::Traces, Table::Requests] {
            if !tables.contains(&t) {
                tables.push(t);
            }
        }
    }
    let config = RecorderConfig {
        proc_root: args.proc_root.clone(),
        cgroup_root: args.cgroup_root.clone(),
        cgroup_scope: args.cgroup_scope.clone(),
        tables,
        host: args.host.clone(),
        ebpf: !args.no_ebpf,
        log_globs: args.log_globs.clone(),
        tail: qb_recorder::TailConfig {
            from_start: args.logs_from_start,
            ..Default::default()
        },
        traces: args.traces_listen.map(|listen| qb_traces::IntakeConfig {
            listen,
            allow_remote: args.traces_allow_remote,
            ..Default::default()
        }),
    };
    let mut recorder = Recorder::new(&config).context("cannot start the recorder")?;
    if let Some(addr) = recorder.traces_addr() {
        eprintln!("qbranch: accepting OTLP/HTTP spans on http://{addr}/v1/traces");
    }
    if recorder.methods().is_empty() {
        let why: Vec<_> = recorder
            .unavailable()
            .iter()
            .map(|(t, r)| format!("{t}: {r}"))
            .collect();
        bail!(
            "none of the requested tables can be recorded here ({})",
            why.join("; ")
        );
    }
    let mut writer = DatasetWriter::create(
        &args.out,
        WriterOptions {
            host: recorder.host().to_string(),
            origin: Origin::Recorded,
            tables: recorder.methods().clone(),
            segment: args.segment,
            append: args.append,
        },
    )?;
    writer.set_interval(args.interval);
    for (table, reason) in recorder.unavailable() {
        eprintln!("qbranch: warning: table {table} not recorded: {reason}");
        writer.mark_unavailable(*table, reason.clone())?;
    }
    for (table, note) in recorder.notes() {
        eprintln!("qbranch: warning: {table}: {note}");
        writer.note(*table, note.clone())?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }

    let progress = progress_bar(args.duration, args.interval);
    let mut ticker = Ticker::new(args.interval, args.duration);
    let mut cpu = CpuTimes::default();
    let loop_result = (|| -> Result<()> {
        loop {
            let cpu_before = thread_cpu_ns();
            let frame = recorder.collect(now_ns());
            writer.write_frame(&frame)?;
            cpu.add(thread_cpu_ns().saturating_sub(cpu_before));
            progress.inc(1);
            progress.set_message(format!(
                "{} processes, {} cgroups",
                frame.processes.len(),
                frame.cgroups.len()
            ));
            if !ticker.wait(&stop) {
                return Ok(());
            }
        }
    })();
    progress.finish_and_clear();
    let problems = recorder.log_problems();
    if !problems.is_empty() {
        writer.note(Table::Logs, format!("unreadable: {}", problems.join("; ")))?;
    }
    // Close segments and the manifest even when the loop failed: nothing half-written.
    let manifest = writer.finish()?;
    loop_result?;

    print_summary(&args, &manifest, &recorder, ticker.elapsed(), &cpu);
    Ok(())
}

fn print_summary(
    args: &RecordArgs,
    manifest: &qb_signals::Manifest,
    recorder: &Recorder,
    elapsed: Duration,
    cpu: &CpuTimes,
) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let s = recorder.stats();
    println!(
        "recorded {} ticks of host '{}' in {secs:.1} s to {}",
        s.ticks,
        manifest.host,
        args.out.display()
    );
    println!(
        "  {:<12} {:>10} {:>9} {:>12} {:>9}  method",
        "table", "rows", "rows/s", "bytes", "segments"
    );
    for (name, entry) in &manifest.tables {
        let method = entry.method.as_deref().unwrap_or("-");
        match entry.status {
            qb_signals::TableStatus::Recorded => println!(
                "  {name:<12} {:>10} {:>9.1} {:>12} {:>9}  {method}",
                entry.rows,
                entry.rows as f64 / secs,
                entry.bytes,
                entry.segments,
            ),
            qb_signals::TableStatus::Unavailable => println!(
                "  {name:<12} unavailable: {}",
                entry.reason.as_deref().unwrap_or("-")
            ),
        }
    }
    if s.syscalls.rows > 0 {
        println!(
            "  syscalls: {:.0} calls/s observed, {} map read errors",
            s.syscalls.calls as f64 / secs,
            s.syscalls.errors
        );
    }
    if manifest.is_recorded(Table::Logs) {
        let l = s.logs;
        println!(
            "  logs: {} lines ({:.0} lines/s, {} bytes) from {} files, {} cut at the length limit, {} unreadable paths, {} truncations without a copy",
            l.lines,
            l.lines as f64 / secs,
            l.bytes,
            l.files,
            l.truncated_lines,
            l.unreadable,
            l.truncations_without_copy
        );
    }
    if s.connections.rows > 0 {
        let c = s.connections;
        println!(
            "  connections: {} without a visible owner, {} netlink failures (fell back to /proc/net), {} bad lines",
            c.unowned, c.netlink_failures, c.bad_lines
        );
    }
    println!(
        "  skipped: {} processes vanished mid-read, {} unreadable, {} cgroups vanished, {} system rows failed",
        s.processes.vanished, s.processes.unreadable, s.cgroups.vanished, s.system_errors
    );
    if cpu.ticks > 0 {
        let mean = cpu.total_ns as f64 / cpu.ticks as f64;
        println!(
            "  recorder CPU per tick: mean {:.2} ms, max {:.2} ms ({:.2} % of one core at a {} interval)",
            mean / 1e6,
            cpu.max_ns as f64 / 1e6,
            100.0 * mean / args.interval.as_nanos() as f64,
            humantime::format_duration(args.interval)
        );
    }
}

#[derive(Debug, Default)]
struct CpuTimes {
    ticks: u64,
    total_ns: u64,
    max_ns: u64,
}

impl CpuTimes {
    fn add(&mut self, ns: u64) {
        self.ticks += 1;
        self.total_ns += ns;
        self.max_ns = self.max_ns.max(ns);
    }
}

pub fn progress_bar(duration: Option<Duration>, interval: Duration) -> ProgressBar {
    match duration {
        Some(d) => {
            let ticks = (d.as_nanos() / interval.as_nanos()).max(1) as u64;
            ProgressBar::new(ticks).with_style(
                ProgressStyle::with_template(
                    "{spinner} recording [{bar:30}] {pos}/{len} ticks, {msg} ({eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            )
        }
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template(
                "{spinner} recording: {pos} ticks, {msg} (Ctrl-C to stop)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}

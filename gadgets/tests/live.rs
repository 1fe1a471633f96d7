//! The gadgets end to end on real misbehaving processes, in real time: qb-live's
//! workloads, the live recorder at 1 s (the models were trained on 1 s ticks),
//! `Engine::step` on every frame and `LinuxActuator` for real signals.
//!
//! One session (about four minutes) runs everything side by side and every test judges
//! its own part of it, so the whole file costs one session of wall time:
//!
//! - a slow leak (256 MiB limit, 1 MiB/s, as the Oracle's live evaluation used) watched
//!   by a dry-run engine over the whole host, left to the kernel's OOM killer;
//! - a second such leak under an enforcing engine scoped to its own cgroup;
//! - a deadlocking server (onset after 40 s of healthy serving) under an enforcing engine
//!   scoped to its own cgroup;
//! - healthy companions (idle, sleeping in a loop, two CPU-capped busy loops) that no
//!   engine may flag or touch.
//!
//! Needs root on Linux with a memory and a cpu cgroup controller; elsewhere (or with
//! `QB_SKIP_LIVE=1`) every test prints `skipped: <reason>` and passes. The per-tick
//! decisions and incidents go to `live-gadgets.log` in Cargo's target tmp dir.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use qb_gadgets::incident::{decision_json, decision_line, incident_line};
use qb_gadgets::{Config, Decision, Engine, Incident, LinuxActuator, Mode, Outcome};
use qb_gadgets::{PauseFile, TickReport, policy::cgroup_under};
use qb_live::cgroup::ScratchCgroup;
use qb_live::{Leak, LeakOptions, LeakTool, LiveOptions, Stuck, StuckFault, Worker, Workload};
use qb_models::registry::Registry;
use qb_recorder::{CgroupLayout, Recorder, RecorderConfig, TailConfig, Ticker, now_ns};
use qb_signals::{Frame, Table};

const INTERVAL: Duration = Duration::from_secs(1);
const LEAK_LIMIT: u64 = 256 << 20;
const LEAK_RATE: u64 = 1 << 20;
const STUCK_ONSET: Duration = Duration::from_secs(40);
/// The bars.
const MIN_LEAD_S: f64 = 60.0;
const MAX_STUCK_DELAY_S: f64 = 90.0;
const STUCK_CONFIDENCE: f64 = 0.9;
const FORECAST_CONFIDENCE: f64 = 0.85;
/// Generous limits for everything else: a run that is not over by then has failed.
const SESSION_LIMIT: Duration = Duration::from_secs(8 * 60);
/// Stuck by onset + 90 s, restarted after its 60 s hold, SIGKILL 10 s later at worst.
const SERVER_LIMIT_AFTER_ONSET: Duration = Duration::from_secs(200);

// ---------------------------------------------------------------------------------
// Workload processes: this test binary, re-executed.

const WORKER_ENV: &str = "QB_LIVE_TEST_WORKER";

/// libtest's `main` cannot dispatch `workload NAME ...`, so a constructor does it before
/// `main` runs, in the processes `launch_worker` starts (and only there: it needs the
/// variable). The worker then runs on the main thread, exactly as `qbranch workload`.
#[used]
#[unsafe(link_section = ".init_array")]
static WORKER_MODE: extern "C" fn() = worker_mode;

extern "C" fn worker_mode() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    // argv is `<exe> workload NAME key=value...`; /proc does not depend on std's setup.
    let cmdline = std::fs::read("/proc/self/cmdline").unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .skip(2)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // What Rust's runtime does for `qbranch`: a client hanging up is an error, not death.
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let code = match qb_live::worker::main(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("workload: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn launch_worker(args: &[String]) -> Command {
    let exe = std::env::current_exe().expect("the test executable");
    let mut cmd = Command::new(exe);
    cmd.arg("workload").args(args).env(WORKER_ENV, "1");
    cmd
}

// ---------------------------------------------------------------------------------
// Output: progress to the terminal even under libtest's capture, details to a log.

/// Straight to stderr: libtest captures `eprintln!`, and a four-minute test should say
/// what it is doing while it does it.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "[live] {line}");
}

fn log_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-gadgets.log")
}

// ---------------------------------------------------------------------------------
// Skips.

fn skip_reason() -> Option<String> {
    if let Some(why) = common::live_host_skip_reason() {
        return Some(why);
    }
    let layout = CgroupLayout::detect(Path::new("/sys/fs/cgroup"));
    if layout.memory_hierarchy().is_none() {
        return Some("no memory cgroup controller under /sys/fs/cgroup".into());
    }
    if layout.v1_cpu.is_none() && layout.v2.is_none() {
        return Some("no cpu cgroup controller to cap the busy companions".into());
    }
    None
}

// ---------------------------------------------------------------------------------
// What the session saw, for the tests to judge.

#[derive(Debug)]
struct LeakFacts {
    cgroup: String,
    pid: u32,
    oom_kills_before: u64,
    oom_kills_after: u64,
    started_ns: Option<i64>,
    /// First frame that showed an OOM kill in the cgroup.
    oom_ns: Option<i64>,
    /// First frame after which the leaker was found exited.
    exited_ns: Option<i64>,
}

#[derive(Debug)]
struct ServerFacts {
    cgroup: String,
    pid: u32,
    onset_ns: Option<i64>,
    exited_ns: Option<i64>,
    served_at_onset: u64,
    served_at_end: u64,
    /// syscalls rows of the server before and after the onset.
    syscall_rows: (u64, u64),
    /// An error from the workload before the fault (the server died early).
    error: Option<String>,
}

#[derive(Debug)]
struct Session {
    /// Dry run, whole host: watches the observed leak (and everything else).
    observe: Vec<TickReport>,
    /// Enforce, scoped to the enforced leak's cgroup.
    leak_enforce: Vec<TickReport>,
    /// Enforce, scoped to the server's cgroup.
    stuck_enforce: Vec<TickReport>,
    observed_leak: LeakFacts,
    enforced_leak: LeakFacts,
    server: ServerFacts,
    healthy_cgroups: Vec<String>,
    /// Every pid seen in the healthy cgroups.
    healthy_pids: BTreeSet<u32>,
    /// Companions that were not running any more at the end (they must all be).
    healthy_dead: Vec<String>,
    syscalls_method: String,
    syscall_rows: u64,
    models: Vec<String>,
    ticks: u64,
    slowest_tick: Duration,
    wall: Duration,
}

/// The session, run once for all the tests (libtest runs them on parallel threads: the
/// others wait here). `Err` is a skip reason.
fn session() -> Result<&'static Session, String> {
    static SESSION: OnceLock<Result<Session, Failure>> = OnceLock::new();
    match SESSION.get_or_init(run_session) {
        Ok(s) => Ok(s),
        Err(Failure::Skip(why)) => Err(why.clone()),
        Err(Failure::Broken(why)) => panic!("the live session failed: {why}"),
    }
}

/// Skips at the top of a test, with the reason printed.
macro_rules! live_session {
    () => {
        match session() {
            Ok(s) => s,
            Err(why) => {
                println!("skipped: {why}");
                return;
            }
        }
    };
}

#[derive(Debug)]
enum Failure {
    Skip(String),
    Broken(String),
}

fn run_session() -> Result<Session, Failure> {
    if let Some(why) = skip_reason() {
        return Err(Failure::Skip(why));
    }
    // A panic here must not leave the other tests waiting on a re-run of the session.
    std::panic::catch_unwind(live).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(Failure::Broken(format!("panicked: {why}")))
    })
}

// ---------------------------------------------------------------------------------
// The session itself.

/// Healthy processes in scratch cgroups. Field order is drop order: processes, then
/// the cgroups (which kill whatever is left and remove themselves).
#[derive(Debug)]
struct Companions {
    procs: Vec<Worker>,
    idle: ScratchCgroup,
    busy: ScratchCgroup,
}

impl Companions {
    fn start(root: &Path) -> Result<Self, String> {
        let idle = ScratchCgroup::create(root, "healthy-idle").map_err(|e| e.to_string())?;
        let busy = ScratchCgroup::create(root, "healthy-busy").map_err(|e| e.to_string())?;
        // Busy, but not at the cost of a 2-core host (or of the recorder's ticks).
        busy.set_cpu_quota(0.3).map_err(|e| e.to_string())?;
        let sh = |script: &str| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        };
        let mut sleep = Command::new("sleep");
        sleep.arg("600");
        let plan = [
            ("idle sleep", sleep, &idle),
            ("sleeping loop", sh("while :; do sleep 0.2; done"), &idle),
            ("busy spinner", sh("while :; do :; done"), &busy),
            ("busy yes", sh("exec yes > /dev/null"), &busy),
        ];
        let mut procs = Vec::new();
        for (name, cmd, cgroup) in plan {
            procs.push(Worker::spawn(name, cmd, &[cgroup]).map_err(|e| e.to_string())?);
        }
        Ok(Companions { procs, idle, busy })
    }

    fn cgroups(&self) -> Vec<String> {
        vec![self.idle.path().to_string(), self.busy.path().to_string()]
    }

    fn dead(&mut self) -> Vec<String> {
        self.procs
            .iter_mut()
            .filter_map(|w| w.exited().map(|s| format!("pid {} {s}", w.pid())))
            .collect()
    }
}

fn live_options(scratch: &Path) -> LiveOptions {
    LiveOptions {
        out: scratch.join("unused"),
        interval: INTERVAL,
        duration: SESSION_LIMIT,
        onset: Some(STUCK_ONSET),
        proc_root: "/proc".into(),
        cgroup_root: "/sys/fs/cgroup".into(),
        ebpf: true,
    }
}

fn leak_options() -> LeakOptions {
    LeakOptions {
        limit: LEAK_LIMIT,
        rate: LEAK_RATE,
        tool: LeakTool::Builtin,
        cpu: None,
    }
}

/// A gadget engine with the default gadgets and rules, acting for real through
/// `LinuxActuator` (dry run: never), its pause file in our temp dir.
fn engine(
    mode: Mode,
    allow: &[&str],
    pause: &Path,
    registry: &Registry,
) -> Result<Engine<LinuxActuator>, String> {
    let mut config = Config {
        mode,
        ..Config::default()
    };
    config.policy.pause_file = pause.to_path_buf();
    config.policy.allow_cgroups = allow.iter().map(|s| s.to_string()).collect();
    let actuator = LinuxActuator::new()?;
    Ok(qb_gadgets::engine(
        &config,
        registry,
        actuator,
        PauseFile::new(pause),
    ))
}

fn leak_facts(leak: &Leak) -> LeakFacts {
    LeakFacts {
        cgroup: leak.cgroup().path().to_string(),
        pid: leak.pid(),
        oom_kills_before: leak.cgroup().oom_kills().unwrap_or(0),
        oom_kills_after: 0,
        started_ns: None,
        oom_ns: None,
        exited_ns: None,
    }
}

/// Notes the leak's OOM kill and its leaker's exit, as frames come.
fn watch_leak(leak: &mut Leak, facts: &mut LeakFacts, frame: &Frame) {
    // Its own tick reads the leaker's "leaking" line (and reaps it once it exits).
    let _ = leak.tick(frame);
    facts.started_ns = leak.started_ns();
    facts.oom_kills_after = leak.cgroup().oom_kills().unwrap_or(facts.oom_kills_before);
    if facts.oom_ns.is_none() && facts.oom_kills_after > facts.oom_kills_before {
        facts.oom_ns = Some(frame.ts_ns);
    }
    if facts.exited_ns.is_none() && leak.exited() {
        facts.exited_ns = Some(frame.ts_ns);
    }
}

fn leak_over(f: &LeakFacts) -> bool {
    f.oom_ns.is_some() || f.exited_ns.is_some()
}

fn live() -> Result<Session, Failure> {
    let broken = |e: String| Failure::Broken(e);
    let started = Instant::now();
    let root = Path::new("/sys/fs/cgroup");
    qb_live::set_worker_launcher(launch_worker);
    qb_live::cgroup::sweep_stale(root);
    let scratch = tempfile::tempdir().map_err(|e| broken(e.to_string()))?;
    let pause = scratch.path().join("pause");
    let opts = live_options(scratch.path());
    let mut log = std::fs::File::create(log_path()).map_err(|e| broken(e.to_string()))?;

    // Everything started here is dropped (killed, removed) when this function returns,
    // however it returns.
    let mut companions = Companions::start(root).map_err(broken)?;
    let mut observed = Leak::start_named(&leak_options(), &opts, "leak-observed")
        .map_err(|e| broken(e.to_string()))?;
    let mut enforced = Leak::start_named(&leak_options(), &opts, "leak-enforced")
        .map_err(|e| broken(e.to_string()))?;
    let mut stuck = Stuck::start(StuckFault::Deadlock, &opts).map_err(|e| broken(e.to_string()))?;

    let mut recorder = Recorder::new(&RecorderConfig {
        tables: vec![
            Table::System,
            Table::Process,
            Table::Cgroup,
            Table::Syscalls,
            Table::Connections,
        ],
        tail: TailConfig::default(),
        ..RecorderConfig::default()
    })
    .map_err(|e| broken(e.to_string()))?;
    let syscalls_method = recorder
        .methods()
        .get(&Table::Syscalls)
        .cloned()
        .unwrap_or_else(|| "not recorded".into());

    let registry = Registry::embedded().map_err(|e| broken(e.to_string()))?;
    let mut observe = engine(Mode::DryRun, &[], &pause, &registry).map_err(broken)?;
    let mut leak_enforce = engine(
        Mode::Enforce,
        &[enforced.cgroup().path()],
        &pause,
        &registry,
    )
    .map_err(broken)?;
    let mut stuck_enforce =
        engine(Mode::Enforce, &[stuck.cgroup().path()], &pause, &registry).map_err(broken)?;
    let models: Vec<String> = observe
        .gadgets()
        .iter()
        .flat_map(|g| g.models())
        .map(|(name, from)| format!("{name}: {from}"))
        .collect();

    let mut s = Session {
        observe: Vec::new(),
        leak_enforce: Vec::new(),
        stuck_enforce: Vec::new(),
        observed_leak: leak_facts(&observed),
        enforced_leak: leak_facts(&enforced),
        server: ServerFacts {
            cgroup: stuck.cgroup().path().to_string(),
            pid: stuck.pid(),
            onset_ns: None,
            exited_ns: None,
            served_at_onset: 0,
            served_at_end: 0,
            syscall_rows: (0, 0),
            error: None,
        },
        healthy_cgroups: companions.cgroups(),
        healthy_pids: BTreeSet::new(),
        healthy_dead: Vec::new(),
        syscalls_method,
        syscall_rows: 0,
        models,
        ticks: 0,
        slowest_tick: Duration::ZERO,
        wall: Duration::ZERO,
    };
    say(&format!(
        "session: observed leak {} (pid {}), enforced leak {} (pid {}), deadlock {} (pid {}, onset {:?}), healthy {:?}; syscalls: {}; models: {:?}; log {}",
        s.observed_leak.cgroup,
        s.observed_leak.pid,
        s.enforced_leak.cgroup,
        s.enforced_leak.pid,
        s.server.cgroup,
        s.server.pid,
        STUCK_ONSET,
        s.healthy_cgroups,
        s.syscalls_method,
        s.models,
        log_path().display()
    ));

    let mut ticker = Ticker::new(INTERVAL, Some(SESSION_LIMIT));
    let never = AtomicBool::new(false);
    loop {
        let tick_started = Instant::now();
        let frame = recorder.collect(now_ns());
        watch_leak(&mut observed, &mut s.observed_leak, &frame);
        watch_leak(&mut enforced, &mut s.enforced_leak, &frame);
        watch_server(&mut stuck, &mut s, &frame);
        note_healthy(&frame, &mut s);
        s.syscall_rows += frame.syscalls.len() as u64;

        let reports = [
            observe.step(&frame),
            leak_enforce.step(&frame),
            stuck_enforce.step(&frame),
        ];
        trace(&mut log, &frame, &reports, &s);
        let [a, b, c] = reports;
        s.observe.push(a);
        s.leak_enforce.push(b);
        s.stuck_enforce.push(c);
        s.ticks += 1;
        s.slowest_tick = s.slowest_tick.max(tick_started.elapsed());
        if s.ticks.is_multiple_of(15) {
            progress(&s, &observed, &enforced, &stuck, started);
        }
        if everything_over(&s, frame.ts_ns) || !ticker.wait(&never) {
            break;
        }
    }
    s.healthy_dead = companions.dead();
    s.server.served_at_end = stuck.served();
    s.wall = started.elapsed();
    say(&format!(
        "session over after {:.0} s, {} ticks (slowest {:.0} ms)",
        s.wall.as_secs_f64(),
        s.ticks,
        s.slowest_tick.as_secs_f64() * 1e3
    ));
    Ok(s)
}

fn watch_server(stuck: &mut Stuck, s: &mut Session, frame: &Frame) {
    let f = &mut s.server;
    let rows = frame.syscalls.iter().filter(|r| r.pid == f.pid).count() as u64;
    match f.onset_ns {
        None => {
            f.syscall_rows.0 += rows;
            // Its tick triggers the fault at the onset; before that the server must live.
            if let Err(e) = stuck.tick(frame) {
                f.error.get_or_insert(e.to_string());
            }
            f.onset_ns = stuck.onset_ns();
            f.served_at_onset = stuck.served();
        }
        Some(_) => f.syscall_rows.1 += rows,
    }
    if f.exited_ns.is_none() && stuck.exited() {
        f.exited_ns = Some(frame.ts_ns);
    }
}

fn note_healthy(frame: &Frame, s: &mut Session) {
    for p in &frame.processes {
        if s.healthy_cgroups.iter().any(|c| cgroup_under(&p.cgroup, c)) {
            s.healthy_pids.insert(p.pid);
        }
    }
}

fn everything_over(s: &Session, now: i64) -> bool {
    let server_over = s.server.exited_ns.is_some()
        || s.server.error.is_some()
        || s.server
            .onset_ns
            .is_some_and(|o| now - o > SERVER_LIMIT_AFTER_ONSET.as_nanos() as i64);
    // A few ticks after the kill, so the engines see its aftermath.
    let observed_over = s
        .observed_leak
        .oom_ns
        .or(s.observed_leak.exited_ns)
        .is_some_and(|t| now - t >= 3_000_000_000);
    observed_over && leak_over(&s.enforced_leak) && server_over
}

/// Every decision and incident about the session's own targets, per tick, to the log.
fn trace(log: &mut std::fs::File, frame: &Frame, reports: &[TickReport; 3], s: &Session) {
    let ours = |d: &Decision| {
        let cgroup = d
            .cgroup
            .as_deref()
            .or(d.process.as_ref().map(|p| p.cgroup.as_str()))
            .unwrap_or("");
        cgroup.contains("qbranch-live-")
    };
    let _ = writeln!(
        log,
        "tick {} t={:.0}s observed {:?} MiB enforced {:?} MiB",
        s.ticks,
        (frame.ts_ns - s.observe.first().map_or(frame.ts_ns, |r| r.ts_ns)) as f64 / 1e9,
        frame
            .cgroups
            .iter()
            .find(|c| c.path == s.observed_leak.cgroup)
            .map(|c| c.memory_usage_bytes >> 20),
        frame
            .cgroups
            .iter()
            .find(|c| c.path == s.enforced_leak.cgroup)
            .map(|c| c.memory_usage_bytes >> 20),
    );
    for (name, r) in ["observe", "leak-enforce", "stuck-enforce"]
        .iter()
        .zip(reports)
    {
        // JSON: the evidence (feature values) is what explains a late or missing call.
        for d in r.decisions.iter().filter(|d| ours(d)) {
            let _ = writeln!(log, "  {name} {}", decision_json(d));
        }
        for i in &r.incidents {
            let _ = writeln!(log, "  {name} {}", incident_line(i));
            // Incidents are rare and the point of the run: show them as they happen.
            say(&format!("{name}: {}", incident_line(i)));
        }
    }
}

fn progress(s: &Session, observed: &Leak, enforced: &Leak, stuck: &Stuck, started: Instant) {
    let mib = |l: &Leak| l.cgroup().memory_usage().map_or(0, |u| u >> 20);
    let best = |reports: &[TickReport], pick: &dyn Fn(&Decision) -> bool| {
        reports
            .last()
            .into_iter()
            .flat_map(|r| &r.decisions)
            .filter(|d| pick(d))
            .map(|d| {
                format!(
                    "{} p={:.2} eta={:?}",
                    d.kind,
                    d.confidence,
                    d.eta_s.map(|e| e.round())
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let on_cgroup = |c: &str| {
        let c = c.to_string();
        move |d: &Decision| d.kind == "oom_forecast" && d.cgroup.as_deref() == Some(c.as_str())
    };
    let server = s.server.pid;
    say(&format!(
        "t={:.0}s observed {} MiB [{}] enforced {} MiB [{}] server served {} [{}]",
        started.elapsed().as_secs_f64(),
        mib(observed),
        best(&s.observe, &on_cgroup(&s.observed_leak.cgroup)),
        mib(enforced),
        best(&s.leak_enforce, &on_cgroup(&s.enforced_leak.cgroup)),
        stuck.served(),
        best(&s.stuck_enforce, &|d: &Decision| d
            .process
            .as_ref()
            .is_some_and(|p| p.pid == server)),
    ));
}

// ---------------------------------------------------------------------------------
// Helpers for the judgements.

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn incidents(reports: &[TickReport]) -> impl Iterator<Item = &Incident> {
    reports.iter().flat_map(|r| &r.incidents)
}

fn decisions(reports: &[TickReport]) -> impl Iterator<Item = &Decision> {
    reports.iter().flat_map(|r| &r.decisions)
}

/// Whether the incident's action could touch the host (reports and sampling cannot).
fn acts(i: &Incident) -> bool {
    !matches!(i.action.as_str(), "report" | "sample_faster")
}

fn target_pid(i: &Incident) -> Option<u32> {
    i.decision.process.as_ref().map(|p| p.pid)
}

fn first_forecast<'a>(reports: &'a [TickReport], cgroup: &str) -> Option<&'a Decision> {
    decisions(reports).find(|d| {
        d.kind == "oom_forecast"
            && d.confidence >= FORECAST_CONFIDENCE
            && d.cgroup.as_deref() == Some(cgroup)
    })
}

/// The Oracle's confident readings on `cgroup`, thinned to one every 10 s, for failures.
fn forecast_history(reports: &[TickReport], cgroup: &str) -> String {
    let t0 = reports.first().map_or(0, |r| r.ts_ns);
    decisions(reports)
        .filter(|d| d.kind == "oom_forecast" && d.cgroup.as_deref() == Some(cgroup))
        .filter(|d| (d.ts_ns - t0) / 1_000_000_000 % 10 == 0)
        .map(|d| {
            format!(
                "t={:.0}s p={:.2} eta={:?}",
                secs(d.ts_ns - t0),
                d.confidence,
                d.eta_s.map(f64::round)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The Pathologist's readings on `pid` after `onset`, one every 10 s, for failures.
fn stuck_history(reports: &[TickReport], pid: u32, onset: i64) -> String {
    decisions(reports)
        .filter(|d| d.kind == "stuck" && d.process.as_ref().is_some_and(|p| p.pid == pid))
        .filter(|d| d.ts_ns >= onset && (d.ts_ns - onset) / 1_000_000_000 % 10 == 0)
        .map(|d| format!("+{:.0}s p={:.2}", secs(d.ts_ns - onset), d.confidence))
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------------
// The tests.

#[test]
fn oracle_dry_run_forecasts_a_real_leak_a_minute_before_the_oom_kill() {
    let s = live_session!();
    let leak = &s.observed_leak;
    let oom_ns = leak.oom_ns.unwrap_or_else(|| {
        panic!(
            "no OOM kill in {} within the session ({:.0} s): {leak:?}",
            leak.cgroup,
            s.wall.as_secs_f64()
        )
    });
    let history = forecast_history(&s.observe, &leak.cgroup);
    let first = first_forecast(&s.observe, &leak.cgroup).unwrap_or_else(|| {
        panic!(
            "no oom_forecast at >= {FORECAST_CONFIDENCE} on {} before its OOM kill; readings: {history}",
            leak.cgroup
        )
    });
    let lead = secs(oom_ns - first.ts_ns);
    let leak_s = leak.started_ns.map(|t| secs(oom_ns - t));
    say(&format!(
        "oracle dry run: first forecast p={:.2} eta={:?} s, {lead:.0} s before the kernel's OOM kill (leak ran {leak_s:?} s)",
        first.confidence,
        first.eta_s.map(f64::round)
    ));
    for i in incidents(&s.observe).filter(|i| i.decision.cgroup.as_deref() == Some(&leak.cgroup)) {
        say(&format!("  {}", incident_line(i)));
    }
    assert!(
        lead >= MIN_LEAD_S,
        "lead {lead:.0} s < {MIN_LEAD_S} s; readings: {history}"
    );
    // Dry run touched nothing: the kernel, not the engine, ended the leaker.
    assert!(leak.oom_kills_after > leak.oom_kills_before);
}

#[test]
fn oracle_enforce_stops_a_real_leak_before_the_oom_killer() {
    let s = live_session!();
    let leak = &s.enforced_leak;
    let history = forecast_history(&s.leak_enforce, &leak.cgroup);
    let stopped = incidents(&s.leak_enforce)
        .find(|i| {
            acts(i)
                && i.rule.starts_with("oracle")
                && matches!(i.outcome, Outcome::Done { .. })
                && target_pid(i) == Some(leak.pid)
        })
        .unwrap_or_else(|| {
            panic!(
                "no Oracle action done on the leaker (pid {}); facts {leak:?}; readings: {history}",
                leak.pid
            )
        });
    let exited = leak
        .exited_ns
        .unwrap_or_else(|| panic!("the leaker (pid {}) is still running: {leak:?}", leak.pid));
    let first = first_forecast(&s.leak_enforce, &leak.cgroup).map(|d| d.ts_ns);
    say(&format!(
        "oracle enforce: {} ({}) at eta {:?} s, {:.0} s after the first confident forecast; leaker gone {:.0} s after the action; OOM kills {} -> {}",
        stopped.action,
        stopped.rule,
        stopped.decision.eta_s.map(f64::round),
        first.map_or(f64::NAN, |f| secs(stopped.ts_ns - f)),
        secs(exited - stopped.ts_ns),
        leak.oom_kills_before,
        leak.oom_kills_after
    ));
    assert_eq!(
        leak.oom_kills_after, leak.oom_kills_before,
        "the kernel's OOM killer fired in {}",
        leak.cgroup
    );
    assert_eq!(leak.oom_ns, None);
    assert!(
        !Path::new(&format!("/proc/{}", leak.pid)).exists(),
        "pid {} still exists",
        leak.pid
    );
}

#[test]
fn pathologist_enforce_restarts_a_real_deadlocked_server() {
    let s = live_session!();
    let server = &s.server;
    say(&format!(
        "pathologist: syscalls via {}; {} syscall rows in all, the server's {} before / {} after the onset; served {} before the onset, {} in all",
        s.syscalls_method,
        s.syscall_rows,
        server.syscall_rows.0,
        server.syscall_rows.1,
        server.served_at_onset,
        server.served_at_end
    ));
    assert!(server.error.is_none(), "{server:?}");
    let onset = server.onset_ns.expect("the deadlock was triggered");
    assert!(s.syscall_rows > 0, "the syscalls table stayed empty");
    assert!(
        server.syscall_rows.0 > 0,
        "no syscalls recorded for the healthy server"
    );
    assert!(
        server.served_at_onset > 0,
        "the server served nothing before the onset"
    );
    let stuck: Vec<&Decision> = decisions(&s.stuck_enforce)
        .filter(|d| {
            d.kind == "stuck"
                && d.confidence >= STUCK_CONFIDENCE
                && d.process.as_ref().is_some_and(|p| p.pid == server.pid)
        })
        .collect();
    let early: Vec<String> = stuck
        .iter()
        .filter(|d| d.ts_ns < onset)
        .map(|d| decision_line(d))
        .collect();
    assert!(early.is_empty(), "stuck while healthy: {early:?}");
    let history = stuck_history(&s.stuck_enforce, server.pid, onset);
    say(&format!("pathologist: P(stuck) after the onset: {history}"));
    let first = stuck.first().unwrap_or_else(|| {
        panic!(
            "the server (pid {}) was never marked stuck at >= {STUCK_CONFIDENCE}; P(stuck) after the onset: {history}",
            server.pid
        )
    });
    let delay = secs(first.ts_ns - onset);
    let restart = incidents(&s.stuck_enforce).find(|i| {
        i.rule.starts_with("pathologist")
            && matches!(i.outcome, Outcome::Done { .. })
            && target_pid(i) == Some(server.pid)
    });
    say(&format!(
        "pathologist: stuck p={:.2} {delay:.0} s after the onset; {}; server gone {:?} s after the onset",
        first.confidence,
        restart.map_or("no action".into(), |i| format!(
            "{} {:.0} s after the onset (stacks: {})",
            i.action,
            secs(i.ts_ns - onset),
            i.stacks.is_some()
        )),
        server.exited_ns.map(|t| secs(t - onset).round())
    ));
    assert!(
        delay <= MAX_STUCK_DELAY_S,
        "stuck only {delay:.0} s after the onset"
    );
    let restart = restart.expect("a restart of the server, done");
    assert_eq!(restart.action, "restart");
    assert!(
        server.exited_ns.is_some(),
        "the server (pid {}) still runs",
        server.pid
    );
}

#[test]
fn healthy_processes_are_never_flagged_or_acted_on() {
    let s = live_session!();
    assert!(
        s.healthy_dead.is_empty(),
        "companions died: {:?}",
        s.healthy_dead
    );
    assert!(s.healthy_pids.len() >= 4, "{:?}", s.healthy_pids);
    let healthy = |pid: Option<u32>, cgroup: Option<&str>| {
        pid.is_some_and(|p| s.healthy_pids.contains(&p))
            || cgroup.is_some_and(|c| s.healthy_cgroups.iter().any(|h| cgroup_under(c, h)))
    };
    let all = [&s.observe, &s.leak_enforce, &s.stuck_enforce];
    let flagged: Vec<String> = all
        .iter()
        .flat_map(|r| decisions(r))
        .filter(|d| {
            d.kind == "stuck"
                && d.confidence >= STUCK_CONFIDENCE
                && healthy(d.process.as_ref().map(|p| p.pid), None)
        })
        .map(decision_line)
        .collect();
    let touched: Vec<String> = all
        .iter()
        .flat_map(|r| incidents(r))
        .filter(|i| {
            let cgroup = i.decision.process.as_ref().map(|p| p.cgroup.as_str());
            healthy(target_pid(i), cgroup) || healthy(None, i.decision.cgroup.as_deref())
        })
        .map(incident_line)
        .collect();
    let reported = all
        .iter()
        .flat_map(|r| decisions(r))
        .filter(|d| healthy(d.process.as_ref().map(|p| p.pid), d.cgroup.as_deref()))
        .count();
    say(&format!(
        "healthy: {} pids in {:?}; {reported} low-confidence decisions on them, {} at >= {STUCK_CONFIDENCE}, {} incidents",
        s.healthy_pids.len(),
        s.healthy_cgroups,
        flagged.len(),
        touched.len()
    ));
    assert!(flagged.is_empty(), "healthy processes flagged: {flagged:?}");
    assert!(
        touched.is_empty(),
        "healthy processes targeted: {touched:?}"
    );
}

#[test]
fn enforcing_engines_act_only_inside_their_scope_and_dry_run_never_acts() {
    let s = live_session!();
    let scoped = [
        ("leak-enforce", &s.leak_enforce, &s.enforced_leak.cgroup),
        ("stuck-enforce", &s.stuck_enforce, &s.server.cgroup),
    ];
    let mut refusals = 0;
    for (name, reports, allowed) in scoped {
        for i in incidents(reports).filter(|i| acts(i)) {
            let cgroup = i
                .decision
                .process
                .as_ref()
                .map_or("/", |p| p.cgroup.as_str());
            if i.is_refusal() {
                refusals += 1;
            } else {
                assert!(
                    cgroup_under(cgroup, allowed),
                    "{name} acted outside {allowed}: {}",
                    incident_line(i)
                );
            }
        }
    }
    let dry: Vec<String> = incidents(&s.observe)
        .filter(|i| acts(i) && !matches!(i.outcome, Outcome::DryRun | Outcome::Refused { .. }))
        .map(incident_line)
        .collect();
    say(&format!(
        "scope: {refusals} refusals by the scoped engines; dry run: {} incidents, none acted",
        incidents(&s.observe).count()
    ));
    assert!(dry.is_empty(), "the dry-run engine acted: {dry:?}");
}

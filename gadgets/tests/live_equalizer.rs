//! The Equalizer end to end on a real PostgreSQL, in real time: a cluster on loopback
//! under pgbench load, the live recorder at 1 s, `Engine::step` on every frame, and
//! `LinuxActuator` ending connections for real (enforce, scoped to the server's cgroup).
//!
//! One session (about three minutes) and several tests judging its parts:
//!
//! - at 30 s a lock holder (`BEGIN; LOCK TABLE pgbench_accounts ...`, then idle in the
//!   transaction): pgbench drops to 0 tps until the Equalizer ends the holder's backend;
//! - 25 s after that, a CPU hog (a PL/pgSQL busy loop), ended the same way;
//! - all along, a large legitimate transfer (COPY at 4 MB/s) and a slow client (the
//!   same at 16 KB/s) that must never be touched, nor pgbench's sessions.
//!
//! pgbench's throughput before, during and after each episode goes to the test output
//! and to `live-equalizer.json` in Cargo's target tmp dir, with every incident. With
//! `QB_EQUALIZER_END=sock_destroy` the connections are ended by `SOCK_DESTROY` instead
//! of terminating their backends (the backend then sees the reset and exits).
//! Needs root on Linux, PostgreSQL (scripts/setup installs it) and python3; elsewhere
//! (or with `QB_SKIP_LIVE=1`) every test prints `skipped: <reason>` and passes.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use qb_gadgets::{Config, Engine, Incident, LinuxActuator, Mode, Outcome, PauseFile};
use qb_live::Worker;
use qb_live::cgroup::ScratchCgroup;
use qb_live::postgres::{Cluster, Session, ToxicMode};
use qb_models::registry::Registry;
use qb_recorder::{Recorder, RecorderConfig, Ticker, now_ns};
use qb_signals::{Frame, Table};

const INTERVAL: Duration = Duration::from_secs(1);
const CLIENTS: u32 = 8;
const HOLDER_AT_S: i64 = 30;
/// After the holder is gone: the hog then needs 10 s of window, 20 s of runtime and
/// the rule's 10 s, by when the service's one-minute cooldown has passed.
const HOG_AFTER_S: i64 = 25;
/// Generous bars: a stall is found after 5 s and acted on 10 s later; a hog after
/// 10 + 20 + 10 s.
const HOLDER_LIMIT_S: i64 = 45;
const HOG_LIMIT_S: i64 = 90;
/// What is left of the run after the last episode, for its "after" throughput.
const TAIL_S: i64 = 15;
const SESSION_LIMIT: Duration = Duration::from_secs(300);

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "[live-equalizer] {line}");
}

fn skip_reason() -> Option<String> {
    if let Some(why) = common::live_host_skip_reason() {
        return Some(why);
    }
    let python = std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status();
    if !python.is_ok_and(|s| s.success()) {
        return Some("no python3 to throttle the readers (scripts/setup installs it)".into());
    }
    None
}

/// One toxic session, what the Equalizer did about it, and pgbench around it.
#[derive(Debug)]
struct Episode {
    mode: ToxicMode,
    backend_pid: u32,
    client_port: u16,
    onset_ns: i64,
    /// The first frame without its backend.
    gone_ns: Option<i64>,
    tps: [Option<f64>; 3],
}

impl Episode {
    fn connection(&self, server_port: u16) -> String {
        format!(
            "conn:127.0.0.1:{server_port}-127.0.0.1:{}",
            self.client_port
        )
    }
}

#[derive(Debug)]
struct Run {
    server_port: u16,
    episodes: Vec<Episode>,
    incidents: Vec<Incident>,
    /// Every connection an Equalizer decision named.
    decided: Vec<String>,
    /// Innocent clients that had exited by the end (none may have).
    innocents_dead: Vec<String>,
    models: Vec<String>,
}

#[derive(Debug)]
enum Failure {
    Skip(String),
    Broken(String),
}

fn run() -> Result<&'static Run, String> {
    static RUN: OnceLock<Result<Run, Failure>> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        if let Some(why) = skip_reason() {
            return Err(Failure::Skip(why));
        }
        std::panic::catch_unwind(live).unwrap_or_else(|_| Err(Failure::Broken("panicked".into())))
    });
    match run {
        Ok(r) => Ok(r),
        Err(Failure::Skip(why)) => Err(why.clone()),
        Err(Failure::Broken(why)) => panic!("the live session failed: {why}"),
    }
}

macro_rules! live_run {
    () => {
        match run() {
            Ok(r) => r,
            Err(why) => {
                println!("skipped: {why}");
                return;
            }
        }
    };
}

fn engine(
    cluster: &Cluster,
    pause: &Path,
    registry: &Registry,
) -> Result<Engine<LinuxActuator>, String> {
    let mut config = Config {
        mode: Mode::Enforce,
        ..Config::default()
    };
    // This test is about the Equalizer: blocked backends must not meet the Pathologist.
    config.oracle.enabled = false;
    config.pathologist.enabled = false;
    config.equalizer.enabled = true;
    // `QB_EQUALIZER_END=sock_destroy` runs the same session ending sockets instead.
    if std::env::var("QB_EQUALIZER_END").is_ok_and(|v| v == "sock_destroy") {
        config.equalizer.end = qb_gadgets::equalizer::EndChoice::SockDestroy;
    }
    config.policy.pause_file = pause.to_path_buf();
    config.policy.allow_cgroups = vec![cluster.cgroup().path().to_string()];
    let actuator = LinuxActuator::new()?;
    Ok(qb_gadgets::engine(
        &config,
        registry,
        actuator,
        PauseFile::new(pause),
    ))
}

/// Innocent clients and their cgroup (dropped last: it ends whatever is left).
struct Innocents {
    readers: Vec<Worker>,
    _cgroup: ScratchCgroup,
}

fn live() -> Result<Run, Failure> {
    let broken = |e: String| Failure::Broken(e);
    let root = Path::new("/sys/fs/cgroup");
    qb_live::cgroup::sweep_stale(root);
    let scratch = tempfile::tempdir().map_err(|e| broken(e.to_string()))?;
    let pause = scratch.path().join("pause");
    let mut cluster = match Cluster::start(CLIENTS, SESSION_LIMIT + Duration::from_secs(60), root) {
        Ok(c) => c,
        Err(qb_live::LiveError::Unsupported(why)) => return Err(Failure::Skip(why)),
        Err(e) => return Err(broken(e.to_string())),
    };
    let cgroup = ScratchCgroup::create(root, "pg-clients").map_err(|e| broken(e.to_string()))?;
    let mut innocents = Innocents {
        readers: vec![
            cluster
                .open_reader("large transfer", 50_000_000, 4_000_000, &cgroup)
                .map_err(|e| broken(e.to_string()))?,
            cluster
                .open_reader("slow client", 1_000_000, 16_000, &cgroup)
                .map_err(|e| broken(e.to_string()))?,
        ],
        _cgroup: cgroup,
    };
    let mut recorder = Recorder::new(&RecorderConfig {
        tables: vec![Table::System, Table::Process, Table::Connections],
        ..RecorderConfig::default()
    })
    .map_err(|e| broken(e.to_string()))?;
    let registry = Registry::embedded().map_err(|e| broken(e.to_string()))?;
    let mut engine = engine(&cluster, &pause, &registry).map_err(broken)?;
    let models = engine
        .gadgets()
        .iter()
        .flat_map(|g| g.models())
        .map(|(name, from)| format!("{name}: {from}"))
        .collect();
    let server_port = cluster.port();
    say(&format!(
        "PostgreSQL on 127.0.0.1:{server_port} in {}, {CLIENTS} pgbench clients, models {models:?}",
        cluster.cgroup().path()
    ));

    let mut run = Run {
        server_port,
        episodes: Vec::new(),
        incidents: Vec::new(),
        decided: Vec::new(),
        innocents_dead: Vec::new(),
        models,
    };
    // The open toxic session (dropped, psql and all, once its backend is gone).
    let mut session: Option<Session> = None;
    let started = now_ns();
    let mut last_event = started;
    let mut ticker = Ticker::new(INTERVAL, Some(SESSION_LIMIT));
    let never = AtomicBool::new(false);
    loop {
        let frame = recorder.collect(now_ns());
        let report = engine.step(&frame);
        for d in report.decisions.iter().filter(|d| d.gadget == "equalizer") {
            if let Some(c) = d.process.as_ref().and_then(|p| p.connection.as_ref())
                && !run.decided.contains(&c.name())
            {
                say(&format!(
                    "decision {} {:.2} on {} ({})",
                    d.source,
                    d.confidence,
                    c.name(),
                    d.process.as_ref().map_or(0, |p| p.pid)
                ));
                run.decided.push(c.name());
            }
        }
        for i in &report.incidents {
            say(&format!(
                "incident {} {}: {:?}",
                i.rule, i.action, i.outcome
            ));
        }
        run.incidents.extend(report.incidents);
        cluster.ensure_alive().map_err(|e| broken(e.to_string()))?;
        let t = (frame.ts_ns - started) / 1_000_000_000;
        if let Some(e) = run.episodes.last_mut().filter(|e| e.gone_ns.is_none())
            && !alive(&frame, e.backend_pid)
        {
            e.gone_ns = Some(frame.ts_ns);
            last_event = frame.ts_ns;
            session = None;
            say(&format!(
                "{} backend {} gone after {:.0} s",
                e.mode.name(),
                e.backend_pid,
                (frame.ts_ns - e.onset_ns) as f64 / 1e9
            ));
        }
        let open = |mode: ToxicMode,
                    run: &mut Run,
                    session: &mut Option<Session>|
         -> Result<(), Failure> {
            let s = cluster
                .open_session(mode)
                .map_err(|e| Failure::Broken(e.to_string()))?;
            say(&format!(
                "{} opened: backend {}, client port {}",
                mode.name(),
                s.backend_pid,
                s.client_port
            ));
            run.episodes.push(Episode {
                mode,
                backend_pid: s.backend_pid,
                client_port: s.client_port,
                onset_ns: now_ns(),
                gone_ns: None,
                tps: [None; 3],
            });
            *session = Some(s);
            Ok(())
        };
        let since = |ns: i64| (frame.ts_ns - ns) / 1_000_000_000;
        match run.episodes.as_slice() {
            [] if t >= HOLDER_AT_S => open(ToxicMode::LockHolder, &mut run, &mut session)?,
            [h] if h.gone_ns.is_some() && since(last_event) >= HOG_AFTER_S => {
                open(ToxicMode::CpuHog, &mut run, &mut session)?
            }
            [h] if h.gone_ns.is_none() && since(h.onset_ns) > HOLDER_LIMIT_S + 30 => break,
            [_, hog] if hog.gone_ns.is_none() && since(hog.onset_ns) > HOG_LIMIT_S + 30 => break,
            [_, hog] if hog.gone_ns.is_some() && since(last_event) >= TAIL_S => break,
            _ => {}
        }
        if !ticker.wait(&never) {
            break;
        }
    }
    drop(session);
    for i in 0..run.episodes.len() {
        let next = run.episodes.get(i + 1).map(|e| e.onset_ns);
        let e = &run.episodes[i];
        let prev_end = i.checked_sub(1).and_then(|p| run.episodes[p].gone_ns);
        let tps = [
            cluster.mean_tps(prev_end, Some(e.onset_ns)),
            cluster.mean_tps(Some(e.onset_ns), e.gone_ns),
            cluster.mean_tps(e.gone_ns, next),
        ];
        run.episodes[i].tps = tps;
    }
    for (name, w) in ["large transfer", "slow client"]
        .iter()
        .zip(&mut innocents.readers)
    {
        if let Some(status) = w.exited() {
            run.innocents_dead.push(format!("{name}: {status}"));
        }
    }
    report(&run);
    Ok(run)
}

fn alive(frame: &Frame, pid: u32) -> bool {
    frame.processes.iter().any(|p| p.pid == pid)
}

fn report(run: &Run) {
    let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    for e in &run.episodes {
        say(&format!(
            "{}: pgbench tps {} before, {} during, {} after; ended after {}",
            e.mode.name(),
            f(e.tps[0]),
            f(e.tps[1]),
            f(e.tps[2]),
            e.gone_ns.map_or("never".into(), |g| format!(
                "{:.0} s",
                (g - e.onset_ns) as f64 / 1e9
            )),
        ));
    }
    let json = serde_json::json!({
        "models": run.models,
        "episodes": run.episodes.iter().map(|e| serde_json::json!({
            "mode": e.mode.name(),
            "ended_after_s": e.gone_ns.map(|g| (g - e.onset_ns) as f64 / 1e9),
            "tps_before": e.tps[0], "tps_during": e.tps[1], "tps_after": e.tps[2],
        })).collect::<Vec<_>>(),
        "decided": run.decided,
        "incidents": run.incidents.iter().map(|i| serde_json::json!({
            "rule": i.rule, "action": i.action, "outcome": i.outcome.name(),
            "connection": i.decision.process.as_ref().and_then(|p| p.connection.as_ref()).map(|c| c.name()),
            "source": i.decision.source, "confidence": i.decision.confidence,
        })).collect::<Vec<_>>(),
    });
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-equalizer.json");
    let _ = std::fs::write(
        &path,
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    );
}

/// The episode of `mode`, its end-connection incidents, and the time to the first done.
fn episode(run: &Run, mode: ToxicMode) -> (&Episode, Vec<&Incident>) {
    let e = run
        .episodes
        .iter()
        .find(|e| e.mode == mode)
        .unwrap_or_else(|| panic!("no {} episode: {run:#?}", mode.name()));
    let conn = e.connection(run.server_port);
    let incidents = run
        .incidents
        .iter()
        .filter(|i| {
            i.decision
                .process
                .as_ref()
                .and_then(|p| p.connection.as_ref())
                .is_some_and(|c| c.name() == conn)
        })
        .collect();
    (e, incidents)
}

fn judge(run: &Run, mode: ToxicMode, limit_s: i64) {
    let (e, incidents) = episode(run, mode);
    let done = incidents
        .iter()
        .find(|i| matches!(i.outcome, Outcome::Done { .. }))
        .unwrap_or_else(|| panic!("{}: never ended: {incidents:#?}", mode.name()));
    assert_eq!(done.action, "end_connection");
    let after = (done.ts_ns - e.onset_ns) / 1_000_000_000;
    assert!(after <= limit_s, "{}: ended after {after} s", mode.name());
    let gone = e.gone_ns.expect("its backend must be gone");
    assert!(
        gone >= done.ts_ns,
        "gone before the Equalizer acted: someone else ended it"
    );
    let [before, _, later] = e.tps;
    let (before, later) = (before.expect("tps before"), later.expect("tps after"));
    assert!(before > 50.0, "pgbench must run before: {before}");
    assert!(
        later > 0.5 * before,
        "{}: throughput must come back: {before} -> {later}",
        mode.name()
    );
}

#[test]
fn the_lock_holder_is_ended_and_throughput_comes_back() {
    let run = live_run!();
    judge(run, ToxicMode::LockHolder, HOLDER_LIMIT_S);
    let (e, _) = episode(run, ToxicMode::LockHolder);
    let [before, during, _] = e.tps;
    assert!(
        during.unwrap_or(0.0) < 0.2 * before.unwrap_or(0.0),
        "a lock holder stalls pgbench: {:?}",
        e.tps
    );
}

#[test]
fn the_cpu_hog_is_ended() {
    let run = live_run!();
    judge(run, ToxicMode::CpuHog, HOG_LIMIT_S);
}

#[test]
fn the_transfer_the_slow_client_and_pgbench_are_never_touched() {
    let run = live_run!();
    let toxic: Vec<String> = run
        .episodes
        .iter()
        .map(|e| e.connection(run.server_port))
        .collect();
    let innocent: Vec<&String> = run.decided.iter().filter(|c| !toxic.contains(c)).collect();
    assert!(
        innocent.is_empty(),
        "decisions on innocent connections: {innocent:?}"
    );
    assert!(run.innocents_dead.is_empty(), "{:?}", run.innocents_dead);
    assert!(
        run.models.iter().any(|m| m.starts_with("equalizer: model")),
        "the embedded forest must be in use: {:?}",
        run.models
    );
}

//! The Equalizer on a PostgreSQL-like service in synthetic frames: eight busy sessions
//! and, from 30 s, one special session.

use qb_models::registry::Registry;
use qb_signals::{ConnectionRow, Frame, ProcessRow};

use super::*;
use crate::safety::EndMethod;

const S: i64 = 1_000_000_000;
const ONSET: i64 = 30;
const LISTENER: u32 = 6999;
const SPECIAL: u32 = 7900;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Special {
    LockHolder,
    CpuHog,
    Download,
    SlowClient,
}

/// (bytes, cpu ticks, recv ms, sent ms) of a session at `t`.
type State = (u64, u64, u32, u32);

fn normal(i: u32, t: i64, special: Option<Special>) -> State {
    let busy = |t: i64| (t as u64 * 2_000, t as u64 * 2);
    let jitter = ((t * 37 + i64::from(i) * 13) % 50) as u32;
    match special {
        // Blocked from the onset: their requests sent just after the holder's answer.
        Some(Special::LockHolder) if t >= ONSET => {
            let (b, c) = busy(ONSET);
            let since = ((t - ONSET) * 1000 + 490) as u32 - i;
            (b, c, since, since + 20)
        }
        _ => {
            let (b, c) = busy(t);
            (b, c, jitter + 1, jitter)
        }
    }
}

fn special(kind: Special, t: i64) -> State {
    let d = (t - ONSET) as u64;
    let since = (d * 1000 + 500) as u32;
    match kind {
        // Answered 4 ms after its request: the lock had to wait for running updates.
        Special::LockHolder => (700, 1, since, since - 4),
        Special::CpuHog => (700, d * 100, since, since + 5),
        Special::Download => (d * 50_000_000, d * 15, since, 0),
        Special::SlowClient => (d * 20_000, d, since, (t % 3) as u32 * 40),
    }
}

fn frame(t: i64, kind: Option<Special>) -> Frame {
    let ts = t * S;
    let mut f = Frame::new(ts, "h");
    let mut sessions: Vec<(u32, State)> = (0..8).map(|i| (7000 + i, normal(i, t, kind))).collect();
    if let Some(k) = kind.filter(|_| t >= ONSET) {
        sessions.push((SPECIAL, special(k, t)));
    }
    for (pid, (bytes, cpu, recv, sent)) in sessions {
        f.connections.push(ConnectionRow {
            ts_ns: ts,
            pid: Some(pid),
            inode: u64::from(pid),
            state: "ESTABLISHED".into(),
            local_addr: "10.0.0.5".into(),
            local_port: 5432,
            remote_addr: "10.0.2.20".into(),
            remote_port: 40_000 + pid,
            rtt_us: Some(200),
            bytes_acked: Some(bytes),
            bytes_received: Some(bytes / 8),
            last_data_recv_ms: Some(recv),
            last_data_sent_ms: Some(sent),
            age_ms: Some(600_000),
            ..ConnectionRow::default()
        });
        f.processes.push(ProcessRow {
            ts_ns: ts,
            pid,
            ppid: LISTENER,
            comm: "postgres".into(),
            cmdline_hash: 7,
            utime_ticks: cpu,
            rss_bytes: 40 << 20,
            start_time_ns: S,
            cgroup: "/system.slice/postgresql.service".into(),
            ..ProcessRow::default()
        });
    }
    f.connections.push(ConnectionRow {
        ts_ns: ts,
        pid: Some(LISTENER),
        state: "LISTEN".into(),
        local_addr: "0.0.0.0".into(),
        local_port: 5432,
        ..ConnectionRow::default()
    });
    f
}

fn run(kind: Option<Special>, config: EqualizerConfig) -> (Equalizer, Vec<Decision>) {
    let registry = Registry::embedded().unwrap();
    let mut g = Equalizer::new(&registry, config);
    let mut out = Vec::new();
    for t in 0..120 {
        g.observe(&frame(t, kind), &mut out);
    }
    (g, out)
}

fn on_special(out: &[Decision]) -> Vec<&Decision> {
    out.iter()
        .filter(|d| d.process.as_ref().is_some_and(|p| p.pid == SPECIAL))
        .collect()
}

#[test]
fn the_lock_holder_is_found_by_the_stall_and_its_backend_named() {
    let (_, out) = run(Some(Special::LockHolder), EqualizerConfig::default());
    assert!(!out.is_empty(), "the stall must be found");
    assert_eq!(
        on_special(&out).len(),
        out.len(),
        "only the holder: {out:?}"
    );
    let first = &out[0];
    assert_eq!((first.kind, first.source), (TOXIC, "stall_rule"));
    // Five seconds of waiting, at the tick's resolution.
    assert!(first.ts_ns <= (ONSET + 7) * S, "{}", first.ts_ns / S);
    assert!(first.confidence > 0.95, "{}", first.confidence);
    assert_eq!(first.evidence["waiting"], 8.0);
    let c = first.process.as_ref().unwrap().connection.as_ref().unwrap();
    assert_eq!(c.method, EndMethod::TerminateBackend);
    assert_eq!(c.name(), "conn:10.0.0.5:5432-10.0.2.20:47900");
    assert_eq!(c.inode, u64::from(SPECIAL));
}

#[test]
fn heavy_but_harmless_connections_and_the_normal_mix_stay_quiet() {
    for kind in [None, Some(Special::Download), Some(Special::SlowClient)] {
        let (_, out) = run(kind, EqualizerConfig::default());
        assert!(out.is_empty(), "{kind:?}: {out:?}");
    }
}

#[test]
fn the_cpu_hog_is_found_by_the_forest_after_its_runtime() {
    let (g, out) = run(Some(Special::CpuHog), EqualizerConfig::default());
    let models = g.models();
    if !models[0].1.starts_with("model") {
        panic!("the embedded forest must load: {models:?}");
    }
    let hog = on_special(&out);
    assert_eq!(hog.len(), out.len(), "only the hog: {out:?}");
    let first = hog.first().expect("the hog must be found");
    assert_eq!(first.source, "isolation_forest");
    assert!(first.ts_ns >= (ONSET + 20) * S, "not before min_runtime");
    assert!(first.confidence >= 0.6 && first.evidence["cpu_attribution"] >= 0.9);
}

#[test]
fn a_process_serving_many_connections_gets_its_socket_destroyed() {
    let registry = Registry::embedded().unwrap();
    let mut g = Equalizer::new(&registry, EqualizerConfig::default());
    let mut out = Vec::new();
    for t in 0..60 {
        let mut f = frame(t, Some(Special::LockHolder));
        // One threaded server owns every connection and the listener.
        for c in &mut f.connections {
            c.pid = Some(LISTENER);
        }
        f.processes = vec![ProcessRow {
            ts_ns: t * S,
            pid: LISTENER,
            ppid: 1,
            comm: "server".into(),
            cmdline_hash: 7,
            start_time_ns: S,
            cgroup: "/app".into(),
            ..ProcessRow::default()
        }];
        g.observe(&f, &mut out);
    }
    let d = out.first().expect("the stall");
    let c = d.process.as_ref().unwrap().connection.as_ref().unwrap();
    assert_eq!(c.method, EndMethod::SockDestroy);
    assert_eq!(c.remote_port, 40_000 + SPECIAL as u16);
}

#[test]
fn frames_without_tcp_info_or_processes_never_panic_or_decide() {
    let registry = Registry::embedded().unwrap();
    let mut g = Equalizer::new(&registry, EqualizerConfig::default());
    let mut out = Vec::new();
    for t in 0..80 {
        let mut f = frame(t, Some(Special::LockHolder));
        for c in &mut f.connections {
            c.last_data_recv_ms = None;
            c.last_data_sent_ms = None;
        }
        if t % 2 == 0 {
            f.processes.clear();
        }
        g.observe(&f, &mut out);
        g.observe(&Frame::new(t * S, "h"), &mut out);
    }
    assert!(out.is_empty(), "who spoke last is unknown: {out:?}");
}

mod engine {
    use super::*;
    use crate::{Config, ManualPause, Mode, Outcome, RecordingActuator, TickReport};

    fn config(mode: Mode) -> Config {
        let mut c = Config {
            mode,
            ..Config::default()
        };
        c.equalizer.enabled = true;
        c.oracle.enabled = false;
        c.pathologist.enabled = false;
        c
    }

    /// Two lock-holder episodes on the same service, the second `shift` seconds after
    /// the first (each holder is ended 15 s after its onset).
    fn episodes(mode: Mode, pause: &ManualPause, shift: i64) -> Vec<TickReport> {
        let registry = Registry::embedded().unwrap();
        let mut e = crate::engine(
            &config(mode),
            &registry,
            RecordingActuator::default(),
            pause.clone(),
        );
        let mut reports = Vec::new();
        for t in 0..shift {
            reports.push(e.step(&frame(t, Some(Special::LockHolder))));
        }
        // The service recovers, and a second holder (a new session) stalls it again.
        for t in 0..60 {
            let mut f = frame(t, Some(Special::LockHolder));
            for c in &mut f.connections {
                if c.pid == Some(SPECIAL) {
                    c.remote_port += 1;
                    c.inode += 1;
                }
            }
            f.ts_ns += shift * S;
            for p in &mut f.processes {
                p.ts_ns = f.ts_ns;
            }
            reports.push(e.step(&f));
        }
        reports
    }

    fn incidents(reports: &[TickReport]) -> Vec<&crate::Incident> {
        reports.iter().flat_map(|r| &r.incidents).collect()
    }

    #[test]
    fn enforce_ends_the_holder_once_per_minute_per_service() {
        let pause = ManualPause::default();
        let reports = episodes(Mode::Enforce, &pause, 50);
        let inc = incidents(&reports);
        let done: Vec<_> = inc
            .iter()
            .filter(|i| matches!(i.outcome, Outcome::Done { .. }))
            .collect();
        assert_eq!(done.len(), 2, "{inc:#?}");
        assert!(done.iter().all(|i| i.action == "end_connection"));
        // Held for 10 s after 5 s of waiting.
        let t = done[0].ts_ns / S;
        assert!((ONSET + 15..=ONSET + 18).contains(&t), "{t}");
        // The second holder, 50 s later, waits for the service's minute to pass.
        assert_eq!(done[1].ts_ns - done[0].ts_ns, 60 * S);
        let refused: Vec<_> = inc.iter().filter(|i| i.is_refusal()).collect();
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert!(
            format!("{:?}", refused[0].outcome).contains("Service(\"10.0.0.5:5432\")"),
            "{refused:#?}"
        );
        // 70 s later: no wait.
        let later = episodes(Mode::Enforce, &pause, 70);
        let done: Vec<i64> = incidents(&later)
            .into_iter()
            .filter(|i| matches!(i.outcome, Outcome::Done { .. }))
            .map(|i| i.ts_ns / S)
            .collect();
        assert_eq!(done, [ONSET + 15, 70 + ONSET + 15]);
    }

    #[test]
    fn dry_run_walks_the_same_path_and_the_pause_file_stops_it() {
        let pause = ManualPause::default();
        let dry = episodes(Mode::DryRun, &pause, 50);
        let enforce = episodes(Mode::Enforce, &pause, 50);
        let shape = |r: &[TickReport]| -> Vec<(i64, String)> {
            incidents(r)
                .iter()
                .map(|i| (i.ts_ns, i.outcome.name().replace("dry_run", "done")))
                .collect()
        };
        assert_eq!(shape(&dry), shape(&enforce));
        pause.set(true);
        let paused = episodes(Mode::Enforce, &pause, 50);
        let inc = incidents(&paused);
        assert!(!inc.is_empty());
        assert!(
            inc.iter().all(|i| i.outcome.name() == "refused"),
            "{inc:#?}"
        );
    }
}

#[test]
fn protected_paths_and_unsafe_methods_are_recorded_never_ended() {
    use crate::{Config, ManualPause, Mode, RecordingActuator};
    use qb_signals::RequestRow;
    let registry = Registry::embedded().unwrap();
    for (method, path, kind) in [
        (Some("GET"), "/health", PROTECTED),
        (Some("GET"), "/admin/reindex", PROTECTED),
        (Some("POST"), "/api/orders", PROTECTED),
        (None, "/api/orders", TOXIC),
        (Some("GET"), "/api/users", TOXIC),
    ] {
        let mut config = Config {
            mode: Mode::Enforce,
            ..Config::default()
        };
        config.equalizer.enabled = true;
        let mut e = crate::engine(
            &config,
            &registry,
            RecordingActuator::default(),
            ManualPause::default(),
        );
        let mut kinds = std::collections::BTreeSet::new();
        for t in 0..80 {
            let mut f = frame(t, Some(Special::LockHolder));
            // The holder's client's last request, as its spans reported it.
            if t == ONSET {
                f.requests.push(RequestRow {
                    ts_ns: t * S,
                    service: "db-api".into(),
                    client_addr: "10.0.2.20".into(),
                    client_port: 40_000 + SPECIAL,
                    server_port: Some(5432),
                    method: method.map(String::from),
                    path: Some(path.into()),
                    ..RequestRow::default()
                });
            }
            let report = e.step(&f);
            kinds.extend(report.decisions.iter().map(|d| d.kind));
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            [kind],
            "{method:?} {path}"
        );
        let acted = !e.executor().actuator().calls.is_empty();
        assert_eq!(acted, kind == TOXIC, "{method:?} {path}");
    }
}

//! `qbranch simulate live` end to end: real leaking, deadlocked, livelocked, frozen and
//! toxic processes, recorded by the real recorder, and nothing left behind after a
//! normal end, Ctrl-C, a failure, or a kill -9 of qbranch itself.
//!
//! These need root and a memory cgroup; elsewhere each test says why it skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use qb_signals::{
    CgroupRow, ConnectionRow, Dataset, LabelRow, Origin, ProcessRow, State, SyscallRow,
};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_qbranch");

/// Why live tests cannot run here, if they cannot.
fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("live workloads need root");
    }
    let root = Path::new("/sys/fs/cgroup");
    if !root.join("memory/memory.limit_in_bytes").exists()
        && !std::fs::read_to_string(root.join("cgroup.controllers"))
            .unwrap_or_default()
            .contains("memory")
    {
        return Some("no memory cgroup controller");
    }
    None
}

macro_rules! require_live {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

fn live(args: &[&str]) -> Output {
    Command::new(EXE)
        .args(["simulate", "live"])
        .args(args)
        .output()
        .expect("run qbranch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn label(dir: &Path) -> (LabelRow, Value) {
    let ds = Dataset::open(dir).unwrap();
    assert_eq!(ds.manifest().origin, Origin::Live);
    assert_eq!(ds.manifest().state, State::Complete);
    let labels: Vec<LabelRow> = ds.read_table().unwrap();
    assert_eq!(labels.len(), 1, "{labels:?}");
    let attrs = serde_json::from_str(&labels[0].attributes).unwrap();
    (labels[0].clone(), attrs)
}

fn target_pid(l: &LabelRow) -> u32 {
    l.target.strip_prefix("pid:").unwrap().parse().unwrap()
}

/// Scratch cgroups and directories of the qbranch process `pid` still on the host.
fn leftovers(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("qbranch-live-{pid}-");
    let mut dirs = vec![std::env::temp_dir()];
    dirs.extend(
        std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .flatten()
            .map(|e| e.path()),
    );
    dirs.into_iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `qbranch simulate live ARGS --record <tmp>/rec` to its end and checks that
/// it left nothing behind.
fn run_clean(args: &[&str]) -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let child = Command::new(EXE)
        .args(["simulate", "live"])
        .args(args)
        .arg("--record")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = ok(&out);
    assert_eq!(leftovers(pid), Vec::<PathBuf>::new());
    (tmp, dir, stdout)
}

#[test]
fn a_leak_is_recorded_until_its_oom_kill_and_labelled_with_it() {
    require_live!();
    // Big fast steps: in a small cgroup a slow leak can thrash on the page cache (and
    // the binary's own pages) for long before the kernel gives up and kills.
    let (_tmp, dir, stdout) = run_clean(&[
        "leak",
        "--limit",
        "96MiB",
        "--rate",
        "32MiB/s",
        "--interval",
        "250ms",
        "--duration",
        "15s",
    ]);
    assert!(stdout.contains("OOM kill in /qbranch-live-"), "{stdout}");
    let (l, a) = label(&dir);
    assert_eq!(l.kind, "memory_leak");
    assert_eq!(a["limit_bytes"], 96 << 20);
    let oom = a["oom_ns"].as_i64().expect("an OOM kill");
    assert_eq!(l.end_ns, Some(oom));
    // The cgroup filled up to its limit before the kill, and the kill is counted.
    let rows: Vec<CgroupRow> = Dataset::open(&dir).unwrap().read_table().unwrap();
    let mine: Vec<&CgroupRow> = rows.iter().filter(|r| r.path == l.target).collect();
    let before = mine.iter().filter(|r| r.ts_ns < oom);
    let peak = before.map(|r| r.memory_usage_bytes).max().unwrap();
    assert!(peak > 76 << 20, "peak {peak}");
    let at_kill = mine.iter().find(|r| r.ts_ns == oom).unwrap();
    assert!(at_kill.oom_kill_events >= 1 || at_kill.procs == 0);
    assert!(mine.iter().all(|r| r.memory_limit_bytes == Some(96 << 20)));
}

#[test]
fn stress_ng_leaks_under_a_cpu_quota() {
    require_live!();
    if Command::new("stress-ng").arg("--version").output().is_err() {
        eprintln!("skipped: stress-ng is not installed (scripts/setup installs it)");
        return;
    }
    let (_tmp, dir, _) = run_clean(&[
        "leak",
        "--tool",
        "stress-ng",
        "--limit",
        "48MiB",
        "--cpu",
        "0.5",
        "--duration",
        "20s",
    ]);
    let (l, a) = label(&dir);
    assert_eq!(a["flavour"], "live_stress_ng");
    assert!(a["oom_ns"].is_i64(), "no OOM kill in 20 s: {a}");
    assert!(l.target.starts_with("/qbranch-live-"));
}

/// One tick of the stuck target: its syscalls, unread request bytes and accept backlog.
#[derive(Debug, Clone, Copy)]
struct Tick {
    ts: i64,
    calls: u64,
    unread: u64,
    backlog: u64,
}

/// The target's process rows and its per-tick view.
fn stuck_view(dir: &Path, pid: u32) -> (Vec<ProcessRow>, Vec<Tick>) {
    let ds = Dataset::open(dir).unwrap();
    let procs: Vec<ProcessRow> = ds.read_table().unwrap();
    let procs: Vec<ProcessRow> = procs.into_iter().filter(|p| p.pid == pid).collect();
    let sys: Vec<SyscallRow> = ds.read_table().unwrap();
    let conns: Vec<ConnectionRow> = ds.read_table().unwrap();
    let ticks = procs
        .iter()
        .map(|p| {
            let mut t = Tick {
                ts: p.ts_ns,
                calls: 0,
                unread: 0,
                backlog: 0,
            };
            t.calls = sys
                .iter()
                .filter(|s| s.pid == pid && s.ts_ns == t.ts)
                .map(|s| s.count)
                .sum();
            for c in conns
                .iter()
                .filter(|c| c.pid == Some(pid) && c.ts_ns == t.ts)
            {
                if c.state == "LISTEN" {
                    t.backlog += u64::from(c.rx_queue);
                } else {
                    t.unread += u64::from(c.rx_queue);
                }
            }
            t
        })
        .collect();
    (procs, ticks)
}

#[test]
fn a_deadlocked_server_goes_silent_while_requests_pile_up() {
    require_live!();
    let (_tmp, dir, stdout) = run_clean(&["deadlock", "--duration", "8s", "--onset", "3s"]);
    assert!(stdout.contains(", 0 after"), "{stdout}");
    let (l, a) = label(&dir);
    assert_eq!(
        (l.kind.as_str(), a["flavour"].as_str()),
        ("stuck", Some("deadlock"))
    );
    let (procs, ticks) = stuck_view(&dir, target_pid(&l));
    let onset = l.start_ns;
    let settled = onset + 1_500_000_000;
    // Healthy before: serving requests; once settled: no syscalls, no CPU.
    assert!(
        ticks.iter().any(|t| t.ts < onset && t.calls > 50),
        "{ticks:?}"
    );
    let late: Vec<&Tick> = ticks.iter().filter(|t| t.ts > settled).collect();
    assert!(
        !late.is_empty() && late.iter().all(|t| t.calls == 0),
        "{ticks:?}"
    );
    let cpu: Vec<u64> = procs
        .iter()
        .filter(|p| p.ts_ns > settled)
        .map(|p| p.utime_ticks + p.stime_ticks)
        .collect();
    assert!(cpu.windows(2).all(|w| w[0] == w[1]), "CPU moved: {cpu:?}");
    // The main thread (the acceptor) sits in futex wait.
    assert_eq!(procs.last().unwrap().syscall, Some(202));
    // Requests pile up unread, connections in the accept backlog.
    let last = ticks.last().unwrap();
    let first_after = ticks.iter().find(|t| t.ts > onset).unwrap();
    assert!(
        last.unread > first_after.unread && last.backlog > 0,
        "{ticks:?}"
    );
}

#[test]
fn a_livelocked_server_spins_on_futexes_and_serves_nothing() {
    require_live!();
    let (_tmp, dir, stdout) = run_clean(&["livelock", "--duration", "6s", "--onset", "2s"]);
    assert!(stdout.contains(", 0 after"), "{stdout}");
    let (l, _) = label(&dir);
    let (procs, ticks) = stuck_view(&dir, target_pid(&l));
    let after: Vec<u64> = ticks
        .iter()
        .filter(|t| t.ts > l.start_ns + 1_500_000_000)
        .map(|t| t.calls)
        .collect();
    assert!(after.iter().all(|&n| n > 1_000), "{ticks:?}");
    let (first, last) = (procs.first().unwrap(), procs.last().unwrap());
    let cpu = |p: &ProcessRow| p.utime_ticks + p.stime_ticks;
    assert!(cpu(last) > cpu(first) + 50, "no CPU burnt: {procs:?}");
}

#[test]
fn a_frozen_server_sits_in_d_state_in_the_refrigerator() {
    require_live!();
    let (_tmp, dir, _) = run_clean(&["dstate", "--duration", "6s", "--onset", "2s"]);
    let (l, a) = label(&dir);
    assert_eq!(a["flavour"], "dstate");
    let (procs, ticks) = stuck_view(&dir, target_pid(&l));
    let frozen: Vec<&ProcessRow> = procs.iter().filter(|p| p.ts_ns > l.start_ns).collect();
    assert!(!frozen.is_empty());
    assert!(frozen.iter().all(|p| p.state == "D"), "{frozen:?}");
    assert!(
        frozen
            .iter()
            .all(|p| p.wchan.as_deref() == Some("__refrigerator")),
        "{frozen:?}"
    );
    assert!(ticks.last().unwrap().unread > 0, "{ticks:?}");
}

#[test]
fn a_lock_holding_session_stops_pgbench_and_is_labelled_by_connection() {
    require_live!();
    if !Path::new("/usr/lib/postgresql").is_dir() {
        eprintln!("skipped: PostgreSQL is not installed (scripts/setup installs it)");
        return;
    }
    let (_tmp, dir, stdout) = run_clean(&["toxic", "--duration", "18s", "--onset", "6s"]);
    let (l, a) = label(&dir);
    assert_eq!(l.kind, "toxic_query");
    let before = a["tps_before"].as_f64().unwrap();
    let during = a["tps_during"].as_f64().unwrap();
    let after = a["tps_after"].as_f64().unwrap();
    assert!(before > 50.0 && after > 50.0, "{stdout}");
    assert!(
        during < before * 0.1,
        "lock holder did not starve pgbench: {stdout}"
    );
    // The label names a connection the recorder saw, owned by the toxic backend.
    let (server, client) = l
        .target
        .strip_prefix("conn:")
        .unwrap()
        .split_once('-')
        .unwrap();
    let port = |s: &str| s.rsplit(':').next().unwrap().parse::<u32>().unwrap();
    let conns: Vec<ConnectionRow> = Dataset::open(&dir).unwrap().read_table().unwrap();
    let seen = conns.iter().find(|c| {
        c.local_port == port(server) && c.remote_port == port(client) && c.ts_ns >= l.start_ns
    });
    assert_eq!(
        seen.and_then(|c| c.pid),
        a["pid"].as_u64().map(|p| p as u32)
    );
}

#[test]
fn a_pii_flood_is_recorded_from_a_real_file_with_spans_that_slice_exactly() {
    require_live!();
    let (_tmp, dir, stdout) = run_clean(&[
        "pii",
        "--rate",
        "400",
        "--seed",
        "5",
        "--duration",
        "6s",
        "--onset",
        "2s",
    ]);
    let ds = Dataset::open(&dir).unwrap();
    let logs: Vec<qb_signals::LogRow> = ds.read_table().unwrap();
    let labels: Vec<LabelRow> = ds.read_table().unwrap();
    assert!(logs.len() > 1000, "{} lines: {stdout}", logs.len());
    let by_offset: std::collections::HashMap<(&str, u64), &qb_signals::LogRow> = logs
        .iter()
        .map(|r| ((r.source.as_str(), r.offset), r))
        .collect();
    let mut entities = std::collections::BTreeSet::new();
    for l in &labels {
        let a: Value = serde_json::from_str(&l.attributes).unwrap();
        let row = by_offset[&(l.target.as_str(), a["offset"].as_u64().unwrap())];
        assert_eq!(l.ts_ns, row.ts_ns, "labelled when recorded");
        for s in a["spans"].as_array().unwrap() {
            let (start, end) = (
                s["start"].as_u64().unwrap() as usize,
                s["end"].as_u64().unwrap() as usize,
            );
            let value = row
                .line
                .get(start..end)
                .expect("span inside the line, on char boundaries");
            assert!(
                !value.trim().is_empty() && value.trim() == value,
                "{value:?} in {}",
                row.line
            );
            if l.kind == "pii" {
                entities.insert(s["entity"].as_str().unwrap().to_string());
            }
        }
    }
    // Clean at first, leaking from the onset: the first lines carry no PII.
    let first_pii = labels
        .iter()
        .filter(|l| l.kind == "pii")
        .map(|l| l.ts_ns)
        .min()
        .unwrap();
    assert!(
        logs.iter().any(|r| r.ts_ns < first_pii),
        "PII from the very first tick"
    );
    assert!(entities.len() >= 4, "{entities:?}");
    assert!(labels.iter().any(|l| l.kind == "pii_lookalike"));
}

/// Starts a long `live deadlock` run recording into `dir` and waits until its server
/// is in the scratch cgroup; returns qbranch and the server's pid.
fn start_deadlock(dir: &Path, onset: &str) -> (std::process::Child, u32) {
    let child = Command::new(EXE)
        .args([
            "simulate",
            "live",
            "deadlock",
            "--duration",
            "5m",
            "--onset",
            onset,
        ])
        .arg("--record")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let procs = |owner: u32| {
        ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"]
            .iter()
            .map(|r| Path::new(r).join(format!("qbranch-live-{owner}-deadlock/cgroup.procs")))
            .find_map(|f| std::fs::read_to_string(f).ok())
            .unwrap_or_default()
    };
    let pid = child.id();
    wait_for("the server to start", Duration::from_secs(20), || {
        !procs(pid).trim().is_empty()
    });
    let server = procs(pid).trim().parse().unwrap();
    (child, server)
}

#[test]
fn ctrl_c_ends_the_run_cleanly_and_removes_everything() {
    require_live!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let (child, server) = start_deadlock(&dir, "1s");
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: plain kill(2) on our child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    ok(&out);
    assert!(!alive(server), "the server outlived Ctrl-C");
    assert_eq!(leftovers(pid), Vec::<PathBuf>::new());
    let (l, _) = label(&dir);
    assert_eq!(l.target, format!("pid:{server}"));
}

#[test]
fn a_failed_run_still_cleans_up_and_keeps_what_it_recorded() {
    require_live!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let (child, server) = start_deadlock(&dir, "2m");
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: plain kill(2).
    unsafe { libc::kill(server as i32, libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("the server died"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(leftovers(pid), Vec::<PathBuf>::new());
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.manifest().state, State::Complete);
    assert!(!ds.read_table::<ProcessRow>().unwrap().is_empty());
}

#[test]
fn leftovers_of_a_killed_run_are_swept_by_the_next() {
    require_live!();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(EXE)
        .args([
            "simulate",
            "live",
            "dstate",
            "--duration",
            "5m",
            "--onset",
            "1s",
            "--record",
        ])
        .arg(tmp.path().join("a"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the server is frozen: the worst case to clean up.
    wait_for("the freeze", Duration::from_secs(30), || {
        leftovers(pid).iter().any(|p| {
            std::fs::read_to_string(p.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
        })
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !leftovers(pid).is_empty(),
        "kill -9 leaves the cgroups behind"
    );
    run_clean(&["deadlock", "--duration", "2s"]);
    assert_eq!(leftovers(pid), Vec::<PathBuf>::new());
}

#[test]
fn bad_input_is_refused_before_anything_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let d = dir.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["leak", "--limit", "1MiB", "--record", d],
            "below the 16 MiB",
        ),
        (&["leak", "--limit", "64TiB", "--record", d], "unknown unit"),
        (
            &["leak", "--limit", "64GiB", "--rate", "0", "--record", d],
            "positive size",
        ),
        (&["leak", "--rate=-1MiB/s", "--record", d], "is not a size"),
        (
            &["leak", "--limit", "100000GiB", "--record", d],
            "available memory",
        ),
        (
            &[
                "deadlock",
                "--duration",
                "5s",
                "--onset",
                "9s",
                "--record",
                d,
            ],
            "must come before",
        ),
        (&["deadlock"], "--record DIR is required"),
        (
            &["toxic", "--clients", "0", "--record", d],
            "--clients must be 1 to 64",
        ),
        (&["hang", "--record", d], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let out = live(args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        // Without root, every case that parses is refused for that reason instead.
        assert!(
            err.contains(needle) || (skip_reason().is_some() && err.contains("need root")),
            "{args:?}: stderr lacks {needle:?}: {err}"
        );
        assert!(!dir.exists(), "{args:?} created {d}");
    }
}

#[test]
fn without_root_live_runs_are_refused_with_the_reason() {
    require_live!();
    // As `nobody` (through setpriv, from util-linux), if this host has both.
    let Ok(out) = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            EXE,
            "simulate",
            "live",
        ])
        .args(["deadlock", "--record", "/tmp/qbranch-never"])
        .output()
    else {
        eprintln!("skipped: setpriv is not installed");
        return;
    };
    let err = text(&out.stderr);
    if err.contains("failed to execute") {
        eprintln!("skipped: nobody cannot execute {EXE}");
        return;
    }
    assert!(!out.status.success());
    assert!(err.contains("need root and a memory cgroup"), "{err}");
    assert!(!Path::new("/tmp/qbranch-never").exists());
}

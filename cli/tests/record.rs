//! `qbranch record` and `inspect` end to end, as a user runs them: real /proc and
//! cgroups of this host, signals, kill -9, bad input, and polars reading the result.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use qb_signals::{Dataset, ProcessRow, SignalSource, State, SystemRow, Table};

fn qbranch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qbranch"))
        .args(args)
        .output()
        .expect("run qbranch")
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_qbranch"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qbranch")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn out_dir(tmp: &tempfile::TempDir) -> (PathBuf, String) {
    let dir = tmp.path().join("rec");
    let s = dir.to_string_lossy().into_owned();
    (dir, s)
}

/// Fails with a one-line error naming `needle`, and leaves nothing behind at `dir`.
fn assert_refused(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
}

#[test]
fn record_writes_a_complete_recording_that_reads_back_and_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    let out = qbranch(&[
        "record",
        "--out",
        &d,
        "--duration",
        "2s",
        "--interval",
        "500ms",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(stdout.contains("recorded 4 ticks"), "{stdout}");
    assert!(stdout.contains("recorder CPU per tick"), "{stdout}");

    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.manifest().state, State::Complete);
    assert_eq!(ds.manifest().interval_ms, Some(500));
    assert_eq!(ds.read_table::<SystemRow>().unwrap().len(), 4);
    let procs = ds.read_table::<ProcessRow>().unwrap();
    let me = std::process::id();
    assert!(
        procs.iter().any(|p| p.pid == me && p.ppid > 0),
        "the test process itself is recorded"
    );
    assert!(procs.iter().any(|p| p.pid == 1));
    assert!(ds.partial_segments(Table::Process).unwrap().is_empty());

    let mut replay = ds.replay().unwrap();
    let mut frames = 0;
    while let Some(f) = replay.next_frame().unwrap() {
        assert!(f.system.is_some() && !f.processes.is_empty());
        frames += 1;
    }
    assert_eq!(frames, 4);

    let inspect = qbranch(&["inspect", &d, "--verify"]);
    let stdout = text(&inspect.stdout);
    assert!(inspect.status.success(), "{}", text(&inspect.stderr));
    assert!(
        stdout.contains("system       1 segments, 4 rows (read back)"),
        "{stdout}"
    );
}

#[test]
fn append_adds_segments_to_the_same_recording() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    for _ in 0..2 {
        let out = qbranch(&[
            "record",
            "--out",
            &d,
            "--duration",
            "1s",
            "--append",
            "--tables",
            "system",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.segments(Table::System).unwrap().len(), 2);
    assert_eq!(ds.read_table::<SystemRow>().unwrap().len(), 2);
}

#[test]
fn bad_input_is_refused_with_one_line_and_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    let cases: &[(&[&str], &str)] = &[
        (&["--interval", "0s"], "must be longer than zero"),
        (&["--interval", "soon"], "'soon' is not a duration"),
        (&["--duration=-3s"], "is not a duration"),
        (
            &["--tables", "system,bogus"],
            "unknown table 'bogus' (tables: system, process",
        ),
        (&["--tables", "labels"], "labels are simulator ground truth"),
        (&["--tables", ","], "--tables names no table"),
        (
            &["--cgroup", "/qbranch-no-such-cgroup"],
            "cgroup /qbranch-no-such-cgroup not found",
        ),
        (
            &["--proc-root", "/nonexistent-proc"],
            "/nonexistent-proc/stat",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["record", "--out", &d];
        if !extra[0].starts_with("--duration") {
            args.extend(["--duration", "1s"]);
        }
        args.extend_from_slice(extra);
        let out = qbranch(&args);
        assert_refused(&out, needle);
        assert!(!dir.exists(), "{extra:?} must not create {}", dir.display());
        if !needle.contains("duration") && !needle.contains("longer than zero") {
            assert_eq!(
                text(&out.stderr).trim().lines().count(),
                1,
                "one line: {}",
                text(&out.stderr)
            );
        }
    }

    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("precious.txt"), "keep me").unwrap();
    assert_refused(
        &qbranch(&["record", "--out", &d, "--duration", "1s"]),
        "not empty (use --append",
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("precious.txt")).unwrap(),
        "keep me"
    );
    assert_refused(
        &qbranch(&["record", "--out", &d, "--duration", "1s", "--append"]),
        "not a qbranch recording",
    );

    assert_refused(
        &qbranch(&["record", "--out", "/proc/qbranch-nope", "--duration", "1s"]),
        "/proc/qbranch-nope",
    );
    assert_refused(&qbranch(&["inspect", &d]), "not a qbranch recording");
}

#[test]
fn inspect_refuses_another_schema_version() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    assert!(
        qbranch(&[
            "record",
            "--out",
            &d,
            "--duration",
            "1s",
            "--tables",
            "system"
        ])
        .status
        .success()
    );
    let manifest = dir.join("manifest.toml");
    let text_before = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text_before.replace("schema_version = 2", "schema_version = 3"),
    )
    .unwrap();
    let out = qbranch(&["inspect", &d]);
    assert_refused(&out, "manifest.toml: schema mismatch: expected schema v2");
    assert!(text(&out.stderr).contains("found schema v3"));
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn closed_segments(dir: &Path) -> usize {
    Dataset::open(dir).map_or(0, |ds| ds.segments(Table::System).map_or(0, |s| s.len()))
}

#[test]
fn sigterm_and_sigint_close_the_open_segment_cleanly() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, d) = out_dir(&tmp);
        let child = spawn(&[
            "record",
            "--out",
            &d,
            "--interval",
            "100ms",
            "--tables",
            "system,process",
        ]);
        wait_for("the first rows", Duration::from_secs(30), || {
            walk_count(&dir, ".partial") >= 2
        });
        // SAFETY: kill with a valid pid and signal.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "signal {signal}: {}",
            text(&out.stderr)
        );
        let ds = Dataset::open(&dir).unwrap();
        assert_eq!(ds.manifest().state, State::Complete);
        assert!(ds.partial_segments(Table::System).unwrap().is_empty());
        assert!(!ds.read_table::<SystemRow>().unwrap().is_empty());
        assert!(ds.read_table::<ProcessRow>().unwrap().len() > 1);
    }
}

fn walk_count(dir: &Path, suffix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_count(&p, suffix)
            } else {
                usize::from(p.to_string_lossy().ends_with(suffix))
            }
        })
        .sum()
}

#[test]
fn after_kill_9_every_closed_segment_is_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    let mut child = spawn(&[
        "record",
        "--out",
        &d,
        "--interval",
        "100ms",
        "--segment",
        "500ms",
    ]);
    wait_for("three closed segments", Duration::from_secs(60), || {
        closed_segments(&dir) >= 3
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(
        ds.manifest().state,
        State::InProgress,
        "the manifest tells the recording did not finish"
    );
    let segments = ds.segments(Table::System).unwrap();
    assert!(segments.len() >= 3);
    for table in [Table::System, Table::Process, Table::Cgroup] {
        assert!(ds.partial_segments(table).unwrap().len() <= 1);
    }
    let rows = ds.read_table::<SystemRow>().unwrap();
    assert!(
        rows.len() >= 3 * 4,
        "about 5 ticks per 500 ms segment, got {}",
        rows.len()
    );
    assert!(!ds.read_table::<ProcessRow>().unwrap().is_empty());

    let out = qbranch(&["inspect", &d, "--verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("state: InProgress"));
}

/// polars is the interoperability yardstick: a lazy scan of the hive-partitioned
/// directory must see every column and row. `scripts/setup` installs it.
#[test]
fn polars_reads_a_recording_as_is() {
    let probe = Command::new("python3")
        .args(["-c", "import polars"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 with polars (scripts/setup installs it)"
        );
        eprintln!("skipped: python3 with polars not installed (run scripts/setup)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    assert!(
        qbranch(&[
            "record",
            "--out",
            &d,
            "--duration",
            "2s",
            "--interval",
            "500ms"
        ])
        .status
        .success()
    );
    let ds = Dataset::open(&dir).unwrap();
    let mut expected = String::new();
    for table in [Table::System, Table::Process, Table::Cgroup] {
        let rows = ds.manifest().table(table).unwrap().rows;
        let columns: Vec<&str> = qb_signals::COMMON_COLUMNS
            .iter()
            .chain(table.columns())
            .map(|c| c.name)
            .collect();
        expected.push_str(&format!("{table} {rows} {}\n", columns.join(",")));
    }
    let script = r#"
import sys, polars as pl
root = sys.argv[1]
for line in sys.stdin.read().splitlines():
    table, rows, columns = line.split(" ")
    lf = pl.scan_parquet(f"{root}/{table}/**/*.parquet", hive_partitioning=True)
    df = lf.collect()
    assert df.columns[-2:] == ["host", "date"], df.columns  # hive partitions
    assert df.columns[:-2] == columns.split(","), (table, df.columns)
    assert df.height == int(rows), (table, df.height, rows)
    assert df["host"].n_unique() == 1
    assert str(df.schema["ts_ns"]).startswith("Datetime(time_unit='ns'"), df.schema["ts_ns"]
    print(table, df.height)
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, &d])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(expected.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "polars failed: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 3);
}

#[test]
fn syscalls_come_from_ebpf_or_a_fallback_the_manifest_names() {
    use qb_signals::SyscallRow;
    let tmp = tempfile::tempdir().unwrap();
    for (name, extra) in [("ebpf", None), ("sampled", Some("--no-ebpf"))] {
        let dir = tmp.path().join(name);
        let d = dir.to_string_lossy().into_owned();
        let mut args = vec![
            "record",
            "--out",
            &d,
            "--duration",
            "2s",
            "--interval",
            "500ms",
            "--tables",
            "syscalls",
        ];
        args.extend(extra);
        let out = qbranch(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let ds = Dataset::open(&dir).unwrap();
        let entry = ds.manifest().table(Table::Syscalls).unwrap().clone();
        let method = entry.method.unwrap();
        let rows = ds.read_table::<SyscallRow>().unwrap();
        if extra.is_some() {
            assert!(
                method.starts_with("sampling") && method.contains("eBPF not requested"),
                "{method}"
            );
            assert!(
                entry.reason.unwrap().contains("sampling"),
                "the degradation is stated"
            );
        } else if method.starts_with("eBPF") {
            // The recorder itself reads /proc every tick: its own syscalls are counted.
            assert!(
                rows.iter().map(|r| r.count).sum::<u64>() > 100,
                "{} rows",
                rows.len()
            );
        } else {
            assert!(
                std::env::var_os("QB_REQUIRE_BPF").is_none(),
                "eBPF required but: {method}"
            );
            assert!(
                method.starts_with("sampling"),
                "the fallback is named: {method}"
            );
            eprintln!("eBPF unavailable here: {method}");
        }
        assert!(rows.iter().all(|r| r.count > 0));
    }
}

#[test]
fn connections_are_recorded_with_their_owner() {
    use qb_signals::ConnectionRow;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = u32::from(listener.local_addr().unwrap().port());
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    let out = qbranch(&[
        "record",
        "--out",
        &d,
        "--duration",
        "1s",
        "--tables",
        "connections",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ds = Dataset::open(&dir).unwrap();
    let method = ds
        .manifest()
        .table(Table::Connections)
        .unwrap()
        .method
        .clone()
        .unwrap();
    assert!(
        method == "netlink inet_diag" || method.contains("fallback"),
        "{method}"
    );
    let rows = ds.read_table::<ConnectionRow>().unwrap();
    let ours = rows
        .iter()
        .find(|r| r.local_port == port)
        .expect("our listener is recorded");
    assert_eq!(ours.state, "LISTEN");
    assert_eq!(ours.pid, Some(std::process::id()));
    assert_eq!(ours.local_addr, "127.0.0.1");
}

#[test]
fn log_lines_written_during_a_recording_are_recorded_once_with_levels() {
    use qb_signals::LogRow;
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    let log = tmp.path().join("app.log");
    std::fs::write(&log, "old line before the recording\n").unwrap();
    let glob = tmp.path().join("*.log").to_string_lossy().into_owned();
    let child = spawn(&[
        "record",
        "--out",
        &d,
        "--interval",
        "100ms",
        "--tables",
        "system",
        "--logs",
        &glob,
    ]);
    wait_for("the recording to start", Duration::from_secs(30), || {
        walk_count(&dir, ".partial") >= 1
    });
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let mut batch = String::new();
        for i in 0..50 {
            let level = if i % 10 == 0 { "ERROR" } else { "INFO" };
            batch += &format!("2026-11-26T00:00:00Z {level} request {i} done\n");
        }
        // One write: the first poll that sees any line sees all 50, so stopping right
        // after the first logs rows cannot cut the batch.
        f.write_all(batch.as_bytes()).unwrap();
    }
    wait_for("the lines to be tailed", Duration::from_secs(30), || {
        walk_count(&dir.join("logs"), ".partial") >= 1
    });
    // SAFETY: kill with a valid pid and signal.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("logs: 50 lines"),
        "{}",
        text(&out.stdout)
    );

    let rows = Dataset::open(&dir).unwrap().read_table::<LogRow>().unwrap();
    let lines: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
    let expected: Vec<String> = (0..50)
        .map(|i| {
            format!(
                "2026-11-26T00:00:00Z {} request {i} done",
                if i % 10 == 0 { "ERROR" } else { "INFO" }
            )
        })
        .collect();
    assert_eq!(
        lines, expected,
        "every new line exactly once, none from before the start"
    );
    assert!(rows.iter().all(|r| r.source == log.to_string_lossy()));
    assert_eq!(
        rows.iter()
            .filter(|r| r.level.as_deref() == Some("error"))
            .count(),
        5
    );
    assert_eq!(
        rows[0].offset,
        "old line before the recording\n".len() as u64
    );
}

#[test]
fn the_logs_table_needs_a_glob_and_bad_globs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    assert_refused(
        &qbranch(&[
            "record",
            "--out",
            &d,
            "--duration",
            "1s",
            "--tables",
            "logs",
        ]),
        "needs at least one --logs GLOB",
    );
    assert_refused(
        &qbranch(&[
            "record",
            "--out",
            &d,
            "--duration",
            "1s",
            "--logs",
            "/var/log/**/x",
        ]),
        "log glob '/var/log/**/x'",
    );
    assert!(!dir.exists());
}

#[test]
fn simulate_writes_a_labelled_dataset_and_refuses_unknown_kinds() {
    use qb_signals::{LabelRow, Origin};
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    let out = qbranch(&[
        "simulate",
        "memory",
        "--kind",
        "linear_leak",
        "--seed",
        "3",
        "--duration",
        "10m",
        "--out",
        &d,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 label(s)"),
        "{}",
        text(&out.stdout)
    );
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.manifest().origin, Origin::Simulated);
    assert_eq!(
        ds.manifest().generator.as_ref().unwrap().name,
        "memory/linear_leak"
    );
    assert_eq!(ds.read_table::<LabelRow>().unwrap()[0].kind, "memory_leak");

    let other = tmp.path().join("other").to_string_lossy().into_owned();
    assert_refused(
        &qbranch(&["simulate", "memory", "--kind", "slow_leak", "--out", &other]),
        "unknown memory kind 'slow_leak'",
    );
    assert_refused(
        &qbranch(&["simulate", "memory", "--kind", "linear_leak", "--out", &d]),
        "not empty",
    );
}

#[test]
fn simulate_stuck_writes_syscalls_and_connections_with_a_label() {
    use qb_signals::{ConnectionRow, LabelRow, SyscallRow};
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    let out = qbranch(&[
        "simulate",
        "stuck",
        "--kind",
        "deadlock",
        "--seed",
        "2",
        "--duration",
        "5m",
        "--out",
        &d,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.read_table::<LabelRow>().unwrap()[0].kind, "stuck");
    assert!(!ds.read_table::<SyscallRow>().unwrap().is_empty());
    assert!(
        ds.read_table::<ConnectionRow>()
            .unwrap()
            .iter()
            .any(|c| c.state == "LISTEN")
    );
}

#[test]
fn simulate_toxic_labels_the_toxic_connection() {
    use qb_signals::LabelRow;
    let tmp = tempfile::tempdir().unwrap();
    let (dir, d) = out_dir(&tmp);
    let out = qbranch(&[
        "simulate",
        "toxic",
        "--kind",
        "cpu_hog",
        "--duration",
        "5m",
        "--out",
        &d,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let label = Dataset::open(&dir)
        .unwrap()
        .read_table::<LabelRow>()
        .unwrap()
        .remove(0);
    assert_eq!(label.kind, "toxic_query");
    assert!(label.target.starts_with("conn:"), "{}", label.target);
}

#[test]
fn train_refuses_what_it_cannot_train_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("none");
    let models = tmp.path().join("models");
    let (d, m) = (data.to_str().unwrap(), models.to_str().unwrap());
    for (args, needle) in [
        (
            vec!["train", "oracle", "--data", d, "--models", m],
            "qbranch simulate standard",
        ),
        (
            vec!["train", "all", "--data", d, "--models", m],
            "no memory training datasets",
        ),
        (
            vec!["train", "curator", "--data", d, "--models", m],
            "no pii training datasets",
        ),
        (
            vec!["train", "archivist", "--data", d, "--models", m],
            "no pii training datasets",
        ),
        (
            vec!["train", "timekeeper", "--data", d],
            "learns each host's routines online",
        ),
    ] {
        assert_refused(&qbranch(&args), needle);
    }
    assert!(!models.exists(), "nothing written");
}

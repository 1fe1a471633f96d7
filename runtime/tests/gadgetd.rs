//! gadgetd as a user runs it: the binary, its exit codes, stdout, stderr and /metrics.
//! Live tests need root on Linux (the real /proc, eBPF); elsewhere they print
//! `skipped: <reason>`. Nothing here asserts on time: conditions are polled with
//! generous deadlines.

#![allow(clippy::unwrap_used)] // tests may unwrap (CONTRIBUTING.md)

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{BIN, Daemon, metric, scrape};

fn runtime_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn gadgetd(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gadgetd.toml");
    std::fs::write(&path, text).unwrap();
    let out = gadgetd(&["check", path.to_str().unwrap()]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_example_and_an_empty_file() {
    let out = gadgetd(&[
        "check",
        runtime_file("gadgetd.example.toml").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for needle in [
        "mode: dry_run",
        "pause file: /run/qbranch/pause",
        "oracle-kill:",
    ] {
        assert!(stdout.contains(needle), "{needle} missing in\n{stdout}");
    }
    let (code, stdout, _) = check("");
    assert_eq!(code, 0);
    assert!(stdout.contains("scope: whole host"), "{stdout}");
    assert!(stdout.contains("rules (8)"), "{stdout}");
}

#[test]
fn check_refuses_mistakes_naming_the_file_and_problem() {
    for (text, needle) in [
        ("mode = \"dry-run\n", "TOML parse error"),
        ("[policy]\ndeny_comm = [\"x\"]", "deny_comm"),
        ("[daemon]\nintervall = \"1s\"", "intervall"),
        (
            "[daemon]\nmetrics = \"0.0.0.0:9464\"",
            "not a loopback address",
        ),
        ("mode = \"yolo\"", "yolo"),
    ] {
        let (code, _, stderr) = check(text);
        assert_eq!(code, 2, "{text}: {stderr}");
        assert!(stderr.contains("gadgetd.toml: "), "{text}: {stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    let out = gadgetd(&["check", "/nonexistent/gadgetd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/gadgetd.toml"));
}

#[test]
fn run_refuses_a_non_loopback_metrics_address() {
    let out = gadgetd(&["run", "--metrics", "0.0.0.0:9464", "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--metrics: 0.0.0.0:9464 is not a loopback")
    );
}

#[test]
fn models_lists_the_six_embedded_models() {
    let out = gadgetd(&["models"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in [
        "oracle_lstm",
        "oracle_arima",
        "pathologist",
        "equalizer",
        "curator",
        "archivist",
    ] {
        assert!(
            stdout.contains(&format!("\n{name}\n")),
            "{name} in\n{stdout}"
        );
    }
    assert_eq!(stdout.matches("status: ok").count(), 6, "{stdout}");
}

/// A copy of the trained models directory with the LSTM's artifact corrupted.
fn models_with_a_corrupt_lstm() -> tempfile::TempDir {
    let src = runtime_file("../models");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("manifest.toml"), dir.path().join("manifest.toml")).unwrap();
    for sub in ["artifacts", "metrics"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(src.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.path().join(sub).join(path.file_name().unwrap())).unwrap();
        }
    }
    let lstm = dir.path().join("artifacts/oracle_lstm.qbm");
    let mut bytes = std::fs::read(&lstm).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&lstm, bytes).unwrap();
    dir
}

#[test]
fn models_from_a_directory_show_metrics_and_refuse_a_corrupt_artifact() {
    let dir = models_with_a_corrupt_lstm();
    let out = gadgetd(&["models", "--models", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("status: ok").count(), 5, "{stdout}");
    assert!(
        stdout.contains("REFUSED, its gadget runs the rule baseline"),
        "{stdout}"
    );
    assert!(stdout.contains("checksum"), "{stdout}");
    assert!(stdout.contains("arima: caught 20/20 leaks"), "{stdout}");
}

#[test]
fn the_unit_runs_the_daemon_on_the_example_config() {
    let unit = std::fs::read_to_string(runtime_file("gadgetd.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    assert!(exec.contains("gadgetd run"), "{exec}");
    assert!(
        exec.contains("--config /etc/qbranch/gadgetd.toml"),
        "{exec}"
    );
    assert!(unit.contains("Type=simple") && unit.contains("Restart=on-failure"));
    let (code, _, stderr) =
        check(&std::fs::read_to_string(runtime_file("gadgetd.example.toml")).unwrap());
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn check_shows_the_tuner_and_refuses_a_bad_one() {
    let (code, stdout, stderr) = check("");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("tuner: off"), "{stdout}");
    let (code, stdout, stderr) = check("[tuner]\nenabled = true\nparams = [\"interval\"]");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("tuner: dry_run every 60s (interval)"),
        "{stdout}"
    );
    let (code, _, stderr) = check("[tuner]\nenabled = true\nparams = [\"batch_lines\"]");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("need [logs]"), "{stderr}");
}

// ---- live ------------------------------------------------------------------------

fn live_skip_reason() -> Option<&'static str> {
    if !cfg!(target_os = "linux") {
        return Some("not Linux");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (the real /proc of every process, eBPF)");
    }
    None
}

fn ticks(addr: SocketAddr) -> Option<f64> {
    scrape(addr).and_then(|t| metric(&t, "qbranch_ticks_total"))
}

#[test]
fn live_run_prints_json_serves_metrics_and_stops_on_sigterm() {
    if let Some(reason) = live_skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let incidents = dir.path().join("log/incidents.jsonl");
    let mut d = Daemon::start(&[
        "--duration",
        "6s",
        "--metrics",
        "127.0.0.1:0",
        "--incidents",
        incidents.to_str().unwrap(),
    ]);
    let addr = d.metrics_addr();
    let text = d.wait_for("a tick in /metrics", |_| {
        scrape(addr).filter(|t| metric(t, "qbranch_ticks_total").is_some_and(|n| n > 0.0))
    });
    assert!(
        metric(&text, "qbranch_tick_seconds_count").is_some_and(|n| n > 0.0),
        "{text}"
    );
    assert!(text.contains("qbranch_mode{mode=\"dry_run\"} 1"), "{text}");
    assert!(
        text.contains(
            "qbranch_model_info{gadget=\"oracle\",model=\"oracle_lstm\",status=\"model\"} 1"
        ),
        "{text}"
    );
    assert!(metric(&text, "qbranch_resident_memory_bytes").is_some_and(|b| b > 0.0));
    // Whether this lands before the 6 s are up or after, the exit must be clean.
    d.signal(libc::SIGTERM);
    let status = d.wait_exit();
    assert!(status.success(), "{status}; stderr:\n{}", d.stderr_text());
    std::thread::sleep(Duration::from_millis(200)); // the reader threads drain the pipes
    for line in d.stdout.lock().unwrap().iter() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["ts", "event", "gadget"] {
            assert!(v.get(key).is_some(), "{key} missing: {line}");
        }
    }
    let logged =
        std::fs::read_to_string(&incidents).expect("the incidents file is created at start");
    for line in logged.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["event"] == "action" || v["event"] == "refusal", "{line}");
    }
    assert!(d.stderr_text().contains("gadgetd stopped"));
}

/// `[tuner]` end to end: in enforce a proposal is applied (and counted so); in dry-run
/// the same proposals are only logged and counted.
#[test]
fn live_tuner_applies_in_enforce_and_only_records_in_dry_run() {
    if let Some(reason) = live_skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    for (mode, applied) in [("enforce", "true"), ("dry-run", "false")] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("gadgetd.toml");
        // A 1 s period and no cooldown, so a test sees proposals in seconds; the CPU
        // limit is lifted so a loaded test machine does not pause it.
        std::fs::write(
            &config,
            format!(
                "[daemon]\ninterval = \"200ms\"\n[tuner]\nenabled = true\nmode = {mode:?}\n\
                 period = \"1s\"\nparams = [\"interval\"]\n[tuner.safety]\ncooldown_s = 0.0\n\
                 max_cpu_cores = 64.0\n"
            ),
        )
        .unwrap();
        let mut d = Daemon::start(&[
            "--config",
            config.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
            "--duration",
            "10m",
            "--quiet",
        ]);
        let addr = d.metrics_addr();
        let want =
            format!("qbranch_tuner_proposals_total{{reason=\"explore\",applied=\"{applied}\"}}");
        let text = d.wait_for("a proposal in /metrics", |_| {
            scrape(addr).filter(|t| t.contains(&want))
        });
        assert!(
            text.contains("qbranch_tuner_value{param=\"interval\""),
            "{text}"
        );
        let stderr = d.stderr_text();
        assert!(
            stderr.contains("tuner: explore: interval 0.2 -> "),
            "{stderr}"
        );
        let how = if applied == "true" {
            "(applied)"
        } else {
            "(dry-run, not applied)"
        };
        assert!(stderr.contains(how), "{stderr}");
        d.signal(libc::SIGTERM);
        let status = d.wait_exit();
        assert!(status.success(), "{status}; stderr:\n{}", d.stderr_text());
    }
}

#[test]
fn live_sighup_with_a_broken_file_keeps_the_old_config() {
    if let Some(reason) = live_skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gadgetd.toml");
    let pause = dir.path().join("pause");
    let valid = format!(
        "mode = \"dry-run\"\n[daemon]\ninterval = \"200ms\"\n[policy]\npause_file = {:?}\n",
        pause.display().to_string()
    );
    std::fs::write(&config, &valid).unwrap();
    let mut d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
        "--duration",
        "10m", // a safety net only: SIGTERM ends it
        "--quiet",
    ]);
    let addr = d.metrics_addr();
    let before = d.wait_for("ticks", |_| ticks(addr).filter(|n| *n > 0.0));

    std::fs::write(&config, "mode = [garbage").unwrap();
    d.signal(libc::SIGHUP);
    let path = config.display().to_string();
    d.wait_for("the reload error", |d| {
        d.stderr_text()
            .lines()
            .any(|l| l.contains("reload failed") && l.contains(&path))
            .then_some(())
    });
    d.wait_for("ticks after the failed reload", |_| {
        ticks(addr).filter(|n| *n >= before + 3.0)
    });
    let text = scrape(addr).unwrap();
    assert!(text.contains("qbranch_mode{mode=\"dry_run\"} 1"), "{text}");

    // A good file is then taken, mode included.
    std::fs::write(&config, valid.replace("dry-run", "observe")).unwrap();
    d.signal(libc::SIGHUP);
    d.wait_for("the observe mode", |_| {
        scrape(addr).filter(|t| t.contains("qbranch_mode{mode=\"observe\"} 1"))
    });
    assert!(d.stderr_text().contains(&format!("reloaded {path}")));

    d.signal(libc::SIGTERM);
    let status = d.wait_exit();
    assert!(status.success(), "{status}; stderr:\n{}", d.stderr_text());
}

#[test]
fn live_a_corrupt_model_falls_back_to_its_rule_and_the_daemon_runs() {
    if let Some(reason) = live_skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let models = models_with_a_corrupt_lstm();
    let mut d = Daemon::start(&[
        "--models",
        models.path().to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
        "--duration",
        "10m",
        "--quiet",
    ]);
    let addr = d.metrics_addr();
    let text = d.wait_for("ticks", |_| {
        scrape(addr).filter(|t| metric(t, "qbranch_ticks_total").is_some_and(|n| n > 0.0))
    });
    let info = "qbranch_model_info{gadget=\"oracle\",model=\"oracle_lstm\",status=\"rule\"} 1";
    assert!(text.contains(info), "{text}");
    assert!(
        d.stderr_text().contains("oracle_lstm not used"),
        "{}",
        d.stderr_text()
    );
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit().success());
}

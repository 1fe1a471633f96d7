//! `qbranch perf --quick` end to end on this host: it writes perf.json with every
//! probe's measurement names, each measured or skipped with its reason. Nothing here
//! asserts on time: the numbers are whatever this machine gives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const ALWAYS_MEASURED: [&str; 5] = [
    "engine tick",
    "recorder tick",
    "recorder tick cpu",
    "curator throughput",
    "curator throughput bytes",
];
const EBPF: [&str; 3] = [
    "eBPF syscall probe",
    "getppid syscall detached",
    "getppid syscall attached",
];
const GADGETD: [&str; 2] = ["gadgetd RSS", "gadgetd RSS peak"];
const UNITS: [&str; 6] = ["us", "ms", "ns", "MB", "lines/s", "MB/s"];

fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(|m| m["name"].as_str().expect("a name").to_string())
        .collect()
}

#[test]
fn quick_run_writes_every_measurement_name_measured_or_skipped() {
    // As root the eBPF probe must attach (or say why the kernel refused it) and the
    // recorder reads every process's /proc; elsewhere the run would skip by privilege
    // and prove little.
    if !is_root() {
        eprintln!("skipped: not root (the eBPF probe and full /proc reads need root)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("perf.json");
    let run = Command::new(env!("CARGO_BIN_EXE_qbranch"))
        .args(["perf", "--quick", "--out"])
        .arg(&out)
        .output()
        .expect("run qbranch");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "stderr: {stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("perf.json")).expect("JSON");

    assert_eq!(report["quick"], true);
    assert!(report["created"].as_str().unwrap().ends_with('Z'));
    let machine = &report["machine"];
    assert!(machine["cpus"].as_u64().unwrap() >= 1);
    assert!(machine["load_avg_1m"].as_f64().unwrap() >= 0.0);
    assert!(!machine["kernel"].as_str().unwrap().is_empty());

    let measured = names(&report["measurements"]);
    let skipped = names(&report["skipped"]);
    for name in ALWAYS_MEASURED {
        assert!(
            measured.iter().any(|n| n == name),
            "{name} missing: {stderr}"
        );
    }
    for name in EBPF.iter().chain(&GADGETD) {
        let (m, s) = (
            measured.contains(&name.to_string()),
            skipped.contains(&name.to_string()),
        );
        assert!(m != s, "{name} must be measured or skipped, once: {stderr}");
    }
    for s in report["skipped"].as_array().unwrap() {
        let reason = s["reason"].as_str().unwrap();
        assert!(!reason.is_empty(), "{s}");
        assert!(!reason.starts_with("not root"), "we are root: {s}");
    }
    // gadgetd is measured exactly when it was built next to qbranch.
    let gadgetd = Path::new(env!("CARGO_BIN_EXE_qbranch")).with_file_name("gadgetd");
    assert_eq!(
        measured.iter().any(|n| n == "gadgetd RSS"),
        gadgetd.is_file(),
        "{stderr}"
    );

    for m in report["measurements"].as_array().unwrap() {
        assert!(UNITS.contains(&m["unit"].as_str().unwrap()), "{m}");
        assert!(m["samples"].as_u64().unwrap() >= 1, "{m}");
        assert!(!m["what"].as_str().unwrap().is_empty(), "{m}");
        let median = m["median"].as_f64().unwrap();
        if m["name"] != "eBPF syscall probe" {
            assert!(median > 0.0, "{m}");
        }
        if let (Some(p10), Some(p90)) = (m["p10"].as_f64(), m["p90"].as_f64()) {
            assert!(p10 <= median && median <= p90, "{m}");
        }
    }
}

#[test]
fn perf_refuses_an_unwritable_out_path_with_a_one_line_error() {
    let run = Command::new(env!("CARGO_BIN_EXE_qbranch"))
        .args([
            "perf",
            "--quick",
            "--gadgetd",
            "/nonexistent/gadgetd",
            "--out",
            "/nonexistent/dir/perf.json",
        ])
        .output()
        .expect("run qbranch");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("/nonexistent/dir/perf.json"), "{stderr}");
}

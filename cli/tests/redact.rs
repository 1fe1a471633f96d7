//! `qbranch redact`: stdin to stdout, alerts without PII, hostile bytes.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_qbranch");

fn redact(args: &[&str], stdin: &[u8]) -> (Vec<u8>, String, bool) {
    let mut child = Command::new(EXE)
        .arg("redact")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn stdin_is_redacted_to_stdout_and_alerts_hold_no_pii() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    let input = b"ok v1.2.3 at 1768054973\nPayment failed for user: User{id=8471, name='John Smith', ssn=123 45 6789}\n";
    let (out, err, ok) = redact(&["--alerts", alerts.to_str().unwrap()], input);
    assert!(ok, "{err}");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "ok v1.2.3 at 1768054973\nPayment failed for user: User{id=8471, name='[NAME_REDACTED]', ssn=[SSN_REDACTED]}\n"
    );
    let alerts = std::fs::read_to_string(alerts).unwrap();
    let rows: Vec<serde_json::Value> = alerts
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["entity"], "ssn");
    assert_eq!(rows[1]["line"], 2);
    assert_eq!(rows[1]["source"], "-");
    assert!(
        !alerts.contains("6789") && !alerts.contains("Smith"),
        "{alerts}"
    );
}

#[test]
fn invalid_utf8_nul_and_a_partial_last_line_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.log");
    std::fs::write(
        &file,
        b"\xff\xfe\0 card=4532015112830366\0\nlast 81.2.69.160 from client 81.2.69.161",
    )
    .unwrap();
    let (out, err, ok) = redact(&[file.to_str().unwrap()], b"");
    assert!(ok, "{err}");
    let text = String::from_utf8_lossy(&out);
    assert!(
        !text.contains("4532015112830366") && !text.contains("81.2.69.161"),
        "{text}"
    );
    assert!(text.contains("[CREDIT_CARD_REDACTED]") && !text.ends_with('\n'));
}

//! gadgetd's log pipeline as a user runs it: real files tailed, redacted, forwarded to a
//! file sink or a dead HTTP endpoint. Needs root on Linux like the other live tests
//! (the daemon records the real host); elsewhere each test prints `skipped: <reason>`.

#![allow(clippy::unwrap_used)] // tests may unwrap (CONTRIBUTING.md)

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use common::Daemon;

/// PII values written to the log; none may reach the sink or an alert.
const SECRETS: [&str; 6] = [
    "4532015112830366",
    "289-58-6539",
    "maria.garcia@gmail.com",
    "(415) 555-0132",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "81.2.69.160",
];

fn skip_reason() -> Option<&'static str> {
    if !cfg!(target_os = "linux") {
        return Some("not Linux");
    }
    if std::env::var_os("QB_SKIP_LIVE").is_some() {
        return Some("QB_SKIP_LIVE is set");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (the daemon records the real /proc)");
    }
    None
}

/// gadgetd on `config`, ticking every 200 ms.
fn start(config: &Path) -> Daemon {
    Daemon::start(&["--interval", "200ms", "--config", config.to_str().unwrap()])
}

/// A metric's value now; None while the daemon does not answer.
fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    common::scrape(addr).and_then(|t| common::metric(&t, name))
}

/// Waits until metric `name` reaches `at_least`; returns its value then.
fn wait_metric(d: &mut Daemon, addr: SocketAddr, name: &str, at_least: f64) -> f64 {
    d.wait_for(&format!("{name} >= {at_least}"), |_| {
        metric(addr, name).filter(|n| *n >= at_least)
    })
}

/// The sink file's text and its records.
fn read_sink(path: &Path) -> (String, Vec<serde_json::Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    let records = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (text, records)
}

/// SIGTERM, then a clean exit, then a moment for the output threads to drain.
fn stop(d: &mut Daemon) {
    d.signal(libc::SIGTERM);
    let status = d.wait_exit();
    assert!(status.success(), "{status}:\n{}", d.stderr_text());
    std::thread::sleep(Duration::from_millis(200));
}

fn config(dir: &Path, sink: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("gadgetd.toml");
    std::fs::write(
        &path,
        format!(
            "[daemon]\nmetrics = \"127.0.0.1:0\"\n\n[logs]\nfiles = [\"{}/*.log\"]\n\
             from_start = true\nsink = \"{sink}\"\nalerts = \"{}/alerts.jsonl\"\n{extra}",
            dir.display(),
            dir.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn live_every_line_is_redacted_before_it_reaches_the_sink() {
    if let Some(reason) = skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // Present at start (read from the beginning) ...
    std::fs::write(
        &log,
        format!(
            "INFO charge declined for card {} order 77\nINFO plain line, nothing here\n",
            SECRETS[0]
        ),
    )
    .unwrap();
    let out = dir.path().join("out/forwarded.jsonl");
    let mut d = start(&config(dir.path(), out.to_str().unwrap(), ""));
    let addr = d.metrics_addr();
    // ... and appended while it runs: PII, invalid UTF-8, a NUL, a 3 MB line with PII at
    // both ends, and a last line without its newline (held until it is complete).
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "WARN customer.tin={} user \"Maria Garcia\"", SECRETS[1]).unwrap();
    f.write_all(b"ERROR bad bytes \xff\xfe then ").unwrap();
    writeln!(f, "{} and \0 a NUL", SECRETS[2]).unwrap();
    writeln!(f, "call me at {} key={}", SECRETS[3], SECRETS[4]).unwrap();
    let big = format!(
        "DEBUG dump {} {} {}",
        SECRETS[2],
        "x".repeat(3 << 20),
        SECRETS[0]
    );
    writeln!(f, "{big}").unwrap();
    write!(f, "login from {} ok", SECRETS[5]).unwrap();
    f.flush().unwrap();
    wait_metric(&mut d, addr, "qbranch_log_lines_total", 6.0);
    writeln!(f).unwrap(); // completes the last line
    wait_metric(&mut d, addr, "qbranch_log_sent_total", 7.0);
    stop(&mut d);

    let (forwarded, records) = read_sink(&out);
    assert_eq!(records.len(), 7, "{forwarded}");
    for secret in SECRETS {
        assert!(!forwarded.contains(secret), "{secret} reached the sink");
    }
    let lines: Vec<&str> = records
        .iter()
        .map(|r| r["line"].as_str().unwrap())
        .collect();
    assert_eq!(lines[1], "INFO plain line, nothing here");
    assert!(lines[0].contains("[CREDIT_CARD_REDACTED]"), "{}", lines[0]);
    assert!(lines[2].contains("[SSN_REDACTED]") && lines[2].contains("[NAME_REDACTED]"));
    assert!(
        lines[3].contains('\u{fffd}') && lines[3].contains('\0'),
        "{}",
        lines[3]
    );
    assert!(lines[3].contains("@gmail.com") && lines[3].contains("[EMAIL_REDACTED]"));
    assert_eq!(
        records[5]["truncated"], true,
        "a 3 MB line is cut at max_line_bytes"
    );
    // Cut at 64 KiB, then redacted (a token may be longer than the value it replaces).
    assert!(lines[5].len() <= (64 << 10) + 64, "{}", lines[5].len());
    assert!(lines[6].contains("[IP_ADDRESS_REDACTED]"), "{}", lines[6]);
    assert!(
        records
            .iter()
            .all(|r| r["why"] == "all" && r["event"] == "log")
    );

    let alerts = std::fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap();
    for secret in SECRETS {
        assert!(!alerts.contains(secret), "{secret} in an alert");
    }
    let entities: Vec<String> = alerts
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["event"], "pii");
            v["entity"].as_str().unwrap().to_string()
        })
        .collect();
    for e in [
        "credit_card",
        "ssn",
        "person_name",
        "email",
        "phone",
        "api_key",
        "ipv4",
    ] {
        assert!(
            entities.iter().any(|x| x == e),
            "{e} not alerted: {entities:?}"
        );
    }
    // The alerts also go to stdout, next to the gadgets' decisions.
    assert!(
        d.stdout
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("\"event\":\"pii\""))
    );
}

#[test]
fn live_a_dead_sink_costs_counted_drops_not_a_stuck_daemon() {
    if let Some(reason) = skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lines = 2000;
    let text: String = (0..lines)
        .map(|i| format!("INFO request {i} for maria.garcia@gmail.com\n"))
        .collect();
    std::fs::write(dir.path().join("app.log"), text).unwrap();
    let sink = format!("http://127.0.0.1:{port}/ingest");
    let mut d = start(&config(dir.path(), &sink, "buffer_lines = 100\n"));
    let addr = d.metrics_addr();
    let dropped = wait_metric(
        &mut d,
        addr,
        "qbranch_log_dropped_total",
        f64::from(lines - 200),
    );
    let ticks = metric(addr, "qbranch_ticks_total").unwrap();
    wait_metric(&mut d, addr, "qbranch_ticks_total", ticks + 3.0);
    assert!(metric(addr, "qbranch_log_buffered_records").unwrap() <= 100.0);
    assert!(metric(addr, "qbranch_log_send_errors_total").unwrap() >= 1.0);
    assert_eq!(metric(addr, "qbranch_log_sent_total"), Some(0.0));
    assert!(dropped <= f64::from(lines));
    stop(&mut d);
    assert!(d.stderr_text().contains("dropped"), "{}", d.stderr_text());
}

#[test]
fn live_the_archivist_forwards_the_root_cause_only_when_errors_spike() {
    if let Some(reason) = skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let out = dir.path().join("forwarded.jsonl");
    // No sample: before the spike nothing at all may leave.
    let archivist = "[logs.archivist]\nenabled = true\n[logs.archivist.buffer]\n\
                     sample_rate = 0.0\nspike_window_s = 5\nspike_warmup_s = 1\n";
    let mut d = start(&config(dir.path(), out.to_str().unwrap(), archivist));
    let addr = d.metrics_addr();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for i in 0..50 {
        writeln!(f, "INFO request {i} served in 12 ms").unwrap();
        if i == 20 {
            writeln!(f, "WARN connection pool exhausted (max=20, waiting=31)").unwrap();
        }
    }
    f.flush().unwrap();
    wait_metric(&mut d, addr, "qbranch_log_lines_total", 51.0);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(metric(addr, "qbranch_log_sent_total"), Some(0.0));
    for i in 0..40 {
        writeln!(f, "ERROR request {i} failed: pool timeout").unwrap();
    }
    f.flush().unwrap();
    wait_metric(&mut d, addr, "qbranch_log_sent_total", 91.0);
    stop(&mut d);
    let (forwarded, records) = read_sink(&out);
    assert_eq!(records.len(), 91, "{forwarded}");
    assert!(records.iter().all(|r| r["why"] == "flush"), "{forwarded}");
    assert!(
        records
            .iter()
            .any(|r| r["line"].as_str().unwrap().contains("pool exhausted")),
        "the root cause is in the flush"
    );
    let stdout = d.stdout.lock().unwrap().join("\n");
    assert!(
        stdout.contains("\"event\":\"flush\"") && stdout.contains("error_spike"),
        "{stdout}"
    );
}

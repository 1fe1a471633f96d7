//! The loopback intake over real sockets: both encodings, keep-alive, and every refusal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use qb_signals::Frame;
use qb_traces::{ConcentratorConfig, Intake, IntakeConfig, IntakeStats, TraceFeed};

mod support {
    pub mod batches;
}
use support::batches;

fn config() -> IntakeConfig {
    IntakeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..IntakeConfig::default()
    }
}

/// Sends raw bytes, reads one response: (status line, body).
fn exchange(s: &mut TcpStream, raw: &[u8]) -> (String, String) {
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
            return (head.lines().next().unwrap().to_string(), body);
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn post(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn json_and_protobuf_on_one_keep_alive_connection() {
    let intake = Intake::start(config()).unwrap();
    let mut s = connect(intake.local_addr());
    let (status, body) = exchange(&mut s, &post("application/json", &batches::json(10, 0)));
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "{}"));
    let (status, body) = exchange(
        &mut s,
        &post("application/x-protobuf", &batches::proto(20, 1)),
    );
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", ""));
    let mut spans = 0;
    intake.drain(|b| spans += b.len());
    assert_eq!(spans, 30);
    let st = intake.stats();
    assert_eq!(IntakeStats::get(&st.requests), 2);
    assert_eq!(IntakeStats::get(&st.spans_received), 30);
    assert!(IntakeStats::get(&st.bytes) > 0);
}

#[test]
fn refusals_say_why() {
    let intake = Intake::start(IntakeConfig {
        max_body: 1000,
        ..config()
    })
    .unwrap();
    let addr = intake.local_addr();
    let status = |raw: &[u8]| exchange(&mut connect(addr), raw);
    let (s, b) = status(&post("application/json", b"{\"resourceSpans\": 7}"));
    assert!(
        s.contains("400") && b.contains("OTLP JSON: invalid type"),
        "{s} {b}"
    );
    let (s, b) = status(&post("application/x-protobuf", &[0x0b]));
    assert!(
        s.contains("400") && b.contains("unsupported wire type"),
        "{s} {b}"
    );
    let (s, b) = status(&post("application/json", &[b' '; 2000]));
    assert!(s.contains("413") && b.contains("exceeds 1000"), "{s} {b}");
    let (s, _) = status(&post("text/plain", b"{}"));
    assert!(s.contains("415"), "{s}");
    let (s, _) = status(b"POST /v1/metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(s.contains("404"), "{s}");
    let (s, _) = status(b"GET /v1/traces HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(s.contains("405"), "{s}");
    let (s, _) = status(b"POST /v1/traces HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(s.contains("411"), "{s}");
    let (s, _) = status(b"POST /v1/traces HTTP/1.1\r\nContent-Length: 2\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n\r\n{}");
    assert!(s.contains("415"), "{s}");
    let (s, _) = status(b"garbage\r\n\r\n");
    assert!(s.contains("400"), "{s}");
    assert_eq!(IntakeStats::get(&intake.stats().bad_requests), 9);
    // The listener survived all of it.
    let (s, _) = status(&post("application/json", b"{}"));
    assert!(s.contains("200"), "{s}");
}

#[test]
fn a_full_queue_answers_503_and_counts_the_spans() {
    let intake = Intake::start(IntakeConfig {
        max_queued_spans: 15,
        ..config()
    })
    .unwrap();
    let mut s = connect(intake.local_addr());
    let (ok, _) = exchange(&mut s, &post("application/json", &batches::json(10, 0)));
    let (full, _) = exchange(&mut s, &post("application/json", &batches::json(10, 1)));
    assert!(ok.contains("200") && full.contains("503"), "{ok} {full}");
    assert_eq!(IntakeStats::get(&intake.stats().spans_dropped), 10);
    assert_eq!(intake.queued_spans(), 10);
    intake.drain(|_| {});
    assert_eq!(intake.queued_spans(), 0);
    let (again, _) = exchange(&mut s, &post("application/json", &batches::json(10, 1)));
    assert!(again.contains("200"), "{again}");
}

#[test]
fn the_feed_fills_frames_with_closed_buckets_and_requests() {
    let mut feed = TraceFeed::start(config(), ConcentratorConfig::default()).unwrap();
    let mut s = connect(feed.local_addr());
    let (ok, _) = exchange(
        &mut s,
        &post("application/x-protobuf", &batches::proto(200, 0)),
    );
    assert!(ok.contains("200"));
    let t0 = batches::T0 as i64;
    let mut frame = Frame::new(t0, "h");
    feed.fill(&mut frame);
    assert!(frame.traces.is_empty(), "the bucket is still open");
    assert!(!frame.requests.is_empty());
    assert!(
        frame
            .requests
            .iter()
            .all(|r| r.ts_ns == t0 && r.server_port == Some(8080))
    );
    let mut later = Frame::new(t0 + 30_000_000_000, "h");
    feed.fill(&mut later);
    let hits: u64 = later.traces.iter().map(|r| r.hits).sum();
    assert_eq!(hits, 200);
    assert!(later.traces.iter().all(|r| r.p50_ns <= r.p90_ns
        && r.p90_ns <= r.p99_ns
        && r.p99_ns <= r.max_ns + r.max_ns / 50));
    assert!(later.traces.iter().any(|r| r.resource == "GET /api/users"));
    assert_eq!(feed.concentrator_stats().spans, 200);
}

//! Trace intake throughput: the real loopback intake, a consumer draining it into a
//! Concentrator once per "tick" (as gadgetd does), and client threads posting OTLP
//! batches over keep-alive connections for a while. Reports spans/s accepted and
//! aggregated, refusals, and peak RSS (VmHWM) of the whole process (clients included).
//!
//!   cargo run --release -p qb-traces --example measure_intake -- [SECONDS] [CLIENTS] [SPANS_PER_BATCH] [json|protobuf]

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use qb_traces::{Concentrator, ConcentratorConfig, Intake, IntakeConfig, IntakeStats};

#[path = "../tests/support/batches.rs"]
mod batches;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Posts `body` and reads the response; returns the status code.
fn post(stream: &mut TcpStream, content_type: &str, body: &[u8], buf: &mut Vec<u8>) -> u16 {
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            return head[9..12].parse().unwrap();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let clients: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    let per_batch: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(500);
    let json = args.get(4).is_some_and(|a| a == "json");
    type Encoder = fn(usize, u64) -> Vec<u8>;
    let (content_type, encode): (&str, Encoder) = if json {
        ("application/json", batches::json)
    } else {
        ("application/x-protobuf", batches::proto)
    };
    let intake = Intake::start(IntakeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..IntakeConfig::default()
    })
    .unwrap();
    let addr = intake.local_addr();
    // A handful of distinct batches, so decoding is not of one cached body.
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..8).map(|s| encode(per_batch, s)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (bodies, stop, refused) = (bodies.clone(), stop.clone(), refused.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = Vec::new();
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let code = post(&mut s, content_type, &bodies[i % bodies.len()], &mut buf);
                    if code != 200 {
                        refused.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let mut conc = Concentrator::new(ConcentratorConfig::default());
    let start = Instant::now();
    let mut rows = 0usize;
    // The batches' spans end around T0: use it as "now" so nothing counts as late.
    let now = batches::T0 as i64;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(100));
        intake.drain(|spans| spans.iter().for_each(|s| conc.add(s, now)));
        rows += conc.flush_requests(now).len();
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    intake.drain(|spans| spans.iter().for_each(|s| conc.add(s, now)));
    let secs = start.elapsed().as_secs_f64();
    let st = intake.stats();
    let received = IntakeStats::get(&st.spans_received);
    let aggregated = conc.stats().spans;
    rows += conc.flush_traces(i64::MAX).len();
    println!(
        "{} {clients} client(s), {per_batch} spans/batch, {secs:.1} s: {:.0} spans/s received, {:.0} spans/s aggregated, {:.1} MiB/s bodies, {} spans refused (503), {} rows, peak RSS {:.1} MiB",
        if json { "json" } else { "protobuf" },
        received as f64 / secs,
        aggregated as f64 / secs,
        IntakeStats::get(&st.bytes) as f64 / secs / (1 << 20) as f64,
        IntakeStats::get(&st.spans_dropped),
        rows,
        peak_rss_kib() as f64 / 1024.0,
    );
}

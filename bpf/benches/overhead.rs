//! What the syscall probe costs the traced workload, measured with the probe detached
//! and attached in the same run:
//!
//!   cargo bench -p qb-bpf --bench overhead
//!
//! `getppid_loop`: the worst case, a pure syscall loop (the probe runs on every call).
//! `loopback_http`: a realistic one, keep-alive HTTP/1.1 requests to a loopback server
//! that answers 4 KiB bodies (several syscalls per request on both sides).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use qb_bpf::{SyscallCounter, getppid_loop};

const BODY: usize = 4096;
const HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n";

/// A minimal keep-alive HTTP server on 127.0.0.1 answering every request with 4 KiB.
fn start_server() -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        // One write per response: two small writes would meet Nagle and delayed ACKs.
        let mut response = HEAD.as_bytes().to_vec();
        response.resize(HEAD.len() + BODY, b'x');
        for stream in listener.incoming().flatten() {
            stream.set_nodelay(true).expect("nodelay");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut writer = stream;
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line == "\r\n" => {
                        if writer.write_all(&response).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
    });
    let client = TcpStream::connect(addr).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    client
}

fn request(client: &mut TcpStream, buf: &mut [u8]) {
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .expect("send");
    let mut want: usize = HEAD.len() + BODY;
    while want > 0 {
        let n = client.read(buf).expect("recv");
        assert!(n > 0, "server closed");
        want = want.saturating_sub(n);
    }
}

fn overhead(c: &mut Criterion) {
    let mut client = start_server();
    let mut buf = vec![0u8; 16384];
    let mut g = c.benchmark_group("syscall_probe");
    g.sample_size(50).measurement_time(Duration::from_secs(8));
    // Detached, attached, detached again: the repeat shows how much of a difference
    // is drift of the machine rather than the probe.
    for (label, attached) in [
        ("detached", false),
        ("attached", true),
        ("detached_again", false),
    ] {
        let probe = if attached {
            match SyscallCounter::load() {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("probe not loaded, skipping the attached runs: {e}");
                    continue;
                }
            }
        } else {
            None
        };
        g.bench_function(format!("getppid_loop_10k/{label}"), |b| {
            b.iter(|| getppid_loop(10_000))
        });
        g.bench_function(format!("loopback_http_100_requests/{label}"), |b| {
            b.iter(|| {
                for _ in 0..100 {
                    request(&mut client, &mut buf);
                }
            })
        });
        drop(probe);
    }
    g.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);

//! Worker mode: the bodies of the misbehaving processes, run as `qbranch workload
//! NAME key=value...` so every live run needs only the one binary. Workers report
//! events on stdout (`port 4242`, `faulted`) and take commands on stdin.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::LiveError;

/// Runs the worker named by `args[0]`; returns only when it fails (or, for the PII
/// writer, when its stdin closes).
pub fn main(args: &[String]) -> Result<(), LiveError> {
    let (name, rest) = args
        .split_first()
        .ok_or_else(|| LiveError::Usage("workload: missing the worker name".into()))?;
    let params: BTreeMap<&str, &str> = rest.iter().filter_map(|a| a.split_once('=')).collect();
    let num = |key: &str| -> Result<u64, LiveError> {
        params
            .get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| LiveError::Usage(format!("workload {name}: needs {key}=<number>")))
    };
    set_comm(service_name(name));
    match name.as_str() {
        "leak" => leak(&params, num),
        "server" => server(),
        "pii" => crate::pii::writer(
            num("seed")?,
            num("rate")?,
            params
                .get("file")
                .ok_or_else(|| LiveError::Usage("workload pii: needs file=<path>".into()))?,
        ),
        other => Err(LiveError::Usage(format!("unknown workload '{other}'"))),
    }
}

/// The `comm` a worker runs under: a service's name, not `qbranch`. The guard never
/// acts on a process named `qbranch` (the daemon protects itself by name), so a
/// workload under that name could be forecast or marked stuck but never restarted or
/// killed, which no real misbehaving service is spared.
pub fn service_name(worker: &str) -> &'static str {
    match worker {
        "leak" => "leaky-service",
        "server" => "lock-server",
        "pii" => "pii-writer",
        _ => "live-worker",
    }
}

/// Renames the calling thread (`/proc/PID/comm`); threads started later inherit it.
fn set_comm(name: &str) {
    let mut bytes = [0u8; 16];
    let n = name.len().min(15);
    bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes, which
    // `bytes` is (zeroed, at most 15 copied). A failure leaves the old name: harmless.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, bytes.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
}

/// A leaking service: first its own memory (a working set of `base` bytes, and a
/// `cache`-byte data file it keeps re-reading, so the page cache is hot and its
/// eviction stalls), then, from the line `leaking` on stdout, a leak of `rate` bytes a second on top of transient
/// allocations, in ten steps a second, until the OOM killer ends it.
fn leak(
    params: &BTreeMap<&str, &str>,
    num: impl Fn(&str) -> Result<u64, LiveError>,
) -> Result<(), LiveError> {
    const STEPS: u64 = 10;
    let rate = num("rate")?;
    let chunk = (rate / STEPS).max(4096) as usize;
    let mut held = vec![touched(num("base").unwrap_or(0) as usize)];
    let cache = num("cache").unwrap_or(0);
    let data = match params.get("file") {
        Some(path) if cache > 0 => Some(write_data_file(path, cache)?),
        _ => None,
    };
    let mut rng = qb_simulator::rng::Rng::new(num("seed").unwrap_or(1));
    let mut buf = vec![0u8; (cache / STEPS).clamp(4096, 1 << 20) as usize];
    let mut cursor = 0;
    // Warm for a few seconds before the leak starts, as a service is when it begins to
    // leak; the parent labels the leak from this line.
    std::thread::sleep(Duration::from_secs(3));
    println!("leaking");
    flush();
    let mut next = Instant::now();
    loop {
        held.push(touched(chunk));
        // Requests in flight: up to two steps' worth of leak, freed a step later.
        let transient = touched((rng.unit() * 2.0 * chunk as f64) as usize);
        if let Some(file) = &data {
            // The whole file once a second: evicted pages fault back in (refaults).
            let mut left = cache / STEPS;
            while left > 0 {
                use std::os::unix::fs::FileExt;
                let n = file.read_at(&mut buf, cursor).unwrap_or(0) as u64;
                cursor = if n == 0 { 0 } else { cursor + n };
                left = left.saturating_sub(n.max(4096));
            }
        }
        next += Duration::from_secs(1) / STEPS as u32;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        drop(transient);
    }
}

/// `n` bytes of resident memory: one write per page makes it resident (and charged
/// to the cgroup).
fn touched(n: usize) -> Vec<u8> {
    let mut block = vec![0u8; n];
    for i in (0..n).step_by(4096) {
        block[i] = 1;
    }
    block
}

fn write_data_file(path: &str, bytes: u64) -> Result<std::fs::File, LiveError> {
    let block = vec![7u8; 1 << 20];
    let mut f = std::fs::File::create(path).map_err(|e| LiveError::io(path, e))?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])
            .map_err(|e| LiveError::io(path, e))?;
        left -= n as u64;
    }
    std::fs::File::open(path).map_err(|e| LiveError::io(path, e))
}

/// A request/response server on loopback whose handlers take two locks, a then b.
/// Commands on stdin break it: `deadlock` (two threads take the locks in opposite
/// orders: everyone ends in futex wait, requests pile up unread) or `livelock`
/// (everyone retries politely forever: futex spam, CPU burnt, nothing served).
fn server() -> Result<(), LiveError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| LiveError::io("bind 127.0.0.1:0", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| LiveError::io("listener address", e))?
        .port();
    let shared = Arc::new(Shared::default());
    let s = Arc::clone(&shared);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match line.trim() {
                "deadlock" => s.deadlock(),
                "livelock" => s.livelock(),
                other => eprintln!("workload server: ignoring '{other}'"),
            }
            println!("faulted");
            flush();
        }
    });
    println!("port {port}");
    flush();
    // The main thread accepts, and takes the locks too: a deadlock also stops accepting
    // (and its blocked syscall reads futex, as in a real stuck server).
    for conn in listener.incoming() {
        shared.enter();
        if let Ok(conn) = conn {
            let s = Arc::clone(&shared);
            std::thread::spawn(move || handle(conn, &s));
        }
    }
    Ok(())
}

fn handle(conn: TcpStream, s: &Shared) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    for line in BufReader::new(conn).lines() {
        if line.is_err() {
            return;
        }
        s.enter();
        if out.write_all(b"ok\n").is_err() {
            return;
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    a: Mutex<u64>,
    b: Mutex<u64>,
    livelocked: AtomicBool,
    futex: AtomicU32,
}

impl Shared {
    /// What every request does: both locks, in order.
    fn enter(&self) {
        while self.livelocked.load(Ordering::Relaxed) {
            self.polite_retry();
        }
        let mut a = self.a.lock().unwrap_or_else(PoisonError::into_inner);
        let mut b = self.b.lock().unwrap_or_else(PoisonError::into_inner);
        *a = work(*a);
        *b += 1;
    }

    fn deadlock(self: &Arc<Self>) {
        // The first locks are taken one after the other: once `a` is held no handler can
        // hold `b` (handlers take `a` first), so taking `b` never waits behind a handler
        // that waits for `a`. Taken at once, both could end up stuck behind handlers
        // before the fault was reported.
        let a_held = Arc::new(Barrier::new(2));
        let both_held = Arc::new(Barrier::new(3));
        for first_a in [true, false] {
            let s = Arc::clone(self);
            let (a_held, both_held) = (Arc::clone(&a_held), Arc::clone(&both_held));
            std::thread::spawn(move || {
                let (first, second) = if first_a { (&s.a, &s.b) } else { (&s.b, &s.a) };
                if !first_a {
                    a_held.wait();
                }
                let _held = first.lock().unwrap_or_else(PoisonError::into_inner);
                if first_a {
                    a_held.wait();
                }
                both_held.wait();
                let _never = second.lock();
            });
        }
        both_held.wait();
    }

    fn livelock(self: &Arc<Self>) {
        self.livelocked.store(true, Ordering::Relaxed);
        for _ in 0..2 {
            let s = Arc::clone(self);
            std::thread::spawn(move || {
                loop {
                    s.polite_retry();
                }
            });
        }
    }

    /// Back off for 50 µs on a futex and wake the others: the retry loop of a livelock.
    fn polite_retry(&self) {
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 50_000,
        };
        let word = self.futex.as_ptr();
        // SAFETY: `word` points to a live AtomicU32 for the duration of both calls and
        // `timeout` outlives them.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word,
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1,
            );
            libc::syscall(
                libc::SYS_futex,
                word,
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                0,
                &timeout,
            );
        }
    }
}

/// Half a millisecond of CPU, whatever the build: what a request costs a real server.
fn work(mut x: u64) -> u64 {
    let until = Instant::now() + Duration::from_micros(500);
    while Instant::now() < until {
        for i in 0..1_000u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
        }
    }
    std::hint::black_box(x)
}

fn flush() {
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_run_under_a_service_name_the_guard_does_not_protect() {
        for worker in ["leak", "server", "pii", "other"] {
            let name = service_name(worker);
            assert!(name.len() <= 15, "{name} is longer than a comm");
            assert!(!name.starts_with("qbranch"), "{name}");
        }
    }
}

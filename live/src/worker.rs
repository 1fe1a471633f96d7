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
    match name.as_str() {
        "leak" => leak(num("rate")?),
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

/// Allocates and touches `rate` bytes a second, in ten steps a second, until the OOM
/// killer ends it.
fn leak(rate: u64) -> Result<(), LiveError> {
    const STEPS: u32 = 10;
    let chunk = (rate / u64::from(STEPS)).max(4096) as usize;
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut next = Instant::now();
    loop {
        let mut block = vec![0u8; chunk];
        // One write per page makes it resident (and charged to the cgroup).
        for i in (0..chunk).step_by(4096) {
            block[i] = 1;
        }
        held.push(block);
        next += Duration::from_secs(1) / STEPS;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
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
        *a += 1;
        *b += 1;
    }

    fn deadlock(self: &Arc<Self>) {
        let barrier = Arc::new(Barrier::new(3));
        for first_a in [true, false] {
            let (s, barrier) = (Arc::clone(self), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let (first, second) = if first_a { (&s.a, &s.b) } else { (&s.b, &s.a) };
                let _held = first.lock().unwrap_or_else(PoisonError::into_inner);
                barrier.wait();
                let _never = second.lock();
            });
        }
        barrier.wait();
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

fn flush() {
    let _ = std::io::stdout().flush();
}

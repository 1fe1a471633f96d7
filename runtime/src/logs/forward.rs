//! Where forwarded log records go, off the tick thread: a bounded queue and one sender
//! thread per pipeline. The tick only ever pushes (never blocks): when the sink is down
//! or slow, the queue fills to its bound and further records are dropped and counted.
//! The records are already redacted; nothing here looks inside them.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Records per send: one write (or one POST) per batch. The line count can be changed
/// while running (gadgetd's tuner), so it lives in `Shared`.
pub const BATCH_LINES: usize = 1000;
const BATCH_BYTES: usize = 1 << 20;
/// Waits between retries of a failed batch, doubling up to the maximum.
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a stop keeps trying to deliver what is still queued.
const STOP_GRACE: Duration = Duration::from_secs(2);
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// A sink, as configured: `stdout`, a file path, or `http://host:port/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    Stdout,
    File(PathBuf),
    Http(HttpTarget),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// `host:port`, resolved at every connection (a restarted collector may move).
    pub authority: String,
    pub path: String,
}

impl SinkSpec {
    pub fn parse(text: &str) -> Result<SinkSpec, String> {
        let text = text.trim();
        if text == "stdout" || text == "-" {
            return Ok(SinkSpec::Stdout);
        }
        if let Some(rest) = text.strip_prefix("http://") {
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            if authority.is_empty() || authority.contains('@') {
                return Err(format!("{text:?}: no host (or user info, not supported)"));
            }
            let authority = if authority.rsplit_once(':').is_some_and(|(_, p)| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0')
            }) {
                authority.to_string()
            } else if authority.ends_with(']') || !authority.contains(':') {
                format!("{authority}:80")
            } else {
                return Err(format!("{text:?}: bad port"));
            };
            return Ok(SinkSpec::Http(HttpTarget {
                authority,
                path: path.to_string(),
            }));
        }
        if text.contains("://") {
            return Err(format!(
                "{text:?}: only stdout, a file path or http:// are supported (no TLS: put a \
                 local collector or proxy in front)"
            ));
        }
        if text.is_empty() {
            return Err("empty sink".into());
        }
        Ok(SinkSpec::File(PathBuf::from(text)))
    }

    fn describe(&self) -> String {
        match self {
            SinkSpec::Stdout => "stdout".into(),
            SinkSpec::File(p) => p.display().to_string(),
            SinkSpec::Http(t) => format!("http://{}{}", t.authority, t.path),
        }
    }
}

/// The forwarder's counters (cumulative, except the two `buffered_*`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ForwardStats {
    pub sent: u64,
    /// Refused because the queue was at its bound, or still queued at stop.
    pub dropped: u64,
    pub send_errors: u64,
    pub buffered_lines: u64,
    pub buffered_bytes: u64,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<String>,
    bytes: usize,
    /// The batch the sender holds (failed sends retry it): counted against the bound.
    in_flight_bytes: usize,
    stop: bool,
    stats: ForwardStats,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    max_lines: usize,
    max_bytes: usize,
    batch_lines: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A bounded queue in front of a sink, drained by its own thread.
#[derive(Debug)]
pub struct Forwarder {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    sink: String,
}

impl Forwarder {
    /// Starts the sender. The sink is opened (a file) or connected (HTTP) on the first
    /// send, and again after every failure.
    pub fn start(spec: SinkSpec, max_lines: usize, max_bytes: usize) -> io::Result<Forwarder> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                in_flight_bytes: 0,
                stop: false,
                stats: ForwardStats::default(),
            }),
            wake: Condvar::new(),
            max_lines: max_lines.max(1),
            max_bytes: max_bytes.max(1),
            batch_lines: AtomicUsize::new(BATCH_LINES),
        });
        let sink = spec.describe();
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("log-forward".into())
                .spawn(move || send_loop(&shared, Sink::new(spec)))?
        };
        Ok(Forwarder {
            shared,
            thread: Some(thread),
            sink,
        })
    }

    pub fn sink(&self) -> &str {
        &self.sink
    }

    /// Queues one record (a line, no newline). Never blocks on the sink: at the bound the
    /// record is dropped and counted; returns whether it was queued.
    pub fn push(&self, record: String) -> bool {
        let mut s = self.shared.lock();
        let full = s.queue.len() >= self.shared.max_lines
            || s.bytes + s.in_flight_bytes + record.len() > self.shared.max_bytes;
        if full || s.stop {
            s.stats.dropped += 1;
            return false;
        }
        s.bytes += record.len();
        s.queue.push_back(record);
        drop(s);
        self.shared.wake.notify_one();
        true
    }

    /// Records per send from the next batch on (at least 1).
    pub fn set_batch_lines(&self, lines: usize) {
        self.shared
            .batch_lines
            .store(lines.max(1), Ordering::Relaxed);
    }

    pub fn stats(&self) -> ForwardStats {
        let s = self.shared.lock();
        ForwardStats {
            buffered_lines: s.queue.len() as u64,
            buffered_bytes: (s.bytes + s.in_flight_bytes) as u64,
            ..s.stats
        }
    }

    /// Delivers what is queued, for up to `STOP_GRACE`, then counts the rest as dropped.
    pub fn stop(&mut self) -> ForwardStats {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("log forwarder: the sender thread panicked");
        }
        self.stats()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

fn send_loop(shared: &Shared, mut sink: Sink) {
    let mut retry = RETRY_MIN;
    let mut stop_by: Option<Instant> = None;
    let mut batch: Vec<String> = Vec::new();
    loop {
        if batch.is_empty() {
            let mut s = shared.lock();
            while s.queue.is_empty() && !s.stop {
                s = shared
                    .wake
                    .wait(s)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if s.queue.is_empty() {
                return;
            }
            let mut bytes = 0;
            let batch_lines = shared.batch_lines.load(Ordering::Relaxed);
            while let Some(r) = s.queue.front() {
                if !batch.is_empty() && (batch.len() >= batch_lines || bytes >= BATCH_BYTES) {
                    break;
                }
                bytes += r.len();
                batch.extend(s.queue.pop_front());
            }
            s.bytes -= bytes;
            s.in_flight_bytes = bytes;
        }
        match sink.send(&batch) {
            Ok(()) => {
                let mut s = shared.lock();
                s.stats.sent += batch.len() as u64;
                s.in_flight_bytes = 0;
                batch.clear();
                retry = RETRY_MIN;
            }
            Err(e) => {
                let mut s = shared.lock();
                if s.stats.send_errors == 0 || retry == RETRY_MIN {
                    tracing::warn!("log forwarder: {}: {e}; retrying", sink.spec.describe());
                }
                s.stats.send_errors += 1;
                let deadline = *stop_by.get_or_insert_with(|| Instant::now() + STOP_GRACE);
                if s.stop && Instant::now() >= deadline {
                    s.stats.dropped += (batch.len() + s.queue.len()) as u64;
                    s.queue.clear();
                    s.bytes = 0;
                    s.in_flight_bytes = 0;
                    return;
                }
                if !s.stop {
                    stop_by = None;
                }
                // Sleeps on the condvar so a stop cuts the wait short.
                let _ = shared
                    .wake
                    .wait_timeout(s, retry)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// The open end of a sink; reopened after every failure.
#[derive(Debug)]
struct Sink {
    spec: SinkSpec,
    file: Option<File>,
    body: Vec<u8>,
}

impl Sink {
    fn new(spec: SinkSpec) -> Sink {
        Sink {
            spec,
            file: None,
            body: Vec::new(),
        }
    }

    fn send(&mut self, batch: &[String]) -> io::Result<()> {
        self.body.clear();
        for r in batch {
            self.body.extend_from_slice(r.as_bytes());
            self.body.push(b'\n');
        }
        match &self.spec {
            SinkSpec::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&self.body)?;
                out.flush()
            }
            SinkSpec::File(path) => {
                if self.file.is_none() {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)?;
                    }
                    self.file = Some(OpenOptions::new().create(true).append(true).open(path)?);
                }
                let result = self
                    .file
                    .as_mut()
                    .map_or(Ok(()), |f| f.write_all(&self.body));
                if result.is_err() {
                    self.file = None;
                }
                result
            }
            SinkSpec::Http(target) => post(target, &self.body),
        }
    }
}

/// One `POST` of newline-delimited JSON; any 2xx is delivered. A connection per batch:
/// batches are seconds apart, and there is no stale keep-alive state to get wrong.
fn post(target: &HttpTarget, body: &[u8]) -> io::Result<()> {
    let addr = target
        .authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{} resolves to nothing", target.authority)))?;
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-ndjson\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        target.path,
        target.authority,
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut status = [0u8; 12];
    stream.read_exact(&mut status)?;
    // "HTTP/1.1 200"
    let code = std::str::from_utf8(&status[9..12]).unwrap_or("???");
    if status.starts_with(b"HTTP/1.") && code.starts_with('2') {
        Ok(())
    } else {
        Err(io::Error::other(format!("the endpoint answered {code}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn sinks_parse_and_refuse_what_they_cannot_do() {
        assert_eq!(SinkSpec::parse("stdout").unwrap(), SinkSpec::Stdout);
        assert_eq!(
            SinkSpec::parse("/var/log/out.jsonl").unwrap(),
            SinkSpec::File("/var/log/out.jsonl".into())
        );
        let SinkSpec::Http(t) = SinkSpec::parse("http://127.0.0.1:9000/logs").unwrap() else {
            panic!("not http")
        };
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:9000", "/logs")
        );
        let SinkSpec::Http(t) = SinkSpec::parse("http://collector").unwrap() else {
            panic!("not http")
        };
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("collector:80", "/")
        );
        for bad in ["https://x/y", "http://", "http://h:x/", "", "ftp://a"] {
            assert!(SinkSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_file_sink_gets_every_record_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.jsonl");
        let mut f = Forwarder::start(SinkSpec::File(path.clone()), 100_000, 1 << 26).unwrap();
        for i in 0..5000 {
            assert!(f.push(format!("{{\"n\":{i}}}")));
        }
        let stats = f.stop();
        assert_eq!((stats.sent, stats.dropped), (5000, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5000);
        assert_eq!(lines[4321], "{\"n\":4321}");
    }

    #[test]
    fn a_down_sink_fills_the_bound_then_drops_and_never_blocks() {
        // A port nobody listens on: bind, read the port, close.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spec = SinkSpec::parse(&format!("http://127.0.0.1:{port}/in")).unwrap();
        let mut f = Forwarder::start(spec, 100, 1 << 20).unwrap();
        let queued = (0..1000).filter(|i| f.push(format!("r{i}"))).count();
        // The sender may hold one batch out of the queue: at most 100 queued + 100 held.
        assert!((100..=200).contains(&queued), "{queued}");
        let stats = f.stop();
        assert_eq!(stats.sent, 0);
        assert_eq!(stats.dropped, 1000);
        assert!(stats.send_errors >= 1);
        assert_eq!((stats.buffered_lines, stats.buffered_bytes), (0, 0));
    }

    #[test]
    fn the_batch_size_can_change_while_running() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spec = SinkSpec::parse(&format!("http://127.0.0.1:{port}/in")).unwrap();
        let mut f = Forwarder::start(spec, 100, 1 << 20).unwrap();
        f.set_batch_lines(10);
        let queued = (0..1000).filter(|i| f.push(format!("r{i}"))).count();
        // The sender now holds at most 10 out of the queue, not 100.
        assert!((100..=110).contains(&queued), "{queued}");
        assert_eq!(f.stop().dropped, 1000);
    }

    #[test]
    fn the_byte_bound_holds_for_large_records() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: every open fails.
        let path = dir.path().to_path_buf();
        let mut f = Forwarder::start(SinkSpec::File(path), 1_000_000, 10_000).unwrap();
        let big = "x".repeat(3000);
        let queued = (0..10).filter(|_| f.push(big.clone())).count();
        assert!(
            queued <= 3,
            "{queued} records of 3000 bytes under a 10000-byte bound"
        );
        assert!(f.stats().buffered_bytes <= 10_000);
        assert_eq!(f.stop().dropped, 10);
    }

    #[test]
    fn http_batches_arrive_as_ndjson_posts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut received = String::new();
            while received.lines().filter(|l| l.starts_with("{\"n\"")).count() < 300 {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then exactly Content-Length bytes.
                let (head_end, length) = loop {
                    let n = s.read(&mut chunk).unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .unwrap()
                            .trim()
                            .parse::<usize>()
                            .unwrap();
                        assert!(text.starts_with("POST /ingest HTTP/1.1\r\n"));
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + length {
                    let n = s.read(&mut chunk).unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                received.push_str(&String::from_utf8_lossy(&buf[head_end..]));
                s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
            }
            received
        });
        let spec = SinkSpec::parse(&format!("http://127.0.0.1:{port}/ingest")).unwrap();
        let mut f = Forwarder::start(spec, 10_000, 1 << 20).unwrap();
        for i in 0..300 {
            f.push(format!("{{\"n\":{i}}}"));
        }
        let received = server.join().unwrap();
        let stats = f.stop();
        assert_eq!((stats.sent, stats.dropped), (300, 0));
        let got: Vec<&str> = received.lines().collect();
        assert_eq!(got.len(), 300);
        assert_eq!(got[299], "{\"n\":299}");
    }
}

//! The loopback OTLP/HTTP intake: `POST /v1/traces`, JSON or protobuf, HTTP/1.1 with
//! keep-alive, on std threads (one per connection, a bounded number of them).
//!
//! Connection threads decode and hand whole batches to the consumer over a bounded
//! queue, so a slow tick never blocks a client for long and a burst never grows memory
//! beyond `max_queued_spans` decoded spans plus `max_connections` bodies of at most
//! `max_body` bytes: a full queue answers 503 (OTLP exporters retry on it), an oversized
//! body 413.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::otlp::{self, Encoding};
use crate::span::Span;

/// The OTLP/HTTP port, on loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4318";
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct IntakeConfig {
    pub listen: SocketAddr,
    /// Allow a non-loopback address (spans then come from other hosts, unauthenticated).
    pub allow_remote: bool,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Decoded spans waiting for the consumer, at most.
    pub max_queued_spans: usize,
    pub max_connections: usize,
    /// An idle keep-alive connection (or a trickling client) is closed after this.
    pub idle_timeout: Duration,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4318)),
            allow_remote: false,
            max_body: 4 << 20,
            max_queued_spans: 200_000,
            max_connections: 32,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

impl IntakeConfig {
    pub fn validate(&self) -> Result<()> {
        if !self.listen.ip().is_loopback() && !self.allow_remote {
            return Err(Error::Config(format!(
                "listen address {} is not loopback; spans are unauthenticated, so set \
                 allow_remote = true to accept them from the network",
                self.listen
            )));
        }
        if self.max_body == 0 || self.max_queued_spans == 0 || self.max_connections == 0 {
            return Err(Error::Config(
                "max_body, max_queued_spans and max_connections must be > 0".into(),
            ));
        }
        Ok(())
    }
}

/// Counters of the intake, shared with its threads.
#[derive(Debug, Default)]
pub struct IntakeStats {
    pub requests: AtomicU64,
    pub spans_received: AtomicU64,
    /// Spans refused because the queue was full (answered 503).
    pub spans_dropped: AtomicU64,
    /// Body bytes received in accepted requests.
    pub bytes: AtomicU64,
    /// Requests answered 4xx (malformed, too large, wrong type or path).
    pub bad_requests: AtomicU64,
    /// Connections refused at `max_connections`.
    pub connections_refused: AtomicU64,
}

impl IntakeStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

struct Shared {
    config: IntakeConfig,
    stats: Arc<IntakeStats>,
    queued: AtomicUsize,
    connections: AtomicUsize,
    stop: AtomicBool,
}

/// A running intake. Dropping it stops accepting (the listener thread ends at the next
/// connection attempt; open connections end at their idle timeout).
pub struct Intake {
    addr: SocketAddr,
    shared: Arc<Shared>,
    rx: Receiver<Vec<Span>>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Intake {
    /// Validates the config, binds and starts the listener thread.
    pub fn start(config: IntakeConfig) -> Result<Intake> {
        config.validate()?;
        let listen = config.listen;
        let listener = TcpListener::bind(listen).map_err(|source| Error::Listen {
            addr: listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: listen,
            source,
        })?;
        // Queue slots are batches; the span budget is the real bound.
        let (tx, rx) = sync_channel(1024);
        let shared = Arc::new(Shared {
            config,
            stats: Arc::new(IntakeStats::default()),
            queued: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("otlp-intake".into())
            .spawn(move || accept_loop(listener, s, tx))
            .map_err(|source| Error::Listen {
                addr: listen,
                source,
            })?;
        Ok(Intake { addr, shared, rx })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Arc<IntakeStats> {
        self.shared.stats.clone()
    }

    /// Spans decoded but not yet taken.
    pub fn queued_spans(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Takes every batch waiting now, without blocking.
    pub fn drain(&self, mut each: impl FnMut(Vec<Span>)) {
        while let Ok(batch) = self.rx.try_recv() {
            self.shared.queued.fetch_sub(batch.len(), Ordering::Relaxed);
            each(batch);
        }
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tx: SyncSender<Vec<Span>>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(stream) = stream else { continue };
        if shared.connections.fetch_add(1, Ordering::AcqRel) >= shared.config.max_connections {
            shared.connections.fetch_sub(1, Ordering::AcqRel);
            shared
                .stats
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            let _ = respond(
                &stream,
                "503 Service Unavailable",
                "text/plain",
                b"too many connections\n",
                true,
            );
            continue;
        }
        let (s, tx) = (shared.clone(), tx.clone());
        let spawned = std::thread::Builder::new()
            .name("otlp-conn".into())
            .spawn(move || {
                if let Err(e) = serve(stream, &s, &tx) {
                    tracing::debug!("traces intake: connection ended: {e}");
                }
                s.connections.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A parsed request head.
#[derive(Debug, Default, PartialEq)]
struct Head {
    method: String,
    path: String,
    content_length: Option<usize>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    chunked: bool,
    close: bool,
}

fn parse_head(text: &str) -> Option<Head> {
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    let version = parts.next()?;
    let mut head = Head {
        method,
        path: target.split('?').next().unwrap_or_default().to_string(),
        close: version == "HTTP/1.0",
        ..Head::default()
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => head.content_length = Some(value.parse().ok()?),
            "content-type" => head.content_type = Some(value.to_string()),
            "content-encoding" => head.content_encoding = Some(value.to_ascii_lowercase()),
            "transfer-encoding" => head.chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => head.close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    Some(head)
}

fn respond(
    mut stream: &TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    close: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}

/// One connection: requests until the client closes, asks to close, idles out, or
/// sends something we cannot frame.
fn serve(
    mut stream: TcpStream,
    shared: &Shared,
    tx: &SyncSender<Vec<Span>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(shared.config.idle_timeout))?;
    stream.set_write_timeout(Some(shared.config.idle_timeout))?;
    let stats = &shared.stats;
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Read the head.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                stats.bad_requests.fetch_add(1, Ordering::Relaxed);
                return respond(
                    &stream,
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    b"request head too large\n",
                    true,
                );
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let text = String::from_utf8_lossy(&buf[..head_end - 4]).into_owned();
        buf.drain(..head_end);
        let Some(head) = parse_head(&text) else {
            stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            return respond(
                &stream,
                "400 Bad Request",
                "text/plain",
                b"malformed request head\n",
                true,
            );
        };
        let bad = |status: &str, msg: &str| {
            stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            // We do not read the body of a refused request: close to stay in frame.
            respond(&stream, status, "text/plain", msg.as_bytes(), true)
        };
        if head.chunked {
            return bad(
                "411 Length Required",
                "chunked bodies are not accepted: send Content-Length\n",
            );
        }
        let Some(len) = head.content_length else {
            return bad("411 Length Required", "Content-Length required\n");
        };
        if len > shared.config.max_body {
            return bad(
                "413 Content Too Large",
                &format!(
                    "body of {len} bytes exceeds {} bytes\n",
                    shared.config.max_body
                ),
            );
        }
        if head.path != "/v1/traces" {
            return bad("404 Not Found", "only /v1/traces\n");
        }
        if head.method != "POST" {
            return bad("405 Method Not Allowed", "only POST\n");
        }
        if head
            .content_encoding
            .as_deref()
            .is_some_and(|e| e != "identity")
        {
            return bad(
                "415 Unsupported Media Type",
                "compressed bodies are not accepted\n",
            );
        }
        let Some(encoding) = head
            .content_type
            .as_deref()
            .and_then(Encoding::from_content_type)
        else {
            return bad(
                "415 Unsupported Media Type",
                "Content-Type must be application/json or application/x-protobuf\n",
            );
        };
        while buf.len() < len {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut spans = Vec::new();
        if let Err(e) = otlp::decode(encoding, &body, &mut spans) {
            stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            respond(
                &stream,
                "400 Bad Request",
                "text/plain",
                format!("{e}\n").as_bytes(),
                head.close,
            )?;
        } else {
            stats.bytes.fetch_add(len as u64, Ordering::Relaxed);
            let n = spans.len();
            stats.spans_received.fetch_add(n as u64, Ordering::Relaxed);
            if enqueue(shared, tx, spans) {
                respond(
                    &stream,
                    "200 OK",
                    encoding.content_type(),
                    encoding.empty_response(),
                    head.close,
                )?;
            } else {
                stats.spans_dropped.fetch_add(n as u64, Ordering::Relaxed);
                respond(
                    &stream,
                    "503 Service Unavailable",
                    "text/plain",
                    b"span queue full, retry later\n",
                    head.close,
                )?;
            }
        }
        if head.close {
            return Ok(());
        }
    }
}

/// Queues a batch unless that would exceed the span budget (an empty batch always fits).
fn enqueue(shared: &Shared, tx: &SyncSender<Vec<Span>>, spans: Vec<Span>) -> bool {
    let n = spans.len();
    if n == 0 {
        return true;
    }
    let before = shared.queued.fetch_add(n, Ordering::AcqRel);
    if before + n > shared.config.max_queued_spans {
        shared.queued.fetch_sub(n, Ordering::AcqRel);
        return false;
    }
    match tx.try_send(spans) {
        Ok(()) => true,
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            shared.queued.fetch_sub(n, Ordering::AcqRel);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_garbage_does_not() {
        let h = parse_head(
            "POST /v1/traces?x=1 HTTP/1.1\r\nHost: a\r\ncontent-length: 12\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close",
        )
        .unwrap();
        assert_eq!((h.method.as_str(), h.path.as_str()), ("POST", "/v1/traces"));
        assert_eq!((h.content_length, h.close), (Some(12), true));
        assert_eq!(
            Encoding::from_content_type(h.content_type.as_deref().unwrap()),
            Some(Encoding::Json)
        );
        assert!(parse_head("POST").is_none());
        assert!(parse_head("POST / HTTP/1.1\r\nContent-Length: -1").is_none());
        assert!(parse_head("POST / HTTP/1.1\r\nno colon").is_none());
        assert!(parse_head("GET / HTTP/1.0").unwrap().close);
    }

    #[test]
    fn non_loopback_needs_allow_remote() {
        let mut c = IntakeConfig {
            listen: "0.0.0.0:4318".parse().unwrap(),
            ..IntakeConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("not loopback") && e.contains("allow_remote"),
            "{e}"
        );
        c.allow_remote = true;
        assert!(c.validate().is_ok());
        assert!(IntakeConfig::default().validate().is_ok());
    }
}

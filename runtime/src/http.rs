//! A minimal HTTP/1.x server for `GET /metrics` on loopback: one thread, one request
//! per connection, no keep-alive. Prometheus scrapes a few times a minute, so nothing
//! bigger (no async runtime) is worth its memory.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::Context;

use crate::metrics::{SharedMetrics, lock, resident_bytes};

/// A client that sends nothing (or trickles) cannot hold the only thread for longer.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// A request head longer than this is not a scrape.
const MAX_HEAD: usize = 8 * 1024;

/// Binds `addr` and serves from a background thread; returns the bound address (the
/// real port when `addr` asked for port 0).
pub fn serve(addr: SocketAddr, metrics: SharedMetrics) -> anyhow::Result<SocketAddr> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("metrics: cannot listen on {addr}"))?;
    let bound = listener
        .local_addr()
        .with_context(|| format!("metrics: no local address for {addr}"))?;
    std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => {
                        if let Err(e) = answer(s, &metrics) {
                            tracing::debug!("metrics: request failed: {e}");
                        }
                    }
                    Err(e) => tracing::debug!("metrics: accept failed: {e}"),
                }
            }
        })
        .context("metrics: cannot start the HTTP thread")?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, metrics: &SharedMetrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let (status, content_type, body) = match request_target(&head) {
        Some(("GET" | "HEAD", "/metrics")) => {
            let text = lock(metrics).render(resident_bytes());
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", text)
        }
        Some(("GET" | "HEAD", _)) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: try /metrics\n".to_string(),
        ),
        Some(_) => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".to_string(),
        ),
        None => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n".to_string(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head.starts_with("HEAD ") {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

/// Reads until the blank line that ends the request head (or the limit, or EOF).
fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while head.len() < MAX_HEAD {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The method and path of the request line, without a query string.
fn request_target(head: &str) -> Option<(&str, &str)> {
    let mut parts = head.lines().next()?.split_whitespace();
    let method = parts.next()?;
    let target = parts.next()?;
    let path = target.split('?').next().unwrap_or(target);
    Some((method, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_metrics_and_404s_the_rest() {
        let metrics = Arc::new(Mutex::new(crate::metrics::Metrics::default()));
        let addr = serve("127.0.0.1:0".parse().unwrap(), metrics).unwrap();
        assert_ne!(addr.port(), 0);
        let ok = get(addr, "/metrics?x=1");
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(ok.contains("version=0.0.4"));
        assert!(ok.contains("qbranch_ticks_total 0"));
        assert!(get(addr, "/").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "/metricsx").starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn request_lines_parse() {
        assert_eq!(
            request_target("GET /metrics HTTP/1.1\r\n"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(request_target(""), None);
        assert_eq!(request_target("GET"), None);
    }
}

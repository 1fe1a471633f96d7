//! Loopback clients of the stuck-server workload: persistent connections sending a
//! request every 100 ms, plus a new connection every half second. Against a healthy
//! server they get answers; against a stuck one their requests pile up unread in the
//! server's receive queues and the new connections in its accept backlog.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const REQUEST_EVERY: Duration = Duration::from_millis(100);
const CONNECT_EVERY: Duration = Duration::from_millis(500);
/// Connections opened after the start, at most (the backlog builds from these).
const MAX_NEW: usize = 64;

#[derive(Debug)]
pub struct Clients {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Clients {
    pub fn start(port: u16, persistent: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for _ in 0..persistent {
            let (stop, served) = (Arc::clone(&stop), Arc::clone(&served));
            threads.push(std::thread::spawn(move || {
                if let Ok(conn) = connect(port) {
                    converse(conn, &stop, &served);
                }
            }));
        }
        let s = Arc::clone(&stop);
        threads.push(std::thread::spawn(move || {
            // Held open, never closed: unaccepted ones are the accept backlog.
            let mut opened = Vec::new();
            while !s.load(Ordering::Relaxed) && opened.len() < MAX_NEW {
                if let Ok(mut c) = connect(port) {
                    let _ = c.write_all(b"hello\n");
                    opened.push(c);
                }
                std::thread::sleep(CONNECT_EVERY);
            }
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(CONNECT_EVERY);
            }
        }));
        Clients {
            stop,
            served,
            threads,
        }
    }

    /// Responses received so far, over all connections.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let c = TcpStream::connect(("127.0.0.1", port))?;
    c.set_read_timeout(Some(REQUEST_EVERY))?;
    c.set_write_timeout(Some(REQUEST_EVERY))?;
    Ok(c)
}

fn converse(mut conn: TcpStream, stop: &AtomicBool, served: &AtomicU64) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        // A write timeout (full buffers in front of a stuck server) is not an error
        // here: the client just keeps waiting.
        let _ = conn.write_all(b"req\n");
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let answers = buf[..n].iter().filter(|&&b| b == b'\n').count();
                served.fetch_add(answers as u64, Ordering::Relaxed);
            }
            Err(_) => {}
        }
        std::thread::sleep(REQUEST_EVERY);
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

//! Loopback clients of the stuck-server workload: persistent connections sending a
//! request every 100 ms, plus a short-lived client every half second. Against a healthy
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
/// Short-lived clients left waiting, at most (the backlog builds from these).
const MAX_WAITING: usize = 256;

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
        let (s, served2) = (Arc::clone(&stop), Arc::clone(&served));
        threads.push(std::thread::spawn(move || {
            // Short-lived clients: connect, ask once, leave once answered. Those left
            // waiting are kept open: unaccepted ones are the accept backlog.
            let mut waiting = Vec::new();
            while !s.load(Ordering::Relaxed) {
                if waiting.len() < MAX_WAITING
                    && let Ok(mut c) = connect(port)
                {
                    let mut buf = [0u8; 16];
                    let answered =
                        c.write_all(b"hello\n").is_ok() && c.read(&mut buf).is_ok_and(|n| n > 0);
                    if answered {
                        served2.fetch_add(1, Ordering::Relaxed);
                    } else {
                        waiting.push(c);
                    }
                }
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
    // A full accept backlog drops SYNs: give up quickly rather than hang.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let c = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
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

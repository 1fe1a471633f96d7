//! The `connections` table: every TCP socket of the recorder's network namespace, IPv4
//! and IPv6, in every state (LISTEN included), once per tick.
//!
//! Sockets and their `tcp_info` come from NETLINK_SOCK_DIAG (`netlink.rs`). Where that
//! does not work, or the proc root is not a real procfs (a fake tree's fds would not
//! match the live sockets), `<proc>/net/tcp` and `tcp6` are parsed instead
//! (`procnet.rs`), without tcp_info. A netlink failure mid-recording falls back for
//! that tick only and is counted.
//!
//! Owners are found by scanning `<proc>/PID/fd` for `socket:[INODE]` links, in
//! ascending pid order, until every new inode of the tick is found: a socket shared by
//! several processes (fork) goes to the lowest pid holding it. Each attribution is
//! remembered as (pid, fd) and re-checked with one readlink per tick, so a quiet host
//! costs one syscall per socket and a scan happens only when new sockets appear.
//! Sockets held by no visible process (time-wait, not yet accepted, other pid
//! namespaces) keep a null pid.

mod destroy;
mod netlink;
mod procnet;

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use qb_signals::ConnectionRow;

use crate::fsread::{is_procfs, read_into, vanished};
pub use destroy::{SocketId, destroy_socket};
use netlink::DiagSocket;
pub use procnet::parse_proc_net_tcp;

/// A socket nobody was found holding is searched for again after this many ticks (it
/// may have been in flight between processes), not on every tick: that costs a full scan.
const ORPHAN_RETRY_TICKS: u64 = 10;

/// Counts for one tick (add them up for a recording).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnStats {
    pub rows: u64,
    /// Rows whose socket no visible process holds (pid null).
    pub unowned: u64,
    /// Ticks on which netlink failed and /proc/net/tcp was read instead.
    pub netlink_failures: u64,
    /// /proc/net/tcp{,6} lines that could not be parsed and were skipped.
    pub bad_lines: u64,
    /// Processes that exited while their fds were being scanned.
    pub vanished: u64,
    /// Ticks on which no source could be read at all (no rows).
    pub unavailable: u64,
}

impl std::ops::AddAssign for ConnStats {
    fn add_assign(&mut self, o: Self) {
        self.rows += o.rows;
        self.unowned += o.unowned;
        self.netlink_failures += o.netlink_failures;
        self.bad_lines += o.bad_lines;
        self.vanished += o.vanished;
        self.unavailable += o.unavailable;
    }
}

#[derive(Debug)]
pub struct ConnectionCollector {
    proc_root: PathBuf,
    /// Netlink is the method; `sock` is None until (re)opened after a failure.
    netlink: bool,
    sock: Option<DiagSocket>,
    method: String,
    tick: u64,
    owners: Owners,
    /// First ts_ns each socket was seen, and the last tick it was.
    first_seen: HashMap<AgeKey, (i64, u64)>,
    buf: String,
}

/// Time-wait and request sockets have no inode: they are told apart by their addresses.
#[derive(Debug, PartialEq, Eq, Hash)]
enum AgeKey {
    Inode(u64),
    Tuple(u32, String, u32, String, u32),
}

impl ConnectionCollector {
    /// Uses netlink inet_diag when it answers and `proc_root` is a real procfs, else
    /// /proc/net/tcp; [`ConnectionCollector::method`] says which and why.
    pub fn new(proc_root: &Path) -> Self {
        if !is_procfs(proc_root) {
            let why = format!("{} is not procfs", proc_root.display());
            return Self::with_method(proc_root, None, format!("/proc/net/tcp fallback: {why}"));
        }
        let probe = DiagSocket::open().and_then(|mut s| {
            s.dump(libc::AF_INET as u8, 0, &mut Vec::new())?;
            Ok(s)
        });
        match probe {
            Ok(s) => Self::with_method(proc_root, Some(s), "netlink inet_diag".into()),
            Err(e) => Self::with_method(
                proc_root,
                None,
                format!("/proc/net/tcp fallback: netlink sock_diag: {e}"),
            ),
        }
    }

    /// Always reads `<proc_root>/net/tcp{,6}` (to compare the two sources, or by choice).
    pub fn proc_net_only(proc_root: &Path) -> Self {
        Self::with_method(proc_root, None, "/proc/net/tcp fallback: requested".into())
    }

    fn with_method(proc_root: &Path, sock: Option<DiagSocket>, method: String) -> Self {
        ConnectionCollector {
            proc_root: proc_root.into(),
            netlink: sock.is_some(),
            sock,
            method,
            tick: 0,
            owners: Owners::default(),
            first_seen: HashMap::new(),
            buf: String::new(),
        }
    }

    /// "netlink inet_diag" or "/proc/net/tcp fallback: <reason>".
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Appends this tick's sockets to `out`. Never fails: what cannot be read is counted.
    pub fn collect(&mut self, ts_ns: i64, out: &mut Vec<ConnectionRow>) -> ConnStats {
        let mut stats = ConnStats::default();
        self.tick += 1;
        let start = out.len();
        let mut done = false;
        if self.netlink {
            match self.dump_netlink(ts_ns, out) {
                Ok(()) => done = true,
                Err(e) => {
                    out.truncate(start);
                    stats.netlink_failures += 1;
                    tracing::warn!("sock_diag failed, reading /proc/net/tcp this tick: {e}");
                }
            }
        }
        if !done && !self.read_proc_net(ts_ns, out, &mut stats) {
            stats.unavailable += 1;
        }
        let rows = &mut out[start..];
        self.owners
            .attribute(&self.proc_root, self.tick, rows, &mut stats);
        self.set_ages(ts_ns, rows);
        stats.rows = rows.len() as u64;
        stats
    }

    fn dump_netlink(&mut self, ts_ns: i64, out: &mut Vec<ConnectionRow>) -> io::Result<()> {
        let mut sock = match self.sock.take() {
            Some(s) => s,
            None => DiagSocket::open()?,
        };
        sock.dump(libc::AF_INET as u8, ts_ns, out)?;
        sock.dump(libc::AF_INET6 as u8, ts_ns, out)?;
        // Kept only after a clean dump: a failed one may have left messages queued.
        self.sock = Some(sock);
        Ok(())
    }

    /// False when not even net/tcp could be read. A missing tcp6 means no IPv6.
    fn read_proc_net(
        &mut self,
        ts_ns: i64,
        out: &mut Vec<ConnectionRow>,
        s: &mut ConnStats,
    ) -> bool {
        let mut any = false;
        for file in ["net/tcp", "net/tcp6"] {
            let path = self.proc_root.join(file);
            match read_into(&path, &mut self.buf) {
                Ok(()) => {
                    any = true;
                    s.bad_lines += parse_proc_net_tcp(&self.buf, ts_ns, out);
                }
                Err(e) if file == "net/tcp6" && e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("{}: {e}", path.display()),
            }
        }
        any
    }

    fn set_ages(&mut self, ts_ns: i64, rows: &mut [ConnectionRow]) {
        let tick = self.tick;
        for row in rows {
            let key = if row.inode != 0 {
                AgeKey::Inode(row.inode)
            } else {
                AgeKey::Tuple(
                    row.family,
                    row.local_addr.clone(),
                    row.local_port,
                    row.remote_addr.clone(),
                    row.remote_port,
                )
            };
            let seen = self.first_seen.entry(key).or_insert((ts_ns, tick));
            seen.1 = tick;
            row.age_ms = Some(u64::try_from((ts_ns - seen.0) / 1_000_000).unwrap_or(0));
        }
        self.first_seen.retain(|_, seen| seen.1 == tick);
    }
}

/// Socket inode -> owning pid, kept across ticks.
///
/// A socket shared by several processes (inherited over fork, passed over a unix
/// socket) is attributed to the lowest pid holding it when it is first resolved, and
/// keeps that pid for as long as that process holds it (then it is resolved afresh).
#[derive(Debug, Default)]
struct Owners {
    /// Inode -> (pid, fd) that held it at the last check.
    held: HashMap<u64, (u32, u32)>,
    /// Inodes a scan found nobody holding -> the tick of that scan.
    orphans: HashMap<u64, u64>,
}

impl Owners {
    fn attribute(
        &mut self,
        proc_root: &Path,
        tick: u64,
        rows: &mut [ConnectionRow],
        s: &mut ConnStats,
    ) {
        let wanted: HashSet<u64> = rows.iter().map(|r| r.inode).filter(|&i| i != 0).collect();
        let mut search = HashSet::new();
        for &inode in &wanted {
            if let Some(&(pid, fd)) = self.held.get(&inode) {
                if link_inode(&proc_root.join(format!("{pid}/fd/{fd}"))) == Some(inode) {
                    continue;
                }
                self.held.remove(&inode);
            }
            match self.orphans.get(&inode) {
                Some(&t) if tick.saturating_sub(t) < ORPHAN_RETRY_TICKS => {}
                _ => {
                    search.insert(inode);
                }
            }
        }
        if !search.is_empty() {
            self.scan(proc_root, &wanted, &mut search, s);
        }
        for inode in search {
            self.orphans.insert(inode, tick);
        }
        self.held.retain(|i, _| wanted.contains(i));
        self.orphans.retain(|i, _| wanted.contains(i));
        for row in rows {
            row.pid = self.held.get(&row.inode).map(|&(pid, _)| pid);
            if row.pid.is_none() {
                s.unowned += 1;
            }
        }
    }

    /// Walks pids upwards, so the first holder found is the lowest, and stops once every
    /// inode in `search` is found. Orphans met on the way are attributed too.
    fn scan(
        &mut self,
        proc_root: &Path,
        wanted: &HashSet<u64>,
        search: &mut HashSet<u64>,
        s: &mut ConnStats,
    ) {
        let Ok(dir) = std::fs::read_dir(proc_root) else {
            return;
        };
        let mut pids: Vec<u32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        let mut path = PathBuf::new();
        for pid in pids {
            path.clear();
            path.push(proc_root);
            path.push(pid.to_string());
            path.push("fd");
            let fds = match std::fs::read_dir(&path) {
                Ok(fds) => fds,
                Err(e) => {
                    if vanished(&e) {
                        s.vanished += 1;
                    }
                    continue; // or not permitted: its sockets stay unowned
                }
            };
            for entry in fds.flatten() {
                let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                let Some(inode) = link_inode(&entry.path()) else {
                    continue;
                };
                if wanted.contains(&inode) && !self.held.contains_key(&inode) {
                    self.held.insert(inode, (pid, fd));
                    self.orphans.remove(&inode);
                    search.remove(&inode);
                }
            }
            if search.is_empty() {
                return;
            }
        }
    }
}

/// The inode of a `socket:[INODE]` fd link; None for other files or a closed fd.
fn link_inode(link: &Path) -> Option<u64> {
    let target = std::fs::read_link(link).ok()?;
    target
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// TCP state names as `ss` prints them (include/net/tcp_states.h).
fn state_name(state: u8) -> String {
    let name = match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        13 => "BOUND_INACTIVE",
        n => return format!("UNKNOWN_{n}"),
    };
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names() {
        assert_eq!(state_name(1), "ESTABLISHED");
        assert_eq!(state_name(10), "LISTEN");
        assert_eq!(state_name(11), "CLOSING");
        assert_eq!(state_name(99), "UNKNOWN_99");
    }

    #[test]
    fn stats_add_up() {
        let one = ConnStats {
            rows: 2,
            unowned: 1,
            netlink_failures: 1,
            bad_lines: 3,
            vanished: 1,
            unavailable: 1,
        };
        let mut sum = one;
        sum += one;
        assert_eq!(sum.rows, 4);
        assert_eq!(sum.bad_lines, 6);
        assert_eq!(sum.unavailable, 2);
    }

    /// A netlink socket that breaks mid-recording: that tick comes from /proc/net/tcp and
    /// is counted; the next tick reopens netlink.
    #[test]
    fn netlink_failure_falls_back_for_one_tick() {
        let proc = Path::new("/proc");
        let mut c = ConnectionCollector::new(proc);
        if !c.method().starts_with("netlink") {
            println!("skipped: netlink unavailable here ({})", c.method());
            return;
        }
        let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => return println!("skipped: no loopback TCP: {e}"),
        };
        let port = u32::from(listener.local_addr().map_or(0, |a| a.port()));
        // A UDP socket rejects the netlink request: the dump fails at sendto.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
        c.sock = Some(DiagSocket::from_fd(udp.into()));

        let mut rows = Vec::new();
        let s = c.collect(1, &mut rows);
        assert_eq!((s.netlink_failures, s.unavailable), (1, 0));
        let row = rows
            .iter()
            .find(|r| r.local_port == port)
            .expect("listener via /proc/net/tcp");
        assert_eq!((row.state.as_str(), row.rtt_us), ("LISTEN", None));
        assert_eq!(row.pid, Some(std::process::id()));

        rows.clear();
        let s = c.collect(2, &mut rows);
        assert_eq!(s.netlink_failures, 0);
        let row = rows
            .iter()
            .find(|r| r.local_port == port)
            .expect("listener via netlink");
        assert!(row.rtt_us.is_some(), "tcp_info is back: {row:?}");
        assert_eq!(c.method(), "netlink inet_diag");
    }
}

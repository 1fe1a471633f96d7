//! The connections source: live loopback sockets (netlink and /proc/net/tcp) and fake
//! /proc trees for the fallback parser and pid attribution.

#![allow(clippy::unwrap_used)] // tests may unwrap (CONTRIBUTING.md)

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;
use std::time::{Duration, Instant};

use qb_recorder::connections::{ConnStats, ConnectionCollector};
use qb_signals::ConnectionRow;

fn skip(reason: &str) {
    println!("skipped: {reason}");
}

/// A collector on the live /proc, or why there is none.
fn live() -> Result<ConnectionCollector, String> {
    if !Path::new("/proc/self/fd").is_dir() {
        return Err("no /proc".into());
    }
    Ok(ConnectionCollector::new(Path::new("/proc")))
}

fn netlink() -> Result<ConnectionCollector, String> {
    let c = live()?;
    if c.method() == "netlink inet_diag" {
        Ok(c)
    } else {
        Err(format!("netlink unavailable: {}", c.method()))
    }
}

fn collect(c: &mut ConnectionCollector) -> Vec<ConnectionRow> {
    let mut rows = Vec::new();
    let s = c.collect(0, &mut rows);
    assert_eq!(s.rows, rows.len() as u64);
    rows
}

/// Collects until `pred` holds (loopback packets are processed asynchronously), at most
/// 10 s; returns the last collection either way, so the caller's assertions decide.
fn collect_until(
    c: &mut ConnectionCollector,
    pred: impl Fn(&[ConnectionRow]) -> bool,
) -> Vec<ConnectionRow> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = collect(c);
        if pred(&rows) || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn find(rows: &[ConnectionRow], local: SocketAddr, remote_port: u16) -> Option<&ConnectionRow> {
    let ip = local.ip().to_string();
    rows.iter().find(|r| {
        r.local_port == u32::from(local.port())
            && r.remote_port == u32::from(remote_port)
            && r.local_addr == ip
    })
}

fn row(rows: &[ConnectionRow], local: SocketAddr, remote_port: u16) -> &ConnectionRow {
    find(rows, local, remote_port).unwrap_or_else(|| panic!("no row for {local} -> :{remote_port}"))
}

/// The socket inode, as the kernel reports it for the fd.
fn inode(fd: &impl AsRawFd) -> u64 {
    fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .ino()
}

/// getsockopt(TCP_INFO) through glibc's struct declaration: an independent reading.
fn tcp_info(s: &TcpStream) -> libc::tcp_info {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes into it.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        );
        assert_eq!(rc, 0, "getsockopt TCP_INFO");
        info
    }
}

/// A connected pair over `listener`: (client, server).
fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

const MIB: usize = 1 << 20;

/// The client sends 1 MiB, the server reads it all and answers one byte: once the client
/// has read that byte, the ACK it carried covered the whole transfer.
fn transfer(bind: &str, family: u32, loopback: &str) {
    let mut c = match netlink() {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    let listener = match TcpListener::bind(bind) {
        Ok(l) => l,
        Err(e) => return skip(&format!("cannot listen on {bind}: {e}")),
    };
    let (mut client, mut server) = pair(&listener);
    let writer = {
        let mut client = client.try_clone().unwrap();
        std::thread::spawn(move || client.write_all(&vec![0x5a; MIB]).unwrap())
    };
    let mut got = vec![0; MIB];
    server.read_exact(&mut got).unwrap();
    writer.join().unwrap();
    server.write_all(b"!").unwrap();
    let mut reply = [0u8];
    client.read_exact(&mut reply).unwrap();

    let (caddr, saddr) = (client.local_addr().unwrap(), server.local_addr().unwrap());
    let rows = collect(&mut c);
    let cr = row(&rows, caddr, saddr.port());
    let sr = row(&rows, saddr, caddr.port());
    for r in [cr, sr] {
        assert_eq!(r.state, "ESTABLISHED");
        assert_eq!(r.family, family);
        assert_eq!(
            (r.local_addr.as_str(), r.remote_addr.as_str()),
            (loopback, loopback)
        );
        assert_eq!(r.pid, Some(std::process::id()));
        assert!(r.rtt_us.is_some_and(|rtt| rtt > 0), "{r:?}");
        assert!(
            r.rttvar_us.is_some() && r.last_data_recv_ms.is_some(),
            "{r:?}"
        );
        assert!(
            r.retransmits.is_some() && r.total_retrans.is_some(),
            "{r:?}"
        );
        assert_eq!(r.age_ms, Some(0));
    }
    assert_eq!(cr.inode, inode(&client));
    assert_eq!(sr.inode, inode(&server));
    assert_eq!(sr.bytes_received, Some(MIB as u64));
    assert_eq!(cr.bytes_received, Some(1));
    // tcpi_bytes_acked counts the SYN as one acknowledged byte.
    assert_eq!(cr.bytes_acked, Some(MIB as u64 + 1));
    let info = tcp_info(&client);
    assert_eq!(cr.bytes_acked, Some(info.tcpi_bytes_acked));
    assert_eq!(cr.bytes_received, Some(info.tcpi_bytes_received));
    assert_eq!(cr.total_retrans, Some(info.tcpi_total_retrans));
    assert_eq!((cr.rx_queue, cr.tx_queue), (0, 0));
    println!(
        "{bind}: client rtt {:?} us, rttvar {:?} us, bytes_acked {:?}; server bytes_received {:?}",
        cr.rtt_us, cr.rttvar_us, cr.bytes_acked, sr.bytes_received
    );
}

#[test]
fn ipv4_transfer_is_recorded() {
    transfer("127.0.0.1:0", 4, "127.0.0.1");
}

#[test]
fn ipv6_transfer_is_recorded() {
    transfer("[::1]:0", 6, "::1");
}

#[test]
fn listen_backlog_counts_unaccepted_clients() {
    let mut c = match live() {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let laddr = listener.local_addr().unwrap();
    const N: u32 = 3;
    let clients: Vec<TcpStream> = (0..N).map(|_| TcpStream::connect(laddr).unwrap()).collect();
    let rows = collect_until(&mut c, |rows| {
        find(rows, laddr, 0).is_some_and(|r| r.rx_queue == N)
    });
    let l = row(&rows, laddr, 0);
    assert_eq!(
        (l.state.as_str(), l.remote_addr.as_str()),
        ("LISTEN", "0.0.0.0")
    );
    assert_eq!(l.rx_queue, N, "accept backlog");
    assert_eq!(l.inode, inode(&listener));
    assert_eq!(l.pid, Some(std::process::id()));
    if c.method() == "netlink inet_diag" {
        let somaxconn: u32 = fs::read_to_string("/proc/sys/net/core/somaxconn")
            .map_or(u32::MAX, |s| s.trim().parse().unwrap_or(u32::MAX));
        assert!(
            l.tx_queue >= N && l.tx_queue <= somaxconn,
            "backlog limit {}",
            l.tx_queue
        );
    }
    // Handshaken but not accepted: no socket inode yet, so nobody owns them.
    for client in &clients {
        let cport = client.local_addr().unwrap().port();
        let cr = row(&rows, client.local_addr().unwrap(), laddr.port());
        assert_eq!(
            (cr.state.as_str(), cr.pid),
            ("ESTABLISHED", Some(std::process::id()))
        );
        let child = row(&rows, laddr, cport);
        assert_eq!(
            (child.state.as_str(), child.inode, child.pid),
            ("ESTABLISHED", 0, None)
        );
    }
    println!(
        "{}: LISTEN rx_queue {} tx_queue {}",
        c.method(),
        l.rx_queue,
        l.tx_queue
    );
}

#[test]
fn stalled_reader_grows_queues() {
    let mut c = match live() {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (client, mut server) = pair(&listener);
    let (caddr, saddr) = (client.local_addr().unwrap(), server.local_addr().unwrap());
    // Small enough to fit the receive window, so all of it reaches the client's queue.
    const CHUNK: u32 = 16 * 1024;
    let mut seen = Vec::new();
    for round in 1..=2 {
        server.write_all(&[7; CHUNK as usize]).unwrap();
        let rows = collect_until(&mut c, |rows| {
            find(rows, caddr, saddr.port()).is_some_and(|r| r.rx_queue == round * CHUNK)
                && find(rows, saddr, caddr.port()).is_some_and(|r| r.tx_queue == 0)
        });
        let unread = row(&rows, caddr, saddr.port()).rx_queue;
        assert_eq!(unread, round * CHUNK, "client rx_queue after round {round}");
        seen.push(unread);
    }
    assert!(seen[1] > seen[0]);
    drop(client);
}

/// /proc/net/tcp on the live host agrees with netlink about the same quiet sockets.
#[test]
fn live_fallback_matches_netlink() {
    let mut nl = match netlink() {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    let mut pn = ConnectionCollector::proc_net_only(Path::new("/proc"));
    assert!(pn.method().starts_with("/proc/net/tcp fallback"));
    let mut sockets = Vec::new();
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let Ok(listener) = TcpListener::bind(bind) else {
            skip(&format!("cannot listen on {bind}"));
            continue;
        };
        let (client, server) = pair(&listener);
        sockets.push((listener, client, server));
    }
    let a = collect(&mut nl);
    let b = collect(&mut pn);
    for (listener, client, server) in &sockets {
        let l = listener.local_addr().unwrap();
        let (ca, sa) = (client.local_addr().unwrap(), server.local_addr().unwrap());
        for (local, remote) in [(l, 0), (ca, sa.port()), (sa, ca.port())] {
            let (x, y) = (row(&a, local, remote), row(&b, local, remote));
            assert_eq!(
                (
                    x.family,
                    &x.state,
                    &x.local_addr,
                    &x.remote_addr,
                    x.inode,
                    x.pid
                ),
                (
                    y.family,
                    &y.state,
                    &y.local_addr,
                    &y.remote_addr,
                    y.inode,
                    y.pid
                ),
            );
            assert_eq!(x.rx_queue, y.rx_queue);
            if x.state != "LISTEN" {
                assert_eq!(x.tx_queue, y.tx_queue);
            }
            assert!(x.rtt_us.is_some() && y.rtt_us.is_none());
            assert_eq!(y.pid, Some(std::process::id()));
        }
    }
}

// ---- fake /proc trees -------------------------------------------------------------

const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 5001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:9C40 01 00000010:00000020 00:00000000 00000000  1000        0 5002 1 0000000000000000 20 4 30 10 -1
this is not a socket line
   2: 0100007F:1F90 0100007F:9C41 06 00000000:00000000 03:00000F8B 00000000     0        0 0 3 0000000000000000
   3: 0100007F:ZZZZ 0100007F:9C41 01 00000000:00000000 00:00000000 00000000     0        0 77 1
";

const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:01BB 00000000000000000000000001000000:D431 08 00000000:00000100 00:00000000 00000000     0        0 6002 1 0000000000000000 20 4 0 10 -1
   2: 0000000000000000FFFF00000100007F:1F91 0000000000000000FFFF00000100007F:9C42 01 00000000:00000000 00:00000000 00000000     0        0 6003 1 0000000000000000 20 4 0 10 -1
   3: 000000000000000000000000
";

/// A fake proc root: net/tcp{,6} and pids whose fds point at some of the inodes.
/// pid 100 and 200 share socket 5001 (a fork); 6002 is held by nobody; pid 400 has no
/// fd directory (it vanished mid-scan).
fn fake_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("net")).unwrap();
    fs::write(root.join("net/tcp"), TCP).unwrap();
    fs::write(root.join("net/tcp6"), TCP6).unwrap();
    let fds: &[(u32, u32, &str)] = &[
        (200, 3, "socket:[5001]"),
        (100, 3, "socket:[5001]"),
        (100, 4, "socket:[5002]"),
        (100, 5, "/dev/null"),
        (300, 0, "socket:[6001]"),
        (300, 1, "socket:[6003]"),
        (300, 9, "socket:[999999]"),
        (300, 10, "pipe:[6002]"),
    ];
    for &(pid, fd, target) in fds {
        let fd_dir = root.join(format!("{pid}/fd"));
        fs::create_dir_all(&fd_dir).unwrap();
        symlink(target, fd_dir.join(fd.to_string())).unwrap();
    }
    fs::create_dir_all(root.join("400")).unwrap();
    fs::create_dir_all(root.join("sys")).unwrap();
    dir
}

fn by_inode(rows: &[ConnectionRow], inode: u64) -> &ConnectionRow {
    rows.iter()
        .find(|r| r.inode == inode)
        .unwrap_or_else(|| panic!("no inode {inode}"))
}

#[test]
fn fallback_parses_fake_proc_tree() {
    if cfg!(target_endian = "big") {
        return skip("the fake files are written as a little-endian kernel prints them");
    }
    let tree = fake_tree();
    let mut c = ConnectionCollector::new(tree.path());
    assert!(
        c.method().starts_with("/proc/net/tcp fallback: "),
        "{}",
        c.method()
    );
    assert!(c.method().contains("not procfs"), "{}", c.method());
    let mut rows = Vec::new();
    let s = c.collect(1_000_000_000, &mut rows);
    assert_eq!(
        s,
        ConnStats {
            rows: 6,
            unowned: 2, // the TIME_WAIT (inode 0) and 6002
            bad_lines: 3,
            vanished: 1,
            ..ConnStats::default()
        }
    );
    assert!(rows.iter().all(|r| r.ts_ns == 1_000_000_000));

    let listen = by_inode(&rows, 5001);
    assert_eq!((listen.state.as_str(), listen.family), ("LISTEN", 4));
    assert_eq!(
        (listen.local_addr.as_str(), listen.local_port),
        ("0.0.0.0", 8080)
    );
    assert_eq!(
        (listen.remote_addr.as_str(), listen.remote_port),
        ("0.0.0.0", 0)
    );
    assert_eq!((listen.rx_queue, listen.tx_queue), (2, 0));
    assert_eq!(
        listen.pid,
        Some(100),
        "a shared socket goes to the lowest pid"
    );

    let est = by_inode(&rows, 5002);
    assert_eq!(est.state, "ESTABLISHED");
    assert_eq!(
        (est.local_addr.as_str(), est.local_port),
        ("127.0.0.1", 8080)
    );
    assert_eq!(
        (est.remote_addr.as_str(), est.remote_port),
        ("127.0.0.1", 40000)
    );
    assert_eq!(
        (est.tx_queue, est.rx_queue, est.pid),
        (0x10, 0x20, Some(100))
    );
    assert_eq!(
        (
            est.rtt_us,
            est.rttvar_us,
            est.retransmits,
            est.total_retrans
        ),
        (None, None, None, None)
    );
    assert_eq!(
        (est.bytes_acked, est.bytes_received, est.last_data_recv_ms),
        (None, None, None)
    );

    let tw = by_inode(&rows, 0);
    assert_eq!(
        (tw.state.as_str(), tw.remote_port, tw.pid),
        ("TIME_WAIT", 40001, None)
    );

    let l6 = by_inode(&rows, 6001);
    assert_eq!(
        (l6.family, l6.state.as_str(), l6.local_addr.as_str()),
        (6, "LISTEN", "::")
    );
    assert_eq!((l6.local_port, l6.pid), (443, Some(300)));
    let cw = by_inode(&rows, 6002);
    assert_eq!(
        (
            cw.state.as_str(),
            cw.local_addr.as_str(),
            cw.remote_addr.as_str()
        ),
        ("CLOSE_WAIT", "::1", "::1")
    );
    assert_eq!((cw.remote_port, cw.rx_queue), (54321, 256));
    let mapped = by_inode(&rows, 6003);
    assert_eq!(mapped.local_addr, "::ffff:127.0.0.1");
    assert_eq!(
        (mapped.local_port, mapped.remote_port, mapped.pid),
        (8081, 40002, Some(300))
    );
    assert!(rows.iter().all(|r| r.age_ms == Some(0)));
}

#[test]
fn socket_without_owner_has_no_pid() {
    if cfg!(target_endian = "big") {
        return skip("the fake files are written as a little-endian kernel prints them");
    }
    let tree = fake_tree();
    let mut c = ConnectionCollector::new(tree.path());
    let mut rows = Vec::new();
    c.collect(0, &mut rows);
    assert_eq!(by_inode(&rows, 6002).pid, None);
    // Once a process opens it, a later tick attributes it (after the orphan retry).
    let fd_dir = tree.path().join("500/fd");
    fs::create_dir_all(&fd_dir).unwrap();
    symlink("socket:[6002]", fd_dir.join("4")).unwrap();
    let mut pid = None;
    for tick in 1..=20 {
        rows.clear();
        c.collect(tick, &mut rows);
        pid = by_inode(&rows, 6002).pid;
        if pid.is_some() {
            break;
        }
    }
    assert_eq!(pid, Some(500));
}

#[test]
fn owners_follow_the_fds_across_ticks() {
    if cfg!(target_endian = "big") {
        return skip("the fake files are written as a little-endian kernel prints them");
    }
    let tree = fake_tree();
    let root = tree.path();
    let mut c = ConnectionCollector::new(root);
    let mut rows = Vec::new();
    c.collect(0, &mut rows);
    assert_eq!(by_inode(&rows, 5001).pid, Some(100));
    // The lower pid closes its copy (or exits): the fork child remains the owner.
    fs::remove_file(root.join("100/fd/3")).unwrap();
    rows.clear();
    c.collect(1, &mut rows);
    assert_eq!(by_inode(&rows, 5001).pid, Some(200));
    fs::remove_dir_all(root.join("100")).unwrap();
    rows.clear();
    let s = c.collect(2, &mut rows);
    assert_eq!(by_inode(&rows, 5002).pid, None);
    assert_eq!(by_inode(&rows, 5001).pid, Some(200));
    assert_eq!(s.unowned, 3);
}

#[test]
fn age_counts_from_first_sighting_in_frame_time() {
    if cfg!(target_endian = "big") {
        return skip("the fake files are written as a little-endian kernel prints them");
    }
    let tree = fake_tree();
    let tcp = tree.path().join("net/tcp");
    let mut c = ConnectionCollector::new(tree.path());
    let mut rows = Vec::new();
    c.collect(10_000_000_000, &mut rows);
    rows.clear();
    c.collect(12_500_000_000, &mut rows);
    assert_eq!(by_inode(&rows, 5002).age_ms, Some(2500));
    assert_eq!(
        by_inode(&rows, 0).age_ms,
        Some(2500),
        "time-wait keyed by its addresses"
    );
    // Gone for a tick, then back: a new socket as far as age goes.
    let without: String = TCP
        .lines()
        .filter(|l| !l.contains(" 5002 "))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&tcp, without).unwrap();
    rows.clear();
    c.collect(13_000_000_000, &mut rows);
    assert!(rows.iter().all(|r| r.inode != 5002));
    fs::write(&tcp, TCP).unwrap();
    rows.clear();
    c.collect(14_000_000_000, &mut rows);
    assert_eq!(by_inode(&rows, 5002).age_ms, Some(0));
    assert_eq!(by_inode(&rows, 5001).age_ms, Some(4000));
}

#[test]
fn missing_proc_net_is_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ConnectionCollector::new(dir.path());
    let mut rows = Vec::new();
    let s = c.collect(0, &mut rows);
    assert!(rows.is_empty());
    assert_eq!((s.rows, s.unavailable), (0, 1));
}

/// Not an assertion, a measurement (`--ignored --nocapture`): the cost of a tick with
/// ~500 extra processes, when every socket is already attributed and when each tick
/// brings a socket owned by the newest (highest) pid, which forces a scan of every
/// process; compared with walking every fd link of every process once.
#[test]
#[ignore]
fn owner_scan_cost() {
    use std::process::{Child, Command, Stdio};
    let mut c = match live() {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    let sleeper = |stdin: Stdio| {
        Command::new("sleep")
            .arg("120")
            .stdin(stdin)
            .stdout(Stdio::null())
            .spawn()
    };
    let mut children: Vec<Child> = Vec::new();
    for _ in 0..500 {
        match sleeper(Stdio::null()) {
            Ok(child) => children.push(child),
            Err(e) => return skip(&format!("cannot spawn sleep: {e}")),
        }
    }
    let time = |c: &mut ConnectionCollector, ticks: u32, mut before: Box<dyn FnMut()>| {
        let mut total = Duration::ZERO;
        let mut rows = Vec::new();
        for _ in 0..ticks {
            before();
            rows.clear();
            let t = Instant::now();
            c.collect(0, &mut rows);
            total += t.elapsed();
        }
        (total / ticks, rows.len())
    };
    let listeners: Vec<TcpListener> = (0..50)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    c.collect(0, &mut Vec::new());
    let (steady, rows) = time(&mut c, 20, Box::new(|| {}));

    let mut owned = Vec::new();
    let (fresh, _) = time(
        &mut c,
        10,
        Box::new(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            owned.push(sleeper(Stdio::from(std::os::fd::OwnedFd::from(l))).unwrap());
        }),
    );
    children.append(&mut owned);

    let t = Instant::now();
    let (mut procs, mut links) = (0, 0);
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.parse::<u32>().is_ok())
        {
            procs += 1;
            if let Ok(fds) = fs::read_dir(e.path().join("fd")) {
                links += fds
                    .flatten()
                    .filter(|f| fs::read_link(f.path()).is_ok())
                    .count();
            }
        }
    }
    let walk = t.elapsed();
    println!("method: {}", c.method());
    println!(
        "{procs} processes, {links} fd links, {rows} TCP sockets ({} held here)",
        listeners.len()
    );
    println!("tick, all sockets attributed:        {steady:?}");
    println!("tick, new socket of the highest pid: {fresh:?}");
    println!("bare walk of every fd link:          {walk:?}");
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

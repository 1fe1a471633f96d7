//! Ending one TCP connection from outside its process: `SOCK_DESTROY` through
//! NETLINK_SOCK_DIAG (`CONFIG_INET_DIAG_DESTROY`, CAP_NET_ADMIN), as `ss -K` does.
//!
//! The socket is first looked up by its exact 4-tuple: its inode must still be the one
//! the frame saw (a 4-tuple can be reused by a new connection between the frame and the
//! action), and the lookup's cookie then pins the destroy to that very socket: the
//! kernel refuses a cookie that no longer matches.

use std::io;
use std::net::{IpAddr, SocketAddr};

use super::netlink::{
    DiagSocket, MSG_LEN, NLMSG_HDRLEN, REQ_LEN, SOCK_DIAG_BY_FAMILY, align4, invalid, u16_at,
    u32_at,
};

/// linux/sock_diag.h; not in the libc crate.
const SOCK_DESTROY: u16 = 21;
/// `INET_DIAG_NOCOOKIE`: match on the 4-tuple alone.
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// A TCP socket by its two ends, as the socket's own side sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketId {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Resets the socket `id` if it is still the one with `inode`. Errors name the cause:
/// `NotFound` (gone already), `InvalidInput` (another socket answers to the 4-tuple now:
/// a new connection, or, once it is gone, the listener the lookup falls back to),
/// `PermissionDenied` (no CAP_NET_ADMIN), `Unsupported` (no INET_DIAG_DESTROY).
pub fn destroy_socket(id: &SocketId, inode: u64) -> io::Result<()> {
    let mut socket = DiagSocket::open()?;
    let (found, cookie) = lookup(&mut socket, id)?;
    if found != inode {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} -> {} is socket {found} now, not {inode}",
                id.local, id.remote
            ),
        ));
    }
    let seq = socket.next_seq();
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    socket.send(&request(id, SOCK_DESTROY, flags, seq, cookie)?)?;
    loop {
        let n = socket.recv()?;
        if let Some(reply) = reply(socket.received(n), seq)? {
            return match reply {
                Reply::Ack => Ok(()),
                Reply::Socket { .. } => Err(invalid("SOCK_DESTROY answered with a socket".into())),
            };
        }
    }
}

/// The socket with exactly this 4-tuple: its inode and cookie.
fn lookup(socket: &mut DiagSocket, id: &SocketId) -> io::Result<(u64, [u8; 8])> {
    let seq = socket.next_seq();
    let flags = libc::NLM_F_REQUEST as u16;
    socket.send(&request(id, SOCK_DIAG_BY_FAMILY, flags, seq, NO_COOKIE)?)?;
    loop {
        let n = socket.recv()?;
        match reply(socket.received(n), seq)? {
            Some(Reply::Socket { inode, cookie }) => return Ok((inode, cookie)),
            Some(Reply::Ack) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no socket {} -> {}", id.local, id.remote),
                ));
            }
            None => {}
        }
    }
}

/// nlmsghdr + inet_diag_req_v2 naming one socket (any state).
fn request(
    id: &SocketId,
    kind: u16,
    flags: u16,
    seq: u32,
    cookie: [u8; 8],
) -> io::Result<[u8; NLMSG_HDRLEN + REQ_LEN]> {
    let family = match (id.local.ip(), id.remote.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => libc::AF_INET,
        (IpAddr::V6(_), IpAddr::V6(_)) => libc::AF_INET6,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} and {} are of different families", id.local, id.remote),
            ));
        }
    };
    let mut r = [0u8; NLMSG_HDRLEN + REQ_LEN];
    r[0..4].copy_from_slice(&((NLMSG_HDRLEN + REQ_LEN) as u32).to_ne_bytes());
    r[4..6].copy_from_slice(&kind.to_ne_bytes());
    r[6..8].copy_from_slice(&flags.to_ne_bytes());
    r[8..12].copy_from_slice(&seq.to_ne_bytes());
    let q = &mut r[NLMSG_HDRLEN..];
    q[0] = family as u8;
    q[1] = libc::IPPROTO_TCP as u8;
    q[4..8].copy_from_slice(&u32::MAX.to_ne_bytes()); // every state
    // inet_diag_sockid: ports and addresses in network order.
    q[8..10].copy_from_slice(&id.local.port().to_be_bytes());
    q[10..12].copy_from_slice(&id.remote.port().to_be_bytes());
    put_addr(&mut q[12..28], id.local.ip());
    put_addr(&mut q[28..44], id.remote.ip());
    q[48..56].copy_from_slice(&cookie);
    Ok(r)
}

fn put_addr(out: &mut [u8], ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out.copy_from_slice(&a.octets()),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Ack,
    Socket { inode: u64, cookie: [u8; 8] },
}

/// The answer to request `seq` in one datagram, if it holds one.
fn reply(mut data: &[u8], seq: u32) -> io::Result<Option<Reply>> {
    while data.len() >= NLMSG_HDRLEN {
        let len = u32_at(data, 0).unwrap_or(0) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(invalid(format!("message length {len} out of bounds")));
        }
        let body = &data[NLMSG_HDRLEN..len];
        if u32_at(data, 8) == Some(seq) {
            match u16_at(data, 4).unwrap_or(0) {
                k if i32::from(k) == libc::NLMSG_ERROR => {
                    let errno = u32_at(body, 0).map_or(0, |e| e as i32);
                    if errno == 0 {
                        return Ok(Some(Reply::Ack));
                    }
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                SOCK_DIAG_BY_FAMILY if body.len() >= MSG_LEN => {
                    let mut cookie = [0; 8];
                    cookie.copy_from_slice(&body[44..52]);
                    let inode = u64::from(u32_at(body, 68).unwrap_or(0));
                    return Ok(Some(Reply::Socket { inode, cookie }));
                }
                SOCK_DIAG_BY_FAMILY => {
                    return Err(invalid(format!("inet_diag_msg of {} bytes", body.len())));
                }
                _ => {}
            }
        }
        data = data.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::fs::MetadataExt;

    fn id() -> SocketId {
        SocketId {
            local: "10.0.0.1:5432".parse().unwrap(),
            remote: "10.0.0.2:40000".parse().unwrap(),
        }
    }

    #[test]
    fn requests_name_one_socket_in_network_order() {
        let r = request(&id(), SOCK_DESTROY, 5, 9, [1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        assert_eq!(u16_at(&r, 4), Some(SOCK_DESTROY));
        assert_eq!(u32_at(&r, 8), Some(9));
        let q = &r[NLMSG_HDRLEN..];
        assert_eq!((q[0], q[1]), (libc::AF_INET as u8, libc::IPPROTO_TCP as u8));
        assert_eq!(&q[8..12], &[0x15, 0x38, 0x9c, 0x40]);
        assert_eq!(&q[12..16], &[10, 0, 0, 1]);
        assert_eq!(&q[28..32], &[10, 0, 0, 2]);
        assert_eq!(&q[48..56], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mixed = SocketId {
            local: "[::1]:1".parse().unwrap(),
            remote: "10.0.0.2:2".parse().unwrap(),
        };
        assert!(request(&mixed, SOCK_DESTROY, 0, 0, NO_COOKIE).is_err());
    }

    fn nlmsg(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = ((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn replies_acks_errors_and_other_sequences() {
        let ack = nlmsg(libc::NLMSG_ERROR as u16, 3, &0i32.to_ne_bytes());
        assert_eq!(reply(&ack, 3).unwrap(), Some(Reply::Ack));
        assert_eq!(reply(&ack, 4).unwrap(), None);
        let eperm = nlmsg(libc::NLMSG_ERROR as u16, 3, &(-libc::EPERM).to_ne_bytes());
        assert_eq!(
            reply(&eperm, 3).unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
        let mut msg = vec![0u8; MSG_LEN];
        msg[44..52].copy_from_slice(&[9; 8]);
        msg[68..72].copy_from_slice(&77u32.to_ne_bytes());
        let found = nlmsg(SOCK_DIAG_BY_FAMILY, 3, &msg);
        assert_eq!(
            reply(&found, 3).unwrap(),
            Some(Reply::Socket {
                inode: 77,
                cookie: [9; 8]
            })
        );
        assert!(reply(&nlmsg(SOCK_DIAG_BY_FAMILY, 3, &[0; 8]), 3).is_err());
        assert!(reply(&found[..20], 3).is_err());
    }

    /// A real connection on loopback: its server side is destroyed, the client sees the
    /// reset; a wrong inode or a gone socket are refused by name. Needs root.
    #[test]
    fn destroys_a_real_socket_and_only_that_one() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: needs root (CAP_NET_ADMIN) for SOCK_DESTROY");
            return;
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&server);
        let inode = std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .unwrap()
            .ino();
        let id = SocketId {
            local: server.local_addr().unwrap(),
            remote: server.peer_addr().unwrap(),
        };
        let wrong = destroy_socket(&id, inode + 1).unwrap_err();
        assert_eq!(wrong.kind(), io::ErrorKind::InvalidInput, "{wrong}");
        match destroy_socket(&id, inode) {
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                println!("skipped: kernel without CONFIG_INET_DIAG_DESTROY ({e})");
                return;
            }
            r => r.unwrap(),
        }
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let _ = client.write_all(b"ping");
        let mut buf = [0u8; 8];
        let read = client.read(&mut buf);
        assert!(
            matches!(read, Ok(0)) || read.is_err(),
            "the client must see the connection end: {read:?}"
        );
        // Gone: the 4-tuple lookup now falls back to the listener (another inode), which
        // the inode check refuses; the listener still serves.
        let gone = destroy_socket(&id, inode).unwrap_err();
        assert!(
            matches!(
                gone.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
            ),
            "{gone}"
        );
        let _again = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(listener.accept().is_ok());
        drop(server);
    }
}

//! NETLINK_SOCK_DIAG by hand: one SOCK_DIAG_BY_FAMILY dump per address family, asking
//! for `struct tcp_info` (INET_DIAG_INFO) with each socket.
//!
//! Messages are decoded from bytes at the offsets of the uapi headers (checked against
//! linux/inet_diag.h and linux/tcp.h), so no kernel struct is transmuted and a short
//! attribute from an older kernel simply leaves the later fields empty.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use qb_signals::ConnectionRow;

use super::state_name;

// linux/sock_diag.h and linux/inet_diag.h; not in the libc crate.
pub(super) const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_INFO: u16 = 2;

pub(super) const NLMSG_HDRLEN: usize = 16;
/// sizeof(struct inet_diag_req_v2)
pub(super) const REQ_LEN: usize = 56;
/// sizeof(struct inet_diag_msg)
pub(super) const MSG_LEN: usize = 72;

/// Offsets in `struct tcp_info` (linux/tcp.h; the struct only grows at its end).
pub(super) mod tcpi {
    pub const RETRANSMITS: usize = 2; // __u8
    pub const LAST_DATA_SENT: usize = 44;
    pub const LAST_DATA_RECV: usize = 52;
    pub const RTT: usize = 68;
    pub const RTTVAR: usize = 72;
    pub const TOTAL_RETRANS: usize = 100;
    pub const BYTES_ACKED: usize = 120; // __u64
    pub const BYTES_RECEIVED: usize = 128; // __u64
}

/// The kernel's dump chunks are at most 32 KiB; twice that leaves room.
const RECV_BUF: usize = 64 * 1024;

#[derive(Debug)]
pub(super) struct DiagSocket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl DiagSocket {
    pub(super) fn open() -> io::Result<Self> {
        // SAFETY: socket() has no memory preconditions; the result is checked below.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A kernel that stops answering must not hang the recorder's tick.
        let timeout = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: fd is open; timeout is a valid timeval whose size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self::from_fd(fd))
    }

    pub(super) fn from_fd(fd: OwnedFd) -> Self {
        DiagSocket {
            fd,
            seq: 0,
            buf: vec![0; RECV_BUF],
        }
    }

    /// Appends every TCP socket of `family` (AF_INET or AF_INET6), in any state, to
    /// `out`, with pid and age left empty. On error `out` may hold part of the dump.
    pub(super) fn dump(
        &mut self,
        family: u8,
        ts_ns: i64,
        out: &mut Vec<ConnectionRow>,
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        self.send(&request(family, self.seq))?;
        loop {
            let n = self.recv()?;
            if parse_datagram(&self.buf[..n], self.seq, ts_ns, out)? {
                return Ok(());
            }
        }
    }

    /// Sends one request to the kernel; the caller has put `self.seq` in it.
    pub(super) fn send(&mut self, req: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain data; all-zero is valid (pid 0 is the kernel).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: req and kernel are live for the call and their lengths are passed.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&raw const kernel).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives one datagram into `self.buf`; returns its length.
    pub(super) fn recv(&mut self) -> io::Result<usize> {
        loop {
            // MSG_TRUNC makes recv return the datagram's real length, so a cut one is seen.
            // SAFETY: buf is writable for its full length, which is passed.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(invalid(format!("datagram of {n} bytes truncated")));
            }
            return Ok(n);
        }
    }

    pub(super) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    pub(super) fn received(&self, n: usize) -> &[u8] {
        &self.buf[..n]
    }
}

/// nlmsghdr + inet_diag_req_v2: TCP, all states, with tcp_info.
fn request(family: u8, seq: u32) -> [u8; NLMSG_HDRLEN + REQ_LEN] {
    let mut r = [0u8; NLMSG_HDRLEN + REQ_LEN];
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    r[0..4].copy_from_slice(&((NLMSG_HDRLEN + REQ_LEN) as u32).to_ne_bytes());
    r[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    r[6..8].copy_from_slice(&flags.to_ne_bytes());
    r[8..12].copy_from_slice(&seq.to_ne_bytes());
    r[16] = family; // sdiag_family
    r[17] = libc::IPPROTO_TCP as u8; // sdiag_protocol
    r[18] = 1 << (INET_DIAG_INFO - 1); // idiag_ext
    r[20..24].copy_from_slice(&u32::MAX.to_ne_bytes()); // idiag_states: every state
    r
}

/// Decodes one received datagram into `out`; Ok(true) once the dump is complete.
/// Messages of another sequence (left over from an abandoned dump) are ignored.
pub(super) fn parse_datagram(
    mut data: &[u8],
    seq: u32,
    ts_ns: i64,
    out: &mut Vec<ConnectionRow>,
) -> io::Result<bool> {
    while data.len() >= NLMSG_HDRLEN {
        let len = u32_at(data, 0).unwrap_or(0) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(invalid(format!("message length {len} out of bounds")));
        }
        let kind = u16_at(data, 4).unwrap_or(0);
        let body = &data[NLMSG_HDRLEN..len];
        if u32_at(data, 8) == Some(seq) {
            match i32::from(kind) {
                libc::NLMSG_DONE => return Ok(true),
                libc::NLMSG_ERROR => {
                    let errno = body.get(0..4).map_or(0, |b| i32::from_ne_bytes(ne4(b)));
                    if errno == 0 {
                        return Ok(true); // an ack: nothing more will come
                    }
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                _ if kind == SOCK_DIAG_BY_FAMILY => out.push(parse_msg(body, ts_ns)?),
                _ => {}
            }
        }
        data = data.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(false)
}

/// One inet_diag_msg and its attributes.
fn parse_msg(body: &[u8], ts_ns: i64) -> io::Result<ConnectionRow> {
    if body.len() < MSG_LEN {
        return Err(invalid(format!("inet_diag_msg of {} bytes", body.len())));
    }
    let (local_addr, remote_addr, family) = match i32::from(body[0]) {
        libc::AF_INET => (
            Ipv4Addr::from(ne4(&body[8..12])).to_string(),
            Ipv4Addr::from(ne4(&body[24..28])).to_string(),
            4,
        ),
        libc::AF_INET6 => (
            Ipv6Addr::from(ne16(&body[8..24])).to_string(),
            Ipv6Addr::from(ne16(&body[24..40])).to_string(),
            6,
        ),
        f => return Err(invalid(format!("address family {f}"))),
    };
    let mut row = ConnectionRow {
        ts_ns,
        inode: u64::from(u32_at(body, 68).unwrap_or(0)),
        family,
        state: state_name(body[1]),
        local_addr,
        local_port: u32::from(u16::from_be_bytes([body[4], body[5]])),
        remote_addr,
        remote_port: u32::from(u16::from_be_bytes([body[6], body[7]])),
        rx_queue: u32_at(body, 56).unwrap_or(0),
        tx_queue: u32_at(body, 60).unwrap_or(0),
        ..ConnectionRow::default()
    };
    // rtattrs follow, each {u16 len, u16 type, payload}, 4-byte aligned.
    let mut attrs = &body[MSG_LEN..];
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0).unwrap_or(0));
        if len < 4 || len > attrs.len() {
            break;
        }
        if u16_at(attrs, 2) == Some(INET_DIAG_INFO) {
            apply_tcp_info(&attrs[4..len], &mut row);
        }
        attrs = attrs.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(row)
}

/// Reads the fields this table keeps, each only if the attribute is long enough.
pub(super) fn apply_tcp_info(info: &[u8], row: &mut ConnectionRow) {
    row.retransmits = info.get(tcpi::RETRANSMITS).map(|&b| u32::from(b));
    row.last_data_recv_ms = u32_at(info, tcpi::LAST_DATA_RECV);
    row.last_data_sent_ms = u32_at(info, tcpi::LAST_DATA_SENT);
    row.rtt_us = u32_at(info, tcpi::RTT);
    row.rttvar_us = u32_at(info, tcpi::RTTVAR);
    row.total_retrans = u32_at(info, tcpi::TOTAL_RETRANS);
    row.bytes_acked = u64_at(info, tcpi::BYTES_ACKED);
    row.bytes_received = u64_at(info, tcpi::BYTES_RECEIVED);
}

pub(super) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

pub(super) fn ne4(b: &[u8]) -> [u8; 4] {
    let mut a = [0; 4];
    a.copy_from_slice(&b[..4]);
    a
}

fn ne16(b: &[u8]) -> [u8; 16] {
    let mut a = [0; 16];
    a.copy_from_slice(&b[..16]);
    a
}

pub(super) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

pub(super) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

pub(super) fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag: {what}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn tcp_info_offsets_match_glibc_declaration() {
        assert_eq!(
            tcpi::RETRANSMITS,
            offset_of!(libc::tcp_info, tcpi_retransmits)
        );
        assert_eq!(
            tcpi::LAST_DATA_SENT,
            offset_of!(libc::tcp_info, tcpi_last_data_sent)
        );
        assert_eq!(
            tcpi::LAST_DATA_RECV,
            offset_of!(libc::tcp_info, tcpi_last_data_recv)
        );
        assert_eq!(tcpi::RTT, offset_of!(libc::tcp_info, tcpi_rtt));
        assert_eq!(tcpi::RTTVAR, offset_of!(libc::tcp_info, tcpi_rttvar));
        assert_eq!(
            tcpi::TOTAL_RETRANS,
            offset_of!(libc::tcp_info, tcpi_total_retrans)
        );
        assert_eq!(
            tcpi::BYTES_ACKED,
            offset_of!(libc::tcp_info, tcpi_bytes_acked)
        );
        assert_eq!(
            tcpi::BYTES_RECEIVED,
            offset_of!(libc::tcp_info, tcpi_bytes_received)
        );
    }

    fn nlmsg(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(body);
        m.resize(align4(m.len()), 0);
        m
    }

    /// An IPv4 ESTABLISHED inet_diag_msg 10.0.0.1:8080 -> 10.0.0.2:40000 with a tcp_info
    /// attribute of `info_len` bytes.
    fn diag_msg(info_len: usize) -> Vec<u8> {
        let mut b = vec![0u8; MSG_LEN];
        b[0] = libc::AF_INET as u8;
        b[1] = 1;
        b[4..6].copy_from_slice(&8080u16.to_be_bytes());
        b[6..8].copy_from_slice(&40000u16.to_be_bytes());
        b[8..12].copy_from_slice(&[10, 0, 0, 1]);
        b[24..28].copy_from_slice(&[10, 0, 0, 2]);
        b[56..60].copy_from_slice(&7u32.to_ne_bytes());
        b[60..64].copy_from_slice(&9u32.to_ne_bytes());
        b[68..72].copy_from_slice(&4242u32.to_ne_bytes());
        let mut info = vec![0u8; 232];
        info[tcpi::RETRANSMITS] = 3;
        info[tcpi::RTT..tcpi::RTT + 4].copy_from_slice(&250u32.to_ne_bytes());
        info[tcpi::LAST_DATA_SENT..tcpi::LAST_DATA_SENT + 4].copy_from_slice(&12u32.to_ne_bytes());
        info[tcpi::LAST_DATA_RECV..tcpi::LAST_DATA_RECV + 4].copy_from_slice(&30u32.to_ne_bytes());
        info[tcpi::RTTVAR..tcpi::RTTVAR + 4].copy_from_slice(&40u32.to_ne_bytes());
        info[tcpi::BYTES_ACKED..tcpi::BYTES_ACKED + 8].copy_from_slice(&(1u64 << 33).to_ne_bytes());
        info[tcpi::BYTES_RECEIVED..tcpi::BYTES_RECEIVED + 8].copy_from_slice(&77u64.to_ne_bytes());
        info.truncate(info_len);
        b.extend_from_slice(&((4 + info_len) as u16).to_ne_bytes());
        b.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        b.extend_from_slice(&info);
        b
    }

    #[test]
    fn message_fields_and_full_tcp_info() {
        let mut dgram = nlmsg(SOCK_DIAG_BY_FAMILY, 5, &diag_msg(232));
        dgram.extend(nlmsg(libc::NLMSG_DONE as u16, 5, &[0; 4]));
        let mut out = Vec::new();
        assert!(parse_datagram(&dgram, 5, 11, &mut out).unwrap());
        let r = &out[0];
        assert_eq!(
            (r.ts_ns, r.family, r.state.as_str(), r.inode),
            (11, 4, "ESTABLISHED", 4242)
        );
        assert_eq!((r.local_addr.as_str(), r.local_port), ("10.0.0.1", 8080));
        assert_eq!((r.remote_addr.as_str(), r.remote_port), ("10.0.0.2", 40000));
        assert_eq!((r.rx_queue, r.tx_queue), (7, 9));
        assert_eq!(
            (r.rtt_us, r.rttvar_us, r.retransmits),
            (Some(250), Some(40), Some(3))
        );
        assert_eq!((r.bytes_acked, r.bytes_received), (Some(1 << 33), Some(77)));
        assert_eq!(r.total_retrans, Some(0));
        assert_eq!(
            (r.last_data_recv_ms, r.last_data_sent_ms),
            (Some(30), Some(12))
        );
    }

    #[test]
    fn short_tcp_info_fills_only_the_fields_present() {
        // An old kernel's 104-byte tcp_info ends after tcpi_total_retrans.
        let dgram = nlmsg(SOCK_DIAG_BY_FAMILY, 1, &diag_msg(104));
        let mut out = Vec::new();
        assert!(!parse_datagram(&dgram, 1, 0, &mut out).unwrap());
        assert_eq!(out[0].rtt_us, Some(250));
        assert_eq!(out[0].total_retrans, Some(0));
        assert_eq!((out[0].bytes_acked, out[0].bytes_received), (None, None));
        let mut out = Vec::new();
        parse_datagram(
            &nlmsg(SOCK_DIAG_BY_FAMILY, 1, &diag_msg(60)),
            1,
            0,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            (
                out[0].retransmits,
                out[0].last_data_recv_ms,
                out[0].last_data_sent_ms
            ),
            (Some(3), Some(30), Some(12))
        );
        assert_eq!(out[0].rtt_us, None);
    }

    #[test]
    fn errors_truncation_and_stale_sequences() {
        let mut out = Vec::new();
        let err = nlmsg(libc::NLMSG_ERROR as u16, 2, &(-libc::ENOENT).to_ne_bytes());
        let e = parse_datagram(&err, 2, 0, &mut out).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        // A message from an abandoned dump (other seq) is ignored, not an error.
        assert!(!parse_datagram(&err, 3, 0, &mut out).unwrap());
        let mut cut = nlmsg(SOCK_DIAG_BY_FAMILY, 2, &diag_msg(232));
        cut.truncate(50);
        assert!(parse_datagram(&cut, 2, 0, &mut out).is_err());
        let short = nlmsg(SOCK_DIAG_BY_FAMILY, 2, &[0; 20]);
        assert!(parse_datagram(&short, 2, 0, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn request_layout() {
        let r = request(libc::AF_INET6 as u8, 9);
        assert_eq!(u32_at(&r, 0), Some(72));
        assert_eq!(u16_at(&r, 4), Some(SOCK_DIAG_BY_FAMILY));
        assert_eq!(u32_at(&r, 8), Some(9));
        assert_eq!((r[16], r[17], r[18]), (libc::AF_INET6 as u8, 6, 2));
        assert_eq!(u32_at(&r, 20), Some(u32::MAX));
    }
}

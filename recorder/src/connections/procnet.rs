//! The fallback source: `/proc/net/tcp` and `tcp6` (the current network namespace).
//!
//! They carry no tcp_info, so those columns stay null; for LISTEN the kernel prints the
//! accept backlog as rx_queue but 0 as tx_queue (netlink gives the backlog limit there).

use std::net::{Ipv4Addr, Ipv6Addr};

use qb_signals::ConnectionRow;

use super::state_name;

/// Appends one row per socket line of /proc/net/tcp or tcp6 text (pid, tcp_info and age
/// left empty) and returns the number of lines that could not be parsed. The header
/// line is recognised and skipped; the family is told by the address width.
pub fn parse_proc_net_tcp(text: &str, ts_ns: i64, out: &mut Vec<ConnectionRow>) -> u64 {
    let mut bad = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("sl ") {
            continue;
        }
        match parse_line(line, ts_ns) {
            Some(row) => out.push(row),
            None => bad += 1,
        }
    }
    bad
}

/// `sl local remote st tx:rx tr:when retrnsmt uid timeout inode ...`
fn parse_line(line: &str, ts_ns: i64) -> Option<ConnectionRow> {
    let f: Vec<&str> = line.split_ascii_whitespace().take(10).collect();
    if f.len() < 10 || !f[0].ends_with(':') {
        return None;
    }
    let (family, local_addr, local_port) = endpoint(f[1])?;
    let (remote_family, remote_addr, remote_port) = endpoint(f[2])?;
    if family != remote_family {
        return None;
    }
    let (tx, rx) = f[4].split_once(':')?;
    Some(ConnectionRow {
        ts_ns,
        inode: f[9].parse().ok()?,
        family,
        state: state_name(u8::from_str_radix(f[3], 16).ok()?),
        local_addr,
        local_port,
        remote_addr,
        remote_port,
        rx_queue: u32::from_str_radix(rx, 16).ok()?,
        tx_queue: u32::from_str_radix(tx, 16).ok()?,
        ..ConnectionRow::default()
    })
}

/// `0100007F:1F90` or a 32-digit IPv6 address: the kernel prints each 32-bit word of the
/// network-order address as a host-order integer, so the bytes come back with to_ne_bytes.
fn endpoint(s: &str) -> Option<(u32, String, u32)> {
    let (addr, port) = s.split_once(':')?;
    let port = u32::from(u16::from_str_radix(port, 16).ok()?);
    let word = |i: usize| {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    match addr.len() {
        8 => Some((4, Ipv4Addr::from(word(0)?).to_string(), port)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            Some((6, Ipv6Addr::from(bytes).to_string(), port))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_endian = "little")]
    fn lines_of_both_families() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 5001 1 0000000000000000 100 0 0 10 0\n\
   1: 020200C0:D062 507100CB:0050 06 00000000:00000000 03:00001700 00000000     0        0 0 3 0000000000000000\n\
   2: nonsense\n";
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000001000000:01BB 0000000000000000FFFF00000100007F:9C40 01 00000010:00000020 00:00000000 00000000  1000        0 6002 1 0000000000000000 20 4 30 10 -1\n";
        let mut out = Vec::new();
        assert_eq!(parse_proc_net_tcp(tcp, 5, &mut out), 1);
        assert_eq!(parse_proc_net_tcp(tcp6, 5, &mut out), 0);
        assert_eq!(out.len(), 3);
        let l = &out[0];
        assert_eq!(
            (l.state.as_str(), l.local_addr.as_str(), l.local_port),
            ("LISTEN", "127.0.0.1", 8080)
        );
        assert_eq!((l.rx_queue, l.tx_queue, l.inode, l.family), (5, 0, 5001, 4));
        assert_eq!(
            (
                out[1].state.as_str(),
                out[1].remote_addr.as_str(),
                out[1].remote_port
            ),
            ("TIME_WAIT", "203.0.113.80", 80)
        );
        let s = &out[2];
        assert_eq!(
            (s.family, s.local_addr.as_str(), s.local_port),
            (6, "::1", 443)
        );
        assert_eq!(
            (s.remote_addr.as_str(), s.remote_port),
            ("::ffff:127.0.0.1", 40000)
        );
        assert_eq!(
            (s.tx_queue, s.rx_queue, s.state.as_str()),
            (0x10, 0x20, "ESTABLISHED")
        );
        assert_eq!(
            (s.rtt_us, s.bytes_acked, s.pid, s.age_ms),
            (None, None, None, None)
        );
    }

    #[test]
    fn malformed_lines_are_counted_not_fatal() {
        let text = "x\n 1: 0100007F:1F90\n 2: 0100007F:ZZZZ 00000000:0000 0A 0:0 0:0 0 0 0 1\n 3: 0100007F:0001 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 1\n 4: 017F:0001 00000000:0000 0A 0:0 0:0 0 0 0 1\n";
        let mut out = Vec::new();
        assert_eq!(parse_proc_net_tcp(text, 0, &mut out), 5);
        assert!(out.is_empty());
    }
}

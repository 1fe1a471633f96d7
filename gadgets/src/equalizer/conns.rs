//! The server side of a host's TCP connections, tick by tick: which service each
//! belongs to (a listening address of this host), whether it made progress, and who
//! spoke last. What the Equalizer needs beyond its features: harm, and the culprit of
//! a stall.

use std::collections::{BTreeMap, HashMap};

use qb_signals::{ConnectionRow, Frame};

/// Connections that made no progress for this long are forgotten as "recently active".
const ACTIVE_WINDOW_NS: i64 = 60_000_000_000;

/// One server-side connection at this tick.
#[derive(Debug, Clone)]
pub struct ConnView<'a> {
    pub row: &'a ConnectionRow,
    /// The listening process, when the frame shows who holds the listener.
    pub listener_pid: Option<u32>,
    /// When its byte counters last moved (its first sighting counts).
    pub last_progress_ns: i64,
    /// Since when neither side has sent data: from tcp_info's milliseconds when the
    /// recorder has them, else from the last progress the ticks saw.
    pub silent_since_ns: i64,
    /// Who sent data last, when tcp_info says.
    pub spoke_last: Option<SpokeLast>,
}

/// tcp_info's last-sent and last-received times compared. They tick in jiffies (4 ms
/// at HZ=250), so a request that arrived in the jiffy of the previous answer is a tie:
/// live, every pgbench session blocked behind a lock was one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpokeLast {
    /// Data came in after the last answer went out: a request waiting (a running or a
    /// blocked statement).
    Peer,
    /// The server answered last: an idle session (possibly idle in a transaction).
    Server,
    Tie,
}

impl ConnView<'_> {
    /// Not known to be answered: a request may be waiting.
    pub fn may_wait(&self) -> bool {
        matches!(self.spoke_last, Some(SpokeLast::Peer | SpokeLast::Tie))
    }

    pub fn answered(&self) -> bool {
        self.spoke_last == Some(SpokeLast::Server)
    }

    pub fn silent_ns(&self, now_ns: i64) -> i64 {
        now_ns.saturating_sub(self.silent_since_ns)
    }

    pub fn name(&self) -> String {
        qb_models::features::equalizer::name(self.row)
    }
}

#[derive(Debug, Clone, Copy)]
struct Progress {
    bytes: u64,
    since_ns: i64,
}

/// Progress per socket inode across ticks.
#[derive(Debug, Default)]
pub struct ConnTracker {
    progress: HashMap<u64, Progress>,
}

impl ConnTracker {
    /// The frame's server-side established connections, grouped by service
    /// (`addr:port` of the listener they arrived on).
    pub fn observe<'a>(&mut self, frame: &'a Frame) -> BTreeMap<String, Vec<ConnView<'a>>> {
        let listeners: Vec<&ConnectionRow> = frame
            .connections
            .iter()
            .filter(|c| c.state == "LISTEN")
            .collect();
        let now = frame.ts_ns;
        let mut out: BTreeMap<String, Vec<ConnView>> = BTreeMap::new();
        let mut seen = HashMap::with_capacity(self.progress.len());
        for row in frame
            .connections
            .iter()
            .filter(|c| c.state == "ESTABLISHED")
        {
            let Some(listener) = listeners.iter().find(|l| serves(l, row)) else {
                continue; // a client side, or a listener the frame does not show
            };
            let bytes = row.bytes_acked.unwrap_or(0) + row.bytes_received.unwrap_or(0);
            let p = match self.progress.get(&row.inode) {
                Some(p) if p.bytes == bytes => *p,
                _ => Progress {
                    bytes,
                    since_ns: now,
                },
            };
            seen.insert(row.inode, p);
            let (silent_since_ns, spoke_last) = match (row.last_data_recv_ms, row.last_data_sent_ms)
            {
                (Some(recv), Some(sent)) => {
                    let quiet_ms = i64::from(recv.min(sent));
                    let spoke = match recv.cmp(&sent) {
                        std::cmp::Ordering::Less => SpokeLast::Peer,
                        std::cmp::Ordering::Greater => SpokeLast::Server,
                        std::cmp::Ordering::Equal => SpokeLast::Tie,
                    };
                    (now - quiet_ms * 1_000_000, Some(spoke))
                }
                // Without tcp_info the ticks are all there is; who spoke last is unknown.
                _ => (p.since_ns, None),
            };
            out.entry(format!("{}:{}", row.local_addr, row.local_port))
                .or_default()
                .push(ConnView {
                    row,
                    listener_pid: listener.pid,
                    last_progress_ns: p.since_ns,
                    // The byte counters can show progress tcp_info's clock missed.
                    silent_since_ns: silent_since_ns.max(p.since_ns),
                    spoke_last,
                });
        }
        self.progress = seen;
        out
    }
}

/// Whether `row` arrived on `listener`: same port, and the same address unless the
/// listener takes every address.
fn serves(listener: &ConnectionRow, row: &ConnectionRow) -> bool {
    listener.local_port == row.local_port
        && (listener.local_addr == row.local_addr
            || matches!(listener.local_addr.as_str(), "0.0.0.0" | "::"))
}

/// A service whose connections pile up behind one idle session.
#[derive(Debug, Clone, PartialEq)]
pub struct Stall {
    /// Index (in the service's views) of the culprit.
    pub culprit: usize,
    pub waiting: usize,
    /// Connections that made progress within the last minute, the culprit included.
    pub active: usize,
    /// When the first waiter fell silent.
    pub onset_ns: i64,
}

impl Stall {
    /// Higher the more of the service waits: 0.5 + 0.5 x the share of the others.
    pub fn confidence(&self) -> f64 {
        let others = self.active.saturating_sub(1).max(1) as f64;
        (0.5 + 0.5 * (self.waiting as f64 / others)).min(0.99)
    }
}

/// The lock-holder pattern: at least `min_waiting` connections (and half of the
/// recently active ones) are silent for `stall_for` with requests that may be waiting,
/// and exactly one other connection fell silent, its last request answered, within
/// `lead` before the first of them (or just after: its answer can follow the waiters'
/// requests by milliseconds). None when there is no stall, or the culprit is ambiguous
/// (a holder answered within the jiffy of its request is a tie: missed, not guessed).
pub fn find_stall(
    views: &[ConnView],
    now_ns: i64,
    min_waiting: usize,
    stall_for_ns: i64,
    lead_ns: i64,
) -> Option<Stall> {
    let recent = |v: &&ConnView| now_ns - v.last_progress_ns <= ACTIVE_WINDOW_NS;
    let waiting: Vec<&ConnView> = views
        .iter()
        .filter(recent)
        .filter(|v| v.may_wait() && v.silent_ns(now_ns) >= stall_for_ns)
        .collect();
    let active = views.iter().filter(recent).count();
    if waiting.len() < min_waiting || 2 * waiting.len() < active {
        return None;
    }
    let onset_ns = waiting.iter().map(|v| v.silent_since_ns).min()?;
    // The tick's own resolution: the culprit's answer and the first waiter's request
    // can land in either order within it.
    const SLACK_NS: i64 = 1_000_000_000;
    let mut culprits = views.iter().enumerate().filter(|(_, v)| {
        v.answered()
            && v.silent_ns(now_ns) >= stall_for_ns
            && (onset_ns - lead_ns..=onset_ns + SLACK_NS).contains(&v.silent_since_ns)
    });
    let (culprit, _) = culprits.next()?;
    if culprits.next().is_some() {
        return None;
    }
    Some(Stall {
        culprit,
        waiting: waiting.len(),
        active,
        onset_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn row(port: u32, inode: u64, bytes: u64, recv_ms: u32, sent_ms: u32) -> ConnectionRow {
        ConnectionRow {
            pid: Some(100 + inode as u32),
            inode,
            state: "ESTABLISHED".into(),
            local_addr: "127.0.0.1".into(),
            local_port: 5432,
            remote_addr: "127.0.0.1".into(),
            remote_port: port,
            bytes_acked: Some(bytes),
            bytes_received: Some(0),
            last_data_recv_ms: Some(recv_ms),
            last_data_sent_ms: Some(sent_ms),
            ..ConnectionRow::default()
        }
    }

    fn frame(t: i64, rows: Vec<ConnectionRow>) -> Frame {
        let mut f = Frame::new(t * S, "h");
        f.connections = rows;
        f.connections.push(ConnectionRow {
            pid: Some(99),
            state: "LISTEN".into(),
            local_addr: "0.0.0.0".into(),
            local_port: 5432,
            ..ConnectionRow::default()
        });
        // A client side of a connection: not a service's.
        f.connections.push(ConnectionRow {
            local_port: 40000,
            remote_port: 5432,
            ..row(1, 900, 5, 0, 0)
        });
        f
    }

    #[test]
    fn services_progress_and_who_spoke_last() {
        let mut t = ConnTracker::default();
        let f0 = frame(0, vec![row(1, 1, 100, 5, 2), row(2, 2, 100, 2, 5)]);
        let s = t.observe(&f0);
        assert_eq!(s.keys().collect::<Vec<_>>(), ["127.0.0.1:5432"]);
        let v = &s["127.0.0.1:5432"];
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].spoke_last, Some(SpokeLast::Server));
        assert_eq!(v[1].spoke_last, Some(SpokeLast::Peer));
        assert!(v[1].may_wait() && !v[0].may_wait());
        assert_eq!(v[0].listener_pid, Some(99));
        assert_eq!(v[0].silent_since_ns, 0, "first sighting counts as progress");
        let f1 = frame(1, vec![row(1, 1, 100, 1005, 1002), row(2, 2, 300, 3, 1)]);
        let s = t.observe(&f1);
        let v = &s["127.0.0.1:5432"];
        assert_eq!(v[0].last_progress_ns, 0);
        assert_eq!(v[0].silent_since_ns, 0, "tcp_info: quiet since 1002 ms ago");
        assert_eq!(v[1].last_progress_ns, S);
        assert_eq!(v[1].silent_ns(S), 0);
    }

    /// Eight sessions blocked behind one that took a lock and went idle; a slow but
    /// progressing client and a long-idle pooled session are innocent.
    fn stalled(holder_ms: u32, other_idle_ms: Option<u32>) -> Vec<ConnectionRow> {
        let mut rows: Vec<ConnectionRow> = (0..8)
            // Half of them with their request in the jiffy of the previous answer: ties.
            .map(|i| {
                row(
                    100 + i,
                    u64::from(i),
                    1000,
                    6000 - i,
                    6010 - 10 * (i % 2) - i,
                )
            })
            .collect();
        // Answered a few ms after its request.
        rows.push(row(200, 50, 1000, holder_ms, holder_ms - 3));
        if let Some(ms) = other_idle_ms {
            rows.push(row(201, 51, 1000, ms, ms - 3));
        }
        rows
    }

    /// First seen a minute before; every connection silent for under 20 s moved its
    /// bytes at 4 s; judged at 10 s.
    fn stall_at(rows: Vec<ConnectionRow>) -> Option<(u32, Stall)> {
        let mut t = ConnTracker::default();
        t.observe(&frame(-60, rows.clone()));
        let mut moved = frame(4, rows.clone());
        for c in &mut moved.connections {
            if c.last_data_recv_ms.is_some_and(|ms| ms < 20_000) {
                c.bytes_acked = c.bytes_acked.map(|b| b + 1);
            }
        }
        t.observe(&moved);
        let mut now = frame(10, rows);
        now.connections = moved.connections.clone();
        let s = t.observe(&now);
        let v = &s["127.0.0.1:5432"];
        find_stall(v, 10 * S, 3, 5 * S, 5 * S).map(|st| (v[st.culprit].row.remote_port, st))
    }

    #[test]
    fn the_idle_session_that_fell_silent_first_is_the_culprit() {
        let (port, st) = stall_at(stalled(6001, None)).unwrap();
        assert_eq!(port, 200);
        assert_eq!((st.waiting, st.active), (8, 9));
        assert!(st.confidence() > 0.95, "{}", st.confidence());
        // Its answer a few ms after the first waiter's request is still it.
        assert_eq!(stall_at(stalled(5990, None)).unwrap().0, 200);
    }

    #[test]
    fn ambiguity_old_silence_and_no_stall_give_no_culprit() {
        // Two idle candidates: cannot tell which.
        assert!(stall_at(stalled(6001, Some(6003))).is_none());
        // Idle long before the stall: not its cause (a pooled connection).
        assert!(stall_at(stalled(30_000, None)).is_none());
        // Too few waiting.
        let mut few = stalled(6001, None);
        for (i, r) in few.iter_mut().take(6).enumerate() {
            r.last_data_recv_ms = Some(3);
            r.last_data_sent_ms = Some(1);
            r.bytes_acked = Some(5000 + i as u64);
        }
        assert!(stall_at(few).is_none());
    }
}

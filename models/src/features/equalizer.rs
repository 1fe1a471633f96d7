//! Equalizer features: one vector per established TCP connection per tick, each
//! measured against the other connections of the same service (same local address and
//! port) at that tick. The spec's seven: how unusual its age, traffic and wait are
//! (z-scores), the CPU and memory of its owner divided by the owner's connections (exact
//! for one-process-per-connection servers such as PostgreSQL), and RTT and retransmit
//! penalties.

use std::collections::BTreeMap;

use qb_signals::{ConnectionRow, Frame};

use super::window::Histories;
use super::{Extractor, FeatureSet};

pub const EQUALIZER: FeatureSet = FeatureSet {
    name: "equalizer",
    names: &[
        "age_zscore",
        "bytes_zscore",
        "wait_zscore",
        "cpu_attribution",
        "memory_attribution",
        "rtt_penalty",
        "retransmit_penalty",
    ],
    window: 10,
};

pub const EQUALIZER_LEN: usize = 7;

#[derive(Debug, Clone, PartialEq)]
pub struct EqualizerVector {
    /// `conn:<local>:<port>-<remote>:<port>`, as labels name connections.
    pub connection: String,
    pub pid: Option<u32>,
    pub ts_ns: i64,
    pub values: [f64; EQUALIZER_LEN],
}

impl EqualizerVector {
    /// A feature by its name in `EQUALIZER` (0 for a name it does not have).
    pub fn feature(&self, name: &str) -> f64 {
        EQUALIZER
            .names
            .iter()
            .position(|n| *n == name)
            .map_or(0.0, |i| self.values[i])
    }
}

#[derive(Debug, Clone, Copy)]
struct ConnSnap {
    ts_ns: i64,
    bytes: f64,
    retrans: f64,
}

#[derive(Debug, Clone, Copy)]
struct ProcSnap {
    ts_ns: i64,
    cpu_ticks: f64,
}

#[derive(Debug, Clone)]
pub struct EqualizerExtractor {
    conns: Histories<u64, ConnSnap>,
    procs: Histories<u32, ProcSnap>,
}

impl Default for EqualizerExtractor {
    fn default() -> Self {
        Self::new()
    }
}

/// A connection's raw measures this tick, before comparison with its service.
#[derive(Debug)]
struct Measure<'a> {
    row: &'a ConnectionRow,
    age_s: f64,
    bytes_rate: f64,
    wait_s: f64,
    retrans: f64,
}

impl EqualizerExtractor {
    pub fn new() -> Self {
        EqualizerExtractor {
            conns: Histories::new(EQUALIZER.window, 3),
            procs: Histories::new(EQUALIZER.window, 3),
        }
    }
}

impl Extractor for EqualizerExtractor {
    type Vector = EqualizerVector;

    fn observe(&mut self, frame: &Frame, out: &mut Vec<EqualizerVector>) {
        // Owners: CPU rate over the window, memory, and how many connections they hold.
        let mut owners: BTreeMap<u32, (f64, f64, f64)> = BTreeMap::new();
        for p in &frame.processes {
            let snap = ProcSnap {
                ts_ns: p.ts_ns,
                cpu_ticks: (p.utime_ticks + p.stime_ticks) as f64,
            };
            let cpu = self.procs.push_partial(&p.pid, snap).map_or(0.0, |h| {
                let (a, b) = (h[0], h[h.len() - 1]);
                let secs = ((b.ts_ns - a.ts_ns) as f64 / 1e9).max(1e-9);
                (b.cpu_ticks - a.cpu_ticks).max(0.0) / 100.0 / secs
            });
            owners.insert(p.pid, (cpu, p.rss_bytes as f64, 0.0));
        }
        let established = frame
            .connections
            .iter()
            .filter(|c| c.state == "ESTABLISHED");
        for c in established.clone() {
            if let Some(o) = c.pid.and_then(|p| owners.get_mut(&p)) {
                o.2 += 1.0;
            }
        }
        // Per service: the connections with a full window.
        let mut services: BTreeMap<(&str, u32), Vec<Measure>> = BTreeMap::new();
        for c in established {
            let snap = ConnSnap {
                ts_ns: c.ts_ns,
                bytes: (c.bytes_acked.unwrap_or(0) + c.bytes_received.unwrap_or(0)) as f64,
                retrans: f64::from(c.total_retrans.unwrap_or(0)),
            };
            let Some(h) = self.conns.push(&c.inode, snap) else {
                continue;
            };
            let (a, b) = (h[0], h[h.len() - 1]);
            let secs = ((b.ts_ns - a.ts_ns) as f64 / 1e9).max(1e-9);
            services
                .entry((c.local_addr.as_str(), c.local_port))
                .or_default()
                .push(Measure {
                    row: c,
                    age_s: c.age_ms.unwrap_or(0) as f64 / 1e3,
                    bytes_rate: ((b.bytes - a.bytes).max(0.0) / secs).ln_1p(),
                    wait_s: f64::from(c.last_data_recv_ms.unwrap_or(0)) / 1e3,
                    retrans: (b.retrans - a.retrans).max(0.0),
                });
        }
        for ((_, _), conns) in services {
            let z = |f: fn(&Measure) -> f64| zscores(&conns.iter().map(f).collect::<Vec<_>>());
            let (age, bytes, wait) = (z(|m| m.age_s), z(|m| m.bytes_rate), z(|m| m.wait_s));
            let rtts: Vec<f64> = conns
                .iter()
                .filter_map(|m| m.row.rtt_us.map(f64::from))
                .collect();
            let mean_rtt = rtts.iter().sum::<f64>() / rtts.len().max(1) as f64;
            for (i, m) in conns.iter().enumerate() {
                let (cpu, rss, n) = m
                    .row
                    .pid
                    .and_then(|p| owners.get(&p).copied())
                    .unwrap_or((0.0, 0.0, 1.0));
                let rtt = m.row.rtt_us.map_or(0.0, f64::from);
                out.push(EqualizerVector {
                    connection: name(m.row),
                    pid: m.row.pid,
                    ts_ns: m.row.ts_ns,
                    values: [
                        age[i],
                        bytes[i],
                        wait[i],
                        cpu / n.max(1.0),
                        (rss / n.max(1.0)).ln_1p(),
                        // How many times the service's mean RTT, beyond twice it.
                        if mean_rtt > 0.0 {
                            (rtt / mean_rtt - 2.0).max(0.0)
                        } else {
                            0.0
                        },
                        m.retrans.ln_1p(),
                    ],
                });
            }
        }
        self.conns.end_tick();
        self.procs.end_tick();
    }
}

/// `conn:<local addr>:<port>-<remote addr>:<port>`.
pub fn name(c: &ConnectionRow) -> String {
    format!(
        "conn:{}:{}-{}:{}",
        c.local_addr, c.local_port, c.remote_addr, c.remote_port
    )
}

/// Standard scores within a group (population standard deviation); 0 for everyone
/// when the group cannot say (fewer than two members, or no spread). Public so a rule
/// baseline can score against the service exactly as the features do.
pub fn zscores(x: &[f64]) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n.max(1.0);
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n.max(1.0)).sqrt();
    x.iter()
        .map(|v| {
            if x.len() < 2 || sd == 0.0 {
                0.0
            } else {
                (v - mean) / sd
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use qb_signals::ProcessRow;

    /// Five sessions of a service; session 4 is a long, silent, CPU-burning one.
    fn frame(t: i64) -> Frame {
        let ts = t * 1_000_000_000;
        let mut f = Frame::new(ts, String::from("h"));
        for i in 0..5u32 {
            let toxic = i == 4;
            f.connections.push(ConnectionRow {
                ts_ns: ts,
                pid: Some(100 + i),
                inode: u64::from(i),
                state: "ESTABLISHED".into(),
                local_addr: "10.0.0.5".into(),
                local_port: 5432,
                remote_addr: "10.0.2.20".into(),
                remote_port: 50_000 + i,
                rtt_us: Some(if i == 3 { 9_000 } else { 200 }),
                bytes_acked: Some(if toxic { 0 } else { t as u64 * 2_000 }),
                bytes_received: Some(if toxic { 0 } else { t as u64 * 300 }),
                last_data_recv_ms: Some(if toxic { t as u32 * 1000 } else { 20 }),
                age_ms: Some(if toxic { t as u64 * 1000 } else { 600_000 }),
                ..ConnectionRow::default()
            });
            f.processes.push(ProcessRow {
                ts_ns: ts,
                pid: 100 + i,
                utime_ticks: if toxic { t as u64 * 100 } else { t as u64 * 2 },
                rss_bytes: 40 << 20,
                ..ProcessRow::default()
            });
        }
        f
    }

    #[test]
    fn the_toxic_session_stands_out_and_the_slow_one_pays_an_rtt_penalty() {
        let mut x = EqualizerExtractor::new();
        let mut out = Vec::new();
        for t in 0..12 {
            x.observe(&frame(t), &mut out);
        }
        let last: Vec<&EqualizerVector> =
            out.iter().filter(|v| v.ts_ns == 11_000_000_000).collect();
        assert_eq!(last.len(), 5);
        let toxic = last.iter().find(|v| v.pid == Some(104)).unwrap();
        assert_eq!(toxic.connection, "conn:10.0.0.5:5432-10.0.2.20:50004");
        assert!(toxic.values[1] < -1.5, "least traffic: {:?}", toxic.values);
        assert!(toxic.values[2] > 1.5, "longest wait: {:?}", toxic.values);
        assert!(
            (toxic.values[3] - 1.0).abs() < 1e-9,
            "a whole core: {:?}",
            toxic.values
        );
        let slow = last.iter().find(|v| v.pid == Some(103)).unwrap();
        assert!(slow.values[5] > 0.0 && toxic.values[5] == 0.0);
        assert!(out.iter().all(|v| v.values.iter().all(|x| x.is_finite())));
    }

    #[test]
    fn zscores_of_a_lone_or_uniform_group_are_zero() {
        assert_eq!(zscores(&[5.0]), vec![0.0]);
        assert_eq!(zscores(&[2.0, 2.0]), vec![0.0, 0.0]);
        let z = zscores(&[1.0, 3.0]);
        assert!((z[0] + 1.0).abs() < 1e-12 && (z[1] - 1.0).abs() < 1e-12);
    }
}

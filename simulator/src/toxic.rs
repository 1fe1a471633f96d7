//! The toxic-query family: a PostgreSQL-like service, one backend process per client
//! connection (so CPU attribution per connection is exact, as measured in DESIGN.md
//! section 8), serving a normal mix of queries. A toxic session (a lock holder, or a
//! CPU-heavy query) slows every other connection; hard negatives are heavy but
//! harmless: a large legitimate download, a slow client on a bad network.
//!
//! Labels are per connection: `toxic_query` on the toxic session from its start, and
//! `toxic_negative` on the heavy-but-harmless connection.
//!
//! The service's query latency is reported as trace statistics too (`toxic_traces`):
//! it rises while a toxic session runs and stays put for the negatives.

use qb_signals::{ConnectionRow, Frame, LabelRow, ProcessRow, SignalSource, SystemRow};

use crate::kinds::kinds;
use crate::rng::Rng;
use crate::toxic_traces::TraceModel;
use crate::{Clock, Generator, START_NS, SimError};

kinds! {
    /// Toxic-query scenarios: two toxic sessions, three heavy-but-harmless ones.
    ToxicKind, family "toxic" {
        /// A session holding a lock: it idles while everyone else queues behind it.
        LockHolder => "lock_holder",
        /// A query burning a core for minutes and starving the others.
        CpuHog => "cpu_hog",
        /// Negative: the normal mix only.
        NormalMix => "normal_mix",
        /// Negative: a client downloading a large result at full speed.
        LargeDownload => "large_download",
        /// Negative: a client on a lossy, slow network: long, retransmitting, harmless.
        SlowClient => "slow_client",
    }
}

impl ToxicKind {
    pub fn is_toxic(self) -> bool {
        matches!(self, ToxicKind::LockHolder | ToxicKind::CpuHog)
    }
}

const PORT: u32 = 5432;
const HZ: f64 = 100.0;

/// One client connection and its backend.
#[derive(Debug, Clone)]
struct Session {
    pid: u32,
    inode: u64,
    remote_port: u32,
    opened_tick: i64,
    cpu_ticks: f64,
    bytes_acked: f64,
    bytes_received: f64,
    retrans: u32,
    rtt_us: f64,
    /// Queries per second this session issues when the service is healthy.
    qps: f64,
    /// Milliseconds since the session last received data (tcp_info's last_data_recv).
    idle_ms: f64,
    /// Milliseconds since it last sent data (tcpi_last_data_sent): below `idle_ms` when
    /// its last request was answered, above while one waits.
    sent_ms: f64,
}

#[derive(Debug)]
pub struct ToxicGenerator {
    kind: ToxicKind,
    host: String,
    rng: Rng,
    clock: Clock,
    onset: i64,
    sessions: Vec<Session>,
    /// The session that is toxic (or the heavy negative), present from the onset.
    special: Option<Session>,
    /// A CPU hog's share of a core (it competes with the others), and the share of
    /// their normal throughput the others keep meanwhile.
    hog_cores: f64,
    hog_share: f64,
    /// How much dearer the others' queries get while the hog runs: contention (cache,
    /// locks, run queues). At 1 they burn as much CPU as before for less work (as live
    /// on two cores); a little above, slightly more.
    hog_inflation: f64,
    /// Who spoke last and when (tcp_info's last sent and received): its own stream, so
    /// adding it shifted none of the others.
    talk: Rng,
    /// Trace statistics of the service's queries, from a stream of its own.
    traces: TraceModel,
    labels: Vec<LabelRow>,
}

impl ToxicGenerator {
    pub fn new(kind: ToxicKind, seed: u64, clock: Clock) -> Result<Self, SimError> {
        let clock = clock.require(120, "a toxic-query episode")?;
        let mut rng = Rng::new(seed ^ 0x7071_0000);
        let mut r = rng.fork(3);
        let sessions = (0..6 + r.next_u64() % 10)
            .map(|i| Session {
                pid: 7000 + i as u32,
                inode: 500_000 + i,
                remote_port: 50_000 + i as u32,
                opened_tick: -(r.range(60.0, 3600.0) as i64),
                cpu_ticks: 0.0,
                bytes_acked: 0.0,
                bytes_received: 0.0,
                retrans: 0,
                rtt_us: r.range(50.0, 400.0),
                qps: r.range(5.0, 60.0),
                idle_ms: 0.0,
                sent_ms: 0.0,
            })
            .collect();
        Ok(ToxicGenerator {
            kind,
            host: format!("sim-{seed}"),
            clock,
            onset: (clock.ticks() as f64 * r.range(0.2, 0.5)) as i64,
            hog_cores: r.range(0.2, 1.0),
            hog_share: r.range(0.2, 0.95),
            hog_inflation: r.range(0.3, 1.05),
            talk: r.fork(4),
            sessions,
            special: None,
            traces: TraceModel::new(seed),
            labels: Vec::new(),
            rng,
        })
    }

    fn step(&mut self, t: i64) -> Frame {
        let ts = self.clock.ts(t);
        let mut frame = Frame::new(ts, self.host.clone());
        let dt = self.clock.seconds();
        if t == self.onset && self.kind != ToxicKind::NormalMix {
            let slow = self.kind == ToxicKind::SlowClient;
            self.special = Some(Session {
                pid: 7900,
                inode: 599_999,
                remote_port: 59_999,
                opened_tick: t,
                cpu_ticks: 0.0,
                bytes_acked: 0.0,
                bytes_received: 0.0,
                retrans: 0,
                rtt_us: if slow {
                    self.rng.range(80_000.0, 300_000.0)
                } else {
                    200.0
                },
                qps: 0.0,
                // Its statement arrived early in the onset tick.
                idle_ms: self.talk.range(500.0, 1000.0),
                sent_ms: 0.0,
            });
            if let Some(sp) = &mut self.special {
                // A lock holder's was answered once the lock was granted, a few ms
                // later (it then idles in its transaction).
                sp.sent_ms = sp.idle_ms - self.talk.range(1.0, 10.0);
            }
        }
        // How much of their normal throughput the other sessions get.
        let (share, cost) = match (self.kind, self.special.is_some()) {
            (ToxicKind::LockHolder, true) => (0.0, 1.0),
            (ToxicKind::CpuHog, true) => (
                self.hog_share,
                1.0 + self.hog_inflation * (1.0 / self.hog_share - 1.0),
            ),
            _ => (1.0, 1.0),
        };
        let holder_ms = self.special.as_ref().map_or(0.0, |sp| sp.idle_ms);
        for i in 0..self.sessions.len() {
            let noise = (1.0 + 0.1 * self.rng.normal()).max(0.0);
            let s = &mut self.sessions[i];
            let queries = s.qps * share * noise * dt;
            if queries >= 1.0 {
                // A query arrives at some point in the tick and is answered at once;
                // none leaves the clock running.
                s.idle_ms = self.rng.unit() * 1000.0 / queries.max(1.0);
                s.sent_ms = (s.idle_ms - self.talk.range(0.5, 5.0)).max(0.0);
            } else if t == self.onset && self.kind == ToxicKind::LockHolder {
                // Its next request came after the holder's, and waits behind the lock.
                s.idle_ms = self.talk.unit() * holder_ms;
                s.sent_ms = s.idle_ms + self.talk.range(1.0, 30.0);
            } else {
                s.idle_ms += dt * 1000.0;
                s.sent_ms += dt * 1000.0;
            }
            // Plus a backend's own upkeep (stats, keepalives): not quite zero when blocked.
            s.cpu_ticks += queries * 0.002 * cost * HZ + self.rng.unit() * 0.0005 * HZ * dt;
            s.bytes_received += queries * 300.0;
            s.bytes_acked += queries * 2_000.0;
            // Queries queue behind the hog: latency grows as throughput shrinks.
            let slowdown = cost / share.max(1e-9);
            let port = s.remote_port;
            self.traces.session(
                ts,
                dt,
                i,
                port,
                queries,
                slowdown,
                share == 0.0,
                &mut frame.requests,
            );
        }
        self.traces.flush(ts, &mut frame.traces);
        if let Some(sp) = &mut self.special {
            // One long statement (or a download's acks only): no data comes in.
            if t > self.onset {
                sp.idle_ms += dt * 1000.0;
            }
            match self.kind {
                // Holds the lock inside an idle transaction: no CPU, no bytes.
                ToxicKind::LockHolder if t > self.onset => sp.sent_ms += dt * 1000.0,
                ToxicKind::LockHolder => {}
                ToxicKind::CpuHog => {
                    sp.cpu_ticks += self.hog_cores * HZ * dt;
                    sp.sent_ms = sp.idle_ms + 2.0;
                }
                ToxicKind::LargeDownload => {
                    sp.cpu_ticks += 0.15 * HZ * dt;
                    sp.bytes_acked += 80e6 * dt;
                    sp.sent_ms = 0.0;
                }
                ToxicKind::SlowClient => {
                    sp.cpu_ticks += 0.01 * HZ * dt;
                    sp.bytes_acked += 20e3 * dt;
                    sp.sent_ms = self.talk.range(0.0, 200.0);
                    if self.rng.unit() < 0.3 {
                        sp.retrans += 1;
                    }
                }
                ToxicKind::NormalMix => {}
            }
        }
        let sessions: Vec<Session> = self
            .sessions
            .iter()
            .chain(self.special.as_ref())
            .cloned()
            .collect();
        for s in &sessions {
            let waiting = share < 1.0 && Some(s.pid) != self.special.as_ref().map(|x| x.pid);
            frame.connections.push(ConnectionRow {
                ts_ns: ts,
                pid: Some(s.pid),
                inode: s.inode,
                family: 4,
                state: "ESTABLISHED".into(),
                local_addr: "10.0.0.5".into(),
                local_port: PORT,
                remote_addr: "10.0.2.20".into(),
                remote_port: s.remote_port,
                // Sessions stuck behind the toxic one have a request waiting.
                rx_queue: if waiting { 300 } else { 0 },
                tx_queue: if self.kind == ToxicKind::SlowClient && s.pid == 7900 {
                    65_536
                } else {
                    0
                },
                rtt_us: Some(s.rtt_us as u32),
                rttvar_us: Some((s.rtt_us / 4.0) as u32),
                retransmits: Some(0),
                total_retrans: Some(s.retrans),
                bytes_acked: Some(s.bytes_acked as u64),
                bytes_received: Some(s.bytes_received as u64),
                age_ms: Some(((t - s.opened_tick) as f64 * dt * 1000.0) as u64),
                last_data_recv_ms: Some(s.idle_ms as u32),
                last_data_sent_ms: Some(s.sent_ms as u32),
            });
            frame.processes.push(ProcessRow {
                ts_ns: ts,
                pid: s.pid,
                ppid: 6999,
                comm: "postgres".into(),
                // A user process (a hash of 0 is the recorder's kernel thread).
                cmdline_hash: u64::from(s.pid).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                state: if self.kind == ToxicKind::CpuHog && s.pid == 7900 {
                    "R"
                } else {
                    "S"
                }
                .into(),
                utime_ticks: (s.cpu_ticks * 0.9) as u64,
                stime_ticks: (s.cpu_ticks * 0.1) as u64,
                rss_bytes: 40 << 20,
                threads: 1,
                start_time_ns: START_NS + (s.opened_tick as f64 * dt * 1e9) as i64,
                cgroup: "/system.slice/postgresql.service".into(),
                ..ProcessRow::default()
            });
        }
        frame.connections.push(ConnectionRow {
            ts_ns: ts,
            pid: Some(6999),
            inode: 499_999,
            family: 4,
            state: "LISTEN".into(),
            local_addr: "0.0.0.0".into(),
            local_port: PORT,
            remote_addr: "0.0.0.0".into(),
            tx_queue: 244,
            ..ConnectionRow::default()
        });
        frame.system = Some(SystemRow {
            ts_ns: ts,
            cpu_count: 4,
            mem_total_bytes: 16 << 30,
            ..SystemRow::default()
        });
        frame
    }

    fn finish_labels(&mut self) {
        if !self.labels.is_empty() {
            return;
        }
        let Some(sp) = &self.special else {
            // The normal mix: the whole service is the negative.
            self.labels.push(LabelRow {
                ts_ns: self.clock.ts(0),
                kind: "toxic_negative".into(),
                target: format!("service:10.0.0.5:{PORT}"),
                start_ns: self.clock.ts(0),
                end_ns: Some(self.clock.end_ts()),
                attributes: format!(r#"{{"flavour":"{}"}}"#, self.kind),
            });
            return;
        };
        let kind = if self.kind.is_toxic() {
            "toxic_query"
        } else {
            "toxic_negative"
        };
        self.labels.push(LabelRow {
            ts_ns: self.clock.ts(self.onset),
            kind: kind.into(),
            target: format!("conn:10.0.0.5:{PORT}-10.0.2.20:{}", sp.remote_port),
            start_ns: self.clock.ts(self.onset),
            end_ns: (!self.kind.is_toxic()).then(|| self.clock.end_ts()),
            attributes: format!(
                r#"{{"flavour":"{}","pid":{},"inode":{}}}"#,
                self.kind, sp.pid, sp.inode
            ),
        });
    }
}

impl SignalSource for ToxicGenerator {
    fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        let Some(t) = self.clock.advance() else {
            self.finish_labels();
            return Ok(None);
        };
        Ok(Some(self.step(t)))
    }
}

impl Generator for ToxicGenerator {
    fn labels(&self) -> &[LabelRow] {
        &self.labels
    }
}

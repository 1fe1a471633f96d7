//! `PiiGenerator`: a host with five to eight services, each writing one log file in its
//! format, read once a tick as the recorder's tailer would (offsets run on per file).

use qb_signals::{Frame, LabelRow, LogRow, SignalSource, SystemRow};

use super::draw::{below, chance};
use super::formats::LogFormat;
use super::lines::{PiiLineGenerator, PiiMix};
use super::{PiiKind, PiiLine, line_labels};
use crate::rng::Rng;
use crate::{Clock, Generator, SimError};

/// Services a host may run: the first five (one per format) always, then some others.
const CATALOG: [(&str, &str, LogFormat); 10] = [
    ("nginx", "access", LogFormat::Access),
    ("payments-api", "app", LogFormat::Java),
    ("accounts", "app", LogFormat::Json),
    ("auth-gw", "syslog", LogFormat::Syslog),
    ("billing-worker", "worker", LogFormat::Logfmt),
    ("orders", "app", LogFormat::Json),
    ("search-api", "app", LogFormat::Java),
    ("gateway", "access", LogFormat::Access),
    ("notifier", "worker", LogFormat::Logfmt),
    ("support-desk", "app", LogFormat::Json),
];

#[derive(Debug)]
struct Service {
    /// `/var/log/<service>/<file>.log`
    source: String,
    lines: PiiLineGenerator,
    /// Where the next line starts in the file.
    offset: u64,
    /// Lines per second.
    rate: f64,
    /// Share of records carrying PII from the onset on (0: never leaks).
    leak_rate: f64,
}

#[derive(Debug)]
pub struct PiiGenerator {
    host: String,
    rng: Rng,
    clock: Clock,
    onset: i64,
    services: Vec<Service>,
    labels: Vec<LabelRow>,
}

impl PiiGenerator {
    pub fn new(kind: PiiKind, seed: u64, clock: Clock) -> Result<Self, SimError> {
        let clock = clock.require(30, "a PII episode")?;
        let mut rng = Rng::new(seed ^ 0x9111_0000);
        let mut r = rng.fork(5);
        let mut extras: Vec<usize> = (5..CATALOG.len()).collect();
        let mut picked: Vec<usize> = (0..5).collect();
        for _ in 0..below(&mut r, 4) {
            picked.push(extras.remove(below(&mut r, extras.len() as u64) as usize));
        }
        let total = r.range(20.0, 120.0);
        let weights: Vec<f64> = picked
            .iter()
            .map(|&i| {
                r.range(0.5, 2.0)
                    * if CATALOG[i].2 == LogFormat::Access {
                        2.0
                    } else {
                        1.0
                    }
            })
            .collect();
        let sum: f64 = weights.iter().sum();
        let leakers = leakers(kind, &picked, &mut r);
        let services = picked
            .iter()
            .zip(&weights)
            .enumerate()
            .map(|(n, (&i, w))| {
                let (name, file, format) = CATALOG[i];
                let mut mix = PiiMix::for_kind(kind, name, &[format], &mut r);
                let leak_rate = match leakers.iter().position(|&l| l == n) {
                    Some(0) => mix.pii_rate,
                    // Secondary leakers of a flood leak less than the first.
                    Some(_) => r.range(0.005, 0.03),
                    None => 0.0,
                };
                mix.pii_rate = 0.0;
                Service {
                    source: format!("/var/log/{name}/{file}.log"),
                    lines: PiiLineGenerator::new(r.next_u64(), mix),
                    offset: 0,
                    rate: total * w / sum,
                    leak_rate,
                }
            })
            .collect();
        Ok(PiiGenerator {
            host: format!("sim-{seed}"),
            onset: (clock.ticks() as f64 * r.range(0.2, 0.5)) as i64,
            clock,
            rng,
            services,
            labels: Vec::new(),
        })
    }

    fn step(&mut self, t: i64) -> Frame {
        let ts = self.clock.ts(t);
        let mut frame = Frame::new(ts, self.host.clone());
        if t == self.onset {
            for s in &mut self.services {
                s.lines.set_pii_rate(s.leak_rate);
            }
        }
        let interval = self.clock.interval_ns();
        for s in &mut self.services {
            let burst = if chance(&mut self.rng, 0.03) {
                self.rng.range(2.0, 5.0)
            } else {
                1.0
            };
            let noise = (1.0 + 0.25 * self.rng.normal()).max(0.0);
            let n = (s.rate * self.clock.seconds() * burst * noise).round() as i64;
            // Lines were written during the interval before the tick that reads them.
            for i in 0..n {
                let line = s.lines.next_line(ts - interval + i * interval / n);
                read(s, line, ts, &mut frame.logs, &mut self.labels);
            }
            // A stack trace is flushed whole.
            while s.lines.pending() > 0 {
                let line = s.lines.next_line(ts);
                read(s, line, ts, &mut frame.logs, &mut self.labels);
            }
        }
        frame.system = Some(SystemRow {
            ts_ns: ts,
            cpu_count: 4,
            mem_total_bytes: 16 << 30,
            mem_available_bytes: 12 << 30,
            ..SystemRow::default()
        });
        frame
    }
}

/// Which services leak (indices into the host's services; the first leaks most).
fn leakers(kind: PiiKind, picked: &[usize], r: &mut Rng) -> Vec<usize> {
    match kind {
        PiiKind::PiiFlood => {
            let first = below(r, picked.len() as u64) as usize;
            let mut out = vec![first];
            out.extend((0..picked.len()).filter(|&n| n != first && chance(r, 0.5)));
            if out.len() == 1 {
                out.push((first + 1) % picked.len());
            }
            out
        }
        // A debug dump (or a novel spelling) is an application's line: never the
        // access log.
        PiiKind::DebugDump | PiiKind::NovelFormats => {
            let apps: Vec<usize> = (0..picked.len())
                .filter(|&n| CATALOG[picked[n]].2 != LogFormat::Access)
                .collect();
            vec![apps[below(r, apps.len() as u64) as usize]]
        }
        PiiKind::Clean | PiiKind::Lookalikes => Vec::new(),
    }
}

/// The tailer's view of a line: a row at the running offset, and its labels.
fn read(
    s: &mut Service,
    line: PiiLine,
    ts: i64,
    rows: &mut Vec<LogRow>,
    labels: &mut Vec<LabelRow>,
) {
    let offset = s.offset;
    s.offset += line.text.len() as u64 + 1;
    labels.extend(line_labels(&line, &s.source, offset, ts));
    rows.push(LogRow {
        ts_ns: ts,
        source: s.source.clone(),
        offset,
        pid: line.pid,
        level: line.level.map(str::to_owned),
        line: line.text,
        truncated: false,
    });
}

impl SignalSource for PiiGenerator {
    fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        Ok(self.clock.advance().map(|t| self.step(t)))
    }
}

impl Generator for PiiGenerator {
    fn labels(&self) -> &[LabelRow] {
        &self.labels
    }
}

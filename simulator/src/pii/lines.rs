//! The reusable line generator: one writer (a service) producing log lines with the
//! exact byte spans of the PII and lookalikes in them. The simulator runs one per
//! service; the live PII workload floods a real file with one.

use std::collections::VecDeque;

use super::access::{self, Style};
use super::content::{self, Carry, Draw, Record, Seg};
use super::draw::{between, chance, pick};
use super::entities::Entity;
use super::formats::{self, Ctx, LogFormat};
use super::lookalikes::{self, Lookalike};
use super::{PiiKind, PiiLine};
use super::{decoys, dumps, leaks, novel, traffic};
use crate::rng::Rng;

/// What a line generator writes.
#[derive(Debug, Clone, PartialEq)]
pub struct PiiMix {
    /// Names the writer in its lines (JSON `service`, syslog tag, Java app and package).
    pub service: String,
    /// Formats written; each record picks one uniformly (all five when empty).
    pub formats: Vec<LogFormat>,
    /// Share of records that carry PII.
    pub pii_rate: f64,
    /// Share of the other records that carry lookalikes (`TWIN_SHARE` of them in the
    /// context of a PII record, with stand-ins for its values).
    pub lookalike_rate: f64,
    /// Entity types a PII record may carry, drawn uniformly (none leak when empty).
    pub entities: Vec<Entity>,
    /// Every PII record is one debug dump carrying all of `entities`, with the
    /// spelling of each fixed for the generator's life (an access line, which holds no
    /// user object, still carries one entity).
    pub dump: bool,
    /// PII records use the `novel_formats` spellings and contexts (`novel.rs`), one
    /// spelling per entity for the generator's life.
    pub novel: bool,
}

/// Share of lookalike records that are the negative twin of a PII record: its
/// context, stand-ins (masked values, private addresses) for its values.
const TWIN_SHARE: f64 = 0.4;

/// Entities a user-object dump can hold.
const DUMPABLE: [Entity; 5] = [
    Entity::PersonName,
    Entity::Email,
    Entity::Ssn,
    Entity::Phone,
    Entity::CreditCard,
];

impl PiiMix {
    /// Ordinary traffic: no PII, a few lookalikes.
    pub fn new(service: &str, formats: &[LogFormat]) -> Self {
        PiiMix {
            service: service.into(),
            formats: formats.to_vec(),
            pii_rate: 0.0,
            lookalike_rate: 0.05,
            entities: Entity::ALL.to_vec(),
            dump: false,
            novel: false,
        }
    }

    /// What `kind` writes once its leak has started (rates drawn from the kind's
    /// ranges, see `datasets/pii.md`); negatives never leak.
    pub fn for_kind(kind: PiiKind, service: &str, formats: &[LogFormat], rng: &mut Rng) -> Self {
        let mut mix = PiiMix::new(service, formats);
        match kind {
            PiiKind::PiiFlood => {
                mix.pii_rate = rng.range(0.03, 0.12);
                mix.lookalike_rate = rng.range(0.05, 0.2);
                // Each leaking service leaks its own six to twelve entity types.
                let n = between(rng, 6, 12) as usize;
                mix.entities = draw_without_replacement(rng, &Entity::ALL, n);
            }
            PiiKind::DebugDump => {
                mix.pii_rate = rng.range(0.005, 0.04);
                mix.lookalike_rate = rng.range(0.05, 0.2);
                let n = between(rng, 2, 4) as usize;
                mix.entities = draw_without_replacement(rng, &DUMPABLE, n);
                mix.dump = true;
            }
            // Draws only here, so every other kind's output is unchanged.
            PiiKind::NovelFormats => {
                mix.pii_rate = rng.range(0.02, 0.08);
                mix.lookalike_rate = rng.range(0.05, 0.2);
                mix.entities = novel::NOVEL.to_vec();
                mix.novel = true;
            }
            PiiKind::Clean => mix.lookalike_rate = rng.range(0.02, 0.08),
            PiiKind::Lookalikes => mix.lookalike_rate = rng.range(0.4, 0.8),
        }
        mix
    }
}

/// `n` distinct entities of `pool`, in the order drawn.
fn draw_without_replacement(rng: &mut Rng, pool: &[Entity], n: usize) -> Vec<Entity> {
    let mut pool = pool.to_vec();
    (0..n.min(pool.len()))
        .map(|_| pool.remove(super::draw::below(rng, pool.len() as u64) as usize))
        .collect()
}

/// Seeded log lines of one writer, with exact spans.
#[derive(Debug, Clone)]
pub struct PiiLineGenerator {
    rng: Rng,
    /// What each record carries is drawn apart from its content, so a template that
    /// draws more or less never moves a leak.
    carry_rng: Rng,
    mix: PiiMix,
    package: String,
    host: String,
    pids: Vec<u32>,
    threads: Vec<String>,
    /// Load balancers in front of an access log (their addresses are lookalikes).
    balancers: Vec<String>,
    /// How an access log's requests arrive (X-Forwarded-For, basic auth).
    style: Style,
    severity_key: bool,
    traced: bool,
    /// Spelling variant of every entity in a debug dump.
    fixed: Option<u64>,
    pending: VecDeque<PiiLine>,
}

impl PiiLineGenerator {
    pub fn new(seed: u64, mix: PiiMix) -> Self {
        let mut root = Rng::new(seed ^ 0x9111_11e5);
        let mut id = root.fork(1);
        let letters: String = mix
            .service
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let threads = (0..between(&mut id, 2, 6))
            .map(|_| match between(&mut id, 0, 3) {
                0 => format!("scheduling-{}", between(&mut id, 1, 4)),
                1 => format!("kafka-consumer-{}", between(&mut id, 0, 7)),
                _ => format!("nio-8080-exec-{}", between(&mut id, 1, 12)),
            })
            .collect();
        PiiLineGenerator {
            package: format!("com.example.{}", letters.to_ascii_lowercase()),
            host: format!(
                "{}-{}",
                pick(&mut id, &["web", "app", "node", "worker"]),
                between(&mut id, 1, 12)
            ),
            pids: (0..between(&mut id, 1, 4))
                .map(|_| between(&mut id, 300, 60_000) as u32)
                .collect(),
            threads,
            balancers: (0..between(&mut id, 1, 3))
                .map(|_| lookalikes::private_ip(&mut id))
                .collect(),
            severity_key: chance(&mut id, 0.3),
            traced: chance(&mut id, 0.6),
            fixed: (mix.dump || mix.novel).then(|| id.next_u64()),
            style: Style {
                xff_share: id.range(0.3, 0.9),
                auth_share: id.range(0.0, 0.06),
            },
            pending: VecDeque::new(),
            rng: root.fork(2),
            carry_rng: root.fork(3),
            mix,
        }
    }

    pub fn mix(&self) -> &PiiMix {
        &self.mix
    }

    /// Starts (or stops) a leak: the share of records carrying PII from now on.
    pub fn set_pii_rate(&mut self, rate: f64) {
        self.mix.pii_rate = rate;
    }

    /// Lines of a record already begun (the rest of a stack trace) still to come.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The next line, written at `ts_ns` (its own timestamp, in the text). A record of
    /// several lines (a Java stack trace) is returned a line per call.
    pub fn next_line(&mut self, ts_ns: i64) -> PiiLine {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return line;
            }
            self.pending = self.record(ts_ns).into();
        }
    }

    fn record(&mut self, ts_ns: i64) -> Vec<PiiLine> {
        let formats = if self.mix.formats.is_empty() {
            &LogFormat::ALL[..]
        } else {
            &self.mix.formats[..]
        };
        let format = *pick(&mut self.rng, formats);
        let carry = self.carry(format);
        let mut d = Draw::new(&mut self.rng, ts_ns, self.fixed);
        d.structured = matches!(format, LogFormat::Json | LogFormat::Logfmt);
        if format == LogFormat::Access {
            d.url_safe = true;
            let lb = Seg::Look(Lookalike::PrivateIp, pick(d.rng, &self.balancers).clone());
            return vec![access::line(&mut d, carry, &lb, &self.style)];
        }
        let rec = record(&mut d, format, carry, &self.mix);
        let trace = (self.traced && d.structured).then(|| d.look(Lookalike::RequestId));
        let ctx = Ctx {
            service: &self.mix.service,
            package: &self.package,
            host: &self.host,
            pid: *pick(&mut self.rng, &self.pids),
            thread: pick(&mut self.rng, &self.threads).as_str(),
            ts_ns,
            severity_key: self.severity_key,
            trace,
        };
        formats::render(format, &ctx, &rec, &mut self.rng)
    }

    /// PII at the mix's rate (restricted to what the format can carry), else
    /// lookalikes at theirs (some of them twins of a PII record), else nothing.
    fn carry(&mut self, format: LogFormat) -> Carry {
        let fits = |e: &Entity| format != LogFormat::Access || access::carries(*e);
        let entities: Vec<Entity> = self.mix.entities.iter().copied().filter(fits).collect();
        if !entities.is_empty() && chance(&mut self.carry_rng, self.mix.pii_rate) {
            return Carry::Pii(content::entity_of(&mut self.carry_rng, &entities));
        }
        if !chance(&mut self.carry_rng, self.mix.lookalike_rate) {
            return Carry::Clean;
        }
        if chance(&mut self.carry_rng, TWIN_SHARE) {
            // Twins of every entity, not only of those this writer leaks.
            let all: Vec<Entity> = Entity::ALL.into_iter().filter(fits).collect();
            return Carry::Twin(content::entity_of(&mut self.carry_rng, &all));
        }
        Carry::Look
    }
}

/// The record for a non-access format. A syslog file also holds the host's daemons.
/// A twin is the record its entity would leak in, with stand-ins for the values (in
/// a debug-dump writer, half the time its own dump: masked fields, same template).
fn record(d: &mut Draw, format: LogFormat, carry: Carry, mix: &PiiMix) -> Record {
    let daemon = format == LogFormat::Syslog && chance(d.rng, 0.4);
    let carry = match carry {
        Carry::Twin(e) => {
            d.twin = true;
            Carry::Pii(e)
        }
        c => c,
    };
    match carry {
        Carry::Pii(e) if mix.novel => novel::record(d, e),
        Carry::Pii(_) if mix.dump && (!d.twin || chance(d.rng, 0.5)) => {
            dumps::dump(d, &mix.entities)
        }
        Carry::Pii(e @ (Entity::Ipv4 | Entity::Ipv6 | Entity::Email)) if daemon => {
            traffic::system(d, Carry::Pii(e))
        }
        Carry::Pii(e) => leaks::pii(d, e),
        _ if daemon => traffic::system(d, carry),
        Carry::Look => decoys::lookalike(d),
        _ => traffic::clean(d),
    }
}

/// The Curator's throughput corpus: `count` lines of one service's ordinary traffic,
/// 20 % of the other records lookalike decoys and 3 % carrying PII (seed 20001). The
/// Curator's bench and `qbranch perf` redact the same lines.
pub fn throughput_corpus(count: usize) -> Vec<String> {
    let mut mix = PiiMix::new("payments-api", &[]);
    mix.pii_rate = 0.03;
    mix.lookalike_rate = 0.2;
    let mut g = PiiLineGenerator::new(20_001, mix);
    (0..count as i64)
        .map(|i| g.next_line(i * 50_000_000).text)
        .collect()
}

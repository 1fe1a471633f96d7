//! The PII family: services writing log files (nginx access, JSON, Java with stack
//! traces, syslog, logfmt), where from an onset some start leaking personal data, and
//! hard negatives full of values that only look like it (order numbers, block ids,
//! epochs, versions, hashes, private addresses).
//!
//! Policy: an IP address is PII when it is a person's (a public client address in
//! X-Forwarded-For, a login, an sshd attacker); a machine's address inside the network
//! (RFC 1918, loopback, ULA, link-local: load balancers, databases, datanodes) is a
//! `private_ip` lookalike. A line's own header timestamp and pid are not labelled.
//!
//! No field, template or position gives a label away without the value:
//!
//! - X-Forwarded-For is filled on 30 to 90 % of access lines (drawn per writer) in
//!   every kind. In negatives, and on every line that does not leak, it names internal
//!   hops only (`10.1.2.3`, or `10.1.2.3, 172.18.0.4`): lookalikes. A public client
//!   address (`client` or `client, proxy`) appears only in a leak, at the leak rate
//!   from the onset, and is labelled PII wherever it appears.
//! - Every PII context (at least four per entity, see `leaks.rs`, `secrets.rs`) has a
//!   negative twin: the same logger, level, message, field or request path, carrying a
//!   stand-in (a `masked` value such as `************4242`, or a private address).
//!   Twins are 40 % of lookalike records in every kind, so they occur before an onset
//!   and throughout the negatives.
//! - Loggers that leak also write ordinary traffic; `$remote_user` holds a system
//!   account on a few basic-auth requests; daemons reject internal scanners too.
//!
//! Labels, one row per line that carries anything (`line_labels`):
//!
//! - kind `pii`, target the log source path, `start_ns` = `end_ns` = the row's `ts_ns`,
//!   attributes `{"offset":<LogRow.offset>,"spans":[{"start":s,"end":e,"entity":"email"},..]}`
//!   where `s..e` are byte offsets into the line (end exclusive), after any escaping
//!   the format does: `&line[s..e]` is the value exactly.
//! - kind `pii_lookalike`, the same shape, with lookalike types (`uuid`, `block_id`, ..).
//!
//! A consumer joins labels to `logs` rows on (`target` = `source`, `offset`).

mod access;
mod content;
mod decoys;
mod draw;
mod dumps;
mod entities;
mod formats;
mod generator;
mod leaks;
mod lines;
mod lookalikes;
mod masked;
mod novel;
mod secrets;
mod traffic;

use qb_signals::LabelRow;

pub use entities::Entity;
pub use formats::LogFormat;
pub use generator::PiiGenerator;
pub use lines::{PiiLineGenerator, PiiMix, throughput_corpus};
pub use lookalikes::Lookalike;

use crate::kinds::kinds;

kinds! {
    /// PII scenarios: two leaks, two hard negatives.
    PiiKind, family "pii" {
        /// From an onset, two or more services leak every entity type, in every format.
        PiiFlood => "pii_flood",
        /// From an onset, one service logs a debug dump of user objects: one template,
        /// two to four entity types, each spelled one way for the whole run.
        DebugDump => "debug_dump",
        /// Negative: ordinary traffic with a few lookalikes.
        Clean => "clean",
        /// Negative: dense lookalikes that fool naive validators, and no PII.
        Lookalikes => "lookalikes",
    }
    extra {
        /// From an onset, one or two application services leak PII in spellings and
        /// contexts the Curator's fast path does not know (`novel.rs`). Not in `ALL`:
        /// the standard set and the sweeps over `ALL` stay as they were.
        NovelFormats => "novel_formats",
    }
}

impl PiiKind {
    pub fn leaks(self) -> bool {
        matches!(
            self,
            PiiKind::PiiFlood | PiiKind::DebugDump | PiiKind::NovelFormats
        )
    }
}

/// Label kind of a line's PII spans.
pub const PII_LABEL: &str = "pii";
/// Label kind of a line's lookalike spans.
pub const LOOKALIKE_LABEL: &str = "pii_lookalike";

/// A typed byte range of a line: `&text[start..end]` is the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiSpan {
    pub start: usize,
    pub end: usize,
    /// An `Entity` name for PII, a `Lookalike` name for lookalikes.
    pub entity: &'static str,
}

/// One log line (no newline) and what is in it.
#[derive(Debug, Clone, PartialEq)]
pub struct PiiLine {
    pub text: String,
    pub spans: Vec<PiiSpan>,
    pub lookalikes: Vec<PiiSpan>,
    pub format: LogFormat,
    /// The level as the recorder's parser reads it from the text.
    pub level: Option<&'static str>,
    /// The pid as the recorder's parser reads it (syslog tag, JSON `pid`); None where
    /// the format has none or puts it where the recorder does not look.
    pub pid: Option<u32>,
}

/// `{"offset":N,"spans":[{"start":s,"end":e,"entity":"email"},...]}`
pub fn label_attributes(offset: u64, spans: &[PiiSpan]) -> String {
    let spans: Vec<String> = spans
        .iter()
        .map(|s| {
            format!(
                r#"{{"start":{},"end":{},"entity":"{}"}}"#,
                s.start,
                s.end,
                formats::json_escape(s.entity)
            )
        })
        .collect();
    format!(r#"{{"offset":{offset},"spans":[{}]}}"#, spans.join(","))
}

/// The label rows of `line`, read at `ts_ns` from `offset` of `source`: a `pii` row if
/// it carries PII, a `pii_lookalike` row if it carries lookalikes.
pub fn line_labels(line: &PiiLine, source: &str, offset: u64, ts_ns: i64) -> Vec<LabelRow> {
    [
        (PII_LABEL, &line.spans),
        (LOOKALIKE_LABEL, &line.lookalikes),
    ]
    .into_iter()
    .filter(|(_, spans)| !spans.is_empty())
    .map(|(kind, spans)| LabelRow {
        ts_ns,
        kind: kind.into(),
        target: source.into(),
        start_ns: ts_ns,
        end_ns: Some(ts_ns),
        attributes: label_attributes(offset, spans),
    })
    .collect()
}

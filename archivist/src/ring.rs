//! Per-service ring buffers of every line, in blocks: lines go to a service's open block;
//! a block is sealed (LZ4-compressed) once it spans `block_span` of log time or holds
//! `block_bytes`. Eviction is FIFO: blocks past `retention` go, and while everything held
//! exceeds `memory_cap` the globally oldest block goes (oldest by ingestion sequence, so
//! one chatty service cannot keep another's older lines alive).
//!
//! Each block keeps one "already forwarded" bit per line outside the compressed bytes, so
//! a flush never repeats a sampled line or an earlier flush's line, and marking costs no
//! recompression.

use std::borrow::Cow;
use std::collections::VecDeque;

use qb_signals::LogRow;

use crate::line::{self, Decoder, Stored};

/// Bookkeeping charged per block on top of its bytes (the struct and its deque slot).
const BLOCK_OVERHEAD: usize = 96;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RingConfig {
    pub retention_ns: i64,
    pub memory_cap: usize,
    pub block_bytes: usize,
    pub block_span_ns: i64,
}

/// What the ring holds and what it dropped, by cause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RingStats {
    pub lines_held: u64,
    /// Encoded size of every held line (sealed blocks before compression, plus the open ones).
    pub raw_bytes_held: u64,
    /// Compressed bytes of sealed blocks.
    pub compressed_bytes_held: u64,
    /// Uncompressed bytes of open blocks.
    pub open_bytes_held: u64,
    /// Everything charged against `memory_cap`: compressed + open + forwarded bits + per-block overhead.
    pub held_bytes: u64,
    pub peak_held_bytes: u64,
    pub blocks_sealed: u64,
    /// Raw and compressed bytes of every block ever sealed: the compression ratio.
    pub sealed_raw_bytes: u64,
    pub sealed_compressed_bytes: u64,
    pub evicted_age_lines: u64,
    pub evicted_age_blocks: u64,
    pub evicted_cap_lines: u64,
    pub evicted_cap_blocks: u64,
    /// Blocks that failed to decompress or decode (should stay 0; counted, never a panic).
    pub decode_errors: u64,
}

#[derive(Debug, Default)]
struct Block {
    first_seq: u64,
    min_ts: i64,
    max_ts: i64,
    lines: u32,
    /// Encoded lines: raw while open, LZ4 block once sealed.
    data: Vec<u8>,
    raw_len: usize,
    sealed: bool,
    forwarded: Vec<u64>,
}

impl Block {
    /// The encoded lines: decompressed when sealed, borrowed when open. None when a
    /// sealed block does not decompress.
    fn bytes(&self) -> Option<Cow<'_, [u8]>> {
        if self.sealed {
            lz4_flex::block::decompress(&self.data, self.raw_len)
                .ok()
                .map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&self.data))
        }
    }

    fn charge(&self) -> usize {
        if self.lines == 0 {
            return 0;
        }
        self.data.len() + self.forwarded.len() * 8 + BLOCK_OVERHEAD
    }

    fn is_forwarded(&self, i: usize) -> bool {
        self.forwarded
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn mark(&mut self, i: usize) {
        if let Some(w) = self.forwarded.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn all_forwarded(&self) -> bool {
        (0..self.lines as usize).all(|i| self.is_forwarded(i))
    }
}

#[derive(Debug)]
struct ServiceRing {
    sealed: VecDeque<Block>,
    open: Block,
    /// Newest line time the cap evicted: a flush reaching back past it is incomplete.
    cap_evicted_until: i64,
}

#[derive(Debug)]
pub struct Ring {
    cfg: RingConfig,
    services: Vec<ServiceRing>,
    next_seq: u64,
    stats: RingStats,
}

enum Cause {
    Age,
    Cap,
}

impl Ring {
    pub fn new(cfg: RingConfig) -> Self {
        Ring {
            cfg,
            services: Vec::new(),
            next_seq: 0,
            stats: RingStats::default(),
        }
    }

    /// A new, empty service ring; its index is the handle.
    pub fn add_service(&mut self) -> usize {
        self.services.push(ServiceRing {
            sealed: VecDeque::new(),
            open: Block::default(),
            cap_evicted_until: i64::MIN,
        });
        self.services.len() - 1
    }

    pub fn stats(&self) -> &RingStats {
        &self.stats
    }

    /// Appends a line (already capped by the caller) and returns its sequence number.
    pub fn push(&mut self, service: usize, row: &LogRow, forwarded: bool) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(s) = self.services.get_mut(service) else {
            return seq;
        };
        let len = line::encoded_len(row);
        let open = &s.open;
        if open.lines > 0
            && (open.data.len() + len > self.cfg.block_bytes
                || row.ts_ns.saturating_sub(open.min_ts) >= self.cfg.block_span_ns)
        {
            seal(s, &mut self.stats);
        }
        let open = &mut s.open;
        let before = open.charge();
        if open.lines == 0 {
            open.first_seq = seq;
            open.min_ts = row.ts_ns;
            open.max_ts = row.ts_ns;
        }
        open.min_ts = open.min_ts.min(row.ts_ns);
        open.max_ts = open.max_ts.max(row.ts_ns);
        let start = open.data.len();
        line::encode(seq, row, &mut open.data);
        let i = open.lines as usize;
        open.lines += 1;
        if open.forwarded.len() * 64 < open.lines as usize {
            open.forwarded.push(0);
        }
        if forwarded {
            open.mark(i);
        }
        let written = (open.data.len() - start) as u64;
        self.stats.lines_held += 1;
        self.stats.raw_bytes_held += written;
        self.stats.open_bytes_held += written;
        self.stats.held_bytes += (open.charge() - before) as u64;
        if self.stats.held_bytes > self.cfg.memory_cap as u64 {
            self.enforce_cap();
        }
        self.stats.peak_held_bytes = self.stats.peak_held_bytes.max(self.stats.held_bytes);
        seq
    }

    /// Seals blocks that have spanned `block_span` by `now_ns`, evicts by age, then by cap.
    pub fn maintain(&mut self, now_ns: i64) {
        let cutoff = now_ns.saturating_sub(self.cfg.retention_ns);
        for s in &mut self.services {
            if s.open.lines > 0 && now_ns.saturating_sub(s.open.min_ts) >= self.cfg.block_span_ns {
                seal(s, &mut self.stats);
            }
            while s.sealed.front().is_some_and(|b| b.max_ts < cutoff) {
                if let Some(b) = s.sealed.pop_front() {
                    drop_block(b, Cause::Age, &mut self.stats);
                }
            }
            if s.sealed.is_empty() && s.open.lines > 0 && s.open.max_ts < cutoff {
                let b = std::mem::take(&mut s.open);
                drop_block(b, Cause::Age, &mut self.stats);
            }
        }
        self.enforce_cap();
    }

    fn enforce_cap(&mut self) {
        while self.stats.held_bytes > self.cfg.memory_cap as u64 {
            // The oldest sealed block anywhere; only when none is left, an open one.
            let oldest = |sealed: bool| {
                self.services
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        let b = if sealed { s.sealed.front()? } else { &s.open };
                        (b.lines > 0).then_some((b.first_seq, i))
                    })
                    .min()
            };
            if let Some((_, i)) = oldest(true) {
                let s = &mut self.services[i];
                if let Some(b) = s.sealed.pop_front() {
                    s.cap_evicted_until = s.cap_evicted_until.max(b.max_ts);
                    drop_block(b, Cause::Cap, &mut self.stats);
                }
            } else if let Some((_, i)) = oldest(false) {
                let s = &mut self.services[i];
                let b = std::mem::take(&mut s.open);
                s.cap_evicted_until = s.cap_evicted_until.max(b.max_ts);
                drop_block(b, Cause::Cap, &mut self.stats);
            } else {
                break;
            }
        }
    }

    /// Newest line time of `service` the cap evicted (`i64::MIN` when none).
    pub fn cap_evicted_until(&self, service: usize) -> i64 {
        self.services
            .get(service)
            .map_or(i64::MIN, |s| s.cap_evicted_until)
    }

    /// Every held line of `service` with `from <= ts <= to` not forwarded yet, in
    /// ingestion order; they are marked forwarded.
    pub fn take_window(&mut self, service: usize, from: i64, to: i64, out: &mut Vec<Stored>) {
        let Some(s) = self.services.get_mut(service) else {
            return;
        };
        let stats = &mut self.stats;
        for b in s.sealed.iter_mut().chain(std::iter::once(&mut s.open)) {
            if b.lines == 0 || b.max_ts < from || b.min_ts > to || b.all_forwarded() {
                continue;
            }
            let Some(bytes) = b.bytes() else {
                stats.decode_errors += 1;
                continue;
            };
            let mut marks = Vec::new();
            for (i, item) in Decoder::new(&bytes).enumerate() {
                let Ok(stored) = item else {
                    stats.decode_errors += 1;
                    break;
                };
                if (from..=to).contains(&stored.row.ts_ns) && !b.is_forwarded(i) {
                    marks.push(i);
                    out.push(stored);
                }
            }
            for i in marks {
                b.mark(i);
            }
        }
    }

    /// Every held line of every service (tests and inspection; decompresses everything).
    pub fn lines(&self, service: usize) -> Vec<Stored> {
        let mut out = Vec::new();
        let Some(s) = self.services.get(service) else {
            return out;
        };
        for b in s.sealed.iter().chain(std::iter::once(&s.open)) {
            if let Some(bytes) = b.bytes() {
                out.extend(Decoder::new(&bytes).map_while(Result::ok));
            }
        }
        out
    }
}

fn seal(s: &mut ServiceRing, stats: &mut RingStats) {
    let mut b = std::mem::take(&mut s.open);
    let before = b.charge();
    b.raw_len = b.data.len();
    b.data = lz4_flex::block::compress(&b.data);
    b.sealed = true;
    stats.blocks_sealed += 1;
    stats.sealed_raw_bytes += b.raw_len as u64;
    stats.sealed_compressed_bytes += b.data.len() as u64;
    stats.open_bytes_held = stats.open_bytes_held.saturating_sub(b.raw_len as u64);
    stats.compressed_bytes_held += b.data.len() as u64;
    // The compressed size replaces the raw one in the charge.
    stats.held_bytes = (stats.held_bytes + b.charge() as u64).saturating_sub(before as u64);
    s.sealed.push_back(b);
}

fn drop_block(b: Block, cause: Cause, stats: &mut RingStats) {
    let lines = u64::from(b.lines);
    match cause {
        Cause::Age => {
            stats.evicted_age_lines += lines;
            stats.evicted_age_blocks += 1;
        }
        Cause::Cap => {
            stats.evicted_cap_lines += lines;
            stats.evicted_cap_blocks += 1;
        }
    }
    // Saturating: the counters mirror the blocks exactly, but a slip must not panic.
    stats.lines_held = stats.lines_held.saturating_sub(lines);
    if b.sealed {
        stats.raw_bytes_held = stats.raw_bytes_held.saturating_sub(b.raw_len as u64);
        let c = &mut stats.compressed_bytes_held;
        *c = c.saturating_sub(b.data.len() as u64);
    } else {
        stats.raw_bytes_held = stats.raw_bytes_held.saturating_sub(b.data.len() as u64);
        stats.open_bytes_held = stats.open_bytes_held.saturating_sub(b.data.len() as u64);
    }
    stats.held_bytes = stats.held_bytes.saturating_sub(b.charge() as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn cfg() -> RingConfig {
        RingConfig {
            retention_ns: 120 * S,
            memory_cap: 1 << 20,
            block_bytes: 4096,
            block_span_ns: S,
        }
    }

    fn row(ts: i64, i: u64) -> LogRow {
        LogRow {
            ts_ns: ts,
            source: "/var/log/app.log".into(),
            offset: i * 100,
            pid: Some(42),
            level: Some("info".into()),
            line: format!("2026-01-01 request id={i} path=/api/orders status=200 took=12ms"),
            truncated: false,
        }
    }

    #[test]
    fn lz4_round_trip_keeps_every_line_in_order() {
        let mut r = Ring::new(cfg());
        let s = r.add_service();
        for i in 0..500u64 {
            r.push(s, &row(i as i64 * S / 50, i), false);
        }
        r.maintain(10 * S + 1);
        assert!(r.stats().blocks_sealed >= 9, "{:?}", r.stats());
        let back = r.lines(s);
        assert_eq!(back.len(), 500);
        for (i, st) in back.iter().enumerate() {
            assert_eq!(st.row, row(i as i64 * S / 50, i as u64));
        }
        let st = r.stats();
        assert!(
            st.sealed_compressed_bytes * 2 < st.sealed_raw_bytes,
            "{st:?}"
        );
    }

    #[test]
    fn age_eviction_counts_lines() {
        let mut r = Ring::new(cfg());
        let s = r.add_service();
        for t in 0..300i64 {
            r.push(s, &row(t * S, t as u64), false);
            r.maintain(t * S);
        }
        let st = r.stats().clone();
        assert_eq!(st.lines_held + st.evicted_age_lines, 300);
        assert!((119..=122).contains(&st.lines_held), "{st:?}");
        assert_eq!(st.evicted_cap_lines, 0);
        assert!(
            r.lines(s)
                .iter()
                .all(|l| l.row.ts_ns >= 299 * S - 120 * S - S)
        );
    }

    #[test]
    fn cap_eviction_takes_the_globally_oldest_and_stays_under() {
        let mut r = Ring::new(RingConfig {
            memory_cap: 64 << 10,
            ..cfg()
        });
        let a = r.add_service();
        let b = r.add_service();
        for i in 0..20_000u64 {
            let svc = if i % 3 == 0 { a } else { b };
            r.push(svc, &row((i / 100) as i64 * S, i), false);
            assert!(r.stats().held_bytes <= 64 << 10);
        }
        r.maintain(200 * S);
        let st = r.stats();
        assert!(
            st.evicted_cap_lines > 0 && st.evicted_age_lines == 0,
            "{st:?}"
        );
        assert_eq!(st.lines_held + st.evicted_cap_lines, 20_000);
        // Both services keep only recent lines: the oldest went first, globally.
        let oldest = |s| r.lines(s).first().map(|l| l.seq).unwrap_or(0);
        assert!(
            oldest(a).abs_diff(oldest(b)) < 2000,
            "{} {}",
            oldest(a),
            oldest(b)
        );
    }

    #[test]
    fn take_window_marks_and_never_repeats() {
        let mut r = Ring::new(cfg());
        let s = r.add_service();
        for i in 0..100u64 {
            r.push(s, &row(i as i64 * S / 10, i), i == 50);
        }
        r.maintain(5 * S);
        let mut out = Vec::new();
        r.take_window(s, 2 * S, 6 * S, &mut out);
        let offs: Vec<u64> = out.iter().map(|l| l.row.offset / 100).collect();
        assert_eq!(offs, (20..=60).filter(|&i| i != 50).collect::<Vec<_>>());
        out.clear();
        r.take_window(s, 0, 20 * S, &mut out);
        assert_eq!(out.len(), 100 - 40 - 1);
        out.clear();
        r.take_window(s, 0, 20 * S, &mut out);
        assert!(out.is_empty());
    }
}

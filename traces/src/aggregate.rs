//! The Concentrator: spans into 10 s buckets per (service, resource, status), flushed as
//! `TraceRow`s once a bucket can no longer receive spans, plus the latest request per
//! client endpoint as `RequestRow`s.
//!
//! Deterministic: a span's bucket is its end time floored to the bucket width, and a
//! bucket closes when the caller's `now` passes its end plus a grace period (exporters
//! batch spans for a few seconds). No clock is read here.
//!
//! Memory is bounded: at most `max_keys` keys per bucket and `max_buckets` open buckets
//! (a sketch is a few KiB at most), and `max_endpoints` request rows between flushes.
//! What does not fit is counted, never silently lost.

use std::collections::{BTreeMap, HashMap};

use qb_signals::{RequestRow, TraceRow};

use crate::ddsketch::DDSketch;
use crate::span::{Span, SpanKind};

#[derive(Debug, Clone)]
pub struct ConcentratorConfig {
    /// Bucket width.
    pub bucket_ns: i64,
    /// How long after its end a bucket still takes late spans.
    pub grace_ns: i64,
    /// Distinct (service, resource, status) keys per bucket; spans of further keys are dropped.
    pub max_keys: usize,
    /// Open buckets; spans too far ahead of `now` are dropped rather than opening more.
    pub max_buckets: usize,
    /// Distinct client endpoints remembered between two flushes.
    pub max_endpoints: usize,
}

impl Default for ConcentratorConfig {
    fn default() -> Self {
        ConcentratorConfig {
            bucket_ns: 10_000_000_000,
            grace_ns: 10_000_000_000,
            max_keys: 2_000,
            max_buckets: 8,
            max_endpoints: 4_096,
        }
    }
}

/// Counters since the concentrator was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConcentratorStats {
    /// Spans aggregated into a bucket.
    pub spans: u64,
    /// Spans of a bucket already flushed.
    pub dropped_late: u64,
    /// Spans ending too far after `now` (clock skew) to open a bucket for.
    pub dropped_future: u64,
    /// Spans of a new key in a bucket that already had `max_keys` keys.
    pub dropped_keys: u64,
    /// Server spans not kept as request rows because `max_endpoints` was reached.
    pub dropped_endpoints: u64,
    /// Trace rows flushed.
    pub rows: u64,
}

impl ConcentratorStats {
    pub fn dropped(&self) -> u64 {
        self.dropped_late + self.dropped_future + self.dropped_keys
    }
}

#[derive(Debug, Default)]
struct Stats {
    hits: u64,
    errors: u64,
    duration_sum_ns: u64,
    max_ns: u64,
    sketch: DDSketch,
}

type Key = (String, String, bool);
type Endpoint = (String, String, u32);

#[derive(Debug)]
pub struct Concentrator {
    config: ConcentratorConfig,
    /// Open buckets by start time.
    buckets: BTreeMap<i64, HashMap<Key, Stats>>,
    /// Buckets starting before this are flushed; spans for them are late.
    watermark: i64,
    /// Latest request per endpoint, with its end time.
    requests: HashMap<Endpoint, (u64, RequestRow)>,
    stats: ConcentratorStats,
}

impl Concentrator {
    pub fn new(config: ConcentratorConfig) -> Self {
        Concentrator {
            config: ConcentratorConfig {
                bucket_ns: config.bucket_ns.max(1),
                max_buckets: config.max_buckets.max(1),
                ..config
            },
            buckets: BTreeMap::new(),
            watermark: i64::MIN,
            requests: HashMap::new(),
            stats: ConcentratorStats::default(),
        }
    }

    pub fn stats(&self) -> ConcentratorStats {
        self.stats
    }

    fn bucket_of(&self, end_ns: u64) -> i64 {
        let end = i64::try_from(end_ns).unwrap_or(i64::MAX);
        end - end.rem_euclid(self.config.bucket_ns)
    }

    /// Adds one span seen at `now_ns` (the caller's time, for the skew bound).
    pub fn add(&mut self, span: &Span, now_ns: i64) {
        self.add_request(span);
        let bucket = self.bucket_of(span.end_ns);
        if bucket < self.watermark {
            self.stats.dropped_late += 1;
            return;
        }
        let horizon = now_ns.saturating_add(
            self.config
                .bucket_ns
                .saturating_mul(self.config.max_buckets as i64 / 2),
        );
        let full =
            self.buckets.len() >= self.config.max_buckets && !self.buckets.contains_key(&bucket);
        if bucket > horizon || full {
            self.stats.dropped_future += 1;
            return;
        }
        let max_keys = self.config.max_keys;
        let keys = self.buckets.entry(bucket).or_default();
        let error = span.is_error();
        let resource = span.resource();
        let key = (span.service.clone(), resource, error);
        if !keys.contains_key(&key) && keys.len() >= max_keys {
            self.stats.dropped_keys += 1;
            return;
        }
        let s = keys.entry(key).or_default();
        let d = span.duration_ns();
        s.hits += 1;
        s.errors += u64::from(error);
        s.duration_sum_ns = s.duration_sum_ns.saturating_add(d);
        s.max_ns = s.max_ns.max(d);
        s.sketch.add(d);
        self.stats.spans += 1;
    }

    fn add_request(&mut self, span: &Span) {
        let (SpanKind::Server, Some(addr), Some(port)) =
            (span.kind, &span.client_addr, span.client_port)
        else {
            return;
        };
        let endpoint = (span.service.clone(), addr.clone(), port);
        if let Some((end, _)) = self.requests.get(&endpoint)
            && *end > span.end_ns
        {
            return;
        }
        if !self.requests.contains_key(&endpoint)
            && self.requests.len() >= self.config.max_endpoints
        {
            self.stats.dropped_endpoints += 1;
            return;
        }
        let row = RequestRow {
            ts_ns: 0,
            service: span.service.clone(),
            client_addr: addr.clone(),
            client_port: port,
            server_port: span.server_port,
            method: span.http_method.clone(),
            path: span.http_path.clone().or_else(|| span.http_route.clone()),
            duration_ns: span.duration_ns(),
            error: span.is_error(),
        };
        self.requests.insert(endpoint, (span.end_ns, row));
    }

    /// Closes every bucket whose end plus grace is at or before `now_ns`, returning its
    /// rows (stamped `now_ns`) sorted by bucket, service, resource, status.
    pub fn flush_traces(&mut self, now_ns: i64) -> Vec<TraceRow> {
        let mut rows = Vec::new();
        let limit = now_ns
            .saturating_sub(self.config.grace_ns)
            .saturating_sub(self.config.bucket_ns);
        while let Some(entry) = self.buckets.first_entry() {
            if *entry.key() > limit {
                break;
            }
            let bucket = *entry.key();
            let mut keys: Vec<_> = entry.remove().into_iter().collect();
            keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            rows.extend(
                keys.into_iter()
                    .map(|((service, resource, error), s)| TraceRow {
                        ts_ns: now_ns,
                        service,
                        resource,
                        status: if error { "error" } else { "ok" }.to_string(),
                        bucket_ns: bucket,
                        hits: s.hits,
                        errors: s.errors,
                        duration_sum_ns: s.duration_sum_ns,
                        p50_ns: s.sketch.quantile_ns(0.5),
                        p90_ns: s.sketch.quantile_ns(0.9),
                        p99_ns: s.sketch.quantile_ns(0.99),
                        max_ns: s.max_ns,
                    }),
            );
        }
        // Even an empty bucket is closed once its time has passed.
        let last_closed = limit.saturating_sub(limit.rem_euclid(self.config.bucket_ns));
        self.watermark = self
            .watermark
            .max(last_closed.saturating_add(self.config.bucket_ns));
        self.stats.rows += rows.len() as u64;
        rows
    }

    /// The latest request per endpoint since the last call, stamped `now_ns`, sorted.
    pub fn flush_requests(&mut self, now_ns: i64) -> Vec<RequestRow> {
        let mut rows: Vec<_> = self
            .requests
            .drain()
            .map(|(_, (_, mut row))| {
                row.ts_ns = now_ns;
                row
            })
            .collect();
        rows.sort_unstable_by(|a, b| {
            (&a.service, &a.client_addr, a.client_port).cmp(&(
                &b.service,
                &b.client_addr,
                b.client_port,
            ))
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_800_000_000 * S;

    fn span(service: &str, end_s: f64, dur_ms: u64, error: bool) -> Span {
        let end = (T0 as f64 + end_s * S as f64) as u64;
        Span {
            service: service.into(),
            name: "GET".into(),
            kind: SpanKind::Server,
            start_ns: end - dur_ms * 1_000_000,
            end_ns: end,
            status_error: error,
            http_method: Some("GET".into()),
            http_route: Some("/api/users".into()),
            ..Span::default()
        }
    }

    #[test]
    fn buckets_close_after_grace_with_hits_errors_and_quantiles() {
        let mut c = Concentrator::new(ConcentratorConfig::default());
        for i in 0..100 {
            c.add(&span("api", 1.0 + i as f64 * 0.05, 1 + i, false), T0);
        }
        c.add(&span("api", 2.0, 500, true), T0);
        c.add(&span("api", 12.0, 7, false), T0);
        // Bucket [T0, T0+10s) closes at T0 + 10 s + 10 s grace.
        assert!(c.flush_traces(T0 + 19 * S).is_empty());
        let rows = c.flush_traces(T0 + 20 * S);
        assert_eq!(rows.len(), 2, "{rows:?}");
        let ok = &rows[0];
        assert_eq!(
            (
                ok.service.as_str(),
                ok.resource.as_str(),
                ok.status.as_str()
            ),
            ("api", "GET /api/users", "ok")
        );
        assert_eq!(
            (ok.bucket_ns, ok.ts_ns, ok.hits, ok.errors),
            (T0, T0 + 20 * S, 100, 0)
        );
        assert_eq!(ok.duration_sum_ns, (1..=100).sum::<u64>() * 1_000_000);
        assert_eq!(ok.max_ns, 100_000_000);
        let near = |est: u64, exact: u64| (est as f64 - exact as f64).abs() <= 0.01 * exact as f64;
        assert!(near(ok.p50_ns, 50_000_000), "{}", ok.p50_ns);
        assert!(near(ok.p99_ns, 99_000_000), "{}", ok.p99_ns);
        assert_eq!(
            (rows[1].status.as_str(), rows[1].hits, rows[1].errors),
            ("error", 1, 1)
        );
        // A span for the flushed bucket is late; the next bucket flushes 10 s later.
        c.add(&span("api", 3.0, 1, false), T0 + 20 * S);
        assert_eq!(c.stats().dropped_late, 1);
        assert_eq!(c.flush_traces(T0 + 30 * S)[0].bucket_ns, T0 + 10 * S);
        assert_eq!(c.stats().spans, 102);
    }

    #[test]
    fn keys_buckets_and_endpoints_are_bounded_and_counted() {
        let mut c = Concentrator::new(ConcentratorConfig {
            max_keys: 3,
            max_buckets: 4,
            max_endpoints: 2,
            ..ConcentratorConfig::default()
        });
        for i in 0..10 {
            let mut s = span(&format!("svc{i}"), 1.0, 1, false);
            s.client_addr = Some("10.0.0.1".into());
            s.client_port = Some(1000 + i);
            c.add(&s, T0);
        }
        assert_eq!(c.stats().dropped_keys, 7);
        assert_eq!(c.stats().dropped_endpoints, 8);
        // 20 s ahead is within the horizon (4 buckets / 2), 60 s is not.
        c.add(&span("api", 20.0, 1, false), T0);
        c.add(&span("api", 60.0, 1, false), T0);
        assert_eq!(c.stats().dropped_future, 1);
        assert_eq!(c.stats().dropped(), 8);
        assert_eq!(c.flush_requests(T0).len(), 2);
        assert!(c.flush_requests(T0).is_empty(), "drained");
    }

    #[test]
    fn requests_keep_the_latest_per_endpoint_with_their_facts() {
        let mut c = Concentrator::new(ConcentratorConfig::default());
        let mut a = span("db", 5.0, 3, false);
        a.client_addr = Some("127.0.0.1".into());
        a.client_port = Some(5555);
        a.server_port = Some(5432);
        a.http_path = Some("/health".into());
        let mut b = a.clone();
        b.end_ns -= 1_000;
        b.http_status = Some(500);
        c.add(&a, T0);
        c.add(&b, T0); // older: ignored
        let mut internal = a.clone();
        internal.kind = SpanKind::Internal;
        internal.client_port = Some(1);
        c.add(&internal, T0); // not a served request
        let rows = c.flush_requests(T0 + S);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r.ts_ns, r.client_port, r.server_port, r.error),
            (T0 + S, 5555, Some(5432), false)
        );
        assert_eq!(
            (r.method.as_deref(), r.path.as_deref()),
            (Some("GET"), Some("/health"))
        );
        assert_eq!(r.duration_ns, 3_000_000);
    }

    #[test]
    fn replaying_the_same_spans_gives_the_same_rows() {
        let run = || {
            let mut c = Concentrator::new(ConcentratorConfig::default());
            for i in 0..300 {
                let svc = ["a", "b", "c"][i % 3];
                c.add(
                    &span(
                        svc,
                        (i % 37) as f64 * 0.7,
                        (i * 7 % 90) as u64 + 1,
                        i % 11 == 0,
                    ),
                    T0,
                );
            }
            c.flush_traces(T0 + 60 * S)
        };
        assert_eq!(run(), run());
    }
}

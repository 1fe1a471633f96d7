//! The toxic family's trace statistics: what an OTLP-instrumented PostgreSQL client
//! library would report for the service's queries, as `traces` rows per 10 s bucket and
//! the latest request per client endpoint as `requests` rows.
//!
//! Durations follow a log-normal per operation (median and spread drawn per run); the
//! rows carry its exact quantiles, with a little noise per bucket, so no per-query
//! sampling is needed. While a CPU hog runs, queries queue: latency grows as the
//! others' throughput shrinks. Behind a lock holder nothing completes except the
//! statement timeouts (30 s, as errors). The draws come from their own stream, so the
//! family's other rows are the same with or without this model.

use std::collections::BTreeMap;

use qb_signals::{RequestRow, TraceRow};

use crate::rng::Rng;

pub(crate) const SERVICE: &str = "postgres";
const BUCKET_NS: i64 = 10_000_000_000;
/// Buckets are emitted this long after they end, as the live concentrator does.
const GRACE_NS: i64 = 10_000_000_000;
const STATEMENT_TIMEOUT_NS: f64 = 30e9;
/// z-scores of the 50th, 90th and 99th percentiles.
const Z: [f64; 3] = [0.0, 1.281_551_6, 2.326_347_9];

#[derive(Debug)]
struct Operation {
    resource: &'static str,
    /// Share of the queries.
    weight: f64,
    median_ns: f64,
    sigma: f64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Acc {
    hits: f64,
    /// Hits-weighted latency multiplier (contention), to average over the bucket.
    slowdown: f64,
}

#[derive(Debug)]
pub(crate) struct TraceModel {
    rng: Rng,
    ops: Vec<Operation>,
    /// (bucket start, operation index, error) -> accumulated hits.
    pending: BTreeMap<(i64, usize, bool), Acc>,
    /// Per session: seconds a query has been waiting behind a lock.
    waited_s: Vec<f64>,
}

impl TraceModel {
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x7472_6163_6573);
        let mut op = |resource, weight, lo: f64, hi: f64| Operation {
            resource,
            weight,
            median_ns: rng.range(lo, hi) * 1e6,
            sigma: rng.range(0.3, 0.7),
        };
        let ops = vec![
            op("SELECT orders", 0.6, 0.3, 2.0),
            op("UPDATE accounts", 0.25, 0.8, 4.0),
            op("INSERT events", 0.15, 0.5, 3.0),
        ];
        TraceModel {
            rng,
            ops,
            pending: BTreeMap::new(),
            waited_s: Vec::new(),
        }
    }

    /// One session's tick: `queries` completed, each `slowdown` x its normal latency;
    /// or, when `blocked`, none, but a statement timeout every 30 s. Pushes the
    /// session's latest request (if any completed) into `requests`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn session(
        &mut self,
        ts: i64,
        dt: f64,
        index: usize,
        client_port: u32,
        queries: f64,
        slowdown: f64,
        blocked: bool,
        requests: &mut Vec<RequestRow>,
    ) {
        if self.waited_s.len() <= index {
            self.waited_s.resize(index + 1, 0.0);
        }
        let bucket = ts - ts.rem_euclid(BUCKET_NS);
        let (duration, error) = if blocked {
            self.waited_s[index] += dt;
            if self.waited_s[index] * 1e9 < STATEMENT_TIMEOUT_NS {
                return;
            }
            self.waited_s[index] = 0.0;
            let op = self.pick();
            self.add(
                bucket,
                op,
                true,
                1.0,
                STATEMENT_TIMEOUT_NS / self.ops[op].median_ns,
            );
            (STATEMENT_TIMEOUT_NS, true)
        } else {
            self.waited_s[index] = 0.0;
            if queries <= 0.0 {
                return;
            }
            for op in 0..self.ops.len() {
                self.add(bucket, op, false, queries * self.ops[op].weight, slowdown);
            }
            if queries < 1.0 {
                return;
            }
            let op = self.pick();
            let o = &self.ops[op];
            let d = o.median_ns * slowdown * (o.sigma * self.rng.normal()).exp();
            (d, false)
        };
        requests.push(RequestRow {
            ts_ns: ts,
            service: SERVICE.into(),
            client_addr: "10.0.2.20".into(),
            client_port,
            server_port: Some(5432),
            method: None,
            path: None,
            duration_ns: duration.round() as u64,
            error,
        });
    }

    fn pick(&mut self) -> usize {
        let mut u = self.rng.unit();
        for (i, o) in self.ops.iter().enumerate() {
            if u < o.weight {
                return i;
            }
            u -= o.weight;
        }
        0
    }

    fn add(&mut self, bucket: i64, op: usize, error: bool, hits: f64, slowdown: f64) {
        let acc = self.pending.entry((bucket, op, error)).or_default();
        acc.hits += hits;
        acc.slowdown += hits * slowdown;
    }

    /// Rows of the buckets closed (end + grace) by `ts`, stamped `ts`.
    pub(crate) fn flush(&mut self, ts: i64, out: &mut Vec<TraceRow>) {
        while let Some(entry) = self.pending.first_entry() {
            let (bucket, op, error) = *entry.key();
            if bucket + BUCKET_NS + GRACE_NS > ts {
                break;
            }
            let acc = entry.remove();
            let hits = acc.hits.round() as u64;
            if hits == 0 {
                continue;
            }
            let o = &self.ops[op];
            let noise = if error {
                1.0
            } else {
                (1.0 + 0.05 * self.rng.normal()).clamp(0.8, 1.2)
            };
            let median = o.median_ns * acc.slowdown / acc.hits * noise;
            // A timeout is a fixed duration, not a distribution.
            let sigma = if error { 0.0 } else { o.sigma };
            let [p50, p90, p99] = Z.map(|z| median * (sigma * z).exp());
            let mean = median * (sigma * sigma / 2.0).exp();
            out.push(TraceRow {
                ts_ns: ts,
                service: SERVICE.into(),
                resource: o.resource.into(),
                status: if error { "error" } else { "ok" }.into(),
                bucket_ns: bucket,
                hits,
                errors: if error { hits } else { 0 },
                duration_sum_ns: (mean * hits as f64).round() as u64,
                p50_ns: p50.round() as u64,
                p90_ns: p90.round() as u64,
                p99_ns: p99.round() as u64,
                max_ns: (p99 * (1.0 + 0.5 * self.rng.unit())).round() as u64,
            });
        }
    }
}

//! What local trace statistics add, where a service sends spans: the last request each
//! client endpoint made (method and path: the protection rules), and the service's
//! latency against its own baseline (harm).

use std::collections::HashMap;

use qb_signals::{ConnectionRow, Frame};

/// A bucket's p99 counts only with this many hits: a handful of requests is noise.
const MIN_HITS: u64 = 10;
/// The baseline follows healthy buckets only, slowly.
const BASELINE_WEIGHT: f64 = 0.2;
/// A spike's p99 stands for this long after its bucket (three 10 s buckets).
const LATENCY_TTL_NS: i64 = 30_000_000_000;
/// Requests of endpoints not seen for this long are forgotten.
const REQUEST_TTL_NS: i64 = 600_000_000_000;
/// At or above this ratio to its baseline, a service's p99 is harm (the Archivist's
/// latency-spike trigger uses the same 2x).
pub const SPIKE_RATIO: f64 = 2.0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Option<String>,
    pub path: Option<String>,
    seen_ns: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Latency {
    baseline_ns: Option<f64>,
    ratio: f64,
    at_ns: i64,
}

#[derive(Debug, Default)]
pub struct RequestFacts {
    /// (client address, client port) -> its last request, and the server port it went to.
    last: HashMap<(String, u32), (Option<u32>, Request)>,
    latency: HashMap<String, Latency>,
    /// Server port -> the trace service that answers on it.
    services: HashMap<u32, String>,
}

impl RequestFacts {
    pub fn observe(&mut self, frame: &Frame) {
        let now = frame.ts_ns;
        for r in &frame.requests {
            let request = Request {
                method: r.method.clone(),
                path: r.path.clone(),
                seen_ns: now,
            };
            self.last.insert(
                (r.client_addr.clone(), r.client_port),
                (r.server_port, request),
            );
            if let Some(port) = r.server_port {
                self.services.insert(port, r.service.clone());
            }
        }
        self.last
            .retain(|_, (_, r)| now.saturating_sub(r.seen_ns) < REQUEST_TTL_NS);
        // Each service's slowest well-sampled resource this bucket.
        let mut p99: HashMap<&str, f64> = HashMap::new();
        for t in frame.traces.iter().filter(|t| t.hits >= MIN_HITS) {
            let v = p99.entry(t.service.as_str()).or_default();
            *v = v.max(t.p99_ns as f64);
        }
        for (service, p) in p99 {
            let l = self.latency.entry(service.to_string()).or_default();
            let ratio = l.baseline_ns.map_or(1.0, |b| p / b.max(1.0));
            if ratio < SPIKE_RATIO {
                l.baseline_ns = Some(match l.baseline_ns {
                    Some(b) => b + BASELINE_WEIGHT * (p - b),
                    None => p,
                });
            }
            l.ratio = ratio;
            l.at_ns = now;
        }
    }

    /// The last request the connection's client made, if its spans said.
    pub fn last_request(&self, row: &ConnectionRow) -> Option<&Request> {
        let (port, request) = self.last.get(&(row.remote_addr.clone(), row.remote_port))?;
        port.is_none_or(|p| p == row.local_port).then_some(request)
    }

    /// The service on `local_port`: its p99 over its baseline, while recent.
    pub fn p99_ratio(&self, local_port: u32, now_ns: i64) -> Option<f64> {
        let l = self.latency.get(self.services.get(&local_port)?)?;
        (now_ns.saturating_sub(l.at_ns) < LATENCY_TTL_NS).then_some(l.ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qb_signals::{RequestRow, TraceRow};

    const S: i64 = 1_000_000_000;

    fn frame(t: i64, p99_ms: u64, hits: u64) -> Frame {
        let mut f = Frame::new(t * S, "h");
        f.traces.push(TraceRow {
            ts_ns: t * S,
            service: "api".into(),
            resource: "GET /users".into(),
            status: "ok".into(),
            hits,
            p99_ns: p99_ms * 1_000_000,
            ..TraceRow::default()
        });
        f.requests.push(RequestRow {
            ts_ns: t * S,
            service: "api".into(),
            client_addr: "10.0.0.9".into(),
            client_port: 40_000,
            server_port: Some(8080),
            method: Some("GET".into()),
            path: Some("/users".into()),
            ..RequestRow::default()
        });
        f
    }

    #[test]
    fn latency_is_judged_against_the_services_own_baseline() {
        let mut r = RequestFacts::default();
        for t in 0..6 {
            r.observe(&frame(t * 10, 20, 50));
        }
        assert!((r.p99_ratio(8080, 50 * S).unwrap() - 1.0).abs() < 1e-9);
        r.observe(&frame(60, 90, 50));
        let spike = r.p99_ratio(8080, 60 * S).unwrap();
        assert!(spike > 4.0, "{spike}");
        // The spike does not become the baseline; a thin bucket is not judged.
        r.observe(&frame(70, 90, 3));
        assert!(r.p99_ratio(8080, 70 * S).unwrap() > 4.0);
        assert_eq!(r.p99_ratio(8080, 200 * S), None, "stale");
        assert_eq!(r.p99_ratio(9999, 60 * S), None, "another port");
    }

    #[test]
    fn a_connection_finds_its_clients_last_request() {
        let mut r = RequestFacts::default();
        r.observe(&frame(0, 20, 50));
        let conn = ConnectionRow {
            local_port: 8080,
            remote_addr: "10.0.0.9".into(),
            remote_port: 40_000,
            ..ConnectionRow::default()
        };
        let req = r.last_request(&conn).unwrap();
        assert_eq!(req.path.as_deref(), Some("/users"));
        let other = ConnectionRow {
            local_port: 5432,
            ..conn.clone()
        };
        assert_eq!(r.last_request(&other), None);
        r.observe(&Frame::new(700 * S, "h"));
        assert_eq!(r.last_request(&conn), None, "forgotten");
    }
}

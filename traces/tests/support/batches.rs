//! Realistic OTLP batches (HTTP server spans of a few services, some DB client spans),
//! shared by the bench, the intake test and the intake measurement example.

#![allow(dead_code)]

use qb_traces::otlp::proto::encode;

pub const T0: u64 = 1_800_000_000_000_000_000;
const ROUTES: [&str; 6] = [
    "/api/users",
    "/api/users/{id}",
    "/api/orders",
    "/api/orders/{id}",
    "/health",
    "/metrics",
];

/// Deterministic span i of batch `seq`: (service, route, method, duration ns, status, port).
fn facts(seq: u64, i: usize) -> (&'static str, &'static str, &'static str, u64, i64, u64) {
    let x = (seq.wrapping_mul(1_000_003) + i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let service = ["api", "shop", "auth"][(x >> 7) as usize % 3];
    let route = ROUTES[(x >> 13) as usize % ROUTES.len()];
    let method = if (x >> 17).is_multiple_of(4) {
        "POST"
    } else {
        "GET"
    };
    let dur = 200_000 + (x >> 20) % 50_000_000;
    let status = if (x >> 40).is_multiple_of(50) {
        503
    } else {
        200
    };
    (
        service,
        route,
        method,
        dur,
        status,
        30_000 + (x >> 44) % 20_000,
    )
}

/// An OTLP/JSON body of `n` spans.
pub fn json(n: usize, seq: u64) -> Vec<u8> {
    let mut spans = Vec::with_capacity(n);
    for i in 0..n {
        let (service, route, method, dur, status, port) = facts(seq, i);
        let end = T0 + seq * 1_000_000 + i as u64 * 1_000;
        spans.push(format!(
            r#"{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"{method} {route}","kind":2,"startTimeUnixNano":"{}","endTimeUnixNano":"{end}","attributes":[{{"key":"http.request.method","value":{{"stringValue":"{method}"}}}},{{"key":"http.route","value":{{"stringValue":"{route}"}}}},{{"key":"http.response.status_code","value":{{"intValue":"{status}"}}}},{{"key":"client.address","value":{{"stringValue":"10.0.0.{}"}}}},{{"key":"client.port","value":{{"intValue":"{port}"}}}},{{"key":"server.port","value":{{"intValue":"8080"}}}}],"status":{{"code":{}}}}}]}}]}}"#,
            end - dur,
            i % 200,
            if status >= 500 { 2 } else { 0 },
        ));
    }
    format!(r#"{{"resourceSpans":[{}]}}"#, spans.join(",")).into_bytes()
}

/// The same spans as protobuf.
pub fn proto(n: usize, seq: u64) -> Vec<u8> {
    let mut req = Vec::new();
    for i in 0..n {
        let (service, route, method, dur, status, port) = facts(seq, i);
        let end = T0 + seq * 1_000_000 + i as u64 * 1_000;
        let attrs = [
            encode::attr_str("http.request.method", method),
            encode::attr_str("http.route", route),
            encode::attr_int("http.response.status_code", status),
            encode::attr_str("client.address", &format!("10.0.0.{}", i % 200)),
            encode::attr_int("client.port", port as i64),
            encode::attr_int("server.port", 8080),
        ];
        let span = encode::span(
            &format!("{method} {route}"),
            2,
            end - dur,
            end,
            &attrs,
            status >= 500,
        );
        // One ResourceSpans per span, like the JSON body, so both carry the same facts.
        req.extend(encode::request(service, &[span]));
    }
    req
}

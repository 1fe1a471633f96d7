//! Realistic synthetic log lines at any rate, for the memory test, the example and the
//! bench (the simulator's incident family is the realistic *episode*; this is volume).

use qb_signals::{Frame, LogRow};

const SERVICES: [&str; 8] = [
    "orders",
    "payments",
    "accounts",
    "search",
    "inventory",
    "notifier",
    "gateway",
    "billing",
];

/// `lines` lines spread over `[ts - 1 s, ts)`, round-robin over eight services, ~1 %
/// warnings and ~0.3 % errors, numbers varying as real request logs do.
pub fn frame(ts: i64, lines: u64, state: &mut u64) -> Frame {
    let mut f = Frame::new(ts, "bench");
    f.logs.reserve(lines as usize);
    for i in 0..lines {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let x = *state >> 33;
        let svc = SERVICES[(i % 8) as usize];
        let (level, line) = match x % 1000 {
            0..=2 => (
                "error",
                format!(
                    "ERROR {svc}[{}]: request {} failed: upstream timeout after {}ms",
                    1000 + i % 8,
                    x % 1_000_000,
                    100 + x % 900
                ),
            ),
            3..=12 => (
                "warn",
                format!(
                    "WARN  {svc}[{}]: slow request GET /api/{svc}/{} took {}ms",
                    1000 + i % 8,
                    x % 100_000,
                    500 + x % 2000
                ),
            ),
            _ => (
                "info",
                format!(
                    "2026-01-01T00:{:02}:{:02}.{:03}Z INFO  {svc}[{}]: GET /api/{svc}/{} 200 {}ms client=10.0.{}.{} req={:016x}",
                    (ts / 60_000_000_000) % 60,
                    (ts / 1_000_000_000) % 60,
                    i % 1000,
                    1000 + i % 8,
                    x % 100_000,
                    x % 300,
                    x % 8,
                    x % 250,
                    x.wrapping_mul(0x9e37_79b9)
                ),
            ),
        };
        f.logs.push(LogRow {
            ts_ns: ts - 1_000_000_000 + (i as i64 * 1_000_000_000 / lines.max(1) as i64),
            source: format!("/var/log/{svc}/app.log"),
            offset: i * 120,
            pid: Some(1000 + (i % 8) as u32),
            level: Some(level.into()),
            line,
            truncated: false,
        });
    }
    f
}

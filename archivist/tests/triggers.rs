//! Triggers, windows, eviction and bad input through the façade, on hand-made frames.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use qb_archivist::{
    Archivist, ArchivistConfig, Forwarded, Reason, ServiceRule, Vocabulary, VocabularyBuilder, Why,
};
use qb_signals::{CgroupRow, Frame, LogRow, ProcessRow, SystemRow, TraceRow};

const S: i64 = 1_000_000_000;

/// No sampling, so every forwarded line is a flush's.
fn cfg() -> ArchivistConfig {
    ArchivistConfig {
        sample_rate: 0.0,
        ..ArchivistConfig::default()
    }
}

/// A host writing `per_s` lines a second to `/var/log/<svc>.log`; `errors(sec, i)` says
/// which are errors.
struct Host {
    a: Archivist,
    offsets: std::collections::HashMap<String, u64>,
    out: Vec<Forwarded>,
}

impl Host {
    fn new(cfg: ArchivistConfig) -> Self {
        Host {
            a: Archivist::new(cfg).unwrap(),
            offsets: Default::default(),
            out: Vec::new(),
        }
    }

    fn line(&mut self, ts: i64, svc: &str, level: &str, text: &str) -> LogRow {
        let source = format!("/var/log/{svc}.log");
        let off = self.offsets.entry(source.clone()).or_default();
        let row = LogRow {
            ts_ns: ts,
            source,
            offset: *off,
            pid: Some(100 + svc.len() as u32),
            level: Some(level.into()),
            line: text.into(),
            truncated: false,
        };
        *off += text.len() as u64 + 1;
        row
    }

    /// Seconds `from..to` of `per_s` lines for `svc`, error when `err(sec, i)`.
    fn run(
        &mut self,
        svc: &str,
        from: i64,
        to: i64,
        per_s: i64,
        err: impl Fn(i64, i64) -> bool,
    ) -> Vec<usize> {
        let mut fired = Vec::new();
        for sec in from..to {
            let mut f = Frame::new(sec * S + S - 1, "h");
            for i in 0..per_s {
                let level = if err(sec, i) { "error" } else { "info" };
                let text = format!("{level} request {i} at {sec}");
                f.logs
                    .push(self.line(sec * S + i * S / per_s, svc, level, &text));
            }
            fired.extend(self.a.observe(&f));
            self.a.drain(&mut self.out);
        }
        fired
    }
}

fn reasons(a: &Archivist) -> Vec<&'static str> {
    a.events().iter().map(|e| e.trigger.reason.name()).collect()
}

#[test]
fn error_spike_fires_steady_rate_and_a_lone_error_do_not() {
    let mut h = Host::new(cfg());
    // 4 % errors for five minutes: the baseline, never a spike.
    assert!(h.run("api", 0, 300, 50, |_, i| i % 25 == 0).is_empty());
    // A lone error after silence on another service.
    h.run("quiet", 0, 120, 2, |_, _| false);
    assert!(
        h.run("quiet", 120, 130, 2, |s, i| s == 125 && i == 0)
            .is_empty()
    );
    // Then 20 % on api: a spike, once (debounced while its window is open).
    let fired = h.run("api", 300, 320, 50, |_, i| i % 5 == 0);
    assert_eq!(fired.len(), 1, "{:?}", h.a.events());
    let e = &h.a.events()[fired[0]];
    assert_eq!(e.trigger.reason, Reason::ErrorSpike);
    assert_eq!(e.trigger.service.as_deref(), Some("/var/log/api.log"));
    // The window needs > 8 %: 60 + 8k errors of 1500 after k seconds, so k = 8.
    assert_eq!(e.trigger.ts_ns / S, 307);
    // 90 s of api's lines before the trigger went out (50 a second), none of quiet's.
    assert!(e.lines_flushed >= 90 * 50, "{e:?}");
    assert!(h.out.iter().all(|f| f.service == "/var/log/api.log"));
    assert_eq!(h.a.stats().triggers.get("error_spike"), Some(&1));
}

/// Trace buckets every 10 s for service "orders" (its lines: `/var/log/orders.log`,
/// named by a rule), p99 from `p99_ms(sec)`; returns the flushes started.
fn traced(h: &mut Host, from: i64, to: i64, hits: u64, p99_ms: impl Fn(i64) -> u64) -> Vec<usize> {
    let mut fired = Vec::new();
    for sec in from..to {
        let mut f = Frame::new(sec * S + S - 1, "h");
        let line = h.line(sec * S, "orders", "info", "served");
        f.logs.push(line);
        if sec % 10 == 0 {
            f.traces.push(TraceRow {
                ts_ns: f.ts_ns,
                service: "orders".into(),
                resource: "POST /orders".into(),
                status: "ok".into(),
                bucket_ns: (sec - 20) * S,
                hits,
                p99_ns: p99_ms(sec) * 1_000_000,
                ..TraceRow::default()
            });
        }
        fired.extend(h.a.observe(&f));
        h.a.drain(&mut h.out);
    }
    fired
}

fn orders_cfg() -> ArchivistConfig {
    ArchivistConfig {
        services: vec![ServiceRule {
            name: "orders".into(),
            sources: vec!["/var/log/orders".into()],
            cgroups: vec![],
        }],
        ..cfg()
    }
}

#[test]
fn latency_spike_flushes_that_services_ring() {
    let mut h = Host::new(orders_cfg());
    assert!(traced(&mut h, 0, 120, 200, |s| 40 + (s as u64 / 10) % 3).is_empty());
    let fired = traced(&mut h, 120, 130, 200, |_| 250);
    assert_eq!(fired.len(), 1, "{:?}", h.a.events());
    let e = &h.a.events()[fired[0]];
    assert_eq!(e.trigger.reason, Reason::LatencySpike);
    assert_eq!(e.trigger.service.as_deref(), Some("orders"));
    assert_eq!(e.trigger.ts_ns / S, 120);
    assert!(e.lines_flushed >= 80, "{e:?}");
    assert_eq!(h.a.stats().triggers.get("latency_spike"), Some(&1));
}

#[test]
fn steady_latency_and_low_traffic_noise_flush_nothing() {
    let mut h = Host::new(orders_cfg());
    assert!(traced(&mut h, 0, 300, 200, |s| 40 + (s as u64 / 10) % 5).is_empty());
    // Five requests, one slow: the bucket's p99 is that one; too few hits to mean anything.
    assert!(traced(&mut h, 300, 310, 5, |_| 4_000).is_empty());
    assert!(h.a.events().is_empty(), "{:?}", h.a.events());
}

fn cgroup(path: &str, kills: u64) -> CgroupRow {
    CgroupRow {
        path: path.into(),
        oom_kill_events: kills,
        ..CgroupRow::default()
    }
}

fn process(pid: u32, comm: &str, start: i64, cgroup: &str) -> ProcessRow {
    ProcessRow {
        pid,
        comm: comm.into(),
        cmdline_hash: 42,
        start_time_ns: start,
        cgroup: cgroup.into(),
        ..ProcessRow::default()
    }
}

#[test]
fn oom_kill_of_a_services_cgroup_flushes_that_service() {
    let mut h = Host::new(cfg());
    h.run("db", 0, 10, 5, |_, _| false);
    h.run("web", 0, 10, 5, |_, _| false);
    // pid 102 writes db's lines (see Host::line), in /svc/db.
    let frame = |ts: i64, kills: u64, sys: u64| {
        let mut f = Frame::new(ts, "h");
        f.cgroups = vec![
            cgroup("/svc", kills),
            cgroup("/svc/db", kills),
            cgroup("/svc/web", 0),
        ];
        f.processes = vec![
            process(102, "db", 0, "/svc/db"),
            process(103, "web", 0, "/svc/web"),
        ];
        f.system = Some(SystemRow {
            oom_kill: sys,
            ..SystemRow::default()
        });
        f
    };
    assert!(h.a.observe(&frame(10 * S, 0, 7)).is_empty());
    let fired: Vec<usize> = h.a.observe(&frame(11 * S, 1, 8)).collect();
    assert_eq!(fired.len(), 1);
    let e = &h.a.events()[fired[0]];
    assert_eq!(
        (e.trigger.reason.clone(), e.trigger.service.as_deref()),
        (Reason::Oom, Some("/var/log/db.log"))
    );
    assert_eq!(e.lines_flushed, 50);
    // A system OOM kill no cgroup explains: every service.
    let fired: Vec<usize> = h.a.observe(&frame(12 * S, 1, 9)).collect();
    assert_eq!(fired.len(), 1);
    let e = &h.a.events()[fired[0]];
    assert_eq!(e.trigger.service, None);
    assert_eq!(e.services.len(), 2);
    assert_eq!(e.lines_flushed, 50, "db's lines were already forwarded");
}

#[test]
fn a_restart_flushes_the_service_whose_pid_wrote_its_lines() {
    // The service ran 11 s before it went: count that as up long enough.
    let mut h = Host::new(ArchivistConfig {
        restart_min_uptime_s: 10.0,
        ..cfg()
    });
    h.run("web", 0, 10, 5, |_, _| false);
    let frame = |ts: i64, procs: Vec<ProcessRow>| {
        let mut f = Frame::new(ts, "h");
        f.processes = procs;
        f
    };
    let web = |pid, start| process(pid, "web", start, "/svc/web");
    let other = process(1, "init", 0, "/");
    assert!(
        h.a.observe(&frame(10 * S, vec![web(103, 0), other.clone()]))
            .is_empty()
    );
    assert!(h.a.observe(&frame(11 * S, vec![other.clone()])).is_empty());
    let fired: Vec<usize> =
        h.a.observe(&frame(13 * S, vec![web(555, 13 * S), other]))
            .collect();
    assert_eq!(reasons(&h.a), ["restart"]);
    let e = &h.a.events()[fired[0]];
    assert_eq!(e.trigger.service.as_deref(), Some("/var/log/web.log"));
    assert_eq!(e.lines_flushed, 50);
}

#[test]
fn decisions_trigger_by_service_name_or_for_everyone_and_are_debounced() {
    let mut h = Host::new(ArchivistConfig {
        services: vec![ServiceRule {
            name: "orders".into(),
            sources: vec!["/var/log/ord*".into()],
            cgroups: vec!["/svc/orders".into()],
        }],
        ..cfg()
    });
    h.run("orders", 0, 100, 10, |_, _| false);
    h.run("other", 0, 100, 10, |_, _| false);
    let i =
        h.a.on_decision(100 * S, "oracle", "oom_forecast", Some("orders"))
            .unwrap();
    let e = &h.a.events()[i];
    assert_eq!(
        e.trigger.reason,
        Reason::Decision {
            gadget: "oracle".into(),
            kind: "oom_forecast".into()
        }
    );
    assert_eq!(e.services, ["orders"]);
    assert_eq!(e.lines_flushed, 90 * 10, "[10 s, 100 s) of orders: {e:?}");
    assert_eq!(
        h.a.on_decision(110 * S, "oracle", "oom_forecast", Some("orders")),
        None
    );
    // By cgroup, via the rule.
    assert!(
        h.a.on_decision(110 * S, "pathologist", "stuck", Some("/svc/orders"))
            .is_some()
    );
    // Unknown service: recorded, nothing flushed. Everyone: the other service's lines.
    let i = h.a.on_decision(110 * S, "x", "y", Some("nope")).unwrap();
    assert_eq!(h.a.events()[i].lines_flushed, 0);
    let i = h.a.on_decision(111 * S, "x", "y", None).unwrap();
    assert_eq!(
        h.a.events()[i].lines_flushed,
        79 * 10,
        "[21 s, 100 s) of other"
    );
}

#[test]
fn overlapping_triggers_extend_the_window_without_duplicates() {
    let mut h = Host::new(cfg());
    h.run("api", 0, 100, 10, |_, _| false);
    let first =
        h.a.on_decision(100 * S, "g", "a", Some("/var/log/api.log"))
            .unwrap();
    // Live lines in the window are forwarded as they come.
    h.run("api", 100, 120, 10, |_, _| false);
    let second =
        h.a.on_decision(120 * S, "g", "b", Some("/var/log/api.log"))
            .unwrap();
    // Past the first window's end (130 s), still forwarded: the second extends to 150 s.
    h.run("api", 120, 160, 10, |_, _| false);
    let ev = h.a.events();
    assert_eq!(ev[first].lines_live, 200);
    assert_eq!(ev[second].lines_flushed, 0, "everything was already out");
    assert_eq!(ev[second].lines_live, 301, "[120 s, 150 s]");
    let mut seen = HashSet::new();
    assert!(h.out.iter().all(|f| seen.insert(f.row.offset)));
    // [10 s, 150 s] of lines, each once; after 150 s nothing.
    assert_eq!(h.out.len(), 140 * 10 + 1);
    assert!(
        h.out
            .iter()
            .all(|f| f.row.ts_ns <= 150 * S && f.row.ts_ns >= 10 * S)
    );
    assert!(h.out.iter().all(|f| matches!(f.why, Why::Flush { .. })));
}

#[test]
fn eviction_by_age_and_by_cap_is_counted() {
    let mut h = Host::new(cfg());
    h.run("api", 0, 300, 20, |_, _| false);
    let st = h.a.stats();
    assert_eq!(st.ring.evicted_cap_lines, 0);
    assert_eq!(st.ring.lines_held + st.ring.evicted_age_lines, 300 * 20);
    assert!(st.ring.lines_held <= 122 * 20, "{st:?}");
    let oldest = h.a.buffered("/var/log/api.log")[0].ts_ns;
    assert!(oldest >= 299 * S - 121 * S, "{}", oldest / S);

    let mut h = Host::new(ArchivistConfig {
        memory_cap_bytes: 256 << 10,
        ..cfg()
    });
    let mut peak = 0;
    for sec in 0..100 {
        h.run("api", sec, sec + 1, 2000, |_, _| false);
        peak = peak.max(h.a.stats().ring.held_bytes);
    }
    let st = h.a.stats();
    assert!(
        peak <= 256 << 10 && st.ring.peak_held_bytes <= 256 << 10,
        "{st:?}"
    );
    assert!(st.ring.evicted_cap_lines > 0, "{st:?}");
    assert_eq!(
        st.ring.lines_held + st.ring.evicted_age_lines + st.ring.evicted_cap_lines,
        200_000
    );
    // A flush now reaches back past what the cap kept: it says so.
    let i = h.a.on_decision(100 * S, "g", "k", None).unwrap();
    assert!(h.a.events()[i].incomplete);
}

#[test]
fn huge_lines_empty_frames_and_odd_input_do_not_panic() {
    let mut h = Host::new(ArchivistConfig {
        sample_rate: 1.0,
        ..ArchivistConfig::default()
    });
    assert!(h.a.observe(&Frame::default()).is_empty());
    assert!(h.a.observe(&Frame::new(i64::MIN, "")).is_empty());
    let mut f = Frame::new(5 * S, "h");
    let huge = "é".repeat(3 << 20); // 6 MB, multi-byte: the cut must land on a boundary
    f.logs.push(h.line(5 * S, "big", "error", &huge));
    f.logs.push(LogRow {
        source: String::new(),
        level: Some("\u{0}weird".into()),
        ..LogRow::default()
    });
    f.logs.push(h.line(i64::MAX, "big", "info", ""));
    f.logs
        .push(h.line(i64::MIN, "big", "info", "from the dawn of time"));
    h.a.observe(&f);
    h.a.observe(&Frame::new(i64::MAX, "h"));
    h.a.drain(&mut h.out);
    let st = h.a.stats();
    assert_eq!(st.lines_in, 4);
    assert_eq!(st.lines_truncated, 1);
    let big = h.out.iter().find(|f| f.row.line.len() > 100).unwrap();
    assert!(big.row.truncated && big.row.line.len() <= 16 << 10);
    assert!(st.ring.held_bytes <= 64 << 20);
    assert_eq!(st.ring.decode_errors, 0);
    // Decisions at extreme times too.
    h.a.on_decision(i64::MIN, "g", "k", None);
    h.a.on_decision(i64::MAX, "g", "k", Some(""));
}

#[test]
fn novelty_ranking_keeps_the_rare_lines_in_order() {
    let mut b = VocabularyBuilder::default();
    for i in 0..2000 {
        b.add(&format!("info request {i} at {}", i % 60));
    }
    let vocab: Vocabulary = b.finish(2, 10_000);
    let mut h = Host {
        a: Archivist::new(ArchivistConfig {
            rank: true,
            keep_fraction: 0.5,
            ..cfg()
        })
        .unwrap()
        .with_vocabulary(vocab),
        offsets: Default::default(),
        out: Vec::new(),
    };
    h.run("api", 0, 10, 10, |_, _| false);
    let mut f = Frame::new(10 * S, "h");
    f.logs
        .push(h.line(10 * S, "api", "warn", "connection pool exhausted (max=50)"));
    h.a.observe(&f);
    let i = h.a.on_decision(10 * S, "g", "k", None).unwrap();
    h.a.drain(&mut h.out);
    let e = &h.a.events()[i];
    assert_eq!((e.lines_flushed, e.lines_ranked_out), (51, 50));
    assert!(h.out.iter().any(|f| f.row.line.contains("pool exhausted")));
    assert!(h.out.windows(2).all(|w| w[0].row.offset < w[1].row.offset));
}

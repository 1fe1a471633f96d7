//! The incident family: a host with three to six services writing ordinary log lines
//! (plain text or JSON, 20-200 lines/s in all, 1-3 % warnings, ~0.5 % errors), each a
//! process in its own cgroup. `crash`: at a seeded time one service logs a single
//! root-cause line, 20-70 s later its errors climb, and it ends in an OOM kill of its
//! cgroup or a fatal exit, then comes back with a new pid and start time. `quiet_day`:
//! the same noise with a harmless isolated error or two and a routine volume burst.
//!
//! Labels are read off the emitted rows: `root_cause` (target = log source, ts = that
//! line's ts, attributes with its offset), `crash` (from the first climbing error to the
//! restart), or one `quiet` marker.

use qb_signals::{CgroupRow, Frame, LabelRow, LogRow, ProcessRow, SignalSource, SystemRow};

use crate::kinds::kinds;
use crate::rng::Rng;
use crate::{Clock, Generator, START_NS, SimError};

kinds! {
    /// Incident scenarios for the Archivist: a crash with a root cause, and a quiet day.
    IncidentKind, family "incident" {
        /// A root-cause line, an error climb 20-70 s later, then an OOM kill or a fatal exit and a restart.
        Crash => "crash",
        /// Negative: ordinary noise, an isolated error or two and a volume burst; nothing to find.
        QuietDay => "quiet_day",
    }
}

const S: i64 = 1_000_000_000;

/// (name, JSON format?, resources the service talks about)
const CATALOG: [(&str, bool, &str); 8] = [
    ("orders", true, "orders"),
    ("payments", false, "payments"),
    ("accounts", true, "users"),
    ("search", false, "query"),
    ("inventory", true, "items"),
    ("notifier", false, "messages"),
    ("gateway", false, "routes"),
    ("billing", true, "invoices"),
];

const ROOT_CAUSES: [&str; 6] = [
    "connection pool exhausted (max={n}, waiting={m})",
    "config reload failed: invalid value for 'max_conns' at line {n}",
    "disk quota 98 % used on /var/lib/{svc} ({n} MiB free)",
    "TLS session cache full ({n} entries), evicting live sessions",
    "schema migration {hex} left table {res} locked",
    "leader election lost after {n} ms; stepping down with {m} requests in flight",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    OomKill,
    Fatal,
}

#[derive(Debug)]
struct Service {
    name: &'static str,
    json: bool,
    res: &'static str,
    source: String,
    cgroup: String,
    cmdline_hash: u64,
    pid: Option<u32>,
    start_ns: i64,
    offset: u64,
    rate: f64,
    warn_rate: f64,
    error_rate: f64,
    usage: u64,
    limit: u64,
    oom_kills: u64,
}

#[derive(Debug)]
struct Plan {
    victim: usize,
    /// Ticks: the root-cause line, the climb's start, the kill or exit, the comeback.
    cause: i64,
    climb: i64,
    end: i64,
    back: i64,
    how: End,
    root_cause: String,
}

#[derive(Debug)]
pub struct IncidentGenerator {
    kind: IncidentKind,
    host: String,
    rng: Rng,
    clock: Clock,
    services: Vec<Service>,
    next_pid: u32,
    plan: Option<Plan>,
    /// Quiet day: (service, tick) of each isolated error; the burst (service, from, to).
    lone_errors: Vec<(usize, i64)>,
    burst: (usize, i64, i64),
    system_ooms: u64,
    labels: Vec<LabelRow>,
    /// What the crash label needs, as it happens: first climbing error, end tick.
    crash_seen: (Option<i64>, Option<(i64, u32, u32)>),
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn below(rng: &mut Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

fn ticks_of(clock: &Clock, secs: f64) -> i64 {
    (secs / clock.seconds()).round().max(1.0) as i64
}

impl IncidentGenerator {
    pub fn new(kind: IncidentKind, seed: u64, clock: Clock) -> Result<Self, SimError> {
        let min = ticks_of(&clock, 400.0);
        let clock = clock.require(min, "an incident episode (400 s)")?;
        let mut rng = Rng::new(seed ^ 0x1c1d_e000);
        let mut r = rng.fork(1);
        let mut picked: Vec<usize> = (0..CATALOG.len()).collect();
        r.shuffle(&mut picked);
        picked.truncate(3 + below(&mut r, 4) as usize);
        let total = r.range(20.0, 200.0);
        let weights: Vec<f64> = picked.iter().map(|_| r.range(0.5, 2.0)).collect();
        let sum: f64 = weights.iter().sum();
        let mut next_pid = 1000 + below(&mut r, 20_000) as u32;
        let services = picked
            .iter()
            .zip(&weights)
            .map(|(&i, w)| {
                let (name, json, res) = CATALOG[i];
                next_pid += 1 + below(&mut r, 50) as u32;
                let limit = (512 + 256 * below(&mut r, 6)) << 20;
                Service {
                    name,
                    json,
                    res,
                    source: format!("/var/log/{name}/{name}.log"),
                    cgroup: format!("/system.slice/{name}.service"),
                    cmdline_hash: fnv(&format!("/usr/bin/{name}\0--config\0/etc/{name}.toml")),
                    pid: Some(next_pid),
                    start_ns: START_NS - (3600 + below(&mut r, 86_400) as i64) * S,
                    offset: below(&mut r, 1 << 20),
                    rate: (total * w / sum).max(2.0),
                    warn_rate: r.range(0.01, 0.03),
                    error_rate: r.range(0.003, 0.007),
                    usage: limit / 3,
                    limit,
                    oom_kills: 0,
                }
            })
            .collect::<Vec<_>>();
        let ticks = clock.ticks();
        let n = services.len() as u64;
        let mut p = rng.fork(2);
        let plan = (kind == IncidentKind::Crash).then(|| {
            let cause = ticks_of(&clock, 120.0)
                + below(&mut p, (ticks - ticks_of(&clock, 370.0)).max(1) as u64) as i64;
            let climb = cause + ticks_of(&clock, p.range(20.0, 70.0));
            let end = climb + ticks_of(&clock, p.range(30.0, 60.0));
            let text = ROOT_CAUSES[below(&mut p, ROOT_CAUSES.len() as u64) as usize];
            Plan {
                victim: below(&mut p, n) as usize,
                cause,
                climb,
                end,
                back: end + ticks_of(&clock, p.range(1.0, 4.0)),
                how: if p.unit() < 0.5 {
                    End::OomKill
                } else {
                    End::Fatal
                },
                root_cause: text.to_owned(),
            }
        });
        let mut q = rng.fork(3);
        let lone_errors = (0..1 + below(&mut q, 2))
            .map(|_| {
                let at = ticks_of(&clock, 60.0)
                    + below(&mut q, (ticks - ticks_of(&clock, 60.0)) as u64) as i64;
                (below(&mut q, n) as usize, at)
            })
            .collect();
        let from = ticks_of(&clock, 60.0) + below(&mut q, (ticks / 2) as u64) as i64;
        let burst = (
            below(&mut q, n) as usize,
            from,
            from + ticks_of(&clock, q.range(10.0, 20.0)),
        );
        Ok(IncidentGenerator {
            kind,
            host: format!("sim-{seed}"),
            rng,
            clock,
            services,
            next_pid: next_pid + 100,
            plan,
            lone_errors,
            burst,
            system_ooms: below(&mut q, 3),
            labels: Vec::new(),
            crash_seen: (None, None),
        })
    }

    fn step(&mut self, t: i64) -> Frame {
        let ts = self.clock.ts(t);
        let interval = self.clock.interval_ns();
        let mut frame = Frame::new(ts, self.host.clone());
        let plan = self
            .plan
            .as_ref()
            .map(|p| (p.victim, p.cause, p.climb, p.end, p.back, p.how));
        for i in 0..self.services.len() {
            let mut lines: Vec<(&'static str, String)> = Vec::new();
            let s = &self.services[i];
            let mut rate = s.rate;
            let mut error_rate = s.error_rate;
            let victim = plan.filter(|p| p.0 == i);
            if let Some(start) = self.lifecycle(i, t, ts) {
                lines.push(("info", start));
            }
            let s = &self.services[i];
            if let Some((_, _, climb, end, back, _)) = victim {
                if (climb..end).contains(&t) {
                    // Retries and timeouts: more lines, more of them errors.
                    rate = (rate * 2.0).max(8.0);
                    let x = (t - climb) as f64 / (end - climb).max(1) as f64;
                    error_rate = 0.15 + 0.45 * x;
                }
                if (end..back).contains(&t) {
                    rate = 0.0;
                }
            }
            if self.kind == IncidentKind::QuietDay
                && i == self.burst.0
                && (self.burst.1..self.burst.2).contains(&t)
            {
                rate *= 6.0;
            }
            let noise = (1.0 + 0.25 * self.rng.normal()).max(0.0);
            let n = (rate * self.clock.seconds() * noise).round() as i64;
            for _ in 0..n {
                let u = self.rng.unit();
                let level = if u < error_rate {
                    "error"
                } else if u < error_rate + s.warn_rate {
                    "warn"
                } else {
                    "info"
                };
                let climbing = victim.is_some_and(|p| (p.2..p.3).contains(&t));
                let msg = message(&mut self.rng, s, level, climbing);
                lines.push((level, msg));
            }
            if self.lone_errors.contains(&(i, t)) {
                let msg = message(&mut self.rng, s, "error", false);
                lines.push(("error", msg));
            }
            if let Some(p) = self.plan.as_ref().filter(|p| p.victim == i) {
                if t == p.cause {
                    let at = 1 + below(&mut self.rng, lines.len() as u64 + 1) as usize;
                    let text = fill(&mut self.rng, &p.root_cause, s);
                    lines.insert(at.min(lines.len()), ("warn", text));
                }
                if t == p.end - 1 && p.how == End::Fatal {
                    lines.push((
                        "fatal",
                        format!(
                            "exiting after {} consecutive failures",
                            20 + below(&mut self.rng, 80)
                        ),
                    ));
                }
            }
            let n = lines.len() as i64;
            let cause_at = plan.and_then(|p| (p.0 == i && p.1 == t).then_some(()));
            for (k, (level, msg)) in lines.into_iter().enumerate() {
                let lts = ts - interval + (k as i64 + 1) * interval / (n + 1);
                let row = self.write(i, lts, level, &msg);
                if cause_at.is_some()
                    && self
                        .plan
                        .as_ref()
                        .is_some_and(|p| msg.starts_with(root_prefix(&p.root_cause)))
                {
                    self.labels.push(LabelRow {
                        ts_ns: row.ts_ns,
                        kind: "root_cause".into(),
                        target: row.source.clone(),
                        start_ns: row.ts_ns,
                        end_ns: Some(row.ts_ns),
                        attributes: format!(
                            r#"{{"service":"{}","offset":{},"line":{}}}"#,
                            self.services[i].name,
                            row.offset,
                            json_str(&row.line)
                        ),
                    });
                }
                if level == "error"
                    && victim.is_some_and(|p| t >= p.2)
                    && self.crash_seen.0.is_none()
                {
                    self.crash_seen.0 = Some(row.ts_ns);
                }
                frame.logs.push(row);
            }
        }
        self.rows(&mut frame, ts);
        if t == self.clock.ticks() - 1 {
            self.finish_labels();
        }
        frame
    }

    /// The victim's end: its cgroup's OOM kill or a fatal exit, then a new process, whose
    /// first line this returns.
    fn lifecycle(&mut self, i: usize, t: i64, ts: i64) -> Option<String> {
        let Some(p) = self.plan.as_ref().filter(|p| p.victim == i) else {
            self.services[i].usage = (self.services[i].limit / 3) + below(&mut self.rng, 8 << 20);
            return None;
        };
        let (climb, end, back, how) = (p.climb, p.end, p.back, p.how);
        let s = &mut self.services[i];
        if (climb..end).contains(&t) {
            let x = (t - climb + 1) as f64 / (end - climb).max(1) as f64;
            s.usage = s.limit / 3 + ((s.limit as f64 * 0.66) * x) as u64;
        }
        if t == end {
            let old = s.pid.take().unwrap_or(0);
            if how == End::OomKill {
                s.oom_kills += 1;
                s.usage = s.limit;
                self.system_ooms += 1;
            } else {
                s.usage = 0;
            }
            self.crash_seen.1 = Some((ts, old, 0));
        }
        if t == back {
            self.next_pid += 1 + below(&mut self.rng, 200) as u32;
            s.pid = Some(self.next_pid);
            s.start_ns = ts - below(&mut self.rng, self.clock.interval_ns().max(1) as u64) as i64;
            s.usage = s.limit / 4;
            if let Some((at, old, _)) = self.crash_seen.1 {
                self.crash_seen.1 = Some((at, old, self.next_pid));
            }
            let name = s.name;
            return Some(format!(
                "starting {name} 1.{}.{}",
                4 + below(&mut self.rng, 3),
                below(&mut self.rng, 20)
            ));
        }
        None
    }

    /// One line written by service `i` at `ts`: the text in its format, a row at its offset.
    fn write(&mut self, i: usize, ts: i64, level: &str, msg: &str) -> LogRow {
        let s = &mut self.services[i];
        let pid = s.pid;
        let text = if s.json {
            format!(
                r#"{{"ts":"{}","level":"{level}","service":"{}","pid":{},"msg":{}}}"#,
                civil(ts),
                s.name,
                pid.unwrap_or(0),
                json_str(msg)
            )
        } else {
            format!(
                "{} {:<5} {}[{}]: {msg}",
                civil(ts),
                level.to_uppercase(),
                s.name,
                pid.unwrap_or(0)
            )
        };
        let offset = s.offset;
        s.offset += text.len() as u64 + 1;
        LogRow {
            ts_ns: ts,
            source: s.source.clone(),
            offset,
            pid,
            level: Some(level.to_owned()),
            line: text,
            truncated: false,
        }
    }

    fn rows(&mut self, frame: &mut Frame, ts: i64) {
        let mut total_kills = 0;
        for s in &self.services {
            total_kills += s.oom_kills;
            frame.cgroups.push(CgroupRow {
                ts_ns: ts,
                path: s.cgroup.clone(),
                version: 2,
                memory_usage_bytes: s.usage,
                memory_limit_bytes: Some(s.limit),
                anon_bytes: s.usage / 2,
                file_bytes: s.usage / 2,
                working_set_bytes: s.usage,
                oom_events: Some(s.oom_kills),
                oom_kill_events: s.oom_kills,
                procs: u32::from(s.pid.is_some()),
                ..CgroupRow::default()
            });
            if let Some(pid) = s.pid {
                frame.processes.push(ProcessRow {
                    ts_ns: ts,
                    pid,
                    ppid: 1,
                    comm: s.name.into(),
                    cmdline_hash: s.cmdline_hash,
                    state: "S".into(),
                    uid: 998,
                    rss_bytes: s.usage / 2,
                    vms_bytes: s.usage * 3,
                    threads: 16,
                    start_time_ns: s.start_ns,
                    cgroup: s.cgroup.clone(),
                    ..ProcessRow::default()
                });
            }
        }
        // v2 counts a child's kill in its ancestors too.
        frame.cgroups.push(CgroupRow {
            ts_ns: ts,
            path: "/system.slice".into(),
            version: 2,
            oom_kill_events: total_kills,
            ..CgroupRow::default()
        });
        frame.system = Some(SystemRow {
            ts_ns: ts,
            cpu_count: 8,
            mem_total_bytes: 32 << 30,
            mem_available_bytes: 20 << 30,
            oom_kill: self.system_ooms,
            ..SystemRow::default()
        });
    }

    fn finish_labels(&mut self) {
        let end = Some(self.clock.end_ts());
        match (&self.plan, self.crash_seen) {
            (Some(p), (Some(first_error), Some((at, old_pid, new_pid)))) => {
                let s = &self.services[p.victim];
                self.labels.push(LabelRow {
                    ts_ns: first_error,
                    kind: "crash".into(),
                    target: s.source.clone(),
                    start_ns: first_error,
                    end_ns: Some(at),
                    attributes: format!(
                        r#"{{"service":"{}","cgroup":"{}","end":"{}","old_pid":{old_pid},"new_pid":{new_pid}}}"#,
                        s.name,
                        s.cgroup,
                        if p.how == End::OomKill { "oom_kill" } else { "fatal_exit" },
                    ),
                });
            }
            _ => self.labels.push(LabelRow {
                ts_ns: START_NS,
                kind: "quiet".into(),
                target: self.host.clone(),
                start_ns: START_NS,
                end_ns: end,
                attributes: "{}".into(),
            }),
        }
    }
}

fn root_prefix(template: &str) -> &str {
    template.split('{').next().unwrap_or(template)
}

/// An ordinary line of `level` (a climbing victim's errors are about its trouble).
fn message(rng: &mut Rng, s: &Service, level: &str, climbing: bool) -> String {
    let pick = |rng: &mut Rng, xs: &[&str]| xs[below(rng, xs.len() as u64) as usize].to_owned();
    let template = match (level, climbing) {
        ("error", true) => pick(
            rng,
            &[
                "request {id} failed: timeout acquiring connection after {ms}ms",
                "health check failed: {n} of {m} probes timed out",
                "upstream {res} call failed: context deadline exceeded",
                "worker {n} crashed: allocation of {m} MiB failed",
            ],
        ),
        ("error", false) => pick(
            rng,
            &[
                "request {id} failed: upstream timeout after {ms}ms",
                "failed to publish event {hex}: broker unavailable, will retry",
                "invalid {res} payload from client {ip}: missing field 'id'",
            ],
        ),
        ("warn", _) => pick(
            rng,
            &[
                "slow request GET /api/{res}/{id} took {ms}ms",
                "retrying call to {res}-store (attempt {n})",
                "cache hit ratio low: {n}%",
                "client {ip} sent deprecated header X-Api-Version",
            ],
        ),
        _ => pick(
            rng,
            &[
                "GET /api/{res}/{id} 200 {ms}ms",
                "GET /api/{res}?page={n} 200 {ms}ms",
                "POST /api/{res} 201 {ms}ms",
                "processed batch of {n} {res} in {ms}ms",
                "session {hex} refreshed for client {ip}",
                "GET /healthz 200 {n}ms",
            ],
        ),
    };
    fill(rng, &template, s)
}

fn fill(rng: &mut Rng, template: &str, s: &Service) -> String {
    let mut out = template.replace("{res}", s.res).replace("{svc}", s.name);
    for (key, hi) in [("{id}", 999_999), ("{ms}", 900), ("{n}", 100), ("{m}", 400)] {
        while let Some(at) = out.find(key) {
            let v = 1 + below(rng, hi);
            out.replace_range(at..at + key.len(), &v.to_string());
        }
    }
    while let Some(at) = out.find("{hex}") {
        let v = format!("{:012x}", rng.next_u64() >> 16);
        out.replace_range(at..at + 5, &v);
    }
    while let Some(at) = out.find("{ip}") {
        let v = format!(
            "10.{}.{}.{}",
            below(rng, 8),
            below(rng, 256),
            1 + below(rng, 254)
        );
        out.replace_range(at..at + 4, &v);
    }
    out
}

/// RFC 3339 UTC with milliseconds, for runs within January 2026 (the virtual epoch).
fn civil(ts: i64) -> String {
    let ms = (ts - START_NS).max(0) / 1_000_000;
    let (d, rem) = (ms / 86_400_000, ms % 86_400_000);
    format!(
        "2026-01-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        1 + d % 31,
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl SignalSource for IncidentGenerator {
    fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        Ok(self.clock.advance().map(|t| self.step(t)))
    }
}

impl Generator for IncidentGenerator {
    fn labels(&self) -> &[LabelRow] {
        &self.labels
    }
}

//! The routine family, for the Timekeeper: weeks of one host's metrics (system table
//! only, a diurnal CPU cycle and noise) and a thin log (two services, 9 lines a
//! minute, ~0.5 % errors), with a weekly job at the same weekday and time (day 1 of the
//! run, 03:00-03:30 UTC, then every 7 days +- 2 min). Meant for coarse ticks (60 s:
//! three weeks are ~30k frames).
//!
//! - `backup`: a ~40 min backup, CPU-heavy (compression) for 60 % of it, then
//!   IO-heavy (upload: iowait, IO pressure, blocked tasks); no errors after.
//! - `backup_shifted`: the same, but the last week's backup starts 30 min late.
//! - `incident_like_backup`: the last week's spike starts like the backup (same
//!   compression phase), then 12-18 min in the API retries (4x its lines) and its error
//!   lines climb to ~40 % while the load keeps rising: an incident, not the routine.
//! - `long_batch`: a weekly ~150 min batch job (longer than the Timekeeper's 2 h cap).
//!
//! Labels are read off the generated rows: the last job is labelled first, `routine`
//! (from the first tick the job shows to its last) or `incident` (from its first
//! climbing error line); every earlier job is a `routine_history` label after it.

use qb_signals::{Frame, LabelRow, LogRow, SignalSource, SystemRow};

use crate::kinds::kinds;
use crate::rng::Rng;
use crate::{Clock, Generator, START_NS, SimError};

kinds! {
    /// A weekly routine for the Timekeeper: a recurring job, and an incident that looks like it.
    RoutineKind, family "routine" {
        /// A weekly ~40 min backup (CPU, then iowait and IO pressure), no errors after.
        Backup => "backup",
        /// The same backup, the last week's 30 min late.
        BackupShifted => "backup_shifted",
        /// Negative for suppression: the last week starts like the backup, then errors climb.
        IncidentLikeBackup => "incident_like_backup",
        /// A weekly ~150 min batch job, longer than the 2 h suppression cap.
        LongBatch => "long_batch",
    }
}

const S: i64 = 1_000_000_000;
const MIN: i64 = 60 * S;
const DAY: i64 = 86_400 * S;
const CPUS: u32 = 8;
/// USER_HZ: /proc/stat counts CPU time in hundredths of a second.
const HZ: f64 = 100.0;
/// The last job's shift in `backup_shifted`.
pub const SHIFT_NS: i64 = 30 * MIN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Backup,
    Incident,
    Long,
}

#[derive(Debug, Clone)]
struct Job {
    start_ns: i64,
    len_ns: i64,
    shape: Shape,
    /// Incident only: when the API's errors start to climb.
    errors_ns: i64,
    /// Read off the rows: the first and last tick the job showed, the first climbing error.
    seen: Option<(i64, i64)>,
    first_error: Option<i64>,
}

/// What a job adds at one instant.
#[derive(Debug, Default, Clone, Copy)]
struct Extra {
    user: f64,
    system: f64,
    iowait: f64,
    psi_io: f64,
    load: f64,
    blocked: f64,
    /// The API's error share while an incident climbs.
    error_share: f64,
    backup_lines: f64,
}

#[derive(Debug)]
pub struct RoutineGenerator {
    host: String,
    rng: Rng,
    clock: Clock,
    jobs: Vec<Job>,
    /// Cumulative /proc/stat counters: user, system, iowait, idle (jiffies).
    cpu: [u64; 4],
    /// Log lines owed by each service (fractions carry to the next tick).
    owed: [f64; 3],
    offsets: [u64; 3],
    labels: Vec<LabelRow>,
}

const SERVICES: [(&str, u32); 3] = [("api", 2211), ("worker", 2240), ("backupd", 3017)];

impl RoutineGenerator {
    pub fn new(kind: RoutineKind, seed: u64, clock: Clock) -> Result<Self, SimError> {
        let mut rng = Rng::new(seed ^ 0x7107_e000);
        let mut p = rng.fork(1);
        let first = START_NS + DAY + 3 * 60 * MIN + (p.range(0.0, 30.0) * MIN as f64) as i64;
        let end = START_NS + clock.ticks() * clock.interval_ns();
        let mut jobs = Vec::new();
        for week in 0.. {
            let jitter = if week == 0 {
                0
            } else {
                (p.range(-2.0, 2.0) * MIN as f64) as i64
            };
            let len_min = match kind {
                RoutineKind::LongBatch => p.range(140.0, 160.0),
                _ => p.range(36.0, 44.0),
            };
            let start_ns = first + week * 7 * DAY + jitter;
            let len_ns = (len_min * MIN as f64) as i64;
            // Room for the job and two hours after it, or it is not part of the run.
            if start_ns + len_ns + 120 * MIN > end {
                break;
            }
            jobs.push(Job {
                start_ns,
                len_ns,
                shape: if kind == RoutineKind::LongBatch {
                    Shape::Long
                } else {
                    Shape::Backup
                },
                errors_ns: 0,
                seen: None,
                first_error: None,
            });
        }
        if jobs.len() < 2 {
            return Err(SimError::OutOfRange(
                "a routine episode needs two weekly jobs: at least 8 days and 6 hours".into(),
            ));
        }
        if let Some(last) = jobs.last_mut() {
            match kind {
                RoutineKind::BackupShifted => last.start_ns += SHIFT_NS,
                RoutineKind::IncidentLikeBackup => {
                    last.shape = Shape::Incident;
                    last.len_ns = (p.range(55.0, 70.0) * MIN as f64) as i64;
                    last.errors_ns = last.start_ns + (p.range(12.0, 18.0) * MIN as f64) as i64;
                }
                _ => {}
            }
        }
        let cpu = [
            1_000_000 + p.next_u64() % 1_000_000,
            300_000,
            50_000,
            9_000_000,
        ];
        Ok(RoutineGenerator {
            host: format!("sim-{seed}"),
            rng,
            clock,
            jobs,
            cpu,
            owed: [0.0; 3],
            offsets: [p.next_u64() % (1 << 20), 4096, 0],
            labels: Vec::new(),
        })
    }

    /// The jobs' start times (the last one shifted where the kind says so).
    pub fn job_starts(&self) -> Vec<i64> {
        self.jobs.iter().map(|j| j.start_ns).collect()
    }

    fn extra(job: &Job, ts: i64) -> Extra {
        let m = (ts - job.start_ns) as f64 / MIN as f64;
        let len = job.len_ns as f64 / MIN as f64;
        if m < 0.0 || m >= len {
            return Extra::default();
        }
        // Three minutes to full load, two to wind down.
        let ramp = (m / 3.0).min(1.0) * ((len - m) / 2.0).min(1.0);
        let mut e = match job.shape {
            Shape::Long => Extra {
                user: 0.25 + 0.05 * (m / 10.0).sin(),
                system: 0.04,
                iowait: 0.15,
                psi_io: 30.0,
                load: 4.0,
                blocked: 2.0,
                ..Extra::default()
            },
            // Compression: CPU-heavy (an incident never gets past it).
            Shape::Incident => compression(),
            Shape::Backup if m < 0.6 * len => compression(),
            // Upload: IO-heavy.
            Shape::Backup => Extra {
                user: 0.08,
                system: 0.06,
                iowait: 0.28,
                psi_io: 55.0,
                load: 3.5,
                blocked: 4.0,
                ..Extra::default()
            },
        };
        if job.shape == Shape::Incident && ts >= job.errors_ns {
            // The API chokes: retries pile up, errors climb over 10 minutes.
            let x = ((ts - job.errors_ns) as f64 / (10 * MIN) as f64).min(1.0);
            e.error_share = 0.05 + 0.35 * x;
            e.load += 4.0 * x;
            e.iowait += 0.12 * x;
        }
        e.backup_lines = if job.shape == Shape::Long { 0.02 } else { 0.05 };
        for v in [
            &mut e.user,
            &mut e.system,
            &mut e.iowait,
            &mut e.psi_io,
            &mut e.load,
            &mut e.blocked,
        ] {
            *v *= ramp;
        }
        e
    }

    fn step(&mut self, t: i64) -> Frame {
        let ts = self.clock.ts(t);
        let secs = self.clock.seconds();
        let mut frame = Frame::new(ts, self.host.clone());
        let mut e = Extra::default();
        let mut active = None;
        for (i, job) in self.jobs.iter().enumerate() {
            let x = Self::extra(job, ts);
            if x.user > 0.0 {
                active = Some(i);
                e = x;
            }
        }
        let hour = ((ts - START_NS).rem_euclid(DAY)) as f64 / (60 * MIN) as f64;
        // Busiest at 14:00 UTC, quietest at 02:00.
        let diurnal = 0.5 + 0.5 * (std::f64::consts::TAU * (hour - 8.0) / 24.0).sin();
        let r = &mut self.rng;
        let user = (0.08 + 0.06 * diurnal + 0.01 * r.normal() + e.user).clamp(0.0, 0.9);
        let system = (0.03 + 0.004 * r.normal() + e.system).clamp(0.0, 0.3);
        let iowait = (0.01 + 0.004 * r.normal().abs() + e.iowait).clamp(0.0, 0.5);
        let jiffies = HZ * f64::from(CPUS) * secs;
        let (u, s, w) = (
            (user * jiffies) as u64,
            (system * jiffies) as u64,
            (iowait * jiffies) as u64,
        );
        let idle = (jiffies as u64).saturating_sub(u + s + w);
        for (c, d) in self.cpu.iter_mut().zip([u, s, w, idle]) {
            *c += d;
        }
        let load = (0.6 + 1.2 * diurnal + 0.15 * r.normal() + e.load).max(0.0);
        let psi_io = (0.5 + 0.3 * r.normal().abs() + e.psi_io).min(100.0);
        let blocked = (e.blocked + 0.3 * r.normal().abs()).round() as u32;
        frame.system = Some(SystemRow {
            ts_ns: ts,
            cpu_user: self.cpu[0],
            cpu_system: self.cpu[1],
            cpu_iowait: self.cpu[2],
            cpu_idle: self.cpu[3],
            cpu_count: CPUS,
            procs_running: 1 + (load.min(50.0) as u32),
            procs_blocked: blocked,
            load1: load,
            load5: load,
            load15: load,
            mem_total_bytes: 32 << 30,
            mem_free_bytes: 20 << 30,
            mem_available_bytes: 28 << 30,
            psi_io_some_avg10: Some(psi_io),
            psi_io_full_avg10: Some(psi_io / 3.0),
            ..SystemRow::default()
        });
        self.logs(&mut frame, &e, active);
        if let Some(i) = active {
            let job = &mut self.jobs[i];
            job.seen = Some(job.seen.map_or((ts, ts), |(a, _)| (a, ts)));
        }
        if t == self.clock.ticks() - 1 {
            self.finish_labels();
        }
        frame
    }

    fn logs(&mut self, frame: &mut Frame, e: &Extra, active: Option<usize>) {
        let secs = self.clock.seconds();
        let interval = self.clock.interval_ns();
        let ts = frame.ts_ns;
        // A thin log (9 lines a minute): weeks of it must replay in seconds.
        let rates = [
            0.1 * if e.error_share > 0.0 { 4.0 } else { 1.0 },
            0.05,
            e.backup_lines,
        ];
        for (k, (name, pid)) in SERVICES.iter().enumerate() {
            self.owed[k] += rates[k] * secs;
            let n = self.owed[k].floor();
            self.owed[k] -= n;
            let n = n as i64;
            for j in 0..n {
                let u = self.rng.unit();
                let error_share = if k == 0 { e.error_share } else { 0.0 };
                let level = if u < 0.005 + error_share {
                    "error"
                } else if u < 0.025 + error_share {
                    "warn"
                } else {
                    "info"
                };
                let v = self.rng.next_u64() % 1000;
                let msg = match (k, level) {
                    (2, _) => format!("backup: archived {v} files ({} MiB)", v * 3 + 17),
                    (_, "error") if error_share > 0.0 => {
                        format!("request {v} failed: database timeout after 5000ms")
                    }
                    (_, "error") => format!("request {v} failed: upstream reset"),
                    (_, "warn") => format!("slow request GET /api/items/{v} took {v}ms"),
                    _ => format!("GET /api/items/{v} 200 {}ms", v % 90 + 3),
                };
                let lts = ts - interval + (j + 1) * interval / (n + 1);
                let line = format!(
                    "{} {:<5} {name}[{pid}]: {msg}",
                    lts / S,
                    level.to_uppercase()
                );
                let offset = self.offsets[k];
                self.offsets[k] += line.len() as u64 + 1;
                if level == "error"
                    && error_share > 0.0
                    && let Some(job) = active.map(|i| &mut self.jobs[i])
                {
                    job.first_error.get_or_insert(lts);
                }
                frame.logs.push(LogRow {
                    ts_ns: lts,
                    source: format!("/var/log/{name}.log"),
                    offset,
                    pid: Some(*pid),
                    level: Some(level.into()),
                    line,
                    truncated: false,
                });
            }
        }
    }

    fn finish_labels(&mut self) {
        let n = self.jobs.len();
        // The last job first: it is the case's label unless a case names another kind;
        // then the history in time order.
        let order = std::iter::once(n - 1).chain(0..n - 1);
        for i in order {
            let job = &self.jobs[i];
            let Some((first, last)) = job.seen else {
                continue;
            };
            let (kind, start) = match (i + 1 == n, job.shape, job.first_error) {
                (true, Shape::Incident, Some(err)) => ("incident", err),
                (true, _, _) => ("routine", first),
                (false, _, _) => ("routine_history", first),
            };
            let label = LabelRow {
                ts_ns: start,
                kind: kind.into(),
                target: self.host.clone(),
                start_ns: start,
                end_ns: Some(last),
                attributes: format!(
                    r#"{{"job":{i},"spike_ns":{first},"minutes":{:.1}}}"#,
                    (last - first) as f64 / MIN as f64
                ),
            };
            self.labels.push(label);
        }
    }
}

fn compression() -> Extra {
    Extra {
        user: 0.30,
        system: 0.05,
        iowait: 0.08,
        psi_io: 20.0,
        load: 5.0,
        blocked: 1.0,
        ..Extra::default()
    }
}

impl SignalSource for RoutineGenerator {
    fn next_frame(&mut self) -> qb_signals::Result<Option<Frame>> {
        Ok(self.clock.advance().map(|t| self.step(t)))
    }
}

impl Generator for RoutineGenerator {
    fn labels(&self) -> &[LabelRow] {
        &self.labels
    }
}

//! `[tuner]`: opt-in tuning of gadgetd's own bounded parameters (the frame interval,
//! the log budget per tick, the forwarder's batch) by qb-tuner. Off unless
//! `enabled = true` (the spec's production gate), and in dry-run unless
//! `mode = "enforce"`: a dry-run tuner walks the same path (rewards, safety, cooldowns,
//! proposals logged and counted) and changes nothing.
//!
//! The daemon calls [`Tuning::after_tick`] once per tick; every `period` it turns what
//! the period measured into a reward (lines forwarded per second, minus drops, minus
//! the age of what the gadgets see) and the daemon's own CPU and memory into the pause
//! rule's load, asks the tuner, and returns the values to apply (enforce only).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use qb_tuner::{
    Change, Load, Observation, ParamSpec, Phase, RewardWeights, SafetyConfig, Sample, Scale,
    SearchConfig, Tuner, TunerConfig, TunerStats, select_params,
};
use serde::Deserialize;

use crate::logs::{BATCH_LINES, LogsSection};
use crate::metrics::{labels, write_family};

pub const INTERVAL: &str = "interval";
pub const MAX_BYTES_PER_TICK: &str = "max_bytes_per_tick";
pub const BATCH: &str = "batch_lines";
/// A backlog that grows by this many bytes counts as one line not forwarded (a guess
/// at a typical log line: the tailer counts bytes, not lines, of what it left behind).
const BACKLOG_BYTES_PER_LINE: f64 = 128.0;
/// The spec's "10x range": each parameter moves within a factor of sqrt(10) either way
/// of its configured value.
const HALF_RANGE: f64 = 3.162_277_660_168_379_5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TuneMode {
    /// Proposals are logged and counted, never applied.
    #[default]
    DryRun,
    Enforce,
}

impl TuneMode {
    pub fn name(&self) -> &'static str {
        match self {
            TuneMode::DryRun => "dry_run",
            TuneMode::Enforce => "enforce",
        }
    }
}

/// `[tuner]` in gadgetd's config file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunerSection {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub mode: TuneMode,
    /// How long each setting is measured before the tuner is asked (`60s`).
    #[serde(default = "default_period")]
    pub period: String,
    /// Which of `interval`, `max_bytes_per_tick`, `batch_lines` to tune (default: all
    /// that apply; the last two need `[logs]`).
    pub params: Option<Vec<String>>,
    /// The daemon's memory budget: tuning pauses above `safety.max_memory_fraction` of it.
    #[serde(default = "default_memory_budget")]
    pub memory_budget_bytes: u64,
    #[serde(default)]
    pub reward: RewardWeights,
    #[serde(default)]
    pub search: SearchConfig,
    #[serde(default)]
    pub safety: SafetyConfig,
}

fn default_period() -> String {
    "60s".into()
}
fn default_memory_budget() -> u64 {
    512 << 20
}

impl TunerSection {
    /// Takes `[tuner]` out of the config table and checks it against the rest of the
    /// file (`logs`: whether `[logs]` is there).
    pub fn take(table: &mut toml::Table, logs: bool) -> Result<Option<TunerSection>, String> {
        let section = match table.remove("tuner") {
            None => return Ok(None),
            Some(toml::Value::Table(t)) => TunerSection::deserialize(toml::Value::Table(t))
                .map_err(|e| format!("[tuner]: {e}"))?,
            Some(other) => {
                return Err(format!(
                    "`tuner` must be a table ([tuner]), found a {}",
                    other.type_str()
                ));
            }
        };
        section.validate(logs).map_err(|e| format!("[tuner] {e}"))?;
        Ok(Some(section))
    }

    pub fn period(&self) -> Result<Duration, String> {
        let d = humantime::parse_duration(&self.period)
            .map_err(|e| format!("period: bad duration {:?}: {e}", self.period))?;
        if d < Duration::from_secs(1) {
            return Err(format!("period: {:?} is below the 1s minimum", self.period));
        }
        Ok(d)
    }

    fn validate(&self, logs: bool) -> Result<(), String> {
        self.period()?;
        if self.memory_budget_bytes == 0 {
            return Err("memory_budget_bytes must be above 0".into());
        }
        // Bounds around placeholder values: only names, scales and the rest are checked.
        let config = TunerConfig {
            params: self.params(&catalogue(Duration::from_secs(1), 1 << 20, logs))?,
            search: self.search,
            safety: self.safety,
        };
        config.validate().map_err(|e| e.to_string())?;
        self.reward.validate().map_err(|e| e.to_string())
    }

    fn params(&self, catalogue: &[ParamSpec]) -> Result<Vec<ParamSpec>, String> {
        let names: Vec<String> = match &self.params {
            Some(names) => names.clone(),
            None => catalogue.iter().map(|p| p.name.clone()).collect(),
        };
        select_params(catalogue, &names).map_err(|e| {
            if names.iter().any(|n| n == MAX_BYTES_PER_TICK || n == BATCH) {
                format!("params: {e} ({MAX_BYTES_PER_TICK} and {BATCH} need [logs])")
            } else {
                format!("params: {e}")
            }
        })
    }
}

/// The parameters gadgetd can tune, each within a 10x range around its configured
/// value (the log ones only with a log pipeline).
pub fn catalogue(interval: Duration, log_bytes: u64, logs: bool) -> Vec<ParamSpec> {
    let around = |name: &str, v: f64, floor: f64| {
        let min = (v / HALF_RANGE).max(floor).min(v);
        ParamSpec::new(name, min, (v * HALF_RANGE).max(min * 2.0), Scale::Log, v)
    };
    let mut out = vec![around(INTERVAL, interval.as_secs_f64(), 0.01)];
    if logs {
        out.push(around(MAX_BYTES_PER_TICK, log_bytes as f64, 4096.0).integer());
        out.push(around(BATCH, BATCH_LINES as f64, 1.0).integer());
    }
    out
}

/// A value to apply now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Applied {
    Interval(Duration),
    LogBytesPerTick(u64),
    BatchLines(usize),
}

/// The log pipeline's cumulative counters, read after each tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogTotals {
    pub sent: u64,
    pub dropped: u64,
    pub backlog_bytes: u64,
}

/// What one period measured so far.
#[derive(Debug, Clone, Copy)]
struct Window {
    since: Instant,
    ticks: u64,
    tick_seconds: f64,
    logs: LogTotals,
    cpu_seconds: Option<f64>,
}

/// The tuner's counters and values, for /metrics.
#[derive(Debug, Clone, Default)]
pub struct TunerMetrics {
    mode: &'static str,
    /// (reason, applied) -> proposals.
    proposals: std::collections::BTreeMap<(&'static str, bool), u64>,
    /// Pause reason -> periods paused.
    paused: std::collections::BTreeMap<&'static str, u64>,
    errors: u64,
    stats: TunerStats,
    values: Vec<(String, f64)>,
    reward: Option<f64>,
    holding: bool,
}

#[derive(Debug)]
pub struct Tuning {
    tuner: Tuner,
    mode: TuneMode,
    period: Duration,
    weights: RewardWeights,
    memory_budget: u64,
    started: Instant,
    window: Window,
    metrics: TunerMetrics,
}

impl Tuning {
    /// The tuner for `section`, around the values configured now.
    pub fn new(
        section: &TunerSection,
        interval: Duration,
        logs: Option<&LogsSection>,
        now: Instant,
    ) -> Result<Tuning, String> {
        let log_bytes = logs.map_or(1 << 20, |l| l.max_bytes_per_tick);
        let params = section.params(&catalogue(interval, log_bytes, logs.is_some()))?;
        let tuner = Tuner::new(TunerConfig {
            params,
            search: section.search,
            safety: section.safety,
        })
        .map_err(|e| format!("[tuner]: {e}"))?;
        let metrics = TunerMetrics {
            mode: section.mode.name(),
            values: values(&tuner),
            ..TunerMetrics::default()
        };
        Ok(Tuning {
            tuner,
            mode: section.mode,
            period: section.period()?,
            weights: section.reward,
            memory_budget: section.memory_budget_bytes,
            started: now,
            window: Window {
                since: now,
                ticks: 0,
                tick_seconds: 0.0,
                logs: LogTotals::default(),
                cpu_seconds: self_cpu_seconds(),
            },
            metrics,
        })
    }

    pub fn describe(&self) -> String {
        let params: Vec<String> = self
            .tuner
            .params()
            .iter()
            .map(|p| format!("{} in [{}, {}]", p.name, p.min, p.max))
            .collect();
        format!(
            "tuner: {} every {}, {}",
            self.mode.name(),
            humantime::format_duration(self.period),
            params.join(", ")
        )
    }

    pub fn metrics(&self) -> &TunerMetrics {
        &self.metrics
    }

    /// After every tick: counts it, and at the end of a period asks the tuner. None
    /// between periods; at a period's end, the values to apply (none in dry-run).
    pub fn after_tick(
        &mut self,
        now: Instant,
        tick: Duration,
        interval: Duration,
        logs: LogTotals,
        pause_file: bool,
    ) -> Option<Vec<Applied>> {
        self.window.ticks += 1;
        self.window.tick_seconds += tick.as_secs_f64();
        if now.duration_since(self.window.since) < self.period {
            return None;
        }
        let secs = now.duration_since(self.window.since).as_secs_f64();
        let cpu_now = self_cpu_seconds();
        let cpu_cores = match (self.window.cpu_seconds, cpu_now) {
            (Some(a), Some(b)) => (b - a).max(0.0) / secs,
            _ => 0.0,
        };
        let memory_fraction =
            crate::metrics::resident_bytes().map_or(0.0, |b| b as f64 / self.memory_budget as f64);
        let load = Load {
            cpu_cores,
            memory_fraction,
            pause_file,
        };
        let applied = self.evaluate(now, interval, logs, load);
        self.window.cpu_seconds = cpu_now;
        Some(applied)
    }

    /// Ends the period at `now` with its measurements: reward, tuner, metrics, logs.
    pub fn evaluate(
        &mut self,
        now: Instant,
        interval: Duration,
        logs: LogTotals,
        load: Load,
    ) -> Vec<Applied> {
        let w = self.window;
        let secs = now.duration_since(w.since).as_secs_f64().max(1e-3);
        let interval_s = interval.as_secs_f64().max(1e-3);
        // The daemon skips rather than bursts after a slow tick: frames it never took.
        let expected = secs / interval_s;
        let missed = ((expected - w.ticks as f64) / expected).clamp(0.0, 1.0);
        let backlog_growth = logs.backlog_bytes.saturating_sub(w.logs.backlog_bytes) as f64;
        let sample = Sample {
            throughput: logs.sent.saturating_sub(w.logs.sent) as f64 / secs,
            drops: (logs.dropped.saturating_sub(w.logs.dropped) as f64
                + backlog_growth / BACKLOG_BYTES_PER_LINE)
                / secs
                + missed * self.weights.throughput_ref,
            latency_s: interval_s / 2.0 + w.tick_seconds / w.ticks.max(1) as f64,
        };
        let reward = self.weights.reward(&sample);
        self.window = Window {
            since: now,
            ticks: 0,
            tick_seconds: 0.0,
            logs,
            cpu_seconds: w.cpu_seconds,
        };
        let t_s = now.duration_since(self.started).as_secs_f64();
        let outcome = self.tuner.observe(&Observation { t_s, reward, load });
        self.metrics.reward = Some(reward);
        let change = match outcome {
            Ok(change) => change,
            Err(e) => {
                self.metrics.errors += 1;
                tracing::error!("tuner: {e}; nothing changes");
                None
            }
        };
        if let Some(p) = self.tuner.last_pause() {
            *self.metrics.paused.entry(p.name()).or_default() += 1;
            tracing::info!("tuner: paused, {p}");
        }
        let applied = change.map_or_else(Vec::new, |c| self.proposal(&c));
        self.metrics.stats = self.tuner.stats();
        self.metrics.values = values(&self.tuner);
        self.metrics.holding = self.tuner.phase() == Phase::Holding;
        applied
    }

    /// Logs and counts a proposal; its values, in enforce.
    fn proposal(&mut self, c: &Change) -> Vec<Applied> {
        let enforce = self.mode == TuneMode::Enforce;
        *self
            .metrics
            .proposals
            .entry((c.reason.name(), enforce))
            .or_default() += 1;
        let mut moves = Vec::new();
        let mut applied = Vec::new();
        for ((p, from), to) in self.tuner.params().iter().zip(&c.from).zip(&c.to) {
            if from == to {
                continue;
            }
            moves.push(format!("{} {from} -> {to}", p.name));
            applied.push(match p.name.as_str() {
                INTERVAL => Applied::Interval(Duration::from_secs_f64(*to)),
                MAX_BYTES_PER_TICK => Applied::LogBytesPerTick(*to as u64),
                _ => Applied::BatchLines(*to as usize),
            });
        }
        let how = if enforce {
            "applied"
        } else {
            "dry-run, not applied"
        };
        if c.reason == qb_tuner::Reason::Rollback {
            tracing::warn!("tuner: rollback: {} ({how})", moves.join(", "));
        } else {
            tracing::info!("tuner: {}: {} ({how})", c.reason.name(), moves.join(", "));
        }
        if enforce { applied } else { Vec::new() }
    }
}

fn values(tuner: &Tuner) -> Vec<(String, f64)> {
    tuner
        .params()
        .iter()
        .zip(tuner.current())
        .map(|(p, v)| (p.name.clone(), *v))
        .collect()
}

/// This process's user plus system CPU time, from /proc/self/stat.
fn self_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| (utime + stime) / hz as f64)
}

impl TunerMetrics {
    pub fn render(&self, out: &mut String) {
        write_family(
            out,
            "qbranch_tuner_proposals_total",
            "counter",
            "Settings the tuner proposed, by reason and whether they were applied (enforce) or only recorded (dry-run).",
        );
        for ((reason, applied), n) in &self.proposals {
            let l = labels(&[
                ("reason", reason),
                ("applied", if *applied { "true" } else { "false" }),
            ]);
            let _ = writeln!(out, "qbranch_tuner_proposals_total{l} {n}");
        }
        write_family(
            out,
            "qbranch_tuner_paused_total",
            "counter",
            "Periods the tuner ignored: the pause file, or the daemon's own CPU or memory too high.",
        );
        for (why, n) in &self.paused {
            let _ = writeln!(
                out,
                "qbranch_tuner_paused_total{} {n}",
                labels(&[("why", why)])
            );
        }
        let s = &self.stats;
        for (name, help, v) in [
            (
                "qbranch_tuner_trials_total",
                "Settings evaluated.",
                s.trials,
            ),
            (
                "qbranch_tuner_rollbacks_total",
                "Trials rolled back: their reward fell more than 10 % below the best's.",
                s.rollbacks,
            ),
            (
                "qbranch_tuner_retunes_total",
                "Searches restarted because the held setting's reward dropped.",
                s.retunes,
            ),
            (
                "qbranch_tuner_errors_total",
                "Periods the tuner refused (a non-finite reward).",
                self.errors,
            ),
        ] {
            write_family(out, name, "counter", help);
            let _ = writeln!(out, "{name} {v}");
        }
        write_family(
            out,
            "qbranch_tuner_value",
            "gauge",
            "Each tuned parameter's value as the tuner holds it (in dry-run: proposed, not in force).",
        );
        for (param, v) in &self.values {
            let l = labels(&[("param", param), ("mode", self.mode)]);
            let _ = writeln!(out, "qbranch_tuner_value{l} {v}");
        }
        write_family(
            out,
            "qbranch_tuner_holding",
            "gauge",
            "1 once the search is over and the best setting is held.",
        );
        let _ = writeln!(out, "qbranch_tuner_holding {}", u8::from(self.holding));
        if let Some(r) = self.reward {
            write_family(
                out,
                "qbranch_tuner_reward",
                "gauge",
                "The last period's reward.",
            );
            let _ = writeln!(out, "qbranch_tuner_reward {r}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str, logs: bool) -> Result<Option<TunerSection>, String> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        TunerSection::take(&mut table, logs)
    }

    fn logs() -> LogsSection {
        toml::from_str::<LogsSection>("files = [\"/x\"]").unwrap()
    }

    const CALM: Load = Load {
        cpu_cores: 0.05,
        memory_fraction: 0.1,
        pause_file: false,
    };

    /// Drives `t` for `periods` periods of 60 s, with rewards from a made-up world in
    /// which shorter intervals are better; returns everything to apply, in order.
    fn drive(t: &mut Tuning, start: Instant, periods: u32, load: Load) -> Vec<Applied> {
        let mut out = Vec::new();
        let mut interval = Duration::from_secs(1);
        let mut sent = 0;
        for k in 1..=periods {
            let now = start + Duration::from_secs(60 * u64::from(k));
            sent += (60_000.0 / interval.as_secs_f64()) as u64;
            t.window.ticks = (60.0 / interval.as_secs_f64()) as u64;
            t.window.tick_seconds = 0.01 * t.window.ticks as f64;
            let logs = LogTotals {
                sent,
                dropped: 0,
                backlog_bytes: 0,
            };
            for a in t.evaluate(now, interval, logs, load) {
                if let Applied::Interval(d) = a {
                    interval = d;
                }
                out.push(a);
            }
        }
        out
    }

    #[test]
    fn off_by_default_and_dry_run_when_enabled() {
        assert_eq!(section("", false).unwrap(), None);
        let s = section("[tuner]", false).unwrap().unwrap();
        assert!(!s.enabled);
        let s = section("[tuner]\nenabled = true", false).unwrap().unwrap();
        assert_eq!(s.mode, TuneMode::DryRun);
        assert_eq!(s.period().unwrap(), Duration::from_secs(60));
        assert_eq!(s.safety.cooldown_s, 300.0);
    }

    #[test]
    fn mistakes_are_named() {
        for (text, logs, needle) in [
            ("[tuner]\nmode = \"yolo\"", false, "yolo"),
            ("[tuner]\nperiod = \"100ms\"", false, "1s minimum"),
            ("[tuner]\nparams = [\"tcp_rmem\"]", false, "tcp_rmem"),
            ("[tuner]\nparams = [\"batch_lines\"]", false, "need [logs]"),
            ("[tuner]\nparams = []", false, "no parameters"),
            ("[tuner]\nmemory_budget_bytes = 0", false, "memory_budget"),
            (
                "[tuner.safety]\nrollback_drop = 2.0",
                false,
                "rollback_drop",
            ),
            (
                "[tuner.reward]\nthroughput_ref = -1.0",
                false,
                "throughput_ref",
            ),
            ("[tuner.search]\nmax_trial = 3", false, "max_trial"),
            ("tuner = 1", false, "table"),
        ] {
            let e = section(text, logs).unwrap_err();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(section("[tuner]\nparams = [\"batch_lines\"]", true).is_ok());
    }

    #[test]
    fn the_catalogue_is_a_10x_range_around_the_configured_values() {
        let c = catalogue(Duration::from_secs(2), 32 << 20, true);
        let names: Vec<&str> = c.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, [INTERVAL, MAX_BYTES_PER_TICK, BATCH]);
        for p in &c {
            p.validate().unwrap();
            assert!((p.max / p.min - 10.0).abs() < 1e-6, "{p:?}");
        }
        // Tiny configured values keep a valid range above the floors.
        for p in catalogue(Duration::from_millis(10), 1, true) {
            p.validate().unwrap();
        }
    }

    #[test]
    fn enforce_applies_bounded_changes_and_dry_run_applies_none() {
        let start = Instant::now();
        let mut s = section("[tuner]\nenabled = true\nmode = \"enforce\"", true)
            .unwrap()
            .unwrap();
        let l = logs();
        let mut t = Tuning::new(&s, Duration::from_secs(1), Some(&l), start).unwrap();
        let applied = drive(&mut t, start, 100, CALM);
        assert!(!applied.is_empty());
        let bounds = catalogue(Duration::from_secs(1), l.max_bytes_per_tick, true);
        for a in &applied {
            let (name, v) = match a {
                Applied::Interval(d) => (INTERVAL, d.as_secs_f64()),
                Applied::LogBytesPerTick(b) => (MAX_BYTES_PER_TICK, *b as f64),
                Applied::BatchLines(n) => (BATCH, *n as f64),
            };
            let p = bounds.iter().find(|p| p.name == name).unwrap();
            // Duration rounds to nanoseconds.
            assert!(v >= p.min - 1e-9 && v <= p.max + 1e-9, "{name} = {v}");
        }
        let mut text = String::new();
        t.metrics().render(&mut text);
        assert!(text.contains("applied=\"true\""), "{text}");

        s.mode = TuneMode::DryRun;
        let mut t = Tuning::new(&s, Duration::from_secs(1), Some(&l), start).unwrap();
        assert!(drive(&mut t, start, 100, CALM).is_empty());
        let mut text = String::new();
        t.metrics().render(&mut text);
        // Proposed and counted, never applied.
        assert!(
            text.lines().any(|l| l.starts_with(
                "qbranch_tuner_proposals_total{reason=\"explore\",applied=\"false\"}"
            )),
            "{text}"
        );
        assert!(!text.contains("applied=\"true\""));
    }

    #[test]
    fn pressure_pauses_and_changes_nothing() {
        let start = Instant::now();
        let s = section("[tuner]\nenabled = true\nmode = \"enforce\"", false)
            .unwrap()
            .unwrap();
        for load in [
            Load {
                cpu_cores: 0.9,
                ..CALM
            },
            Load {
                memory_fraction: 0.95,
                ..CALM
            },
            Load {
                pause_file: true,
                ..CALM
            },
        ] {
            let mut t = Tuning::new(&s, Duration::from_secs(1), None, start).unwrap();
            assert!(drive(&mut t, start, 30, load).is_empty(), "{load:?}");
            let mut text = String::new();
            t.metrics().render(&mut text);
            assert!(text.contains("qbranch_tuner_paused_total{why="), "{text}");
        }
    }

    #[test]
    fn own_cpu_time_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(self_cpu_seconds().is_some_and(|s| s >= 0.0));
        }
    }
}

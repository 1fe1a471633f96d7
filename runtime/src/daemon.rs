//! `gadgetd run`: record a frame, step the engine, write what happened, every interval,
//! until a duration, SIGTERM or SIGINT. SIGHUP reloads the config file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use qb_gadgets::{Engine, LinuxActuator};
use qb_models::registry::Registry;
use qb_recorder::{Recorder, RecorderConfig};
use qb_signals::Table;

use crate::cli::RunArgs;
use crate::logs::{LogPipeline, LogsSection};
use crate::metrics::{Metrics, SharedMetrics, lock};
use crate::output::Output;
use crate::pause::ReloadablePause;
use crate::settings::{ConfigFile, Settings, parse_interval};
use crate::traces::TracesSection;
use crate::tuning::{Applied, LogTotals, Tuning};

/// The live tables: what the gadgets read. Syscalls need root for eBPF and otherwise
/// fall back to sampling /proc; the recorder says which it got.
const TABLES: [Table; 5] = [
    Table::System,
    Table::Process,
    Table::Cgroup,
    Table::Connections,
    Table::Syscalls,
];

/// How often a wait between ticks looks at the signal flags.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args)?;
    // First, so a SIGTERM while the models load still ends the run cleanly.
    let signals = Signals::install()?;
    let registry = load_registry(&settings)?;
    let metrics: SharedMetrics = Arc::new(Mutex::new(Metrics::default()));
    if let Some(addr) = settings.metrics {
        let bound = crate::http::serve(addr, Arc::clone(&metrics))?;
        // Tests and scripts read the port from this line.
        tracing::info!("metrics listening on {bound}");
    }
    let recorder = start_recorder(settings.logs.as_ref(), settings.traces.as_ref())?;
    let logs = settings
        .logs
        .as_ref()
        .map(|l| LogPipeline::start(l, &registry))
        .transpose()?;
    let pause = ReloadablePause::new(settings.config.policy.pause_file.clone());
    let actuator = LinuxActuator::new().map_err(|e| anyhow!("actuator: {e}"))?;
    let engine = qb_gadgets::engine(&settings.config, &registry, actuator, pause.clone());
    let tuning = start_tuning(&settings)?;
    let alerts = settings.logs.as_ref().and_then(|l| l.alerts.clone());
    let output = Output::new(
        settings.quiet,
        settings.incidents.as_deref(),
        alerts.as_deref(),
    )?;
    let mut daemon = Daemon {
        settings,
        registry,
        recorder,
        engine,
        logs,
        tuning,
        pause,
        output,
        metrics,
        signals,
    };
    daemon.publish_engine();
    if let Some(t) = &daemon.tuning {
        lock(&daemon.metrics).set_tuner(t.metrics().clone());
    }
    daemon.log_models();
    tracing::info!(
        "gadgetd started: mode {}, interval {}, config {}",
        daemon.settings.config.mode.name(),
        humantime::format_duration(daemon.settings.interval),
        daemon
            .settings
            .config_path
            .as_ref()
            .map_or("built-in default".to_string(), |p| p.display().to_string()),
    );
    daemon.run();
    if let Some(logs) = &mut daemon.logs {
        let (s, last_alerts) = logs.stop();
        daemon.output.alerts(&last_alerts);
        tracing::info!(
            "logs: {} lines, {} redacted, {} forwarded, {} dropped",
            s.lines,
            s.redacted_lines,
            s.forward.sent,
            s.forward.dropped
        );
        lock(&daemon.metrics).set_logs(s);
    }
    tracing::info!("gadgetd stopped");
    Ok(())
}

struct Daemon {
    settings: Settings,
    registry: Registry,
    recorder: Recorder,
    engine: Engine<LinuxActuator, ReloadablePause>,
    /// The log pipeline (`[logs]`): redacts each frame's lines before the engine.
    logs: Option<LogPipeline>,
    /// `[tuner]` with `enabled = true`: asked after every tick, acts once per period.
    tuning: Option<Tuning>,
    pause: ReloadablePause,
    output: Output,
    metrics: SharedMetrics,
    signals: Signals,
}

impl Daemon {
    fn run(&mut self) {
        let started = Instant::now();
        let mut next = started;
        let mut faster = false;
        loop {
            let sample_faster = self.tick();
            if sample_faster != faster {
                tracing::info!(
                    "sampling {}",
                    if sample_faster {
                        "faster"
                    } else {
                        "at the normal interval"
                    }
                );
                faster = sample_faster;
            }
            let pace = if faster {
                self.settings.faster_interval()
            } else {
                self.settings.interval
            };
            // A slow tick skips ticks rather than bursting to catch up.
            next = (next + pace).max(Instant::now());
            if self
                .settings
                .duration
                .is_some_and(|d| next.duration_since(started) >= d)
            {
                return;
            }
            if !self.wait_until(next) {
                return;
            }
        }
    }

    /// One tick; returns whether a rule asked for faster sampling.
    fn tick(&mut self) -> bool {
        let t0 = Instant::now();
        let mut frame = self.recorder.collect(qb_recorder::now_ns());
        // Redaction comes first: nothing downstream (gadgets, sink) sees a raw line.
        if let Some(logs) = &mut self.logs {
            let alerts = logs.redact(&mut frame.logs);
            self.output.alerts(&alerts);
        }
        let t1 = Instant::now();
        let report = self.engine.step(&frame);
        let engine = t1.elapsed();
        self.output.tick(&report);
        let mut metrics = lock(&self.metrics);
        metrics.record_tick(t0.elapsed(), engine, &report);
        let mut log_totals = LogTotals::default();
        if let Some(logs) = &mut self.logs {
            let flushes = logs.forward(&frame, &report);
            self.output.events(&flushes);
            let backlog = self.recorder.stats().logs.backlog_bytes;
            let stats = logs.stats(backlog).clone();
            log_totals = LogTotals {
                sent: stats.forward.sent,
                dropped: stats.forward.dropped,
                backlog_bytes: stats.backlog_bytes,
            };
            metrics.set_logs(stats);
        }
        if self.settings.traces.is_some() {
            metrics.set_traces(self.recorder.stats().traces);
        }
        drop(metrics);
        self.tune(t0.elapsed(), log_totals);
        report.sample_faster
    }

    /// `[tuner]`: what a finished period's proposal changes (enforce only).
    fn tune(&mut self, tick: Duration, log_totals: LogTotals) {
        let Some(tuning) = &mut self.tuning else {
            return;
        };
        let paused = qb_gadgets::PauseSwitch::paused(&self.pause).is_some();
        let interval = self.settings.interval;
        let Some(applied) = tuning.after_tick(Instant::now(), tick, interval, log_totals, paused)
        else {
            return;
        };
        lock(&self.metrics).set_tuner(tuning.metrics().clone());
        for a in applied {
            match a {
                Applied::Interval(d) => self.settings.interval = d,
                Applied::LogBytesPerTick(b) => self.recorder.set_log_bytes_per_tick(b),
                Applied::BatchLines(n) => {
                    if let Some(logs) = &self.logs {
                        logs.set_batch_lines(n);
                    }
                }
            }
        }
    }

    /// Sleeps until `due`, reloading on SIGHUP meanwhile; false on SIGTERM or SIGINT.
    fn wait_until(&mut self, due: Instant) -> bool {
        loop {
            if self.signals.stop.load(Ordering::Relaxed) {
                return false;
            }
            if self.signals.reload.swap(false, Ordering::Relaxed) {
                self.reload();
            }
            let now = Instant::now();
            if now >= due {
                return true;
            }
            std::thread::sleep((due - now).min(SIGNAL_POLL));
        }
    }

    /// SIGHUP: the new config, or the old one kept and the error logged.
    fn reload(&mut self) {
        let Some(path) = self.settings.config_path.clone() else {
            tracing::warn!("SIGHUP: no --config file to reload; the built-in default stays");
            return;
        };
        let file = match ConfigFile::load(&path) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("reload failed, the running config stays: {e}");
                return;
            }
        };
        let mut config = file.config;
        if let Some(mode) = self.settings.mode_override {
            config.mode = mode;
        }
        let old = &self.settings.config;
        // The Oracle keeps its own copy of the policy (its victim must be one the guard
        // allows), so a policy change rebuilds the gadgets too.
        // A changed [timekeeper] rebuilds it too (its learnt patterns start again),
        // unless only `suppressible` changed: that is the engine's filter, reconfigured.
        let learning = |t: &qb_gadgets::TimekeeperConfig| qb_gadgets::TimekeeperConfig {
            suppressible: Vec::new(),
            ..t.clone()
        };
        let rebuild = config.oracle != old.oracle
            || config.pathologist != old.pathologist
            || learning(&config.timekeeper) != learning(&old.timekeeper)
            || config.policy != old.policy;
        self.engine.reconfigure(&config);
        self.pause.set_path(config.policy.pause_file.clone());
        if rebuild {
            self.engine
                .replace_gadgets(qb_gadgets::gadgets(&config, &self.registry));
        }
        self.reload_daemon_section(&file.daemon);
        if file.logs != self.settings.logs {
            tracing::warn!("[logs] changed: it takes effect at the next restart");
        }
        if file.tuner != self.settings.tuner {
            tracing::warn!("[tuner] changed: it takes effect at the next restart");
        }
        if file.traces != self.settings.traces {
            tracing::warn!("[traces] changed: it takes effect at the next restart");
        }
        self.settings.config = config;
        self.publish_engine();
        tracing::info!(
            "reloaded {}: mode {}, {} rules{}",
            path.display(),
            self.settings.config.mode.name(),
            self.settings.config.rules.len(),
            if rebuild {
                ", gadgets rebuilt (their histories start again)"
            } else {
                ""
            }
        );
    }

    /// `[daemon]` on reload: the interval applies now (unless given as a flag); the
    /// address, incidents file and models need a restart, which is said, not done.
    fn reload_daemon_section(&mut self, new: &crate::settings::DaemonSection) {
        if !self.settings.interval_from_flag {
            let interval = new
                .interval
                .as_deref()
                .and_then(|t| parse_interval(t).ok())
                .unwrap_or(crate::settings::DEFAULT_INTERVAL);
            if interval != self.settings.interval {
                tracing::info!("interval now {}", humantime::format_duration(interval));
                self.settings.interval = interval;
            }
        }
        let old = &self.settings.daemon;
        for (key, changed) in [
            ("metrics", new.metrics != old.metrics),
            ("incidents", new.incidents != old.incidents),
            ("models", new.models != old.models),
        ] {
            if changed {
                tracing::warn!("[daemon] {key} changed: it takes effect at the next restart");
            }
        }
    }

    /// The mode and the gadgets' models, for /metrics.
    fn publish_engine(&self) {
        let mut m = lock(&self.metrics);
        m.set_mode(self.engine.mode());
        m.set_gadgets(self.engine.gadgets());
    }

    fn log_models(&self) {
        tracing::info!("models: {}", self.registry.origin());
        for g in self.engine.gadgets() {
            for (model, how) in g.models() {
                if how == "model" {
                    tracing::info!("{}: {model} loaded", g.name());
                } else {
                    tracing::warn!("{}: {model} not used, {how}", g.name());
                }
            }
        }
    }
}

/// The models of `--models DIR` or `[daemon] models`, else the embedded ones. A
/// directory that cannot be read is not fatal: the embedded models run instead, and
/// each gadget still checks its model and falls back to its rule.
fn load_registry(settings: &Settings) -> anyhow::Result<Registry> {
    if let Some(dir) = &settings.models {
        match Registry::from_dir(dir) {
            Ok(r) => return Ok(r),
            Err(e) => tracing::error!("models: {e}; using the embedded models instead"),
        }
    }
    match Registry::embedded() {
        Ok(r) => Ok(r),
        Err(e) => {
            // Only a broken build gets here; the gadgets then run their rules.
            tracing::error!("embedded models: {e}; every gadget runs its rule baseline");
            empty_registry()
        }
    }
}

/// A registry with no models, so every gadget falls back to its rule. qb-models has no
/// constructor for one, so it is an empty manifest in a scratch directory.
fn empty_registry() -> anyhow::Result<Registry> {
    let dir = std::env::temp_dir().join(format!("gadgetd-no-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let manifest = dir.join(qb_models::manifest::MANIFEST);
    std::fs::write(&manifest, "").with_context(|| format!("{}", manifest.display()))?;
    let registry = Registry::from_dir(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    registry.map_err(|e| anyhow!("no models at all: {e}"))
}

/// The tuner, when `[tuner]` says `enabled = true` (its ranges logged once).
fn start_tuning(settings: &Settings) -> anyhow::Result<Option<Tuning>> {
    let Some(section) = settings.tuner.as_ref().filter(|t| t.enabled) else {
        return Ok(None);
    };
    let tuning = Tuning::new(
        section,
        settings.interval,
        settings.logs.as_ref(),
        Instant::now(),
    )
    .map_err(|e| anyhow!(e))?;
    tracing::info!("{}", tuning.describe());
    Ok(Some(tuning))
}

fn start_recorder(
    logs: Option<&LogsSection>,
    traces: Option<&TracesSection>,
) -> anyhow::Result<Recorder> {
    let mut config = RecorderConfig {
        tables: TABLES.to_vec(),
        ..RecorderConfig::default()
    };
    if let Some(logs) = logs {
        config.tables.push(Table::Logs);
        config.log_globs = logs.files.clone();
        config.tail = logs.tail_config();
    }
    if let Some(traces) = traces {
        // The recorder's feed fills each frame's traces and requests before the engine.
        config.tables.extend([Table::Traces, Table::Requests]);
        config.traces = Some(traces.intake().map_err(|e| anyhow!("[traces] {e}"))?);
    }
    let recorder = Recorder::new(&config).context("recorder")?;
    for (table, method) in recorder.methods() {
        tracing::info!("{table}: {method}");
    }
    // Said once here; the recorder never fails a tick for them.
    for (table, reason) in recorder.unavailable() {
        tracing::warn!("{table}: unavailable: {reason}");
    }
    for (table, note) in recorder.notes() {
        tracing::warn!("{table}: degraded: {note}");
    }
    Ok(recorder)
}

/// SIGTERM / SIGINT end the run after the current tick; a second one ends it at once.
/// SIGHUP asks for a reload.
struct Signals {
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let stop = Arc::new(AtomicBool::new(false));
        let reload = Arc::new(AtomicBool::new(false));
        for signal in [SIGTERM, SIGINT] {
            // Registered first, so it sees the flag before this signal sets it.
            flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
                .with_context(|| format!("signal {signal}"))?;
            flag::register(signal, Arc::clone(&stop))
                .with_context(|| format!("signal {signal}"))?;
        }
        flag::register(SIGHUP, Arc::clone(&reload)).context("signal SIGHUP")?;
        Ok(Signals { stop, reload })
    }
}

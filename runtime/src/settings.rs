//! The config file and the daemon's own settings.
//!
//! The file is qb-gadgets' `Config` (mode, policy, gadgets, rules, hooks) plus three
//! optional tables that only gadgetd reads: `[daemon]`, `[logs]` (the log pipeline),
//! `[traces]` (the OTLP span intake) and `[tuner]` (tuning gadgetd's own parameters,
//! `tuning.rs`).
//! They are taken out of the parsed table before the rest goes to `Config::from_table`,
//! so every part keeps refusing unknown keys by name. Command-line flags override
//! `[daemon]`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use qb_gadgets::Config;
use serde::Deserialize;

use crate::cli::RunArgs;
use crate::logs::LogsSection;
use crate::traces::TracesSection;
use crate::tuning::TunerSection;

/// The Oracle's LSTM was trained on 1 s ticks: its sequences mean "the last N seconds"
/// only at this interval, so a different one is allowed but changes what it sees.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// When a rule asks for faster sampling: half the interval, but not below this.
pub const FASTEST_INTERVAL: Duration = Duration::from_millis(250);
pub const DEFAULT_METRICS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

/// Bad input from the operator (a config file, a flag): exit status 2, as for usage
/// errors. The message names the file or flag and the problem.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// `[daemon]`: what gadgetd itself needs, next to the gadgets' configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSection {
    /// Tick interval (`1s`, `500ms`).
    pub interval: Option<String>,
    /// Metrics address (loopback only), or `off`.
    pub metrics: Option<String>,
    /// File the incidents are appended to, one JSON line each.
    pub incidents: Option<PathBuf>,
    /// Models directory instead of the embedded models.
    pub models: Option<PathBuf>,
}

/// A parsed and validated config file.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub config: Config,
    pub daemon: DaemonSection,
    pub logs: Option<LogsSection>,
    pub tuner: Option<TunerSection>,
    pub traces: Option<TracesSection>,
}

impl ConfigFile {
    /// Reads, parses and validates `path`; every error names the file.
    pub fn load(path: &Path) -> Result<ConfigFile, InputError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError(format!("{}: {e}", path.display())))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, InputError> {
        let named = |problem: String| InputError(format!("{}: {problem}", path.display()));
        let mut table: toml::Table = toml::from_str(text).map_err(|e| named(e.to_string()))?;
        let daemon = match table.remove("daemon") {
            None => DaemonSection::default(),
            Some(toml::Value::Table(t)) => DaemonSection::deserialize(toml::Value::Table(t))
                .map_err(|e| named(format!("[daemon]: {e}")))?,
            Some(other) => {
                return Err(named(format!(
                    "`daemon` must be a table ([daemon]), found a {}",
                    other.type_str()
                )));
            }
        };
        // Check the daemon's values now, so `check` refuses what `run` would refuse.
        if let Some(text) = &daemon.interval {
            parse_interval(text).map_err(|e| named(format!("[daemon] interval: {e}")))?;
        }
        if let Some(text) = &daemon.metrics {
            parse_metrics(text).map_err(|e| named(format!("[daemon] metrics: {e}")))?;
        }
        let logs = match table.remove("logs") {
            None => None,
            Some(toml::Value::Table(t)) => {
                let logs = LogsSection::deserialize(toml::Value::Table(t))
                    .map_err(|e| named(format!("[logs]: {e}")))?;
                logs.validate().map_err(|e| named(format!("[logs] {e}")))?;
                Some(logs)
            }
            Some(other) => {
                return Err(named(format!(
                    "`logs` must be a table ([logs]), found a {}",
                    other.type_str()
                )));
            }
        };
        let tuner = TunerSection::take(&mut table, logs.is_some()).map_err(named)?;
        let traces = match table.remove("traces") {
            None => None,
            Some(toml::Value::Table(t)) => {
                let traces = TracesSection::deserialize(toml::Value::Table(t))
                    .map_err(|e| named(format!("[traces]: {e}")))?;
                traces
                    .intake()
                    .map_err(|e| named(format!("[traces] {e}")))?;
                Some(traces)
            }
            Some(other) => {
                return Err(named(format!(
                    "`traces` must be a table ([traces]), found a {}",
                    other.type_str()
                )));
            }
        };
        let config = Config::from_table(table).map_err(|e| named(e.to_string()))?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            config,
            daemon,
            logs,
            tuner,
            traces,
        })
    }
}

/// Everything `run` needs, from flags over `[daemon]` over the defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    /// `--mode`, reapplied to every reloaded config.
    pub mode_override: Option<qb_gadgets::Mode>,
    pub interval: Duration,
    /// The interval came from the command line: a reload does not change it.
    pub interval_from_flag: bool,
    pub duration: Option<Duration>,
    pub metrics: Option<SocketAddr>,
    pub incidents: Option<PathBuf>,
    pub models: Option<PathBuf>,
    pub quiet: bool,
    /// The file's `[daemon]` at start, to tell what a reload cannot change.
    pub daemon: DaemonSection,
    /// The log pipeline, when the file has `[logs]`.
    pub logs: Option<LogsSection>,
    /// `[tuner]`, when the file has it (it may still say `enabled = false`).
    pub tuner: Option<TunerSection>,
    /// The span intake, when the file has `[traces]`.
    pub traces: Option<TracesSection>,
}

impl Settings {
    pub fn resolve(args: &RunArgs) -> Result<Settings, InputError> {
        let file = args.config.as_deref().map(ConfigFile::load).transpose()?;
        let (mut config, daemon, logs, tuner, traces) = match &file {
            Some(f) => (
                f.config.clone(),
                f.daemon.clone(),
                f.logs.clone(),
                f.tuner.clone(),
                f.traces.clone(),
            ),
            None => (
                Config::default(),
                DaemonSection::default(),
                None,
                None,
                None,
            ),
        };
        if let Some(mode) = args.mode {
            config.mode = mode;
        }
        let flag = |name: &str, e: String| InputError(format!("--{name}: {e}"));
        // Checked by `ConfigFile::parse` already; named the same way should that change.
        let in_file = |key: &str, e: String| {
            let file = args.config.as_deref().unwrap_or(Path::new("config"));
            InputError(format!("{}: [daemon] {key}: {e}", file.display()))
        };
        let interval = match (&args.interval, &daemon.interval) {
            (Some(t), _) => parse_interval(t).map_err(|e| flag("interval", e))?,
            (None, Some(t)) => parse_interval(t).map_err(|e| in_file("interval", e))?,
            (None, None) => DEFAULT_INTERVAL,
        };
        let duration = args
            .duration
            .as_deref()
            .map(|t| parse_duration(t).map_err(|e| flag("duration", e)))
            .transpose()?;
        let metrics = if args.no_metrics {
            None
        } else {
            match (&args.metrics, &daemon.metrics) {
                (Some(t), _) => parse_metrics(t).map_err(|e| flag("metrics", e))?,
                (None, Some(t)) => parse_metrics(t).map_err(|e| in_file("metrics", e))?,
                (None, None) => Some(DEFAULT_METRICS),
            }
        };
        Ok(Settings {
            config,
            config_path: args.config.clone(),
            mode_override: args.mode,
            interval,
            interval_from_flag: args.interval.is_some(),
            duration,
            metrics,
            incidents: args.incidents.clone().or(daemon.incidents.clone()),
            models: args.models.clone().or(daemon.models.clone()),
            quiet: args.quiet,
            daemon,
            logs,
            tuner,
            traces,
        })
    }

    /// The interval of the tick after one whose rules asked for faster sampling.
    pub fn faster_interval(&self) -> Duration {
        (self.interval / 2).max(FASTEST_INTERVAL.min(self.interval))
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("bad duration {text:?}: {e}"))
}

pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_millis(10) {
        return Err(format!("{text:?} is below the 10ms minimum"));
    }
    Ok(d)
}

/// A loopback socket address, or `off` (None). `/metrics` has no authentication, so it
/// is never served beyond this host; a proxy can expose it deliberately.
pub fn parse_metrics(text: &str) -> Result<Option<SocketAddr>, String> {
    let text = text.trim();
    if text == "off" {
        return Ok(None);
    }
    let addr: SocketAddr = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
            .map_err(|_| format!("{text:?} has no valid port"))?,
        None => text
            .parse()
            .map_err(|_| format!("{text:?} is not an address like 127.0.0.1:9464 (or `off`)"))?,
    };
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: /metrics has no authentication, so gadgetd \
             serves it on 127.0.0.1 or [::1] only"
        ));
    }
    Ok(Some(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, String> {
        ConfigFile::parse(Path::new("/etc/g.toml"), text).map_err(|e| e.0)
    }

    #[test]
    fn the_daemon_table_is_ours_and_the_rest_is_the_gadgets() {
        let f =
            parse("mode = \"observe\"\n[daemon]\ninterval = \"2s\"\nmetrics = \"off\"").unwrap();
        assert_eq!(f.config.mode, qb_gadgets::Mode::Observe);
        assert_eq!(f.daemon.interval.as_deref(), Some("2s"));
        assert_eq!(parse("").unwrap().daemon, DaemonSection::default());
        assert_eq!(parse("").unwrap().logs, None);
        assert_eq!(parse("").unwrap().traces, None);
        assert_eq!(
            parse("[traces]").unwrap().traces,
            Some(crate::traces::TracesSection::default())
        );
        let tk = parse("[timekeeper]\nenabled = true\nmethod = \"dtw\"").unwrap();
        assert!(tk.config.timekeeper.enabled);
        let e = parse("[timekeeper]\nmax_suppression = \"1s\"").unwrap_err();
        assert!(
            e.contains("/etc/g.toml") && e.contains("timekeeper.max_suppression"),
            "{e}"
        );
        let logs = parse(
            "[logs]\nfiles = [\"/var/log/app/*.log\"]\n[logs.redact.policy]\nemail = \"hash\"",
        )
        .unwrap()
        .logs
        .unwrap();
        assert_eq!(logs.sink, "stdout");
        assert_eq!(logs.buffer_lines, 100_000);
        assert_eq!(
            logs.redact.policy(qb_curator::Category::Email),
            qb_curator::Policy::Hash
        );
    }

    #[test]
    fn mistakes_name_the_file_and_the_problem() {
        for (text, needle) in [
            ("[daemon]\nintervall = \"1s\"", "intervall"),
            ("[daemon]\ninterval = \"soon\"", "soon"),
            ("[daemon]\nmetrics = \"0.0.0.0:9464\"", "loopback"),
            ("daemon = 3", "table"),
            ("logs = 3", "table"),
            ("traces = 3", "table"),
            ("[traces]\nlisten = \"0.0.0.0:4318\"", "not loopback"),
            ("[traces]\nport = 4318", "port"),
            ("[logs]\nfiles = []", "files"),
            ("[logs]\nfiles = [\"/x\"]\nsink = \"https://a/b\"", "TLS"),
            ("[logs]\nfiles = [\"/x\"]\nbuffer_lines = 0", "buffer_lines"),
            ("[logs]\nfiles = [\"/x\"]\nsinks = \"stdout\"", "sinks"),
            ("[tuner]\nenabled = \"yes\"", "[tuner]"),
            ("[tuner]\nparams = [\"batch_lines\"]", "need [logs]"),
            (
                "[logs]\nfiles = [\"/x\"]\n[logs.redact.policy]\nemail = \"shout\"",
                "shout",
            ),
            ("[oracel]", "oracel"),
            ("mode = ", "TOML"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with("/etc/g.toml: "), "{e}");
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn metrics_addresses_stay_on_loopback() {
        assert_eq!(parse_metrics("off").unwrap(), None);
        assert_eq!(parse_metrics("127.0.0.1:0").unwrap().unwrap().port(), 0);
        assert!(parse_metrics("[::1]:9464").unwrap().is_some());
        assert!(parse_metrics("localhost:9464").unwrap().is_some());
        assert!(
            parse_metrics("10.0.0.1:9464")
                .unwrap_err()
                .contains("loopback")
        );
        assert!(parse_metrics("[::]:9464").unwrap_err().contains("loopback"));
        assert!(parse_metrics("nonsense").is_err());
    }

    #[test]
    fn faster_sampling_halves_the_interval_down_to_a_floor() {
        let mut s = Settings::resolve(&RunArgs {
            config: None,
            mode: None,
            models: None,
            interval: None,
            duration: None,
            metrics: None,
            no_metrics: true,
            incidents: None,
            quiet: true,
        })
        .unwrap();
        assert_eq!(s.interval, Duration::from_secs(1));
        assert_eq!(s.faster_interval(), Duration::from_millis(500));
        s.interval = Duration::from_millis(400);
        assert_eq!(s.faster_interval(), Duration::from_millis(250));
        s.interval = Duration::from_millis(100);
        assert_eq!(s.faster_interval(), Duration::from_millis(100));
    }
}

//! The runtime configuration: mode, safety policy, gadgets and rules, in one TOML file.
//! Every section is optional; an empty file is the safe default (dry run, whole host
//! observed, the spec's rules). Unknown keys are refused by name.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use crate::archivist::ArchivistGadgetConfig;
pub use crate::curator::CuratorConfig;
pub use crate::equalizer::EqualizerConfig;
use crate::policy::Policy;
use crate::rules::{Rule, Rules, default_rules};
use crate::safety::Mode;
pub use crate::timekeeper::TimekeeperConfig;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "dry_run")]
    pub mode: Mode,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub oracle: OracleConfig,
    #[serde(default)]
    pub pathologist: PathologistConfig,
    /// Toxic connections (opt-in).
    #[serde(default)]
    pub equalizer: EqualizerConfig,
    /// PII in log lines, for replays (gadgetd's `[logs]` pipeline redacts live).
    #[serde(default)]
    pub curator: CuratorConfig,
    /// Log ring buffers flushed around incidents, for replays (gadgetd's
    /// `[logs.archivist]` runs live).
    #[serde(default)]
    pub archivist: ArchivistGadgetConfig,
    /// Recurring metric shapes: recognises a benign routine and suppresses what its
    /// `suppressible` list names while it lasts (off by default).
    #[serde(default)]
    pub timekeeper: TimekeeperConfig,
    /// Replaces the built-in rules when given.
    #[serde(default = "default_rules")]
    pub rules: Vec<Rule>,
    /// comm -> signal for the `runtime_hook` action.
    #[serde(default)]
    pub runtime_hooks: BTreeMap<String, String>,
}

fn dry_run() -> Mode {
    Mode::DryRun
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::DryRun,
            policy: Policy::default(),
            oracle: OracleConfig::default(),
            pathologist: PathologistConfig::default(),
            equalizer: EqualizerConfig::default(),
            curator: CuratorConfig::default(),
            archivist: ArchivistGadgetConfig::default(),
            timekeeper: TimekeeperConfig::default(),
            rules: default_rules(),
            runtime_hooks: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::checked(toml::from_str(text)?)
    }

    /// From an already parsed table (a caller with sections of its own removes them first).
    pub fn from_table(table: toml::Table) -> Result<Config, ConfigError> {
        Self::checked(table.try_into()?)
    }

    fn checked(config: Config) -> Result<Config, ConfigError> {
        config
            .policy
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config
            .rules()
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.archivist.validate().map_err(ConfigError::Invalid)?;
        config.equalizer.validate().map_err(ConfigError::Invalid)?;
        config.timekeeper.validate().map_err(ConfigError::Invalid)?;
        for (name, p) in [
            (
                "oracle.report_probability",
                config.oracle.report_probability,
            ),
            (
                "pathologist.report_probability",
                config.pathologist.report_probability,
            ),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(ConfigError::Invalid(format!(
                    "{name} {p} is outside [0, 1]"
                )));
            }
        }
        Ok(config)
    }

    pub fn rules(&self) -> Rules {
        Rules {
            rules: self.rules.clone(),
            runtime_hooks: self.runtime_hooks.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OracleConfig {
    pub enabled: bool,
    /// A forecast at or above this probability is reported as a decision (the rules
    /// decide what, if anything, is done at which confidence).
    pub report_probability: f64,
    /// Forecast the host as a whole too (a pseudo-cgroup `/` from the system table).
    pub host: bool,
}

impl Default for OracleConfig {
    fn default() -> Self {
        OracleConfig {
            enabled: true,
            report_probability: 0.5,
            host: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathologistConfig {
    pub enabled: bool,
    pub report_probability: f64,
}

impl Default for PathologistConfig {
    fn default() -> Self {
        PathologistConfig {
            enabled: true,
            report_probability: 0.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_safe_default() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.mode, Mode::DryRun);
        assert!(c.policy.allow_cgroups.is_empty());
        assert!(c.oracle.enabled && c.pathologist.enabled);
    }

    #[test]
    fn modes_and_sections_parse_and_mistakes_are_named() {
        let c = Config::from_toml(
            "mode = \"enforce\"\n[policy]\nallow_cgroups = [\"/qb\"]\n[oracle]\nhost = false",
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(c.policy.allow_cgroups, ["/qb"]);
        assert!(!c.oracle.host);
        assert_eq!(
            Config::from_toml("mode = \"dry-run\"").unwrap().mode,
            Mode::DryRun
        );
        for (text, needle) in [
            ("mode = \"yolo\"", "yolo"),
            ("[oracel]", "oracel"),
            (
                "[pathologist]\nreport_probability = 3.0",
                "report_probability",
            ),
            ("[policy]\nallow_cgroups = [\"qb\"]", "allow_cgroups"),
            ("[runtime_hooks]\njava = \"KILL\"", "KILL"),
            ("[timekeeper]\nsimilarity = 2.0", "timekeeper.similarity"),
            (
                "[timekeeper]\nsuppressible = [\"archivist\"]",
                "timekeeper.suppressible",
            ),
        ] {
            let e = Config::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}

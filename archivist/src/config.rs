//! `ArchivistConfig`: TOML, every key optional, unknown keys refused.

use serde::{Deserialize, Serialize};

use crate::ArchivistError;

/// Lines of sources matching `sources` (a prefix, or a glob with `*` and `?`) belong to
/// service `name`; `cgroups` (path prefixes) name its cgroups for OOM triggers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRule {
    pub name: String,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub cgroups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchivistConfig {
    /// Seconds of log time a ring keeps.
    pub retention_s: f64,
    /// Bytes held over all services (compressed blocks, open blocks, bookkeeping).
    pub memory_cap_bytes: u64,
    /// An open block is sealed (compressed) at this many bytes...
    pub block_bytes: u64,
    /// ...or once it spans this many seconds of log time.
    pub block_span_s: f64,
    /// Longer lines are cut here (at a character boundary) and flagged `truncated`.
    pub max_line_bytes: u64,
    /// Past this many distinct services, new sources go to the service `(other)`.
    pub max_services: u64,
    /// A flush takes buffered lines from `before_s` before the trigger...
    pub before_s: f64,
    /// ...and forwards live lines until `after_s` after it.
    pub after_s: f64,
    /// Share of lines forwarded anyway, chosen by a hash of (seed, source, offset).
    pub sample_rate: f64,
    pub seed: u64,
    /// Error spike: share of error lines over `spike_window_s`...
    pub spike_window_s: u64,
    /// ...above `spike_factor` x the service's baseline share...
    pub spike_factor: f64,
    /// ...with at least this many errors in the window...
    pub spike_min_errors: u64,
    /// ...exceeding the baseline's expected count by this many Poisson standard deviations...
    pub spike_min_z: f64,
    /// ...the baseline share never taken below this...
    pub spike_baseline_floor: f64,
    /// ...learned with this half-life from windows already past...
    pub spike_half_life_s: f64,
    /// ...and only once it covers this much history.
    pub spike_warmup_s: u64,
    /// Latency spike (from the `traces` table): a service's bucket p99 above
    /// `latency_factor` x its baseline p99 (a trace's `service.name` must be the name of
    /// the service here, e.g. a `[[services]]` rule's)...
    pub latency_factor: f64,
    /// ...in a bucket with at least this many hits...
    pub latency_min_hits: u64,
    /// ...the baseline being the median p99 of the last this many normal buckets...
    pub latency_baseline_buckets: u64,
    /// ...once there are at least this many.
    pub latency_warmup_buckets: u64,
    /// A process identity back within this many seconds is a restart.
    pub restart_window_s: f64,
    /// ...and must have run at least this long before it went (shorter-lived instances
    /// are commands run again, not a service going down).
    pub restart_min_uptime_s: f64,
    /// Order a flush's buffered lines by novelty and keep the top `keep_fraction`
    /// (needs a vocabulary; output stays in original order).
    pub rank: bool,
    pub keep_fraction: f64,
    pub services: Vec<ServiceRule>,
}

impl Default for ArchivistConfig {
    fn default() -> Self {
        ArchivistConfig {
            retention_s: 120.0,
            memory_cap_bytes: 64 << 20,
            block_bytes: 64 << 10,
            block_span_s: 1.0,
            max_line_bytes: 16 << 10,
            max_services: 1024,
            before_s: 90.0,
            after_s: 30.0,
            sample_rate: 0.01,
            seed: 0,
            spike_window_s: 30,
            spike_factor: 2.0,
            spike_min_errors: 5,
            spike_min_z: 4.0,
            spike_baseline_floor: 0.01,
            spike_half_life_s: 600.0,
            spike_warmup_s: 30,
            latency_factor: 2.0,
            latency_min_hits: 20,
            latency_baseline_buckets: 30,
            latency_warmup_buckets: 6,
            restart_window_s: 60.0,
            restart_min_uptime_s: 60.0,
            rank: false,
            keep_fraction: 0.9,
            services: Vec::new(),
        }
    }
}

impl ArchivistConfig {
    pub fn from_toml(text: &str) -> Result<Self, ArchivistError> {
        let cfg: ArchivistConfig =
            toml::from_str(text).map_err(|e| ArchivistError::Config(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Refuses values that would make the ring or the triggers meaningless.
    pub fn validate(&self) -> Result<(), ArchivistError> {
        let bad = |key: &str, why: &str| Err(ArchivistError::Config(format!("{key}: {why}")));
        let secs = [
            ("retention_s", self.retention_s),
            ("block_span_s", self.block_span_s),
            ("before_s", self.before_s),
            ("after_s", self.after_s),
            ("spike_half_life_s", self.spike_half_life_s),
            ("restart_window_s", self.restart_window_s),
            ("restart_min_uptime_s", self.restart_min_uptime_s),
        ];
        for (key, v) in secs {
            if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
                return bad(key, "must be between 0 and 86400 seconds");
            }
        }
        if self.block_span_s == 0.0 || self.spike_half_life_s == 0.0 {
            return bad("block_span_s/spike_half_life_s", "must be positive");
        }
        if self.before_s > self.retention_s {
            return bad(
                "before_s",
                "cannot exceed retention_s (those lines are gone)",
            );
        }
        for (key, v) in [
            ("sample_rate", self.sample_rate),
            ("keep_fraction", self.keep_fraction),
            ("spike_baseline_floor", self.spike_baseline_floor),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(key, "must be within [0, 1]");
            }
        }
        if !self.spike_min_z.is_finite() || !(0.0..=100.0).contains(&self.spike_min_z) {
            return bad("spike_min_z", "must be within [0, 100]");
        }
        if !self.spike_factor.is_finite() || self.spike_factor < 1.0 {
            return bad("spike_factor", "must be at least 1");
        }
        if self.spike_window_s == 0 || self.spike_window_s > 3600 {
            return bad("spike_window_s", "must be 1..=3600");
        }
        if !self.latency_factor.is_finite() || self.latency_factor < 1.0 {
            return bad("latency_factor", "must be at least 1");
        }
        if !(1..=1000).contains(&self.latency_baseline_buckets)
            || self.latency_warmup_buckets > self.latency_baseline_buckets
        {
            return bad(
                "latency_baseline_buckets/latency_warmup_buckets",
                "need 1..=1000 buckets, warm-up at most the baseline",
            );
        }
        if self.spike_warmup_s > 86_400 {
            return bad("spike_warmup_s", "must be at most 86400");
        }
        if !(1024..=64 << 20).contains(&self.block_bytes) {
            return bad("block_bytes", "must be 1 KiB..=64 MiB");
        }
        if self.max_line_bytes == 0 || self.max_line_bytes > self.block_bytes {
            return bad("max_line_bytes", "must be 1..=block_bytes");
        }
        if self.memory_cap_bytes < 4 * self.block_bytes {
            return bad("memory_cap_bytes", "must hold at least 4 blocks");
        }
        if self.max_services == 0 {
            return bad("max_services", "must be positive");
        }
        if let Some(r) = self.services.iter().find(|r| r.name.is_empty()) {
            return bad("services", &format!("a rule has an empty name ({r:?})"));
        }
        Ok(())
    }
}

/// `*` any run of characters, `?` one; a pattern without either is a prefix.
pub fn matches(pattern: &str, s: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return s.starts_with(pattern);
    }
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == '?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_bad_values_are_refused() {
        assert_eq!(
            ArchivistConfig::from_toml("").ok(),
            Some(ArchivistConfig::default())
        );
        let cfg = ArchivistConfig::from_toml(
            "sample_rate = 0.05\n[[services]]\nname = \"orders\"\nsources = [\"/var/log/orders/*\"]\n",
        );
        assert!(cfg.is_ok_and(|c| c.sample_rate == 0.05 && c.services.len() == 1));
        for bad in [
            "sample_rate = 2.0",
            "before_s = 500.0",
            "retention_s = -1.0",
            "memory_cap_bytes = 10",
            "max_line_bytes = 0",
            "spike_factor = 0.5",
            "latency_factor = 0.9",
            "latency_warmup_buckets = 40",
            "nonsense = 1",
            "retention_s = \"x\"",
        ] {
            assert!(ArchivistConfig::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs_and_prefixes() {
        assert!(matches("/var/log/orders/", "/var/log/orders/app.log"));
        assert!(matches("/var/log/*/app.log", "/var/log/x/app.log"));
        assert!(matches("*.log", "/a/b.log"));
        assert!(matches("/a/?.log", "/a/b.log"));
        assert!(!matches("/a/?.log", "/a/bc.log"));
        assert!(!matches("*.log", "/a/b.txt"));
        assert!(matches("*", ""));
    }
}

//! `[equalizer]`: when a connection counts as toxic, and how it is ended.

use std::time::Duration;

use serde::Deserialize;

use crate::policy::duration;
use crate::safety::EndMethod;

/// How a toxic connection is ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndChoice {
    /// The backend for one-process-per-connection servers (PostgreSQL), the socket
    /// otherwise.
    Auto,
    SockDestroy,
    TerminateBackend,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EqualizerConfig {
    /// Off by default: the spec's production gate for a gadget that ends connections.
    pub enabled: bool,
    /// The isolation forest's anomaly score a connection needs (the paper's scale,
    /// s > 0.5 anomalous; 0.6 is the trained operating point).
    pub min_score: f64,
    /// A runaway statement's CPU: cores of its owner per connection.
    pub min_owner_cpu: f64,
    /// How long a statement runs without progress, burning `min_owner_cpu`, before it
    /// is toxic (the rule's hold-down comes on top).
    #[serde(deserialize_with = "duration")]
    pub min_runtime: Duration,
    /// A stall: at least this many connections of a service waiting on unanswered
    /// requests, for at least `stall_for`, and at least half of its recently active ones.
    pub min_waiting: usize,
    #[serde(deserialize_with = "duration")]
    pub stall_for: Duration,
    /// A stall's culprit (a lock holder) fell silent at most this long before the first
    /// waiter, with its own last request answered.
    #[serde(deserialize_with = "duration")]
    pub stall_lead: Duration,
    /// Requests to these paths are never ended (`*` at the end: any path under it).
    pub protected_paths: Vec<String>,
    /// When the connection's last request method is known, only these may be ended.
    pub safe_methods: Vec<String>,
    pub end: EndChoice,
}

impl Default for EqualizerConfig {
    fn default() -> Self {
        EqualizerConfig {
            enabled: false,
            min_score: 0.6,
            min_owner_cpu: 0.25,
            min_runtime: Duration::from_secs(20),
            min_waiting: 3,
            stall_for: Duration::from_secs(5),
            stall_lead: Duration::from_secs(5),
            protected_paths: ["/health", "/metrics", "/admin/*"]
                .map(String::from)
                .to_vec(),
            safe_methods: ["GET", "HEAD", "OPTIONS"].map(String::from).to_vec(),
            end: EndChoice::Auto,
        }
    }
}

impl EqualizerConfig {
    pub fn validate(&self) -> Result<(), String> {
        let err = |what: String| Err(format!("equalizer.{what}"));
        if !(0.0..=1.0).contains(&self.min_score) {
            return err(format!("min_score {} is outside [0, 1]", self.min_score));
        }
        if !(self.min_owner_cpu.is_finite() && self.min_owner_cpu >= 0.0) {
            return err(format!("min_owner_cpu {} is not >= 0", self.min_owner_cpu));
        }
        if self.min_waiting < 2 {
            return err(format!(
                "min_waiting {} is below 2 (one waiting connection is no stall)",
                self.min_waiting
            ));
        }
        if let Some(p) = self.protected_paths.iter().find(|p| !p.starts_with('/')) {
            return err(format!("protected_paths: {p:?} does not start with '/'"));
        }
        Ok(())
    }

    /// Whether a request to `path` is one the Equalizer must never end.
    pub fn protects_path(&self, path: &str) -> bool {
        self.protected_paths
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => {
                    path == p
                        || path
                            .strip_prefix(p.as_str())
                            .is_some_and(|r| r.starts_with('?'))
                }
            })
    }

    /// Whether a request with this method may be ended (always when it is unknown).
    pub fn allows_method(&self, method: Option<&str>) -> bool {
        method.is_none_or(|m| self.safe_methods.iter().any(|s| s.eq_ignore_ascii_case(m)))
    }

    /// The method for a connection whose owner is (or is not) a process serving only
    /// this connection, forked by the listener.
    pub fn method(&self, process_per_connection: bool) -> EndMethod {
        match self.end {
            EndChoice::SockDestroy => EndMethod::SockDestroy,
            EndChoice::TerminateBackend => EndMethod::TerminateBackend,
            EndChoice::Auto if process_per_connection => EndMethod::TerminateBackend,
            EndChoice::Auto => EndMethod::SockDestroy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_follow_the_spec() {
        let c = EqualizerConfig::default();
        for p in [
            "/health",
            "/health?full=1",
            "/metrics",
            "/admin/",
            "/admin/users/7",
        ] {
            assert!(c.protects_path(p), "{p}");
        }
        for p in ["/healthz", "/api/users", "/metricsfoo", "/"] {
            assert!(!c.protects_path(p), "{p}");
        }
        assert!(c.allows_method(None));
        assert!(c.allows_method(Some("get")) && c.allows_method(Some("HEAD")));
        assert!(!c.allows_method(Some("POST")) && !c.allows_method(Some("DELETE")));
    }

    #[test]
    fn methods_and_bad_values() {
        let mut c = EqualizerConfig::default();
        assert_eq!(c.method(true), EndMethod::TerminateBackend);
        assert_eq!(c.method(false), EndMethod::SockDestroy);
        c.end = EndChoice::SockDestroy;
        assert_eq!(c.method(true), EndMethod::SockDestroy);
        for (bad, needle) in [
            (
                EqualizerConfig {
                    min_score: 1.5,
                    ..EqualizerConfig::default()
                },
                "min_score",
            ),
            (
                EqualizerConfig {
                    min_waiting: 1,
                    ..EqualizerConfig::default()
                },
                "min_waiting",
            ),
            (
                EqualizerConfig {
                    protected_paths: vec!["health".into()],
                    ..EqualizerConfig::default()
                },
                "health",
            ),
        ] {
            let e = bad.validate().unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }
}

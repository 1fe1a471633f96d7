//! `[traces]`: the opt-in OTLP/HTTP span intake. Spans become the `traces` and
//! `requests` tables of each frame (closed 10 s buckets, latest request per client
//! endpoint) before the engine runs, so the Equalizer and the Archivist see them.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[traces]` in the config file. Present means on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesSection {
    /// Where OTLP exporters send `POST /v1/traces` (the OTLP/HTTP port, on loopback).
    pub listen: String,
    /// Allow a non-loopback `listen` (spans are unauthenticated: anyone who can reach
    /// the port can feed the gadgets latency).
    pub allow_remote: bool,
    /// Largest request body (413 above).
    pub max_body_bytes: usize,
    /// Decoded spans waiting for the next tick (503 above, which exporters retry).
    pub max_queued_spans: usize,
}

impl Default for TracesSection {
    fn default() -> Self {
        let d = qb_traces::IntakeConfig::default();
        TracesSection {
            listen: qb_traces::intake::DEFAULT_LISTEN.to_string(),
            allow_remote: false,
            max_body_bytes: d.max_body,
            max_queued_spans: d.max_queued_spans,
        }
    }
}

impl TracesSection {
    /// The intake's config; refuses a bad address, a non-loopback one unless allowed,
    /// and zero limits.
    pub fn intake(&self) -> Result<qb_traces::IntakeConfig, String> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            format!(
                "listen: {:?} is not an address like 127.0.0.1:4318",
                self.listen
            )
        })?;
        let config = qb_traces::IntakeConfig {
            listen,
            allow_remote: self.allow_remote,
            max_body: self.max_body_bytes,
            max_queued_spans: self.max_queued_spans,
            ..qb_traces::IntakeConfig::default()
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<qb_traces::IntakeConfig, String> {
        let s: TracesSection = toml::from_str(text).map_err(|e| e.to_string())?;
        s.intake()
    }

    #[test]
    fn loopback_by_default_and_remote_only_when_allowed() {
        let c = parse("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:4318");
        assert_eq!(c.max_body, 4 << 20);
        assert!(parse("listen = \"[::1]:4318\"").is_ok());
        let e = parse("listen = \"0.0.0.0:4318\"").unwrap_err();
        assert!(e.contains("not loopback"), "{e}");
        assert!(parse("listen = \"0.0.0.0:4318\"\nallow_remote = true").is_ok());
        assert!(
            parse("listen = \"somewhere\"")
                .unwrap_err()
                .contains("listen")
        );
        assert!(parse("max_body_bytes = 0").is_err());
        assert!(parse("listn = \"x\"").unwrap_err().contains("listn"));
    }
}

//! The guard's policy: who may never be touched, where actions may land, how often.
//!
//! Read from TOML (`Policy::from_toml`); every key is optional and the defaults are the safe
//! ones. An unknown key is refused by name, so a typo (`deny_comm` for `deny_comms`) cannot
//! silently leave a protection unset. Configured critical names add to the built-in list;
//! they never replace it.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::safety::CooldownClass;

/// Processes that are never a target, whatever the configuration says. Compared against
/// `comm`, which the kernel truncates to 15 bytes (`systemd-journald` is `systemd-journal`),
/// so each name is truncated the same way before comparing.
pub const BUILTIN_CRITICAL: &[&str] = &[
    "init",
    "systemd",
    "systemd-journald",
    "systemd-udevd",
    "systemd-logind",
    "systemd-networkd",
    "systemd-resolved",
    "systemd-timesyncd",
    "systemd-oomd",
    "journald",
    "udevd",
    "dbus-daemon",
    "dbus-broker",
    "containerd",
    "containerd-shim",
    "dockerd",
    "runc",
    "crio",
    "conmon",
    "kubelet",
    "kube-proxy",
    "sshd",
    "auditd",
    "rsyslogd",
    "chronyd",
    "agetty",
    "login",
    "kthreadd",
    "qbranch",
];

/// Cgroups never targeted, in addition to `Policy::deny_cgroups`: PID 1's own under systemd.
pub const BUILTIN_DENY_CGROUPS: &[&str] = &["/init.scope"];

/// The kernel's limit on `comm` (TASK_COMM_LEN - 1).
pub const COMM_LEN: usize = 15;

/// A name as it appears in `comm`: at most 15 bytes, cut on a char boundary.
pub fn comm_name(name: &str) -> &str {
    if name.len() <= COMM_LEN {
        return name;
    }
    let mut end = COMM_LEN;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Whether `path` is `prefix` or lies below it, by whole path components
/// (`/a/b` is under `/a` but `/a/bc` is not).
pub fn cgroup_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true; // "/" is the whole host
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// This daemon's own pid and its parent's: filled at start from the running process,
/// never configured (a `daemon` key in TOML is refused as unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonIds {
    pub pid: u32,
    pub ppid: u32,
}

impl DaemonIds {
    pub fn current() -> Self {
        DaemonIds {
            pid: std::process::id(),
            ppid: std::os::unix::process::parent_id(),
        }
    }
}

impl Default for DaemonIds {
    fn default() -> Self {
        DaemonIds::current()
    }
}

/// Minimum time between two authorised actions of one class in one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cooldowns {
    /// Host-wide. The Oracle's spec: at most one cache drop per 5 minutes.
    #[serde(deserialize_with = "duration")]
    pub drop_caches: Duration,
    /// Per cgroup (a GC trigger or similar signal to a runtime).
    #[serde(deserialize_with = "duration")]
    pub runtime_hook: Duration,
    /// Per cgroup. The Oracle's spec: at most one restart per 10 minutes.
    #[serde(deserialize_with = "duration")]
    pub restart: Duration,
    /// Per cgroup, so a respawned process with a new pid does not reset it.
    #[serde(deserialize_with = "duration")]
    pub kill: Duration,
    /// Per cgroup (the spec's "one adjustment per parameter per 5 minutes").
    #[serde(deserialize_with = "duration")]
    pub throttle_cgroup: Duration,
    /// Per cgroup, the service. The spec: at most one termination per minute per service.
    #[serde(deserialize_with = "duration")]
    pub end_connection: Duration,
}

impl Default for Cooldowns {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(60 * m);
        Cooldowns {
            drop_caches: min(5),
            runtime_hook: min(2),
            restart: min(10),
            kill: min(10),
            throttle_cgroup: min(5),
            end_connection: min(1),
        }
    }
}

impl Cooldowns {
    pub fn of(&self, class: CooldownClass) -> Duration {
        match class {
            CooldownClass::DropCaches => self.drop_caches,
            CooldownClass::RuntimeHook => self.runtime_hook,
            CooldownClass::Restart => self.restart,
            CooldownClass::Kill => self.kill,
            CooldownClass::ThrottleCgroup => self.throttle_cgroup,
            CooldownClass::EndConnection => self.end_connection,
        }
    }

    /// In nanoseconds, saturating (a configured century is still "never again").
    pub fn of_ns(&self, class: CooldownClass) -> i64 {
        i64::try_from(self.of(class).as_nanos()).unwrap_or(i64::MAX)
    }
}

pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("bad duration {text:?}: {e}")))
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// While this file exists, nothing is authorised. A missing directory is "not paused".
    pub pause_file: PathBuf,
    /// Comm names never targeted, in addition to `BUILTIN_CRITICAL`.
    pub critical_comms: Vec<String>,
    /// Cgroup prefixes actions may land in; empty means the whole host.
    pub allow_cgroups: Vec<String>,
    /// Comm names never targeted (operator's list, refused after the built-in rules).
    pub deny_comms: Vec<String>,
    /// Cgroup prefixes never targeted, in addition to `BUILTIN_DENY_CGROUPS`.
    pub deny_cgroups: Vec<String>,
    pub cooldown: Cooldowns,
    #[serde(skip)]
    pub daemon: DaemonIds,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pause_file: PathBuf::from("/run/qbranch/pause"),
            critical_comms: Vec::new(),
            allow_cgroups: Vec::new(),
            deny_comms: Vec::new(),
            deny_cgroups: Vec::new(),
            cooldown: Cooldowns::default(),
            daemon: DaemonIds::current(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("safety policy: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("safety policy: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Policy {
    /// Parses a policy; the daemon ids are those of the running process.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text)?;
        policy.validate()?;
        Ok(policy)
    }

    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        let lists = [
            ("allow_cgroups", &self.allow_cgroups),
            ("deny_cgroups", &self.deny_cgroups),
        ];
        for (field, list) in lists {
            if let Some(bad) = list.iter().find(|p| !p.starts_with('/')) {
                return Err(PolicyError::Invalid {
                    field,
                    reason: format!("{bad:?} is not an absolute cgroup path"),
                });
            }
        }
        if self.pause_file.as_os_str().is_empty() {
            return Err(PolicyError::Invalid {
                field: "pause_file",
                reason: "empty path".to_string(),
            });
        }
        Ok(())
    }

    /// The first built-in or configured deny prefix `cgroup` lies under.
    pub fn denied_cgroup(&self, cgroup: &str) -> Option<&str> {
        let configured = self.deny_cgroups.iter().map(String::as_str);
        BUILTIN_DENY_CGROUPS
            .iter()
            .copied()
            .chain(configured)
            .find(|prefix| cgroup_under(cgroup, prefix))
    }

    /// Whether `comm` is built-in or configured critical.
    pub fn is_critical(&self, comm: &str) -> bool {
        let configured = self.critical_comms.iter().map(String::as_str);
        BUILTIN_CRITICAL
            .iter()
            .copied()
            .chain(configured)
            .any(|name| comm_name(name) == comm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_specs() {
        let p = Policy::from_toml("").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.pause_file, PathBuf::from("/run/qbranch/pause"));
        assert_eq!(p.cooldown.drop_caches, Duration::from_secs(300));
        assert_eq!(p.cooldown.restart, Duration::from_secs(600));
        assert_eq!(p.cooldown.kill, Duration::from_secs(600));
        assert_eq!(p.cooldown.runtime_hook, Duration::from_secs(120));
        assert_eq!(p.cooldown.end_connection, Duration::from_secs(60));
        assert!(p.allow_cgroups.is_empty());
        assert_eq!(p.daemon, DaemonIds::current());
    }

    #[test]
    fn parses_a_full_policy() {
        let p = Policy::from_toml(
            r#"
            pause_file = "/tmp/pause"
            critical_comms = ["myagent"]
            allow_cgroups = ["/system.slice/app.service"]
            deny_comms = ["postgres"]
            deny_cgroups = ["/system.slice/db.service"]
            [cooldown]
            kill = "30m"
            end_connection = "90s"
            "#,
        )
        .unwrap();
        assert_eq!(p.pause_file, PathBuf::from("/tmp/pause"));
        assert!(p.is_critical("myagent") && p.is_critical("systemd"));
        assert_eq!(p.cooldown.kill, Duration::from_secs(1800));
        assert_eq!(p.cooldown.end_connection, Duration::from_secs(90));
        assert_eq!(
            p.cooldown.restart,
            Duration::from_secs(600),
            "unset keeps default"
        );
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = Policy::from_toml("deny_comm = [\"x\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("deny_comm"), "{e}");
        let e = Policy::from_toml("[cooldown]\nrestrat = \"1m\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("restrat"), "{e}");
        let e = Policy::from_toml("[daemon]\npid = 7")
            .unwrap_err()
            .to_string();
        assert!(e.contains("daemon"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        let e = Policy::from_toml("[cooldown]\nkill = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("soon"), "{e}");
        let e = Policy::from_toml("allow_cgroups = [\"app.slice\"]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("allow_cgroups") && e.contains("app.slice"),
            "{e}"
        );
    }

    #[test]
    fn comm_truncation_and_cgroup_prefixes() {
        assert_eq!(comm_name("systemd-journald"), "systemd-journal");
        assert!(Policy::default().is_critical("systemd-journal"));
        assert!(Policy::default().is_critical("containerd-shim"));
        assert!(cgroup_under("/a/b", "/a"));
        assert!(cgroup_under("/a", "/a/"));
        assert!(!cgroup_under("/a/bc", "/a/b"));
        assert!(cgroup_under("/anything", "/"));
    }
}

//! The guard every action passes before it may touch the host.
//!
//! # One path for every mode
//!
//! `Guard::authorise(action, target, now_ns, mode)` is the only entry the executor uses:
//!
//! - **Enforce**: check; if it passes, record it (cooldowns start) and the executor acts.
//! - **DryRun**: the very same check and the very same record; the executor only skips
//!   the side effect. So cooldowns, and hence every later verdict, are identical to
//!   Enforce: a dry run shows exactly what Enforce would have done.
//! - **Observe**: the check is evaluated for the report, nothing is recorded, nothing acts.
//!
//! # Order of the rules
//!
//! 1. the pause file: the operator's brake overrides everything, and is named first;
//! 2. pid 0 and pid 1; 3. kernel threads (the `kernel_thread` flag, pid 2, ppid 2);
//! 4. this daemon and its parent; 5. critical names (built-in and configured);
//! 6. `oom_score_adj == -1000` (an operator's "never kill"); 7. a target without a
//!    known cgroup (the cgroup rules below cannot be judged: refused);
//! 8. the deny list (names, then cgroup prefixes); 9. the allow-list scope;
//! 10. the cooldown.
//!
//! Identity rules come before configurable ones, so a refusal names the most fundamental
//! reason (pid 1 is refused as pid 1, even if it is also called `systemd`), and the
//! cooldown comes last, so a protected target is never reported as merely "too soon".
//! Host-wide actions (dropping caches) touch no process: for them only the pause file,
//! the scope (they need the whole host in scope, i.e. an empty allow-list) and the
//! cooldown apply.
//!
//! # Cooldown scopes
//!
//! Cache drops are host-wide; every other action is keyed by its class and the target's
//! cgroup (the "service"), so a restarted process with a new pid does not reset the
//! cooldown. A runtime hook's signal number does not split its cooldown.
//!
//! Time comes only from the caller (`now_ns`, a frame's `ts_ns`), so replays in virtual
//! time behave exactly like the live daemon.

use std::collections::HashMap;

use qb_signals::ProcessRow;
use serde::{Deserialize, Serialize};

use crate::pause::{PauseFile, PauseSwitch};
use crate::policy::{Policy, cgroup_under, comm_name};

/// What an action does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionKind {
    /// `echo 1 > /proc/sys/vm/drop_caches`: host-wide.
    DropCaches,
    /// A signal a runtime understands (a GC trigger, a heap dump).
    RuntimeHook { signal: i32 },
    /// SIGTERM, then SIGKILL after a grace period, for the supervisor to restart.
    Restart,
    /// SIGKILL.
    Kill,
    /// Lower the target cgroup's limits (cpu.max, io.max).
    ThrottleCgroup,
    /// Close one of the target's TCP connections.
    EndConnection,
}

/// The cooldown an action falls under (an `ActionKind` without its parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CooldownClass {
    DropCaches,
    RuntimeHook,
    Restart,
    Kill,
    ThrottleCgroup,
    EndConnection,
}

impl ActionKind {
    pub fn class(self) -> CooldownClass {
        match self {
            ActionKind::DropCaches => CooldownClass::DropCaches,
            ActionKind::RuntimeHook { .. } => CooldownClass::RuntimeHook,
            ActionKind::Restart => CooldownClass::Restart,
            ActionKind::Kill => CooldownClass::Kill,
            ActionKind::ThrottleCgroup => CooldownClass::ThrottleCgroup,
            ActionKind::EndConnection => CooldownClass::EndConnection,
        }
    }

    /// Host-wide actions touch no process, so the process rules do not apply to them.
    pub fn is_host_wide(self) -> bool {
        matches!(self, ActionKind::DropCaches)
    }
}

/// Where a cooldown holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Host,
    Cgroup(String),
    /// A listening address (`addr:port`): the spec's "one termination per minute per
    /// service", whichever backend or cgroup serves each connection.
    Service(String),
}

impl Scope {
    pub fn of(action: ActionKind, target: &Target) -> Scope {
        match (&target.connection, action) {
            _ if action.is_host_wide() => Scope::Host,
            (Some(c), ActionKind::EndConnection) => Scope::Service(c.service()),
            _ => Scope::Cgroup(target.cgroup.clone()),
        }
    }
}

/// How a connection is ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndMethod {
    /// `SOCK_DESTROY` through sock_diag: the kernel resets the socket; the process
    /// sees an error on its next call and carries on serving the others.
    SockDestroy,
    /// SIGTERM to the connection's own server process (one process per connection,
    /// as PostgreSQL's backends: `pg_terminate_backend` sends exactly this).
    TerminateBackend,
}

/// The TCP connection an `EndConnection` lands on: the server's side of it, with the
/// socket inode the frame saw, so a reused 4-tuple is never hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnTarget {
    pub local_addr: String,
    pub local_port: u16,
    pub remote_addr: String,
    pub remote_port: u16,
    pub inode: u64,
    pub method: EndMethod,
}

impl ConnTarget {
    /// `addr:port` of the listening side: the cooldown's scope.
    pub fn service(&self) -> String {
        format!("{}:{}", self.local_addr, self.local_port)
    }

    /// `conn:<local>:<port>-<remote>:<port>`, as features and labels name connections.
    pub fn name(&self) -> String {
        format!(
            "conn:{}:{}-{}:{}",
            self.local_addr, self.local_port, self.remote_addr, self.remote_port
        )
    }
}

/// The process an action would land on, as a frame describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    /// Memory cgroup path (v2, or the v1 memory controller's); empty when unknown.
    pub cgroup: String,
    /// None when not known; a target built from a frame always has it.
    pub oom_score_adj: Option<i32>,
    pub kernel_thread: bool,
    pub start_time_ns: i64,
    /// For `EndConnection`: which of the process's connections, and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnTarget>,
}

impl Target {
    /// From a frame's process row. `kernel_thread` is the row's PF_KTHREAD flag, or a
    /// `cmdline_hash` of 0 (the recorder's value for kernel threads and for a command
    /// line it could not read): an unreadable process is treated as untouchable. pid 2 and
    /// ppid 2 are checked by the guard itself. The recorder stores an unreadable
    /// `oom_score_adj` as 0, so -1000 is only ever missed, never invented.
    pub fn from_process(row: &ProcessRow) -> Target {
        Target {
            pid: row.pid,
            ppid: row.ppid,
            comm: row.comm.clone(),
            cgroup: row.cgroup.clone(),
            oom_score_adj: Some(row.oom_score_adj),
            kernel_thread: row.kernel_thread || row.cmdline_hash == 0,
            start_time_ns: row.start_time_ns,
            connection: None,
        }
    }

    /// The target of a host-wide action: no process (pid 0), the root cgroup.
    pub fn host() -> Target {
        Target {
            pid: 0,
            ppid: 0,
            comm: String::new(),
            cgroup: "/".to_string(),
            oom_score_adj: None,
            kernel_thread: false,
            start_time_ns: 0,
            connection: None,
        }
    }
}

/// Why the guard said no, with the rule and the value that triggered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Refusal {
    #[error("paused: {evidence}")]
    Paused { evidence: String },
    #[error("pid {pid} is the kernel's or init")]
    HostPid { pid: u32 },
    #[error("pid {pid} ({comm}) is a kernel thread: {basis}")]
    KernelThread {
        pid: u32,
        ppid: u32,
        comm: String,
        basis: &'static str,
    },
    #[error("pid {pid} is this daemon")]
    Daemon { pid: u32 },
    #[error("pid {pid} ({comm}) is this daemon's parent")]
    DaemonParent { pid: u32, comm: String },
    #[error("pid {pid} ({comm}) is a critical process")]
    CriticalName { pid: u32, comm: String },
    #[error("pid {pid} ({comm}) has oom_score_adj {oom_score_adj}: never kill")]
    OomNeverKill {
        pid: u32,
        comm: String,
        oom_score_adj: i32,
    },
    #[error("pid {pid} ({comm}) has no known cgroup ({cgroup:?})")]
    UnknownCgroup {
        pid: u32,
        comm: String,
        cgroup: String,
    },
    #[error("pid {pid} ({comm}) is on the deny list")]
    DeniedName { pid: u32, comm: String },
    #[error("cgroup {cgroup} is under denied {prefix}")]
    DeniedCgroup { cgroup: String, prefix: String },
    #[error("cgroup {cgroup} is outside the allowed scope {allowed:?}")]
    OutsideScope {
        cgroup: String,
        allowed: Vec<String>,
    },
    #[error(
        "{class:?} in {scope:?} is cooling down: last at {last_ns}, now {now_ns}, cooldown {cooldown_ns} ns"
    )]
    Cooldown {
        class: CooldownClass,
        scope: Scope,
        last_ns: i64,
        now_ns: i64,
        cooldown_ns: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Observe,
    #[serde(alias = "dry-run")]
    DryRun,
    Enforce,
}

/// The guard's answer under a mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub mode: Mode,
    /// None when every rule passed.
    pub refusal: Option<Refusal>,
}

impl Mode {
    /// As configs and JSON lines spell it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Observe => "observe",
            Mode::DryRun => "dry_run",
            Mode::Enforce => "enforce",
        }
    }
}

impl Refusal {
    /// The rule that refused, as it serialises (`cooldown`, `outside_scope`, ...).
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::Paused { .. } => "paused",
            Refusal::HostPid { .. } => "host_pid",
            Refusal::KernelThread { .. } => "kernel_thread",
            Refusal::Daemon { .. } => "daemon",
            Refusal::DaemonParent { .. } => "daemon_parent",
            Refusal::CriticalName { .. } => "critical_name",
            Refusal::OomNeverKill { .. } => "oom_never_kill",
            Refusal::UnknownCgroup { .. } => "unknown_cgroup",
            Refusal::DeniedName { .. } => "denied_name",
            Refusal::DeniedCgroup { .. } => "denied_cgroup",
            Refusal::OutsideScope { .. } => "outside_scope",
            Refusal::Cooldown { .. } => "cooldown",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "observe" => Ok(Mode::Observe),
            "dry-run" | "dry_run" => Ok(Mode::DryRun),
            "enforce" => Ok(Mode::Enforce),
            _ => Err(format!("unknown mode {s:?} (observe, dry-run, enforce)")),
        }
    }
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.refusal.is_none()
    }

    /// Whether the executor performs the side effect: Enforce and passed.
    pub fn may_act(&self) -> bool {
        self.mode == Mode::Enforce && self.passed()
    }

    /// Whether the action was recorded (its cooldown started): DryRun or Enforce, passed.
    pub fn recorded(&self) -> bool {
        self.mode != Mode::Observe && self.passed()
    }
}

#[derive(Debug)]
pub struct Guard<P = PauseFile> {
    policy: Policy,
    pause: P,
    /// Last authorised action per cooldown class and scope.
    last: HashMap<(CooldownClass, Scope), i64>,
}

impl Guard<PauseFile> {
    /// A guard watching the policy's pause file.
    pub fn new(policy: Policy) -> Self {
        let pause = PauseFile::new(policy.pause_file.clone());
        Guard::with_pause(policy, pause)
    }
}

impl<P: PauseSwitch> Guard<P> {
    pub fn with_pause(policy: Policy, pause: P) -> Self {
        Guard {
            policy,
            pause,
            last: HashMap::new(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A new policy (a reload); the cooldown history is kept, so a reload never permits
    /// an action the old guard would have refused as too soon.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// The pause switch alone: why everything is stopped, if it is.
    pub fn paused(&self) -> Option<String> {
        self.pause.paused()
    }

    /// The single entry for the executor; see the module doc for the modes.
    pub fn authorise(
        &mut self,
        action: ActionKind,
        target: &Target,
        now_ns: i64,
        mode: Mode,
    ) -> Verdict {
        let refusal = self.check(action, target, now_ns).err();
        if refusal.is_none() && mode != Mode::Observe {
            self.record(action, target, now_ns);
        }
        Verdict { mode, refusal }
    }

    /// Every rule, in the documented order; reads nothing but the pause switch.
    pub fn check(&self, action: ActionKind, target: &Target, now_ns: i64) -> Result<(), Refusal> {
        if let Some(evidence) = self.pause.paused() {
            return Err(Refusal::Paused { evidence });
        }
        self.policy.screen(action, target)?;
        self.check_cooldown(action, target, now_ns)
    }

    /// Starts the cooldown of `action` in the target's scope. `authorise` calls it; call
    /// it directly only for an action taken outside `authorise`.
    pub fn record(&mut self, action: ActionKind, target: &Target, now_ns: i64) {
        let last = self
            .last
            .entry((action.class(), Scope::of(action, target)))
            .or_insert(now_ns);
        *last = (*last).max(now_ns);
        // Forget what can no longer refuse anything, so the map stays as small as the
        // set of recently acted-on cgroups.
        let cooldown = self.policy.cooldown;
        self.last
            .retain(|(class, _), last| now_ns.saturating_sub(*last) < cooldown.of_ns(*class));
    }

    /// When the last authorised action of this class in this target's scope was.
    pub fn last_action_ns(&self, action: ActionKind, target: &Target) -> Option<i64> {
        self.last
            .get(&(action.class(), Scope::of(action, target)))
            .copied()
    }

    fn check_cooldown(&self, action: ActionKind, t: &Target, now_ns: i64) -> Result<(), Refusal> {
        let class = action.class();
        let scope = Scope::of(action, t);
        let Some(&last_ns) = self.last.get(&(class, scope.clone())) else {
            return Ok(());
        };
        let cooldown_ns = self.policy.cooldown.of_ns(class);
        // Time that went backwards (a replay restarted) counts as "too soon".
        if now_ns.saturating_sub(last_ns) < cooldown_ns {
            return Err(Refusal::Cooldown {
                class,
                scope,
                last_ns,
                now_ns,
                cooldown_ns,
            });
        }
        Ok(())
    }
}

impl Policy {
    /// Every rule but the pause switch and the cooldowns: whether `action` may ever land
    /// on `target`. Gadgets use it to pick a victim the guard will not refuse.
    pub fn screen(&self, action: ActionKind, target: &Target) -> Result<(), Refusal> {
        if !action.is_host_wide() {
            self.check_process(target)?;
        }
        self.check_scope(action, target)
    }

    fn check_process(&self, t: &Target) -> Result<(), Refusal> {
        let (pid, comm) = (t.pid, || t.comm.clone());
        if pid <= 1 {
            return Err(Refusal::HostPid { pid });
        }
        let basis = if pid == 2 {
            Some("pid 2 (kthreadd)")
        } else if t.ppid == 2 {
            Some("ppid 2 (a child of kthreadd)")
        } else if t.kernel_thread {
            Some("kernel_thread flag (PF_KTHREAD, or no readable command line)")
        } else {
            None
        };
        if let Some(basis) = basis {
            return Err(Refusal::KernelThread {
                pid,
                ppid: t.ppid,
                comm: comm(),
                basis,
            });
        }
        if pid == self.daemon.pid {
            return Err(Refusal::Daemon { pid });
        }
        if pid == self.daemon.ppid {
            return Err(Refusal::DaemonParent { pid, comm: comm() });
        }
        if self.is_critical(&t.comm) {
            return Err(Refusal::CriticalName { pid, comm: comm() });
        }
        if let Some(adj @ -1000) = t.oom_score_adj {
            return Err(Refusal::OomNeverKill {
                pid,
                comm: comm(),
                oom_score_adj: adj,
            });
        }
        if !t.cgroup.starts_with('/') {
            return Err(Refusal::UnknownCgroup {
                pid,
                comm: comm(),
                cgroup: t.cgroup.clone(),
            });
        }
        if self.deny_comms.iter().any(|n| comm_name(n) == t.comm) {
            return Err(Refusal::DeniedName { pid, comm: comm() });
        }
        if let Some(prefix) = self.denied_cgroup(&t.cgroup) {
            return Err(Refusal::DeniedCgroup {
                cgroup: t.cgroup.clone(),
                prefix: prefix.to_string(),
            });
        }
        Ok(())
    }

    fn check_scope(&self, action: ActionKind, t: &Target) -> Result<(), Refusal> {
        let allowed = &self.allow_cgroups;
        // A host-wide action affects every cgroup: only a whole-host scope allows it.
        let cgroup = if action.is_host_wide() {
            "/"
        } else {
            t.cgroup.as_str()
        };
        if allowed.is_empty() || allowed.iter().any(|p| cgroup_under(cgroup, p)) {
            return Ok(());
        }
        Err(Refusal::OutsideScope {
            cgroup: cgroup.to_string(),
            allowed: allowed.clone(),
        })
    }
}

//! The executor: every action passes the guard, then the actuator, in every mode.
//!
//! Observe, DryRun and Enforce walk the same code: the guard's verdict, the stack
//! snapshot (read-only evidence), the restart's SIGTERM-then-SIGKILL escalation with
//! its grace period. Only the actuator's side effect is skipped outside Enforce, so a
//! dry run's incidents (and its cooldowns) are exactly what Enforce would have done.

use serde::Serialize;

use crate::pause::{PauseFile, PauseSwitch};
use crate::safety::{ActionKind, Guard, Mode, Refusal, Target};

/// A process's stacks, saved with an incident before it is acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackSnapshot {
    /// `/proc/PID/task/*/stack`, or why it could not be read.
    pub kernel: String,
    /// `gdb -batch` backtraces of every thread, or why there are none.
    pub user: String,
}

/// The side effects, behind a seam: Linux for the daemon, a recording one for tests
/// and replays (which must never touch a real process).
pub trait Actuator: std::fmt::Debug + Send {
    /// Signals the process, if it is still the one the frame described (pid and start
    /// time): a recycled pid is never hit.
    fn signal(&mut self, target: &Target, signal: i32) -> Result<String, String>;
    fn drop_caches(&mut self) -> Result<String, String>;
    /// Ends `target.connection` by its method: the socket destroyed (if it is still the
    /// inode the frame saw), or its backend terminated (if it is still that process).
    fn end_connection(&mut self, target: &Target) -> Result<String, String>;
    /// Read-only; runs in every mode.
    fn snapshot(&mut self, target: &Target) -> StackSnapshot;
}

/// What the executor is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: ActionKind,
    pub target: Target,
    /// Restart: SIGTERM to SIGKILL.
    pub grace_ns: i64,
    pub snapshot_stacks: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The guard said no.
    Refused {
        refusal: Refusal,
    },
    /// Observe mode: the guard would have allowed it; nothing recorded, nothing done.
    Observed,
    /// Dry run: allowed and recorded (cooldowns run), the side effect skipped.
    DryRun,
    Done {
        detail: String,
    },
    Failed {
        error: String,
    },
}

impl Outcome {
    /// Every outcome's name, as `name` gives it.
    pub const NAMES: [&'static str; 5] = ["refused", "observed", "dry_run", "done", "failed"];

    /// As it serialises (`refused`, `dry_run`, ...): one name in JSON, metrics and cases.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Refused { .. } => "refused",
            Outcome::Observed => "observed",
            Outcome::DryRun => "dry_run",
            Outcome::Done { .. } => "done",
            Outcome::Failed { .. } => "failed",
        }
    }

    pub fn is_refusal(&self) -> bool {
        matches!(self, Outcome::Refused { .. })
    }
}

/// A restart's pending SIGKILL.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    pub target: Target,
    pub due_ns: i64,
    /// The mode the restart ran in: a dry-run restart escalates in dry run.
    pub mode: Mode,
}

#[derive(Debug)]
pub struct Executor<A, P = PauseFile> {
    guard: Guard<P>,
    mode: Mode,
    actuator: A,
    pending: Vec<Escalation>,
}

impl<A: Actuator, P: PauseSwitch> Executor<A, P> {
    pub fn new(guard: Guard<P>, mode: Mode, actuator: A) -> Self {
        Executor {
            guard,
            mode,
            actuator,
            pending: Vec::new(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A reload: new policy and mode; cooldowns and pending escalations are kept.
    pub fn reconfigure(&mut self, policy: crate::policy::Policy, mode: Mode) {
        self.guard.set_policy(policy);
        self.mode = mode;
    }

    pub fn guard(&self) -> &Guard<P> {
        &self.guard
    }

    pub fn actuator(&self) -> &A {
        &self.actuator
    }

    pub fn pending(&self) -> &[Escalation] {
        &self.pending
    }

    /// Guard, evidence, side effect. The stacks are taken only for an authorised action.
    pub fn apply(&mut self, action: &Action, now_ns: i64) -> (Outcome, Option<StackSnapshot>) {
        let verdict = self
            .guard
            .authorise(action.kind, &action.target, now_ns, self.mode);
        if let Some(refusal) = verdict.refusal {
            return (Outcome::Refused { refusal }, None);
        }
        if self.mode == Mode::Observe {
            return (Outcome::Observed, None);
        }
        let stacks = action
            .snapshot_stacks
            .then(|| self.actuator.snapshot(&action.target));
        if action.kind == ActionKind::Restart {
            self.pending.push(Escalation {
                target: action.target.clone(),
                due_ns: now_ns.saturating_add(action.grace_ns),
                mode: self.mode,
            });
        }
        let outcome = self.effect(action.kind, &action.target, self.mode);
        (outcome, stacks)
    }

    /// Due escalations: SIGKILL for a restarted process still in the frame; the pause
    /// file stops these too. Returns each with its outcome (`None`: it had exited).
    pub fn poll(&mut self, frame: &qb_signals::Frame) -> Vec<(Escalation, Option<Outcome>)> {
        let now = frame.ts_ns;
        let (due, waiting) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|e: &Escalation| e.due_ns <= now);
        self.pending = waiting;
        due.into_iter()
            .map(|e| {
                let alive = frame
                    .processes
                    .iter()
                    .any(|p| p.pid == e.target.pid && p.start_time_ns == e.target.start_time_ns);
                let outcome = alive.then(|| match self.guard.paused() {
                    Some(evidence) => Outcome::Refused {
                        refusal: Refusal::Paused { evidence },
                    },
                    None => self.effect(ActionKind::Kill, &e.target, e.mode),
                });
                (e, outcome)
            })
            .collect()
    }

    fn effect(&mut self, kind: ActionKind, target: &Target, mode: Mode) -> Outcome {
        if mode != Mode::Enforce {
            return Outcome::DryRun;
        }
        let result = match kind {
            ActionKind::DropCaches => self.actuator.drop_caches(),
            ActionKind::RuntimeHook { signal } => self.actuator.signal(target, signal),
            ActionKind::Restart => self.actuator.signal(target, libc::SIGTERM),
            ActionKind::Kill => self.actuator.signal(target, libc::SIGKILL),
            ActionKind::EndConnection => self.actuator.end_connection(target),
            ActionKind::ThrottleCgroup => {
                Err(format!("{kind:?} is not implemented by this executor"))
            }
        };
        match result {
            Ok(detail) => Outcome::Done { detail },
            Err(error) => Outcome::Failed { error },
        }
    }
}

/// Records every call and touches nothing: replays and tests.
#[derive(Debug, Default, Clone)]
pub struct RecordingActuator {
    pub calls: Vec<String>,
}

impl Actuator for RecordingActuator {
    fn signal(&mut self, target: &Target, signal: i32) -> Result<String, String> {
        self.calls
            .push(format!("signal {signal} -> {}", target.pid));
        Ok(format!("recorded signal {signal}"))
    }

    fn drop_caches(&mut self) -> Result<String, String> {
        self.calls.push("drop_caches".to_string());
        Ok("recorded drop_caches".to_string())
    }

    fn end_connection(&mut self, target: &Target) -> Result<String, String> {
        let Some(c) = &target.connection else {
            return Err(format!("pid {}: no connection to end", target.pid));
        };
        self.calls.push(format!(
            "end_connection {:?} {} -> {}",
            c.method,
            c.name(),
            target.pid
        ));
        Ok(format!("recorded end_connection {:?}", c.method))
    }

    fn snapshot(&mut self, target: &Target) -> StackSnapshot {
        self.calls.push(format!("snapshot {}", target.pid));
        let none = "not a live process (replay)".to_string();
        StackSnapshot {
            kernel: none.clone(),
            user: none,
        }
    }
}

//! `Engine::step(&Frame) -> TickReport`: gadgets, filters, rules, executor, once per
//! tick. The daemon and the scenario runner drive this same loop; nothing in it reads a
//! clock.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::decision::{Decision, DecisionKey, Gadget};
use crate::executor::{Action, Actuator, Executor, Outcome};
use crate::incident::Incident;
use crate::pause::{PauseFile, PauseSwitch};
use crate::rules::{Rule, RuleAction, Rules};
use crate::safety::{ActionKind, Mode, Target};
use crate::suppress::{Suppressed, Suppression};

/// What one tick produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TickReport {
    pub ts_ns: i64,
    /// Every decision standing this tick that reached the rules.
    pub decisions: Vec<Decision>,
    /// Decisions a recognised routine held back from the rules (`suppress.rs`), tagged.
    pub suppressed: Vec<Suppressed>,
    /// The decisions that were not standing the tick before (what a log shows).
    pub onsets: Vec<Decision>,
    /// Every action and refusal, in the order they happened.
    pub incidents: Vec<Incident>,
    /// A rule asked the recorder to sample faster this tick.
    pub sample_faster: bool,
}

/// A rule's match on one decision key: since when, and what it last did.
#[derive(Debug, Clone)]
struct Hold {
    since_ns: i64,
    fired: bool,
    /// The rule of the last refusal recorded: the same one again is not repeated every tick.
    last_refusal: Option<&'static str>,
}

#[derive(Debug)]
pub struct Engine<A, P = PauseFile> {
    gadgets: Vec<Box<dyn Gadget>>,
    rules: Rules,
    executor: Executor<A, P>,
    /// The filter stage between the gadgets and the rules.
    suppression: Suppression,
    holds: BTreeMap<(usize, DecisionKey), Hold>,
    previous: BTreeSet<DecisionKey>,
    /// A pending restart's cause, for its SIGKILL's incident: (pid, start) -> (rule, decision).
    restarts: BTreeMap<(u32, i64), (String, Decision)>,
}

impl<A: Actuator, P: PauseSwitch> Engine<A, P> {
    pub fn new(gadgets: Vec<Box<dyn Gadget>>, rules: Rules, executor: Executor<A, P>) -> Self {
        Engine {
            gadgets,
            rules,
            executor,
            suppression: Suppression::default(),
            holds: BTreeMap::new(),
            previous: BTreeSet::new(),
            restarts: BTreeMap::new(),
        }
    }

    /// What a recognised routine may hold back from the rules (nothing by default).
    pub fn with_suppression(mut self, suppression: Suppression) -> Self {
        self.suppression = suppression;
        self
    }

    pub fn gadgets(&self) -> &[Box<dyn Gadget>] {
        &self.gadgets
    }

    pub fn executor(&self) -> &Executor<A, P> {
        &self.executor
    }

    pub fn mode(&self) -> Mode {
        self.executor.mode()
    }

    /// Applies a reloaded config: rules, policy and mode at once. Cooldowns, pending
    /// escalations and the gadgets' histories are kept; hold-downs start again, since
    /// the rules they belonged to may have changed.
    pub fn reconfigure(&mut self, config: &crate::Config) {
        self.rules = config.rules();
        self.executor
            .reconfigure(config.policy.clone(), config.mode);
        self.suppression = config.timekeeper.suppression();
        self.holds.clear();
    }

    /// New gadgets (their configuration changed); they start with empty histories.
    pub fn replace_gadgets(&mut self, gadgets: Vec<Box<dyn Gadget>>) {
        self.gadgets = gadgets;
        self.previous.clear();
    }

    pub fn step(&mut self, frame: &qb_signals::Frame) -> TickReport {
        let now = frame.ts_ns;
        let mut report = TickReport {
            ts_ns: now,
            ..TickReport::default()
        };
        self.escalate(frame, &mut report);
        for gadget in &mut self.gadgets {
            gadget.observe(frame, &mut report.decisions);
        }
        report.suppressed = self.suppression.apply(&mut report.decisions);
        let mut held = BTreeSet::new();
        for d in &report.decisions {
            for (i, rule) in self.rules.rules.iter().enumerate() {
                if !rule.matches(d) {
                    continue;
                }
                let key = (i, d.key());
                held.insert(key.clone());
                let hold = self.holds.entry(key).or_insert(Hold {
                    since_ns: now,
                    fired: false,
                    last_refusal: None,
                });
                if now.saturating_sub(hold.since_ns) < rule.hold_down_ns() {
                    continue;
                }
                report.sample_faster |= rule.action == RuleAction::SampleFaster;
                // Once it has acted, not again until the match breaks (a new episode,
                // which the cooldowns then judge).
                if hold.fired {
                    continue;
                }
                let incident = fire(rule, &self.rules, d, hold, &mut self.executor);
                if let Some(incident) = incident {
                    // The executor scheduled a SIGKILL for it (not when refused or observed).
                    let escalates = !matches!(
                        incident.outcome,
                        Outcome::Refused { .. } | Outcome::Observed
                    );
                    if rule.action == RuleAction::Restart
                        && escalates
                        && let Some(p) = &d.process
                    {
                        self.restarts
                            .insert((p.pid, p.start_time_ns), (rule.name.clone(), d.clone()));
                    }
                    report.incidents.push(incident);
                }
            }
        }
        // A match that broke starts its hold-down again.
        self.holds.retain(|key, _| held.contains(key));
        let mut keys = BTreeSet::new();
        for d in &report.decisions {
            let key = d.key();
            if !self.previous.contains(&key) {
                report.onsets.push(d.clone());
            }
            keys.insert(key);
        }
        self.previous = keys;
        report
    }

    /// Restarts whose grace ran out: SIGKILL for the ones still there.
    fn escalate(&mut self, frame: &qb_signals::Frame, report: &mut TickReport) {
        for (e, outcome) in self.executor.poll(frame) {
            let cause = self
                .restarts
                .remove(&(e.target.pid, e.target.start_time_ns));
            let (Some(outcome), Some((rule, decision))) = (outcome, cause) else {
                continue;
            };
            report.incidents.push(Incident {
                ts_ns: frame.ts_ns,
                rule,
                action: "sigkill_after_grace".to_string(),
                mode: e.mode,
                outcome,
                decision,
                stacks: None,
            });
        }
    }
}

/// One due rule on one decision: the incident it records, if any.
fn fire<A: Actuator, P: PauseSwitch>(
    rule: &Rule,
    rules: &Rules,
    d: &Decision,
    hold: &mut Hold,
    executor: &mut Executor<A, P>,
) -> Option<Incident> {
    let mode = executor.mode();
    let incident = |outcome: Outcome, stacks| Incident {
        ts_ns: d.ts_ns,
        rule: rule.name.clone(),
        action: rule.action.name().to_string(),
        mode,
        outcome,
        decision: d.clone(),
        stacks,
    };
    let kind = match rule.action {
        RuleAction::Report | RuleAction::SampleFaster => {
            hold.fired = true;
            let detail = rule.action.name().to_string();
            return Some(incident(Outcome::Done { detail }, None));
        }
        RuleAction::DropCaches => ActionKind::DropCaches,
        RuleAction::RuntimeHook => {
            let signal = d.process.as_ref().and_then(|p| rules.hook_for(&p.comm))?;
            ActionKind::RuntimeHook { signal }
        }
        RuleAction::Restart => ActionKind::Restart,
        RuleAction::Kill => ActionKind::Kill,
        RuleAction::EndConnection => ActionKind::EndConnection,
    };
    let target = if kind.is_host_wide() {
        Target::host()
    } else {
        // A decision without a process (a cgroup with no candidate left) has no target.
        d.process.clone()?
    };
    // Only a decision about a connection names one.
    if kind == ActionKind::EndConnection && target.connection.is_none() {
        return None;
    }
    let action = Action {
        kind,
        target,
        grace_ns: i64::try_from(rule.grace.as_nanos()).unwrap_or(i64::MAX),
        snapshot_stacks: rule.snapshot_stacks,
    };
    let (outcome, stacks) = executor.apply(&action, d.ts_ns);
    if let Outcome::Refused { refusal } = &outcome {
        // By rule, not by value: a cooldown's `now` changes every tick.
        if hold.last_refusal == Some(refusal.rule()) {
            return None;
        }
        hold.last_refusal = Some(refusal.rule());
    } else {
        hold.last_refusal = None;
        hold.fired = true;
    }
    Some(incident(outcome, stacks))
}

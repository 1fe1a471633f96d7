//! Property tests of the whole engine: whatever decisions gadgets make, in whatever
//! order and timing, with pauses in between, no action lands on a protected target or
//! inside a cooldown, every side effect has its incident record, and a dry run records
//! exactly what Enforce does.

mod common;

use std::collections::HashMap;

use common::{POOL_LEN, SEC, T0, policy, pool};
use proptest::prelude::*;
use qb_gadgets::{
    Decision, Engine, Executor, Gadget, Guard, Incident, ManualPause, Mode, Outcome,
    RecordingActuator, Rules, Target,
};
use qb_signals::{Frame, ProcessRow};

/// Replays a script of decisions, one list per tick.
#[derive(Debug)]
struct Scripted {
    script: std::vec::IntoIter<Vec<Decision>>,
}

impl Gadget for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn models(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn observe(&mut self, frame: &Frame, out: &mut Vec<Decision>) {
        for mut d in self.script.next().unwrap_or_default() {
            d.ts_ns = frame.ts_ns;
            out.push(d);
        }
    }
}

/// A stretch of ticks over which the same decisions stand (so hold-downs can pass).
#[derive(Debug, Clone)]
struct Tick {
    dt_s: i64,
    repeat: usize,
    paused: bool,
    /// (gadget is the Oracle, target, confidence, eta).
    decisions: Vec<(bool, usize, f64, f64)>,
}

fn tick() -> impl Strategy<Value = Tick> {
    let dt = prop_oneof![1i64..5, 5i64..40, 90i64..700];
    let decision = (any::<bool>(), 0..POOL_LEN, 0.8f64..1.0, 0.0f64..240.0);
    let decisions = prop::collection::vec(decision, 0..4);
    (dt, 1usize..12, prop::bool::weighted(0.1), decisions).prop_map(
        |(dt_s, repeat, paused, decisions)| Tick {
            dt_s,
            repeat,
            paused,
            decisions,
        },
    )
}

fn decision(
    pool: &[(Target, bool)],
    &(oracle, t, confidence, eta): &(bool, usize, f64, f64),
) -> Decision {
    let target = pool[t].0.clone();
    let mut d = if oracle {
        let mut d = Decision::new("oracle", "oom_forecast", 0);
        d.cgroup = Some(target.cgroup.clone());
        d.eta_s = Some(eta);
        d
    } else {
        Decision::new("pathologist", "stuck", 0)
    };
    d.process = Some(target);
    d.confidence = confidence;
    d
}

fn process(t: &Target) -> ProcessRow {
    ProcessRow {
        pid: t.pid,
        ppid: t.ppid,
        comm: t.comm.clone(),
        cgroup: t.cgroup.clone(),
        oom_score_adj: t.oom_score_adj.unwrap_or(0),
        kernel_thread: t.kernel_thread,
        cmdline_hash: 1,
        start_time_ns: t.start_time_ns,
        ..ProcessRow::default()
    }
}

/// Runs the script in `mode`; returns the incidents and the actuator's calls.
fn run(scoped: bool, mode: Mode, ticks: &[Tick]) -> (Vec<Incident>, Vec<String>, Vec<bool>) {
    let pool = pool(scoped);
    let pause = ManualPause::default();
    let mut rules = Rules::default();
    rules
        .runtime_hooks
        .insert("worker".into(), "SIGUSR1".into());
    let ticks: Vec<&Tick> = ticks
        .iter()
        .flat_map(|t| std::iter::repeat_n(t, t.repeat))
        .collect();
    let script = ticks
        .iter()
        .map(|t| t.decisions.iter().map(|d| decision(&pool, d)).collect())
        .collect::<Vec<Vec<_>>>();
    let gadget = Scripted {
        script: script.into_iter(),
    };
    let executor = Executor::new(
        Guard::with_pause(policy(scoped), pause.clone()),
        mode,
        RecordingActuator::default(),
    );
    let mut engine: Engine<RecordingActuator, ManualPause> =
        Engine::new(vec![Box::new(gadget)], rules, executor);
    let processes: Vec<ProcessRow> = pool.iter().map(|(t, _)| process(t)).collect();
    let mut now = T0;
    let mut incidents = Vec::new();
    let mut paused_at = Vec::new();
    for t in &ticks {
        now += t.dt_s * SEC;
        pause.set(t.paused);
        let mut frame = Frame::new(now, "h");
        frame.processes = processes.clone();
        for i in engine.step(&frame).incidents {
            paused_at.push(t.paused);
            incidents.push(i);
        }
    }
    // Stack snapshots only read; the rest are side effects.
    let calls = engine
        .executor()
        .actuator()
        .calls
        .iter()
        .filter(|c| !c.starts_with("snapshot"))
        .cloned()
        .collect();
    (incidents, calls, paused_at)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn engine_invariants(scoped in any::<bool>(), ticks in prop::collection::vec(tick(), 1..40)) {
        let pool = pool(scoped);
        let protected: HashMap<u32, bool> = pool.iter().map(|(t, p)| (t.pid, *p)).collect();
        let cooldowns = policy(scoped).cooldown;
        let (enforced, calls, paused_at) = run(scoped, Mode::Enforce, &ticks);
        let (dry, dry_calls, _) = run(scoped, Mode::DryRun, &ticks);

        // Every side effect has exactly one incident saying it was done.
        let done = enforced.iter().filter(|i| matches!(i.outcome, Outcome::Done { .. }));
        let effects = done.filter(|i| !matches!(i.action.as_str(), "sample_faster" | "report"));
        prop_assert_eq!(effects.count(), calls.len(), "{:?}", calls);
        prop_assert!(dry_calls.is_empty(), "a dry run touched something: {:?}", dry_calls);

        let mut last: HashMap<(String, String), i64> = HashMap::new();
        for (i, paused) in enforced.iter().zip(&paused_at) {
            let acted = matches!(i.outcome, Outcome::Done { .. }) && i.action != "sample_faster";
            if !acted {
                continue;
            }
            prop_assert!(!paused, "acted while paused: {:?}", i);
            if i.action == "drop_caches" {
                prop_assert!(!scoped, "a host-wide action under a limited scope");
            } else {
                let t = i.decision.process.as_ref().unwrap();
                prop_assert!(!protected[&t.pid], "acted on protected {:?}", t);
            }
            if i.action == "sigkill_after_grace" {
                continue; // the second half of an authorised restart
            }
            let scope = if i.action == "drop_caches" { "/".to_string() } else {
                i.decision.process.as_ref().unwrap().cgroup.clone()
            };
            let class = match i.action.as_str() {
                "drop_caches" => cooldowns.drop_caches,
                "runtime_hook" => cooldowns.runtime_hook,
                "restart" => cooldowns.restart,
                _ => cooldowns.kill,
            };
            let key = (i.action.clone(), scope);
            if let Some(prev) = last.get(&key) {
                let gap = i.ts_ns - prev;
                prop_assert!(gap >= class.as_nanos() as i64, "{:?} {} s after the last", key, gap / SEC);
            }
            last.insert(key, i.ts_ns);
        }

        // A dry run walks the same path: the same incidents, only the outcome differs.
        prop_assert_eq!(dry.len(), enforced.len());
        for (d, e) in dry.iter().zip(&enforced) {
            let same_outcome = match (&d.outcome, &e.outcome) {
                (Outcome::DryRun, Outcome::Done { .. }) => true,
                (a, b) => a == b,
            };
            prop_assert!(same_outcome, "dry {:?} vs enforce {:?}", d.outcome, e.outcome);
            prop_assert_eq!((&d.rule, &d.action, d.ts_ns), (&e.rule, &e.action, e.ts_ns));
            prop_assert_eq!(&d.decision, &e.decision);
        }
    }
}

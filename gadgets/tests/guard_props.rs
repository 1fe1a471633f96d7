//! Property tests: over arbitrary sequences of actions, targets (protected and ordinary),
//! pauses and time steps, the guard never authorises an action on a protected target or
//! inside a cooldown, and DryRun gives exactly Enforce's verdicts.

use std::collections::HashMap;

use proptest::prelude::*;
mod common;

use common::{POOL_LEN, SEC, T0, policy, pool};
use qb_gadgets::{ActionKind, Guard, ManualPause, Mode, Target, Verdict};

const ACTIONS: [ActionKind; 7] = [
    ActionKind::DropCaches,
    ActionKind::RuntimeHook { signal: 10 },
    ActionKind::RuntimeHook { signal: 12 },
    ActionKind::Restart,
    ActionKind::Kill,
    ActionKind::ThrottleCgroup,
    ActionKind::EndConnection,
];

#[derive(Debug, Clone)]
struct Step {
    action: usize,
    target: usize,
    /// Seconds since the previous step.
    dt_s: i64,
    paused: bool,
}

fn step() -> impl Strategy<Value = Step> {
    let dt = prop_oneof![Just(0i64), 1i64..120, 50i64..700];
    (0..ACTIONS.len(), 0..POOL_LEN, dt, prop::bool::weighted(0.1)).prop_map(
        |(action, target, dt_s, paused)| Step {
            action,
            target,
            dt_s,
            paused,
        },
    )
}

struct Run {
    guard: Guard<ManualPause>,
    pause: ManualPause,
}

impl Run {
    fn new(scoped: bool) -> Run {
        let pause = ManualPause::default();
        Run {
            guard: Guard::with_pause(policy(scoped), pause.clone()),
            pause,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn guard_invariants(scoped in any::<bool>(), steps in prop::collection::vec(step(), 1..120)) {
        let pool = pool(scoped);
        prop_assert_eq!(pool.len(), POOL_LEN);
        let cooldowns = policy(scoped).cooldown;
        let mut dry = Run::new(scoped);
        let mut enforce = Run::new(scoped);
        let mut observe = Run::new(scoped);
        // (class, scope) -> time of the last authorised action, kept by the test itself.
        let mut last: HashMap<(qb_gadgets::CooldownClass, Option<String>), i64> = HashMap::new();
        let mut now = T0;
        for s in &steps {
            now += s.dt_s * SEC;
            let action = ACTIONS[s.action];
            let host = Target::host();
            let (t, protected) = if action.is_host_wide() {
                // Dropping caches touches no process; it exceeds a limited scope.
                (&host, scoped)
            } else {
                let (t, p) = &pool[s.target];
                (t, *p)
            };
            for run in [&dry, &enforce, &observe] {
                run.pause.set(s.paused);
            }
            let vd: Verdict = dry.guard.authorise(action, t, now, Mode::DryRun);
            let ve = enforce.guard.authorise(action, t, now, Mode::Enforce);
            let vo = observe.guard.authorise(action, t, now, Mode::Observe);

            // (3) DryRun and Enforce agree at every step; only Enforce acts.
            prop_assert_eq!(&vd.refusal, &ve.refusal);
            prop_assert!(!vd.may_act() && !vo.may_act() && !vo.recorded());
            prop_assert_eq!(ve.may_act(), ve.passed());

            if ve.passed() {
                // (1) never a protected target, never while paused.
                prop_assert!(!protected, "authorised {:?} on protected {:?}", action, t);
                prop_assert!(!s.paused, "authorised while paused");
                // (2) never inside the cooldown of the same class and scope.
                let scope = (!action.is_host_wide()).then(|| t.cgroup.clone());
                let key = (action.class(), scope);
                if let Some(&prev) = last.get(&key) {
                    let cd = i64::try_from(cooldowns.of(action.class()).as_nanos()).unwrap();
                    prop_assert!(now - prev >= cd, "{:?} {}s after the last", key, (now - prev) / SEC);
                }
                last.insert(key, now);
            }
        }
        // Observe never started a cooldown.
        for action in ACTIONS {
            for (t, _) in &pool {
                prop_assert_eq!(observe.guard.last_action_ns(action, t), None);
            }
        }
    }
}

//! Property tests: over arbitrary sequences of actions, targets (protected and ordinary),
//! pauses and time steps, the guard never authorises an action on a protected target or
//! inside a cooldown, and DryRun gives exactly Enforce's verdicts.

use std::collections::HashMap;

use proptest::prelude::*;
use qb_gadgets::{ActionKind, DaemonIds, Guard, ManualPause, Mode, Policy, Target, Verdict};

const DAEMON: DaemonIds = DaemonIds {
    pid: 4000,
    ppid: 3999,
};
const POOL_LEN: usize = 19;
const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_767_225_600 * SEC;

const ACTIONS: [ActionKind; 7] = [
    ActionKind::DropCaches,
    ActionKind::RuntimeHook { signal: 10 },
    ActionKind::RuntimeHook { signal: 12 },
    ActionKind::Restart,
    ActionKind::Kill,
    ActionKind::ThrottleCgroup,
    ActionKind::EndConnection,
];

fn target(pid: u32, ppid: u32, comm: &str, cgroup: &str) -> Target {
    Target {
        pid,
        ppid,
        comm: comm.to_string(),
        cgroup: cgroup.to_string(),
        oom_score_adj: Some(0),
        kernel_thread: false,
        start_time_ns: T0,
    }
}

/// The pool, each with whether the test (not the guard) considers it protected. With
/// `scoped`, the allow-list is `/apps`; otherwise it is empty (the whole host).
fn pool(scoped: bool) -> Vec<(Target, bool)> {
    let ok = |pid, cg: &str| (target(pid, 1, "worker", cg), false);
    vec![
        ok(500, "/apps/a"),
        ok(501, "/apps/a"),
        ok(502, "/apps/b"),
        ok(503, "/apps/c/leaf"),
        (target(504, 1, "worker", "/other/x"), scoped),
        (target(1, 0, "worker", "/apps/a"), true),
        (target(0, 0, "worker", "/apps/a"), true),
        (target(2, 0, "kthreadd", "/"), true),
        (target(600, 2, "kworker/0:1", "/apps/a"), true),
        (
            Target {
                kernel_thread: true,
                ..target(601, 1, "kswapd0", "/apps/a")
            },
            true,
        ),
        (target(DAEMON.pid, DAEMON.ppid, "qbd", "/apps/a"), true),
        (target(DAEMON.ppid, 1, "bash", "/apps/a"), true),
        (target(700, 1, "systemd", "/apps/a"), true),
        (target(701, 1, "sshd", "/apps/b"), true),
        (target(702, 1, "myagent", "/apps/b"), true),
        (
            Target {
                oom_score_adj: Some(-1000),
                ..target(703, 1, "worker", "/apps/a")
            },
            true,
        ),
        (target(704, 1, "postgres", "/apps/b"), true),
        (target(705, 1, "worker", "/apps/db/main"), true),
        (target(706, 1, "worker", "/init.scope"), true),
    ]
}

fn policy(scoped: bool) -> Policy {
    Policy {
        critical_comms: vec!["myagent".to_string()],
        allow_cgroups: if scoped {
            vec!["/apps".to_string()]
        } else {
            Vec::new()
        },
        deny_comms: vec!["postgres".to_string()],
        deny_cgroups: vec!["/apps/db".to_string()],
        daemon: DAEMON,
        ..Policy::default()
    }
}

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

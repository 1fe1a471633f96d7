//! One test per rule of the guard, on hand-built targets.

use qb_gadgets::{
    ActionKind, ConnTarget, CooldownClass, DaemonIds, EndMethod, Guard, ManualPause, Mode, Policy,
    Refusal, Scope, Target,
};
use qb_signals::ProcessRow;

const DAEMON: DaemonIds = DaemonIds {
    pid: 4000,
    ppid: 3999,
};
const MIN: i64 = 60_000_000_000;
const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

fn policy() -> Policy {
    Policy {
        daemon: DAEMON,
        ..Policy::default()
    }
}

fn guard(policy: Policy) -> (Guard<ManualPause>, ManualPause) {
    let pause = ManualPause::default();
    (Guard::with_pause(policy, pause.clone()), pause)
}

fn app(pid: u32) -> Target {
    Target {
        pid,
        ppid: 1,
        comm: "leaker".to_string(),
        cgroup: "/system.slice/app.service".to_string(),
        oom_score_adj: Some(0),
        kernel_thread: false,
        start_time_ns: T0 - 3600 * 1_000_000_000,
        connection: None,
    }
}

fn refusal(g: &Guard<ManualPause>, action: ActionKind, t: &Target) -> Refusal {
    g.check(action, t, T0).expect_err("must be refused")
}

#[test]
fn an_ordinary_process_passes() {
    let (g, _) = guard(policy());
    for action in [
        ActionKind::Kill,
        ActionKind::Restart,
        ActionKind::RuntimeHook { signal: 10 },
        ActionKind::ThrottleCgroup,
        ActionKind::EndConnection,
    ] {
        assert_eq!(g.check(action, &app(500), T0), Ok(()), "{action:?}");
    }
    assert_eq!(g.check(ActionKind::DropCaches, &Target::host(), T0), Ok(()));
}

#[test]
fn pause_refuses_everything_first() {
    let (g, pause) = guard(policy());
    pause.set(true);
    let pid1 = Target { pid: 1, ..app(1) };
    for (action, t) in [
        (ActionKind::Kill, &pid1),
        (ActionKind::DropCaches, &Target::host()),
    ] {
        assert!(matches!(refusal(&g, action, t), Refusal::Paused { .. }));
    }
    pause.set(false);
    assert_eq!(g.check(ActionKind::Kill, &app(500), T0), Ok(()));
}

#[test]
fn pid_0_and_1_are_refused() {
    let (g, _) = guard(policy());
    for pid in [0, 1] {
        // Named like an app, still refused as pid 1: identity before names.
        let t = Target { pid, ..app(pid) };
        assert_eq!(refusal(&g, ActionKind::Kill, &t), Refusal::HostPid { pid });
    }
}

#[test]
fn kernel_threads_are_refused_by_flag_pid_or_parent() {
    let (g, _) = guard(policy());
    let flagged = Target {
        kernel_thread: true,
        ..app(77)
    };
    let kthreadd = Target {
        pid: 2,
        ppid: 0,
        ..app(2)
    };
    let child = Target { ppid: 2, ..app(78) };
    for t in [flagged, kthreadd, child] {
        let r = refusal(&g, ActionKind::RuntimeHook { signal: 10 }, &t);
        assert!(
            matches!(r, Refusal::KernelThread { pid, .. } if pid == t.pid),
            "{r:?}"
        );
    }
}

#[test]
fn from_process_row_marks_kernel_threads_and_keeps_evidence() {
    let row = ProcessRow {
        pid: 321,
        ppid: 1,
        comm: "java".to_string(),
        cmdline_hash: 0xdead,
        cgroup: "/kubepods/pod1/c1".to_string(),
        oom_score_adj: -1000,
        start_time_ns: T0,
        ..ProcessRow::default()
    };
    let t = Target::from_process(&row);
    assert_eq!((t.pid, t.ppid, t.comm.as_str()), (321, 1, "java"));
    assert_eq!((t.oom_score_adj, t.kernel_thread), (Some(-1000), false));
    let kworker = ProcessRow {
        kernel_thread: true,
        ..row.clone()
    };
    assert!(Target::from_process(&kworker).kernel_thread);
    let no_cmdline = ProcessRow {
        cmdline_hash: 0,
        ..row
    };
    assert!(
        Target::from_process(&no_cmdline).kernel_thread,
        "fail closed"
    );
}

#[test]
fn the_daemon_and_its_parent_are_refused() {
    let (g, _) = guard(policy());
    assert_eq!(
        refusal(&g, ActionKind::Kill, &app(DAEMON.pid)),
        Refusal::Daemon { pid: DAEMON.pid }
    );
    let r = refusal(&g, ActionKind::Restart, &app(DAEMON.ppid));
    assert!(matches!(r, Refusal::DaemonParent { pid, .. } if pid == DAEMON.ppid));
}

#[test]
fn critical_names_builtin_configured_and_truncated() {
    let (g, _) = guard(Policy {
        critical_comms: vec!["datadog-agent-process".to_string()],
        ..policy()
    });
    for comm in [
        "systemd",
        "sshd",
        "kubelet",
        "systemd-journal",
        "datadog-agent-p",
    ] {
        let t = Target {
            comm: comm.to_string(),
            ..app(600)
        };
        let r = refusal(&g, ActionKind::Kill, &t);
        assert!(
            matches!(&r, Refusal::CriticalName { comm: c, .. } if c == comm),
            "{r:?}"
        );
    }
}

#[test]
fn oom_score_adj_minus_1000_is_refused_other_values_pass() {
    let (g, _) = guard(policy());
    let t = Target {
        oom_score_adj: Some(-1000),
        ..app(700)
    };
    assert!(matches!(
        refusal(&g, ActionKind::Kill, &t),
        Refusal::OomNeverKill {
            oom_score_adj: -1000,
            ..
        }
    ));
    for adj in [None, Some(-999), Some(1000)] {
        let t = Target {
            oom_score_adj: adj,
            ..app(700)
        };
        assert_eq!(g.check(ActionKind::Kill, &t, T0), Ok(()));
    }
}

#[test]
fn an_unknown_cgroup_is_refused() {
    let (g, _) = guard(policy());
    let t = Target {
        cgroup: String::new(),
        ..app(701)
    };
    assert!(matches!(
        refusal(&g, ActionKind::Kill, &t),
        Refusal::UnknownCgroup { .. }
    ));
}

#[test]
fn deny_lists_by_name_and_cgroup_prefix() {
    let (g, _) = guard(Policy {
        deny_comms: vec!["postgres".to_string()],
        deny_cgroups: vec!["/system.slice/db.service".to_string()],
        ..policy()
    });
    let pg = Target {
        comm: "postgres".to_string(),
        ..app(800)
    };
    assert!(matches!(
        refusal(&g, ActionKind::Kill, &pg),
        Refusal::DeniedName { .. }
    ));
    let in_db = Target {
        cgroup: "/system.slice/db.service/worker".to_string(),
        ..app(801)
    };
    assert_eq!(
        refusal(&g, ActionKind::Kill, &in_db),
        Refusal::DeniedCgroup {
            cgroup: in_db.cgroup.clone(),
            prefix: "/system.slice/db.service".to_string()
        }
    );
    // Whole components only: db.service2 is not under db.service.
    let sibling = Target {
        cgroup: "/system.slice/db.service2".to_string(),
        ..app(802)
    };
    assert_eq!(g.check(ActionKind::Kill, &sibling, T0), Ok(()));
    // PID 1's cgroup is denied by default.
    let (g, _) = guard(policy());
    let in_init = Target {
        cgroup: "/init.scope".to_string(),
        ..app(803)
    };
    assert!(matches!(
        refusal(&g, ActionKind::Kill, &in_init),
        Refusal::DeniedCgroup { .. }
    ));
}

#[test]
fn allow_list_limits_scope_and_host_wide_actions() {
    let (g, _) = guard(Policy {
        allow_cgroups: vec!["/kubepods".to_string()],
        ..policy()
    });
    let inside = Target {
        cgroup: "/kubepods/pod1/c1".to_string(),
        ..app(900)
    };
    assert_eq!(g.check(ActionKind::Kill, &inside, T0), Ok(()));
    assert!(matches!(
        refusal(&g, ActionKind::Kill, &app(901)),
        Refusal::OutsideScope { .. }
    ));
    // Dropping caches affects every cgroup: only a whole-host scope allows it.
    let r = refusal(&g, ActionKind::DropCaches, &Target::host());
    assert!(
        matches!(&r, Refusal::OutsideScope { cgroup, .. } if cgroup == "/"),
        "{r:?}"
    );
}

#[test]
fn cooldowns_per_cgroup_and_host_wide() {
    let (mut g, _) = guard(policy());
    let a1 = app(1000);
    let a2 = Target {
        pid: 1001,
        ..app(1001)
    }; // same cgroup, new pid (respawned)
    let other = Target {
        cgroup: "/system.slice/other.service".to_string(),
        ..app(1002)
    };
    assert!(
        g.authorise(ActionKind::Kill, &a1, T0, Mode::Enforce)
            .may_act()
    );
    let r = g.authorise(ActionKind::Kill, &a2, T0 + 9 * MIN, Mode::Enforce);
    assert!(matches!(
        r.refusal,
        Some(Refusal::Cooldown {
            class: CooldownClass::Kill,
            scope: Scope::Cgroup(_),
            last_ns: T0,
            ..
        })
    ));
    assert!(
        g.check(ActionKind::Kill, &other, T0 + MIN).is_ok(),
        "another cgroup"
    );
    assert!(
        g.check(ActionKind::Restart, &a2, T0 + MIN).is_ok(),
        "another class"
    );
    assert!(
        g.check(ActionKind::Kill, &a2, T0 + 10 * MIN).is_ok(),
        "cooldown over"
    );

    assert!(
        g.authorise(ActionKind::DropCaches, &Target::host(), T0, Mode::Enforce)
            .passed()
    );
    let r = g.check(ActionKind::DropCaches, &Target::host(), T0 + 4 * MIN);
    assert!(matches!(
        r,
        Err(Refusal::Cooldown {
            scope: Scope::Host,
            ..
        })
    ));
    assert!(
        g.check(ActionKind::DropCaches, &Target::host(), T0 + 5 * MIN)
            .is_ok()
    );
    // Time that goes backwards is "too soon", never a reset.
    assert!(
        g.check(ActionKind::DropCaches, &Target::host(), T0 - MIN)
            .is_err()
    );
}

#[test]
fn modes_share_one_path() {
    let (mut g, _) = guard(policy());
    let t = app(1100);
    let observed = g.authorise(ActionKind::Restart, &t, T0, Mode::Observe);
    assert!(observed.passed() && !observed.may_act() && !observed.recorded());
    assert_eq!(
        g.last_action_ns(ActionKind::Restart, &t),
        None,
        "observe records nothing"
    );

    let dry = g.authorise(ActionKind::Restart, &t, T0, Mode::DryRun);
    assert!(dry.passed() && dry.recorded() && !dry.may_act());
    assert_eq!(g.last_action_ns(ActionKind::Restart, &t), Some(T0));
    // The dry run started the same cooldown Enforce would have.
    let enforce = g.authorise(ActionKind::Restart, &t, T0 + MIN, Mode::Enforce);
    assert!(matches!(enforce.refusal, Some(Refusal::Cooldown { .. })));
}

#[test]
fn refusals_serialise_with_rule_and_evidence() {
    let (g, _) = guard(policy());
    let t = Target {
        comm: "sshd".to_string(),
        ..app(1200)
    };
    let json = serde_json::to_value(refusal(&g, ActionKind::Kill, &t)).unwrap();
    assert_eq!(json["rule"], "critical_name");
    assert_eq!(json["comm"], "sshd");
    assert_eq!(json["pid"], 1200);
    let k = Target {
        ppid: 2,
        ..app(1201)
    };
    let json = serde_json::to_value(refusal(&g, ActionKind::Kill, &k)).unwrap();
    assert_eq!(json["rule"], "kernel_thread");
    assert!(json["basis"].as_str().unwrap().contains("ppid 2"));
}

/// The names the daemon's metrics and the scenario cases use are the serialised ones.
#[test]
fn names_match_their_serialised_form() {
    let tag = |v: serde_json::Value, key: &str| v[key].as_str().unwrap().to_string();
    let refusals = [
        Refusal::Paused {
            evidence: String::new(),
        },
        Refusal::HostPid { pid: 1 },
        Refusal::KernelThread {
            pid: 2,
            ppid: 0,
            comm: String::new(),
            basis: "",
        },
        Refusal::Daemon { pid: 3 },
        Refusal::DaemonParent {
            pid: 4,
            comm: String::new(),
        },
        Refusal::CriticalName {
            pid: 5,
            comm: String::new(),
        },
        Refusal::OomNeverKill {
            pid: 6,
            comm: String::new(),
            oom_score_adj: -1000,
        },
        Refusal::UnknownCgroup {
            pid: 7,
            comm: String::new(),
            cgroup: String::new(),
        },
        Refusal::DeniedName {
            pid: 8,
            comm: String::new(),
        },
        Refusal::DeniedCgroup {
            cgroup: String::new(),
            prefix: String::new(),
        },
        Refusal::OutsideScope {
            cgroup: String::new(),
            allowed: Vec::new(),
        },
        Refusal::Cooldown {
            class: qb_gadgets::CooldownClass::Kill,
            scope: qb_gadgets::Scope::Host,
            last_ns: 0,
            now_ns: 0,
            cooldown_ns: 0,
        },
    ];
    for r in &refusals {
        assert_eq!(r.rule(), tag(serde_json::to_value(r).unwrap(), "rule"));
    }
    let outcomes = [
        qb_gadgets::Outcome::Refused {
            refusal: refusals[1].clone(),
        },
        qb_gadgets::Outcome::Observed,
        qb_gadgets::Outcome::DryRun,
        qb_gadgets::Outcome::Done {
            detail: String::new(),
        },
        qb_gadgets::Outcome::Failed {
            error: String::new(),
        },
    ];
    for (o, name) in outcomes.iter().zip(qb_gadgets::Outcome::NAMES) {
        assert_eq!(o.name(), name);
        assert_eq!(o.name(), tag(serde_json::to_value(o).unwrap(), "outcome"));
    }
    for m in [Mode::Observe, Mode::DryRun, Mode::Enforce] {
        assert_eq!(serde_json::to_value(m).unwrap(), m.name());
    }
}

#[test]
fn ending_connections_cools_down_per_service_not_per_cgroup() {
    let (mut g, _) = guard(policy());
    let conn = |pid: u32, cgroup: &str, port: u16, remote_port: u16| Target {
        cgroup: cgroup.to_string(),
        connection: Some(ConnTarget {
            local_addr: "10.0.0.5".into(),
            local_port: port,
            remote_addr: "10.0.2.20".into(),
            remote_port,
            inode: u64::from(remote_port),
            method: EndMethod::TerminateBackend,
        }),
        ..app(pid)
    };
    let first = conn(2000, "/system.slice/postgresql.service", 5432, 40_001);
    // Another backend of the same service, even in another cgroup: one per minute.
    let same = conn(2001, "/system.slice/other.service", 5432, 40_002);
    let other = conn(2002, "/system.slice/postgresql.service", 6432, 40_003);
    assert!(
        g.authorise(ActionKind::EndConnection, &first, T0, Mode::Enforce)
            .may_act()
    );
    let r = g.authorise(
        ActionKind::EndConnection,
        &same,
        T0 + 59 * SEC,
        Mode::Enforce,
    );
    assert!(
        matches!(
            &r.refusal,
            Some(Refusal::Cooldown { scope: Scope::Service(s), .. }) if s == "10.0.0.5:5432"
        ),
        "{r:?}"
    );
    assert!(
        g.authorise(
            ActionKind::EndConnection,
            &other,
            T0 + 59 * SEC,
            Mode::Enforce
        )
        .may_act()
    );
    assert!(
        g.authorise(
            ActionKind::EndConnection,
            &same,
            T0 + 60 * SEC,
            Mode::Enforce
        )
        .may_act()
    );
    // The process rules still hold for the connection's owner.
    let init = Target {
        pid: 1,
        ..conn(1, "/init.scope", 5432, 40_004)
    };
    assert!(matches!(
        g.check(ActionKind::EndConnection, &init, T0 + 3600 * SEC),
        Err(Refusal::HostPid { pid: 1 })
    ));
}

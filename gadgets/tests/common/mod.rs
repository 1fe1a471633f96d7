//! What the tests share: for the property tests, a pool of targets, protected and
//! ordinary, and the policy that protects them; for the live tests, why this host cannot
//! run them.
#![allow(dead_code)]

use qb_gadgets::{DaemonIds, Policy, Target};

pub const DAEMON: DaemonIds = DaemonIds {
    pid: 4000,
    ppid: 3999,
};
pub const POOL_LEN: usize = 19;
pub const SEC: i64 = 1_000_000_000;
pub const T0: i64 = 1_767_225_600 * SEC;

pub fn target(pid: u32, ppid: u32, comm: &str, cgroup: &str) -> Target {
    Target {
        pid,
        ppid,
        comm: comm.to_string(),
        cgroup: cgroup.to_string(),
        oom_score_adj: Some(0),
        kernel_thread: false,
        start_time_ns: T0,
        connection: None,
    }
}

/// The pool, each with whether the test (not the guard) considers it protected. With
/// `scoped`, the allow-list is `/apps`; otherwise it is empty (the whole host).
pub fn pool(scoped: bool) -> Vec<(Target, bool)> {
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

pub fn policy(scoped: bool) -> Policy {
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

/// Why no live test can run here (asked to skip, not Linux, not root), before each
/// test's own needs (cgroup controllers, python3).
pub fn live_host_skip_reason() -> Option<String> {
    if std::env::var("QB_SKIP_LIVE").is_ok_and(|v| v == "1") {
        return Some("QB_SKIP_LIVE=1".into());
    }
    if !cfg!(target_os = "linux") {
        return Some("not Linux".into());
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid != 0 {
        return Some(format!("needs root (running as uid {uid})"));
    }
    None
}

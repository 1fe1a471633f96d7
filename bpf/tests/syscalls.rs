//! The syscall probe on this kernel: exact attribution of a known number of calls.
//! Skips with the reason where the object was not built or cannot be loaded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use qb_bpf::{SyscallCount, SyscallCounter};

fn counter() -> Option<SyscallCounter> {
    match SyscallCounter::load() {
        Ok(c) => Some(c),
        Err(e) => {
            assert!(
                std::env::var_os("QB_REQUIRE_BPF").is_none(),
                "QB_REQUIRE_BPF is set but the probe did not load: {e}"
            );
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// Forks a child that makes exactly `n` getppid calls and exits; returns its pid.
fn child_calling_getppid(n: usize) -> u32 {
    // SAFETY: the child only makes raw syscalls and _exit (async-signal-safe).
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            for _ in 0..n {
                libc::syscall(libc::SYS_getppid);
            }
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        pid as u32
    }
}

#[test]
fn counts_exactly_the_calls_of_the_child_and_attributes_them_to_it() {
    let Some(mut counter) = counter() else { return };
    let mut counts = Vec::new();
    counter.drain(&mut counts).unwrap();

    const N: usize = 5_000;
    let child = child_calling_getppid(N);
    counts.clear();
    counter.drain(&mut counts).unwrap();

    let getppid = libc::SYS_getppid as u32;
    let of = |counts: &[SyscallCount], pid: u32| {
        counts
            .iter()
            .filter(|c| c.pid == pid && c.syscall_nr == getppid)
            .map(|c| c.count)
            .sum::<u64>()
    };
    let seen = of(&counts, child);
    assert!(
        seen >= N as u64,
        "child made {N} getppid calls, probe saw {seen}"
    );
    assert!(
        seen <= N as u64 + 5,
        "nothing else in the child calls getppid: {seen}"
    );
    let others: Vec<&SyscallCount> = counts
        .iter()
        .filter(|c| c.syscall_nr == getppid && c.pid != child && c.count >= N as u64)
        .collect();
    assert!(
        others.is_empty(),
        "only the child is attributed: {others:?}"
    );

    // The next interval starts from zero: nothing of the child is counted again.
    counts.clear();
    counter.drain(&mut counts).unwrap();
    assert_eq!(of(&counts, child), 0);
}

#[test]
fn two_children_are_told_apart() {
    let Some(mut counter) = counter() else { return };
    let mut counts = Vec::new();
    counter.drain(&mut counts).unwrap();
    let a = child_calling_getppid(1_000);
    let b = child_calling_getppid(3_000);
    counts.clear();
    counter.drain(&mut counts).unwrap();
    let getppid = libc::SYS_getppid as u32;
    let of = |pid: u32| {
        counts
            .iter()
            .find(|c| c.pid == pid && c.syscall_nr == getppid)
            .map_or(0, |c| c.count)
    };
    assert!((1_000..1_005).contains(&of(a)), "{}", of(a));
    assert!((3_000..3_005).contains(&of(b)), "{}", of(b));
}

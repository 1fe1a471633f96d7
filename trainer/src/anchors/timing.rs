//! The two clocks of every timed step: the thread's CPU time (what other load on a
//! shared machine disturbs least, and what Python's `time.thread_time` reads) and the
//! wall clock.

use std::time::Instant;

/// CPU time consumed by the calling thread, in seconds.
pub fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Seconds spent in one step, by both clocks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    pub cpu_s: f64,
    pub wall_s: f64,
}

/// Runs `f`, returning its value and the time it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Spent) {
    let (cpu, wall) = (thread_cpu_s(), Instant::now());
    let out = f();
    let spent = Spent {
        cpu_s: thread_cpu_s() - cpu,
        wall_s: wall.elapsed().as_secs_f64(),
    };
    (out, spent)
}

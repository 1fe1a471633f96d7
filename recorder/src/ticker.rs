//! Pacing of a live recording: one tick per interval, skipping (not bursting) ticks
//! missed by a slow tick, stopping at a duration or when a stop flag is raised.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Ticker {
    interval: Duration,
    duration: Option<Duration>,
    started: Instant,
    next: Instant,
}

impl Ticker {
    pub fn new(interval: Duration, duration: Option<Duration>) -> Self {
        let now = Instant::now();
        Ticker {
            interval,
            duration,
            started: now,
            next: now,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sleeps until the next tick is due. False when the recording is over: the
    /// duration is reached or `stop` was raised (checked every 50 ms, so a signal ends
    /// the recording promptly).
    pub fn wait(&mut self, stop: &AtomicBool) -> bool {
        self.next = (self.next + self.interval).max(Instant::now());
        if self
            .duration
            .is_some_and(|d| self.next.duration_since(self.started) >= d)
        {
            return false;
        }
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= self.next {
                return true;
            }
            std::thread::sleep((self.next - now).min(Duration::from_millis(50)));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_the_duration_and_on_the_stop_flag() {
        let stop = AtomicBool::new(false);
        let mut t = Ticker::new(Duration::from_millis(10), Some(Duration::from_millis(30)));
        let mut ticks = 1;
        while t.wait(&stop) {
            ticks += 1;
        }
        // Three on time; fewer only if this machine stalled past whole intervals.
        assert!((1..=3).contains(&ticks), "{ticks} ticks");
        let mut t = Ticker::new(Duration::from_secs(3600), None);
        stop.store(true, Ordering::Relaxed);
        assert!(!t.wait(&stop));
    }
}

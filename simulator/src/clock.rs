//! Virtual time of a generator: `ticks` ticks of a fixed interval from `START_NS`.

use std::time::Duration;

use crate::{START_NS, SimError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    next: i64,
    ticks: i64,
    interval_ns: i64,
}

impl Clock {
    /// As many ticks of `interval` as fit in `duration`.
    pub fn new(duration: Duration, interval: Duration) -> Result<Self, SimError> {
        let interval_ns = i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX);
        if interval_ns == 0 {
            return Err(SimError::OutOfRange("the interval must be positive".into()));
        }
        let ticks = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX) / interval_ns;
        Ok(Clock {
            next: 0,
            ticks,
            interval_ns,
        })
    }

    /// Refuses runs too short for an episode to unfold.
    pub fn require(self, min_ticks: i64, episode: &str) -> Result<Self, SimError> {
        if self.ticks < min_ticks {
            return Err(SimError::OutOfRange(format!(
                "{episode} needs at least {min_ticks} ticks"
            )));
        }
        Ok(self)
    }

    pub fn ticks(&self) -> i64 {
        self.ticks
    }

    pub fn interval_ns(&self) -> i64 {
        self.interval_ns
    }

    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns.unsigned_abs())
    }

    /// The interval in seconds, for rates.
    pub fn seconds(&self) -> f64 {
        self.interval_ns as f64 / 1e9
    }

    /// Timestamp of a tick.
    pub fn ts(&self, tick: i64) -> i64 {
        START_NS + tick * self.interval_ns
    }

    /// Timestamp of the last tick of the run.
    pub fn end_ts(&self) -> i64 {
        self.ts(self.ticks - 1)
    }

    /// The next tick to generate, or None once the run is over.
    pub fn advance(&mut self) -> Option<i64> {
        (self.next < self.ticks).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_timestamps_and_validation() {
        let mut c = Clock::new(Duration::from_millis(2500), Duration::from_secs(1)).unwrap();
        assert_eq!(
            (c.ticks(), c.ts(2), c.end_ts()),
            (2, START_NS + 2_000_000_000, START_NS + 1_000_000_000)
        );
        assert_eq!(
            (c.advance(), c.advance(), c.advance()),
            (Some(0), Some(1), None)
        );
        let err = Clock::new(Duration::from_secs(1), Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("interval must be positive"));
        let err = c.require(60, "a memory episode").unwrap_err();
        assert_eq!(err.to_string(), "a memory episode needs at least 60 ticks");
    }
}
